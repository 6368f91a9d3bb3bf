package checks_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// TestPostgresStandby runs a private primary and a streaming standby (the shared server is never
// reconfigured) to test writable and max_replication_lag against a real replica.
func TestPostgresStandby(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no private Postgres cluster")
	}
	primary, standby, cold := startReplicatedPair(t)

	t.Run("writable on the primary", func(t *testing.T) {
		err, _ := runCheck(t, newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": primary, "writable": true})}, generousTimeout))
		assertClass(t, err, "")
	})
	t.Run("writable on the standby", func(t *testing.T) {
		ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": standby, "writable": true})}, generousTimeout)
		err, _ := runCheck(t, ch)
		assertClass(t, err, checks.ReadOnly)
		if !strings.Contains(ch.Hint(err), "primary") {
			t.Errorf("hint %q does not point at the primary", ch.Hint(err))
		}
	})
	// target_session_attrs: a URL that lists the cluster's hosts and asks for the primary, or a standby.
	hosts := func(attrs string, urls ...string) string {
		var hps []string
		for _, u := range urls {
			hps = append(hps, checktest.HostPort(t, u))
		}
		return "postgres://postgres@" + strings.Join(hps, ",") + "/postgres?sslmode=disable&target_session_attrs=" + attrs
	}
	refused := "postgres://" + checktest.ClosedAddr(t)
	for _, tc := range []struct {
		name string
		url  string
		want checks.Class
		hint string
	}{
		{"read-write over the standby and the primary", hosts("read-write", standby, primary), "", ""},
		{"standby over the primary and the standby", hosts("standby", primary, standby), "", ""},
		{"read-write over the standby alone", hosts("read-write", standby), checks.ReadOnly, "is the primary that target_session_attrs asks for"},
		{"primary over a refused host and the standby", hosts("primary", refused, standby), checks.ReadOnly, "A failover under way clears"},
		{"standby over the primary alone", hosts("standby", primary), checks.BadResponse, "is the standby that target_session_attrs asks for"},
		{"read-only over the primary alone", hosts("read-only", primary), checks.BadResponse, "prefer-standby"},
		{"prefer-standby over the primary alone", hosts("prefer-standby", primary), "", ""},
	} {
		t.Run("target_session_attrs="+tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": tc.url})}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertAnswer(t, ch, err, tc.want, tc.hint, "no secret here")
		})
	}
	t.Run("cold standby", func(t *testing.T) {
		// 57P03, as a server starting up, but it will not clear: the hint says so.
		ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": cold})}, generousTimeout)
		err, _ := runCheck(t, ch)
		assertAnswer(t, ch, err, checks.NotReady, "hot_standby = off", "no secret here")
	})
	t.Run("standby in sync", func(t *testing.T) {
		ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": standby, "max_replication_lag": 500 * time.Millisecond})}, generousTimeout)
		// The standby can report lag for a moment while it replays WAL the primary writes in the background.
		err := runUntilPass(t, ch)
		assertClass(t, err, "")
	})
	// An idle primary's background WAL (a checkpoint) reaches the standby after its last commit: while
	// it waits to be replayed, the age of the last replayed transaction reads as far behind. Replay that
	// reaches what was received within max_replication_lag passes; replay that does not, fails.
	t.Run("standby only looks behind", func(t *testing.T) {
		ctx := t.Context()
		pc, sc := connect(t, primary), connect(t, standby)
		var err error
		if _, err := pc.Exec(ctx, "CREATE TABLE IF NOT EXISTS hg_idle (t timestamptz); INSERT INTO hg_idle VALUES (now())"); err != nil {
			t.Fatal(err)
		}
		const maxLag = time.Second
		checktest.Eventually(t, 10*time.Second, "the last commit to be replayed and older than max_replication_lag", func() bool {
			var old bool
			return sc.QueryRow(ctx, `SELECT pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
			  AND now() - pg_last_xact_replay_timestamp() > interval '1.5 s'`).Scan(&old) == nil && old
		})
		if _, err := sc.Exec(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
			t.Fatal(err)
		}
		var once sync.Once
		resume := func() {
			once.Do(func() {
				if _, err := sc.Exec(context.Background(), "SELECT pg_wal_replay_resume()"); err != nil {
					t.Error(err)
				}
			})
		}
		defer resume()
		// A checkpoint writes WAL without a commit; one the standby replayed before its pause took
		// effect is followed by another.
		checktest.Eventually(t, 10*time.Second, "a checkpoint received and not replayed", func() bool {
			if _, err := pc.Exec(ctx, "CHECKPOINT"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
			var behind bool
			return sc.QueryRow(ctx, "SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()").Scan(&behind) == nil && behind
		})
		var looks float64
		if err := sc.QueryRow(ctx, "SELECT EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8").Scan(&looks); err != nil {
			t.Fatal(err)
		}
		if looks <= maxLag.Seconds() {
			t.Fatalf("the last replayed commit is %.2fs old; the test needs it older than %v", looks, maxLag)
		}
		ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": standby, "max_replication_lag": maxLag})}, generousTimeout)
		// Replay paused: the checkpoint is not replayed within max_replication_lag.
		start := time.Now()
		err, _ = runCheck(t, ch)
		assertClass(t, err, checks.Lag)
		if took := time.Since(start); took < maxLag {
			t.Errorf("the run failed after %v; want it to wait max_replication_lag (%v) for replay", took, maxLag)
		}
		// Replay resumes during the run: the checkpoint is replayed at once, and the standby is in step.
		resumed := make(chan struct{})
		go func() {
			defer close(resumed)
			time.Sleep(100 * time.Millisecond)
			resume()
		}()
		err, _ = runCheck(t, ch)
		<-resumed
		assertClass(t, err, "")
	})
	t.Run("standby behind", func(t *testing.T) {
		ctx := t.Context()
		pc, sc := connect(t, primary), connect(t, standby)
		if _, err := pc.Exec(ctx, "CREATE TABLE IF NOT EXISTS hg_lag (t timestamptz)"); err != nil {
			t.Fatal(err)
		}
		checktest.Eventually(t, 10*time.Second, "the table to reach the standby", func() bool {
			var n int
			return sc.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relname = 'hg_lag'").Scan(&n) == nil && n == 1
		})
		// Replay stops while WAL keeps arriving: the standby falls behind for real.
		if _, err := sc.Exec(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
			t.Fatal(err)
		}
		defer func() { _, _ = sc.Exec(context.Background(), "SELECT pg_wal_replay_resume()") }()
		ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": standby, "max_replication_lag": 300 * time.Millisecond})}, generousTimeout)
		checktest.Eventually(t, 10*time.Second, "the standby to report lag", func() bool {
			if _, err := pc.Exec(ctx, "INSERT INTO hg_lag VALUES (now())"); err != nil {
				t.Fatal(err)
			}
			err, _ := runCheck(t, ch)
			return checks.ClassOf(err) == checks.Lag
		})
	})
}

// connect is a connection to url for the test's own queries, closed with the test.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// startReplicatedPair starts a private primary and a standby streaming from it (and a cold standby,
// hot_standby = off, beside it), each on a free port,
// as the postgres user (Postgres refuses to run as root), and stops both when the test ends.
func startReplicatedPair(t *testing.T) (primaryURL, standbyURL, coldURL string) {
	t.Helper()
	bin := postgresBin(t)
	runAs := func(name string, args ...string) {
		t.Helper()
		cmdArgs := append([]string{"-u", "postgres", "--", filepath.Join(bin, name)}, args...)
		out, err := exec.Command("runuser", cmdArgs...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	dir, err := os.MkdirTemp("", "healthgate-pg-")
	if err != nil {
		t.Fatal(err)
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		unavailable(t, "no postgres user: %v", err)
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		unavailable(t, "cannot hand a directory to the postgres user (not root?): %v", err)
	}
	primaryDir, standbyDir, coldDir := filepath.Join(dir, "primary"), filepath.Join(dir, "standby"), filepath.Join(dir, "cold")
	pPort, sPort, cPort := checktest.FreePort(t), checktest.FreePort(t), checktest.FreePort(t)
	var started []string
	t.Cleanup(func() {
		for _, d := range started {
			_ = exec.Command("runuser", "-u", "postgres", "--", filepath.Join(bin, "pg_ctl"), "-D", d, "-m", "immediate", "-w", "stop").Run()
		}
		_ = os.RemoveAll(dir)
	})

	runAs("initdb", "-D", primaryDir, "-A", "trust", "-U", "postgres", "--no-sync")
	conf := fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nfsync = off\nwal_level = replica\nmax_wal_senders = 4\n", pPort, dir)
	appendFile(t, filepath.Join(primaryDir, "postgresql.conf"), conf)
	runAs("pg_ctl", "-D", primaryDir, "-l", filepath.Join(dir, "primary.log"), "-w", "start")
	started = append(started, primaryDir)

	// The standby, and a cold one (hot_standby = off: it replays but takes no connection, as a standby
	// kept for backups or a delayed replica may be).
	for _, sb := range []struct {
		dir  string
		port int
		hot  string
	}{{standbyDir, sPort, "on"}, {coldDir, cPort, "off"}} {
		runAs("pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(pPort), "-U", "postgres", "-D", sb.dir, "-R", "-X", "stream", "--no-sync")
		appendFile(t, filepath.Join(sb.dir, "postgresql.conf"), fmt.Sprintf("\nport = %d\nhot_standby = %s\n", sb.port, sb.hot))
		runAs("pg_ctl", "-D", sb.dir, "-l", sb.dir+".log", "-w", "start")
		started = append(started, sb.dir)
	}

	url := func(port int) string {
		return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	}
	return url(pPort), url(sPort), url(cPort)
}

// postgresBin finds the server binaries (initdb, pg_ctl), newest version first.
func postgresBin(t *testing.T) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	unavailable(t, "no Postgres server binaries under /usr/lib/postgresql")
	return ""
}

func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	if checktest.InCI() {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// TestPostgresMultiHostFirstHostSilent: a multi-host URL (Patroni's, CloudNativePG's hosts: the cluster's
// nodes, target_session_attrs=read-write) whose first host drops every packet (its node gone) still
// finds the primary within the run. pgx bounds the connect to each host by the connect timeout, which
// was the whole run's: the first host used it all, every run timed out while the primary served.
func TestPostgresMultiHostFirstHostSilent(t *testing.T) {
	good := checktest.PostgresURL(t)
	silent := checktest.NewProxy(t, checktest.HostPort(t, good))
	silent.Set(checktest.Blackhole)
	hosts := silent.Addr() + "," + checktest.HostPort(t, good)
	url := checktest.WithHost(t, good, hosts)
	if strings.Contains(url, "?") {
		url += "&target_session_attrs=read-write"
	} else {
		url += "?target_session_attrs=read-write"
	}
	ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": url})}, 3*time.Second)
	err, took := runCheck(t, ch)
	assertClass(t, err, "")
	if silent.Accepted() == 0 {
		t.Fatalf("the silent first host was never tried (run took %s): the test proves nothing", took)
	}
	// And a URL of silent hosts alone still fails as a timeout, within the run.
	other := checktest.NewProxy(t, checktest.HostPort(t, good))
	other.Set(checktest.Blackhole)
	ch = newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": checktest.WithHost(t, good, silent.Addr()+","+other.Addr())})}, time.Second)
	err, took = runCheck(t, ch)
	assertClass(t, err, checks.Timeout)
	if took > 3*time.Second {
		t.Errorf("a run over two silent hosts took %s; want it within its 1s timeout", took)
	}
}
