// Command bench compares healthgate with other health-check servers and wait tools on this machine, against
// the local Postgres and Redis, and prints one markdown table. See README.md.
//
//	go -C bench run .           # full run, about 8 minutes (stopped at 9)
//	go -C bench run . --quick   # about 2.5 minutes; fails if any figure is missing (CI runs this)
//	go -C bench run . -only fleet   # the fleet figure alone (HAProxy), about 1.5 minutes
//	go -C bench run . -only kinds   # the kinds figure alone (every check kind), about 1.5 minutes
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// params are the sizes of one run.
type params struct {
	conns      int           // concurrent keep-alive connections of the load generator, for every program
	rounds     int           // interleaved throughput rounds; figure 1 is the median of the per-round ratios
	run        time.Duration // one throughput run
	background time.Duration // window measuring the dependencies' idle rate
	depWindow  time.Duration // window measuring the load caused by probes, closed loop (saturating)
	paced      time.Duration // window measuring it at pacedRate probes/s (all servers at once)
	single     time.Duration // one probe at a time (1/s) while Postgres is blackholed (all servers at once)
	blackhole  time.Duration // latency run while Postgres is blackholed, blackholeRate probes/s
	cutReps    int           // cut/restore repetitions
	rssRun     time.Duration // probe load for the 10-check RSS figure
	startReps  int           // start-up repetitions
	waitReps   int           // wait repetitions per dependency
	failWindow time.Duration // attempts are counted over this window, after 5 s
	// the fleet figure (fleet.go)
	fleetCut    time.Duration // Postgres cut for every backend behind HAProxy
	fleetOneCut time.Duration // Postgres cut for one backend
	fleetTail   time.Duration // client requests go on this long after the restore
	fleetWindow time.Duration // fleet requests are counted over this window, passing and failing
	// the scale figure (scale.go)
	scaleWarm, scaleWindow time.Duration // per size: warm-up, then the window CPU and runs are counted over
	// the kinds figure (kinds.go)
	kindsWindow time.Duration // connections are counted over this window
}

var (
	full = params{conns: 16, rounds: 5, run: 3 * time.Second, background: 8 * time.Second, depWindow: 5 * time.Second,
		paced: 6 * time.Second, single: 10 * time.Second, blackhole: 6 * time.Second, cutReps: 5, rssRun: 5 * time.Second,
		startReps: 7, waitReps: 15, failWindow: 10 * time.Second,
		fleetCut: 20 * time.Second, fleetOneCut: 10 * time.Second, fleetTail: 4 * time.Second, fleetWindow: 10 * time.Second,
		scaleWarm: 3 * time.Second, scaleWindow: 10 * time.Second, kindsWindow: 60 * time.Second}
	quick = params{conns: 16, rounds: 1, run: time.Second, background: 3 * time.Second, depWindow: 3 * time.Second,
		paced: 5 * time.Second, single: 3 * time.Second, blackhole: 2 * time.Second, cutReps: 1, rssRun: 2 * time.Second,
		startReps: 3, waitReps: 3, failWindow: 3 * time.Second,
		fleetCut: 8 * time.Second, fleetOneCut: 6 * time.Second, fleetTail: 3 * time.Second, fleetWindow: 3 * time.Second,
		scaleWarm: time.Second, scaleWindow: 3 * time.Second, kindsWindow: 10 * time.Second}
)

// onlyUsage is -only's usage: it lists the steps (stepKeys), as the docs test reads them from here.
const onlyUsage = "run only these steps, comma-separated: probes, rss10, startup, wait, fleet, scale, kinds"

// runLimit bounds the measuring: the budget is 10 minutes, and every step stops within seconds of its
// context ending (stopGrace covers the slowest: a probe given up after bhTimeout). The builds before it
// have buildLimit of their own: on a fresh machine under load they take minutes, which must not come
// out of the figures' time.
const (
	runLimit   = 9 * time.Minute
	buildLimit = 10 * time.Minute
	stopGrace  = 30 * time.Second
)

// The check timing given to healthgate and to every peer.
const (
	interval         = time.Second
	timeout          = 500 * time.Millisecond
	failureThreshold = 2
	successThreshold = 1
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quickMode := fs.Bool("quick", false, "short run that checks every figure is produced (for CI)")
	pgURL := fs.String("postgres", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "Postgres to check (its database's xact_commit is counted)")
	redisURL := fs.String("redis", "redis://127.0.0.1:6379/0", "Redis to check")
	repo := fs.String("repo", "", "healthgate repository root (default: found from the working directory)")
	conns := fs.Int("c", 0, "concurrent connections of the load generator (default 16)")
	out := fs.String("o", "", "also write the table to this file")
	only := fs.String("only", "", onlyUsage)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var steps []string
	if *only != "" {
		steps = strings.Split(*only, ",")
		for _, s := range steps {
			if !slices.Contains(stepKeys(), s) {
				fmt.Fprintf(stderr, "bench: -only %s: no step %q; the steps are %s\n", *only, s, strings.Join(stepKeys(), ", "))
				return 2
			}
		}
	}
	p := full
	if *quickMode {
		p = quick
	}
	if *conns > 0 {
		p.conns = *conns
	}

	// Every process started is stopped on the way out: a normal end, an error, Ctrl-C or the deadline (ctx),
	// or a panic, in this goroutine (deferred calls run while it unwinds) or in one started through guard
	// (recovered, recorded and raised again here once the cleanup is done). If the harness dies otherwise,
	// Pdeathsig kills them. Deferred calls run last first: the panic is raised after stopAll and b.close.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer repanic()
	onPanic(cancel)
	defer stopAll()

	sctx, scancel := context.WithTimeout(ctx, buildLimit)
	b, err := setup(sctx, p, *repo, *pgURL, *redisURL, stderr)
	scancel()
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	defer b.close()
	ctx, cancelRun := context.WithTimeout(ctx, runLimit)
	defer cancelRun()

	began := time.Now()
	done := make(chan struct{})
	go guard(func() {
		defer close(done)
		b.measure(ctx, steps)
	})()
	select {
	case <-done:
	case <-ctx.Done():
		select {
		case <-done:
		case <-time.After(stopGrace):
			// A step ignores its context: leave it behind; the deferred calls still stop every process.
			fmt.Fprintf(stderr, "bench: a step did not stop within %v of the end of the run; giving up\n", stopGrace)
			return 1
		}
	}
	if crashed() {
		return 1 // repanic raises it
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		fmt.Fprintln(stderr, "bench: interrupted")
		return 130
	}
	took := time.Since(began)

	var sb strings.Builder
	cmd := append([]string{"go -C bench run ."}, args...)
	mainTable := len(b.tab.rows) > 0
	if mainTable {
		b.report(&sb, cmd, took, *quickMode)
	}
	fleetWanted := len(steps) == 0 || slices.Contains(steps, "fleet")
	if fleetWanted {
		b.fleetReport(&sb, !mainTable, cmd, took, *quickMode)
	}
	scaleWanted := len(steps) == 0 || slices.Contains(steps, "scale")
	if scaleWanted {
		b.scaleReport(&sb, !mainTable && !fleetWanted, cmd, took, *quickMode)
	}
	kindsWanted := len(steps) == 0 || slices.Contains(steps, "kinds")
	if kindsWanted {
		b.kindsReport(&sb, !mainTable && !fleetWanted && !scaleWanted, cmd, took, *quickMode)
	}
	fmt.Fprint(stdout, sb.String())
	if *out != "" {
		if err := os.WriteFile(*out, []byte(sb.String()), 0o644); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "bench: stopped at the %v limit of the whole run; the figures not taken are missing\n", runLimit)
		return 1
	}
	miss := b.tab.missing()
	if fleetWanted {
		miss = append(miss, b.fleetTab.missing()...)
	}
	if scaleWanted {
		miss = append(miss, b.scaleTab.missing()...)
	}
	if kindsWanted {
		miss = append(miss, b.kindsTab.missing()...)
	}
	if len(miss) > 0 {
		fmt.Fprintf(stderr, "bench: %d figure(s) missing:\n  %s\n", len(miss), strings.Join(miss, "\n  "))
		return 1
	}
	return 0
}

// bench holds what every measurement needs.
type bench struct {
	p              params
	repo           string // healthgate repository root
	benchDir       string // the bench module
	tmp            string // built binaries and config files; removed at the end
	healthgate     string // healthgate binary, "" when not available
	pg, rd         dependency
	cnt            *counters
	tab            *table
	log            io.Writer
	hgCommit       string
	rates          map[string][]float64 // figure 1: each server's probes per second, round by round
	bgNote         string               // the background rates behind figure 2
	hopNote        string               // what the counting proxy adds to a round trip (proxyHop)
	fleetTab       *table               // the fleet figure's own table (fleet.go)
	haproxyVersion string
	scaleTab       *table // the scale figure's own table (scale.go)
	scaleIdle      string // the idle cost behind it
	kindsTab       *table // the kinds figure's own table (kinds.go)
	kindsNote      string // the checks it ran
	kindsDNS       string // what the dns checks asked
}

func setup(ctx context.Context, p params, repo, pgURL, redisURL string, log io.Writer) (*bench, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	if repo == "" {
		if repo, err = findRepo(wd); err != nil {
			return nil, err
		}
	}
	b := &bench{p: p, repo: repo, benchDir: filepath.Join(repo, "bench"), log: log}
	if b.tmp, err = os.MkdirTemp("", "healthgate-bench-"); err != nil {
		return nil, err
	}
	cols := []string{}
	for _, s := range servers {
		cols = append(cols, s.name)
	}
	for _, w := range waiters {
		if w.peer != "" {
			cols = append(cols, w.name)
		}
	}
	b.tab = newTable(cols)
	b.layout()
	b.fleetLayout()
	b.scaleLayout()
	b.kindsLayout()

	b.logf("building peers and healthgate")
	if err := goBuild(ctx, b.benchDir, filepath.Join(b.tmp, "bin")+"/", "./peers/..."); err != nil {
		b.close()
		return nil, err
	}
	b.buildHealthgate(ctx)

	if b.cnt, err = newCounters(ctx, pgURL, redisURL); err != nil {
		b.close()
		return nil, err
	}
	b.pg = dependency{kind: "postgres", url: pgURL, upstream: b.cnt.pgHost, fail: failPostgres,
		counter: func() requestCounter { return &pgCounter{} }}
	b.rd = dependency{kind: "redis", url: redisURL, upstream: b.cnt.rdHost, fail: failRedis,
		counter: func() requestCounter { return &respCounter{} }}
	return b, nil
}

// buildHealthgate builds the program under test, or records why it cannot be measured.
func (b *bench) buildHealthgate(ctx context.Context) {
	b.hgCommit = gitCommit(b.repo)
	bin := filepath.Join(b.tmp, "healthgate")
	_, err := os.Stat(filepath.Join(b.repo, "main.go"))
	if err != nil {
		err = fmt.Errorf("no main.go in %s", b.repo)
	} else {
		err = goBuild(ctx, b.repo, bin, ".")
	}
	if err != nil {
		// Every healthgate figure then fails: the run measures healthgate or it has not done its job.
		b.logf("healthgate: %v", err)
		b.tab.failAll("healthgate", fmt.Errorf("not built: %w", err))
		return
	}
	b.healthgate = bin
}

func (b *bench) close() {
	if b.cnt != nil {
		b.cnt.close()
	}
	os.RemoveAll(b.tmp)
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "bench: "+format+"\n", args...)
}

// bin is the path of a built peer.
func (b *bench) bin(peer string) string { return filepath.Join(b.tmp, "bin", peer) }

// findRepo walks up from dir to the root of the healthgate module.
func findRepo(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if f, err := os.Open(filepath.Join(d, "go.mod")); err == nil {
			sc := bufio.NewScanner(f)
			sc.Scan()
			f.Close()
			if strings.TrimSpace(sc.Text()) == "module github.com/healthgate/healthgate" {
				return d, nil
			}
		}
		if d == filepath.Dir(d) {
			return "", errors.New("cannot find the healthgate repository above the working directory; pass -repo")
		}
	}
}

func gitCommit(repo string) string {
	out, err := exec.Command("git", "-C", repo, "log", "-1", "--format=%h %cs").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// cpuModel names the processor, from /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
		}
	}
	return "unknown CPU"
}

// machine is one line about where the figures were taken.
func machine() string {
	return fmt.Sprintf("%d cores (%s), %s, %s/%s", runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
