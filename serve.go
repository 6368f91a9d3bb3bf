package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/config"
	"github.com/healthgate/healthgate/monitor"
	"github.com/healthgate/healthgate/server"
)

// cmdServe is `healthgate serve`: the probe endpoints (docs/design.md §3), answered from the checks run in
// the background, until a signal starts the drain (§5); SIGHUP and changes of the file reload (§11).
// stderr is run's queue: a stalled stderr holds neither the start, nor the drain, nor a reload, nor the exit
// with a usage or configuration error.
func cmdServe(ctx context.Context, args []string, lookup env, again, hup <-chan struct{}, stdout io.Writer, stderr *logWriter) error {
	fs := flag.NewFlagSet("healthgate serve", flag.ContinueOnError)
	var common commonFlags
	common.register(fs)
	listen := fs.String("listen", "", "`ADDR` to serve on, host:port or :port (overrides server.listen; default :8080)")
	// nginx -t, haproxy -c and promtool check config do this for their servers; `check` is already the
	// command that runs checks, hence validate. It is serve's own load, so it reports what serve and its
	// reloads refuse (the server and fleet sections too, which check and wait ignore).
	validate := fs.Bool("validate", false, "load and validate the configuration as serve and its reloads do (every section, every error at once), "+
		"print the errors or one OK line, and exit 2 or 0; nothing is listened on and no check is run")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	var problems []string // every usage error at once
	if fs.NArg() > 0 {
		// Redacted, as wait's and check's: serve postgres://app:PASSWORD@db/app showed the password.
		problems = append(problems, unexpectedArgument(fs.Arg(0), "serve runs the checks of --config FILE (or of DATABASE_URL and REDIS_URL)"))
	}
	if *listen != "" {
		if msg := config.CheckListen(*listen); msg != "" {
			problems = append(problems, "--listen: "+msg)
		}
	}
	if p := common.config.Problem("config"); p != "" {
		problems = append(problems, p)
	}
	log, more := common.logger(stderr)
	problems = append(problems, more...)
	path := config.Path(common.config.Value())
	if len(problems) > 0 {
		// The configuration's errors join the flags', as check and wait report them: all at once.
		var cfgErr error
		if common.config.Problem("config") == "" {
			_, cfgErr = loadServeConfig(path, lookup, *listen)
		}
		return targetsError(problems, cfgErr)
	}
	stderr.logDrops(func(w io.Writer) *slog.Logger { l, _ := common.logger(w); return l })
	if *validate {
		cfg, err := startConfig(path, lookup, *listen)
		if err != nil {
			return err
		}
		what := fmt.Sprintf("%d %s", len(cfg.Checks), plural(len(cfg.Checks), "check", "checks"))
		if len(cfg.Checks) == 0 {
			what += ": /readyz always passes"
		}
		fmt.Fprintf(stdout, "healthgate serve: configuration OK: %s (%s)\n", cfg.File, what)
		if warning := fleetWarning(cfg); warning != "" {
			fmt.Fprintf(stdout, "healthgate serve: warning: %s\n", warning)
		}
		return nil
	}
	var watch configWatch // what the reload poll compares with: taken before the load (configWatch.take)
	if path != "" {
		watch.take(path, lookup)
	}
	cfg, err := startConfig(path, lookup, *listen)
	if err != nil {
		return err
	}
	cs, err := checks.NewAll(cfg.Checks)
	if err != nil {
		return configError(err)
	}
	if len(cs) == 0 {
		log.Warn(noChecksWarning(cfg.File))
	}

	v := readVersion()
	metrics := server.NewMetrics(server.BuildInfo{Version: v.Version, Revision: v.Revision})
	rl := &reloader{path: path, lookup: lookup, listen: *listen, log: log, metrics: metrics, instance: server.NewInstanceID(), started: cfg, cfg: cfg, cs: cs, watch: watch}
	defer rl.close() // the checks and peer client in use when serve ends
	monOpts := monitor.Options{Logger: log, OnRun: metrics.Observe}
	srvOpts := server.Options{Metrics: metrics}
	rl.applyFleet(cfg, cs, &monOpts, &srvOpts)
	rl.applyServer(cfg, &srvOpts)
	mon := monitor.New(cs, monOpts)
	h := server.New(mon, srvOpts)
	rl.mon, rl.handler = mon, h

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		log.Error("cannot listen", "listen", cfg.Server.Listen, "error", err, "hint", listenHint(err, "server.listen (or --listen)"))
		return exitf(exitFailed, "")
	}
	endpoints := server.Endpoints{HTTP: ln, Handler: h}
	if cfg.Server.GRPCListen != "" {
		gln, err := net.Listen("tcp", cfg.Server.GRPCListen)
		if err != nil {
			_ = ln.Close()
			log.Error("cannot listen", "grpc_listen", cfg.Server.GRPCListen, "error", err, "hint", listenHint(err, "server.grpc_listen"))
			return exitf(exitFailed, "")
		}
		endpoints.GRPC, endpoints.Health = gln, server.NewHealth(mon)
		log.Info("serving gRPC health", "addr", gln.Addr().String())
	}
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	log.Info("serving", "addr", ln.Addr().String(), "version", v.String(), "config", cfg.File, "checks", strings.Join(names, ","))

	monCtx, stopMonitor := context.WithCancel(context.Background())
	rl.monCtx = monCtx
	// Reloads stop when the drain starts (ctx), or when Serve returns without one: a listener that
	// failed ends serve with no signal, and waiting for ctx would hang it.
	reloadCtx, stopReloads := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { mon.Run(monCtx) })
	wg.Go(func() { rl.run(reloadCtx, hup) })
	err = server.Serve(ctx, endpoints, server.Drain{
		Skip: again, Shutdown: mon.Shutdown, Timing: rl.drainTiming,
	}, log)
	stopReloads()
	stopMonitor()
	wg.Wait()
	if err != nil {
		log.Error("serve failed", "error", err)
		return exitf(exitFailed, "")
	}
	return nil
}

// startConfig is the configuration serve starts with (and --validate judges): the file at path, else
// the environment, with --listen (listen) in place of server.listen. The error is the command's.
func startConfig(path string, lookup env, listen string) (*config.Config, error) {
	cfg, err := loadServeConfig(path, lookup, listen)
	if err != nil {
		return nil, configError(err)
	}
	if listen != "" {
		if cfg.Server.GRPCListen != "" && config.SameSocket(listen, cfg.Server.GRPCListen) {
			return nil, exitf(exitUsage, "--listen: must differ from server.grpc_listen (%s)", cfg.Server.GRPCListen)
		}
		cfg.Server.Listen = listen
	}
	if len(cfg.Checks) == 0 && cfg.File == config.EnvironmentName {
		// No file and neither variable: most likely a misspelled variable or a missing mount, and an
		// always-ready probe would hide it. A file that says `checks: []` is taken at its word.
		return nil, usageError([]string{nothingToCheck("give --config, put checks in ./" + config.DefaultFile +
			", or " + config.EnvironmentHint(lookup) + " (to serve with no checks on purpose, write `checks: []` in the file)")})
	}
	return cfg, nil
}

// loadServeConfig loads serve's configuration, the server section validated too (serve and reload), with
// listen, serve's --listen when given, in place of server.listen.
// A file must say which checks to run: one with no checks key (empty, only comments, only a server
// section, or `checks:` with every item commented out) is most likely a mistake (a ConfigMap key
// mounted empty, a wrong file), and serving it would be an always-ready /readyz; `check` and `wait`
// refuse it too. An explicit `checks: []` is taken at its word.
func loadServeConfig(path string, lookup env, listen string) (*config.Config, error) {
	cfg, err := config.Find(path, lookup, config.FindOptions{Kinds: checks.Validate, Server: true, Listen: listen})
	if err != nil {
		return nil, err
	}
	if cfg.File != config.EnvironmentName && cfg.Checks == nil {
		return nil, errors.New(nothingToCheck(cfg.File + " has no checks; add some under checks: (to serve with no checks on purpose, write `checks: []`)"))
	}
	return cfg, nil
}

// fleetShared returns the names of the checks that ask the fleet (shared and critical), and how long the
// peers' DNS answer is kept: the shortest interval among them, so that each round of the most frequent
// check resolves the peers afresh (a pod that left is not asked, a new one is).
func fleetShared(cs []*checks.Check) (names []string, cacheFor time.Duration) {
	for _, c := range cs {
		if c.Shared && c.Critical {
			names = append(names, c.Name)
			if cacheFor == 0 || c.Interval < cacheFor {
				cacheFor = c.Interval
			}
		}
	}
	return names, cacheFor
}

// newFleet wires fleet-aware readiness (docs/design.md §10): /fleetz for the peers, and the peer client
// the monitor asks while a shared check fails. instance is this process's id, kept across reloads.
func newFleet(cfg *config.Config, cs []*checks.Check, instance string, metrics *server.Metrics, log *slog.Logger, mon *monitor.Options, srv *server.Options) *server.Peers {
	f := cfg.Fleet
	peers := make([]server.Peer, 0, len(f.Peers))
	for _, s := range f.Peers {
		p, _ := config.ParsePeer(s) // validated by config.Load
		peers = append(peers, server.Peer(p))
	}
	shared, cacheFor := fleetShared(cs)
	client := server.NewPeers(server.PeersOptions{
		Peers: peers, Token: f.Token, PreviousToken: f.PreviousToken, Sample: f.Sample, Instance: instance, CacheFor: cacheFor,
		OnResult: metrics.FleetRequest, Logger: log,
	})
	mon.Fleet = &monitor.Fleet{Peers: client, Ratio: f.FailOpenRatio, MinPods: f.MinPods, Timeout: f.Timeout}
	srv.Fleet = &server.FleetOptions{Instance: instance, Token: f.Token, PreviousToken: f.PreviousToken}
	if warning := fleetWarning(cfg); warning != "" {
		log.Warn(warning)
	} else {
		log.Info("fleet-aware readiness", "shared", strings.Join(shared, ","), "peers", strings.Join(f.Peers, ","),
			"fail_open_ratio", f.FailOpenRatio, "min_pods", f.MinPods, "sample", f.Sample, "instance", instance)
	}
	return client
}

// fleetWarning says why a configuration's fleet section can never make a check fail open, or "": serve
// logs it when it starts (and reloads), --validate prints it.
func fleetWarning(cfg *config.Config) string {
	f := cfg.Fleet
	if !f.Enabled() {
		return ""
	}
	if !slices.ContainsFunc(cfg.Checks, func(c config.Check) bool { return c.Scope == config.ScopeShared && c.Critical }) {
		return "fleet configured but no critical check has scope: shared; nothing can fail open"
	}
	static := map[string]bool{}
	self := 0
	for _, s := range f.Peers {
		p, _ := config.ParsePeer(s) // validated by config.Load
		if p.DNS {
			return "" // a dns:/// target may hold any number of pods
		}
		if !static[p.Addr] && listensOn(cfg.Server.Listen, p.Addr) {
			self++ // one list for every pod names this one too: it skips itself and counts once
		}
		static[p.Addr] = true
	}
	if others := len(static) - self; others+1 < f.MinPods { // a list is all the peers there are
		return fmt.Sprintf("fleet: this pod and the %d %s listed are fewer than min_pods (%d); nothing can fail open: list the other pods, use a dns:/// target, or lower min_pods",
			others, plural(others, "peer", "peers"), f.MinPods)
	}
	return ""
}

// listensOn reports whether addr, a fleet peer's host:port, is this process's own listen address (an
// address of this host on the port listen names, or listen itself). A name is not looked up (serve
// --validate runs where the cluster's names do not resolve, and a warning is no reason to wait on DNS):
// localhost is a loopback address, and a name whose first label is this host's name is this host, as a
// StatefulSet's pod, whose host name is the pod's, is listed by name (pod-0.peers.shop.svc:8080) in one
// list for every pod. Counted as another pod, a list of the two pods there are made no warning with
// min_pods 3.
func listensOn(listen, addr string) bool {
	lhost, lport, err1 := net.SplitHostPort(listen)
	host, port, err2 := net.SplitHostPort(addr)
	if err1 != nil || err2 != nil || port != lport {
		return false
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if name == "localhost" {
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		l, err := netip.ParseAddr(lhost)
		every := lhost == "" || err == nil && l.IsUnspecified() // a name reaches this host's address, not loopback's
		self, _ := os.Hostname()
		self, _, _ = strings.Cut(strings.ToLower(self), ".")
		first, _, _ := strings.Cut(name, ".")
		return every && self != "" && first == self
	}
	ip = ip.Unmap().WithZone("")
	if l, err := netip.ParseAddr(lhost); err == nil && !l.IsUnspecified() {
		return l.Unmap().WithZone("") == ip
	} else if lhost != "" && err != nil {
		return false // a name: not looked up
	}
	if ip.IsLoopback() {
		return true
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if local, ok := netip.AddrFromSlice(n.IP); ok && local.Unmap() == ip {
				return true
			}
		}
	}
	return false
}

// listenHint says what to do when an address cannot be listened on; setting is where it is set.
func listenHint(err error, setting string) string {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return "another process listens on this port (healthgate already running, or the application itself): free it, or set " + setting + " to another port"
	case errors.Is(err, syscall.EACCES):
		return "a port below 1024 needs root or CAP_NET_BIND_SERVICE: set " + setting + " to a port from 1024 (the chart uses 8080)"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no interface of this machine has that address: set " + setting + " to one it has, or to :PORT for every interface"
	}
	return "check " + setting
}
