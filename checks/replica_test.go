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
	primary, standby := startReplicatedPair(t)

	t.Run("writable on the primary", func(t *testing.T) {
		err, _ := runCheck(t, newCheck(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": primary, "writable": true})}))
		assertClass(t, err, "")
	})
	t.Run("writable on the standby", func(t *testing.T) {
		ch := newCheck(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": standby, "writable": true})})
		err, _ := runCheck(t, ch)
		assertClass(t, err, checks.ReadOnly)
		if !strings.Contains(ch.Hint(err), "primary") {
			t.Errorf("hint %q does not point at the primary", ch.Hint(err))
		}
	})
	t.Run("standby in sync", func(t *testing.T) {
		err, _ := runCheck(t, newCheck(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": standby, "max_replication_lag": 500 * time.Millisecond})}))
		assertClass(t, err, "")
	})
	t.Run("standby behind", func(t *testing.T) {
		ctx := t.Context()
		sc, err := pgx.Connect(ctx, standby)
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close(ctx)
		pc, err := pgx.Connect(ctx, primary)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close(ctx)
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
		ch := newCheck(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": standby, "max_replication_lag": 300 * time.Millisecond})})
		checktest.Eventually(t, 10*time.Second, "the standby to report lag", func() bool {
			if _, err := pc.Exec(ctx, "INSERT INTO hg_lag VALUES (now())"); err != nil {
				t.Fatal(err)
			}
			err, _ := runCheck(t, ch)
			return checks.ClassOf(err) == checks.Lag
		})
	})
}

// startReplicatedPair starts a private primary and a standby streaming from it, each on a free port,
// as the postgres user (Postgres refuses to run as root), and stops both when the test ends.
func startReplicatedPair(t *testing.T) (primaryURL, standbyURL string) {
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
	primaryDir, standbyDir := filepath.Join(dir, "primary"), filepath.Join(dir, "standby")
	pPort, sPort := checktest.FreePort(t), checktest.FreePort(t)
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

	runAs("pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(pPort), "-U", "postgres", "-D", standbyDir, "-R", "-X", "stream", "--no-sync")
	appendFile(t, filepath.Join(standbyDir, "postgresql.conf"), fmt.Sprintf("\nport = %d\nhot_standby = on\n", sPort))
	runAs("pg_ctl", "-D", standbyDir, "-l", filepath.Join(dir, "standby.log"), "-w", "start")
	started = append(started, standbyDir)

	url := func(port int) string {
		return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	}
	return url(pPort), url(sPort)
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
