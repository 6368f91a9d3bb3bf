package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/config"
	"github.com/healthgate/healthgate/monitor"
	"github.com/healthgate/healthgate/server"
)

// Reload, not restart (docs/design.md §11): serve re-reads its configuration on SIGHUP and when the
// file changes. Kubernetes updates a mounted ConfigMap (or Secret) by swapping a symlink, which a
// watch on the file itself misses; polling every pollInterval sees it, and needs no dependency. The
// poll reads the file and what it takes from outside itself, and decodes it only when one of those
// changed (configWatch). A configuration that does not validate is refused whole.

// pollInterval is how often serve looks at its configuration file (and the files it reads).
const pollInterval = 2 * time.Second

// noChecksWarning is logged when a file says `checks: []` (serve refuses a file with no checks key, and
// no file with no checks from the environment).
func noChecksWarning(file string) string {
	return "no checks configured in " + file + ": /readyz always passes; add checks under checks: (see README)"
}

// reloader owns serve's running configuration: the checks in use (it closes the ones a reload drops)
// and the peer client.
type reloader struct {
	path     string // the configuration file; "" when it came from the environment
	lookup   env
	listen   string // --listen, which wins over server.listen
	log      *slog.Logger
	metrics  *server.Metrics
	instance string
	mon      *monitor.Monitor
	handler  *server.Handler

	// started is the configuration the process started with, whose checks' migrations blocks are the
	// ones it keeps (restartOnly).
	started *config.Config
	first   map[string]config.Check // started's checks by name (startedMigrations), made on first use

	// Owned by the goroutine that runs run (before it starts: by cmdServe).
	cfg      *config.Config
	cs       []*checks.Check
	peers    *server.Peers
	fleet    *monitor.Fleet
	fleetKey string
	watch    configWatch // what the poll compares with

	// monCtx is the monitor's: it ends once the drain has, cutting short the first runs a reload waits for.
	monCtx context.Context

	mu    sync.Mutex // guards drain
	drain [2]time.Duration
}

// run reloads on each SIGHUP and each change seen by polling, until ctx ends (the drain starts). The
// poll compares with rl.watch, which cmdServe takes before its first load.
func (rl *reloader) run(ctx context.Context, hup <-chan struct{}) {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		hupped := false
		select {
		case <-ctx.Done():
			return
		case <-hup:
			hupped = true
		case <-ticker.C:
		}
		if ctx.Err() != nil {
			// A SIGHUP (sent while a reload was under way) or a tick still pending when the drain
			// started: select picks at random among ready cases, and a reload now would apply a
			// configuration during the drain.
			return
		}
		switch {
		case hupped:
			rl.reload(ctx, "SIGHUP")
		case rl.path != "" && rl.watch.changed(rl.path, rl.lookup):
			rl.reload(ctx, "file changed")
		case rl.watch.moved != nil:
			rl.relocate(rl.watch.moved)
		}
	}
}

// configWatch is what the poll compares with. The fingerprint says whether the configuration changed
// as a reload would see it; taking it decodes the file, which for a large one (a 1 MiB file is within
// --config's cap) costs a quarter of a core every pollInterval, and hundreds of MB, for ever. So the
// poll first reads only the inputs that fingerprint was made of (the file, the environment variables
// and secret files it read, the TLS files its checks name), and takes the fingerprint again only when
// their digest moved.
type configWatch struct {
	fingerprint [sha256.Size]byte // of the configuration last loaded or refused (fingerprintOf)
	placement   [sha256.Size]byte // of where its checks are written (placementOf), which the fingerprint leaves out
	inputs      inputs            // what that fingerprint read besides the file
	// digest is of the file and inputs, read before the fingerprint was taken: a change made after that
	// read moves the next digest, even one the fingerprint saw already. valid is false when the
	// fingerprint found other inputs than the digest read (at start, or when the file names a new one):
	// the next poll takes the fingerprint again, once.
	digest  [sha256.Size]byte
	valid   bool
	decodes int // how many times the configuration was decoded for a fingerprint: a test counts them
	// moved is the configuration the last changed() decoded when only where its checks are written
	// changed (lines added or removed above them, a comment): no reload, but their hints move (relocate).
	moved *config.Config
	// settling, when set, is called as a change starts to settle (settled): a test's hook.
	settling func()
}

// take takes the fingerprint of the configuration at path. Taken before a load (at start-up, as for
// each reload), a change made after it differs from it and is loaded by the next poll; taken after, a
// change made during the load would never be.
func (w *configWatch) take(path string, lookup env) *config.Config {
	before := w.inputs.digest(path, lookup)
	fp, in, cfg := fingerprintOf(path, lookup)
	w.decodes++
	w.valid = slices.Equal(in.vars, w.inputs.vars) && slices.Equal(in.files, w.inputs.files)
	w.fingerprint, w.inputs, w.digest, w.placement = fp, in, before, placementOf(cfg)
	return cfg
}

// changed reports whether the configuration at path differs from the one last seen; it decodes it only
// when its file or one of its inputs changed (a comment added changes the file, not the fingerprint).
func (w *configWatch) changed(path string, lookup env) bool {
	w.moved = nil
	d := w.inputs.digest(path, lookup)
	if w.valid && d == w.digest {
		return false
	}
	if !w.settled(path, lookup, d) {
		return false // still being written: the next poll looks again
	}
	was, placed := w.fingerprint, w.placement
	cfg := w.take(path, lookup)
	if w.fingerprint == was && w.placement != placed {
		w.moved = cfg
	}
	return w.fingerprint != was
}

// settleFor is how long a change the poll sees must stay as it was read before it is loaded. The
// kubelet swaps a ConfigMap whole, and editors mostly write a new file and rename it; but a file written
// in place (a shell's >, an editor's in-place save, a bind mount edited on the host) can be read
// half-written, and a half that happens to be valid YAML (cut between two checks) was loaded: the
// checks past the cut removed, their series and /readyz lines gone, then back as unknown at the next
// poll. A write takes milliseconds, so a tenth of a second is enough, and the reload is that much later.
const settleFor = 100 * time.Millisecond

// settled reports whether the inputs still have digest d after settleFor.
func (w *configWatch) settled(path string, lookup env, d [sha256.Size]byte) bool {
	if w.settling != nil {
		w.settling() // a test finishes its write here
	}
	time.Sleep(settleFor)
	return w.inputs.digest(path, lookup) == d
}

// inputs is what a configuration takes from outside its file, as its last fingerprint found it.
type inputs struct {
	vars  []string      // the environment variables it looked up, each once
	files []watchedFile // the files it read: *_file and headers_file, and the TLS files its checks name
}

// watchedFile is a file a configuration reads, with the cap it is read with (a file that grows past
// it is an error, which the digest must see as the load does).
type watchedFile struct {
	path  string
	limit int64
}

// digest hashes the configuration file at path and the inputs, read as a load reads them (bounded,
// regular files only), each one's error standing in for what cannot be read. It holds secrets:
// compare it, never show it.
func (in inputs) digest(path string, lookup env) [sha256.Size]byte {
	h := sha256.New()
	digestFile(h, path, config.ConfigFileLimit)
	for _, name := range in.vars {
		v, ok := lookup(name)
		fmt.Fprintf(h, "var %q %t %q\n", name, ok, v)
	}
	for _, f := range in.files {
		digestFile(h, f.path, f.limit)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// digestFile writes the digest of one file, or its error, to h.
func digestFile(h io.Writer, path string, limit int64) {
	sum, err := config.DigestFile(path, limit)
	if err != nil {
		fmt.Fprintf(h, "file %q: %v\n", path, err)
		return
	}
	fmt.Fprintf(h, "file %q %x\n", path, sum)
}

// addVar and addFile record an input once (a variable that every check's url uses is read once).
func (in *inputs) addVar(name string) {
	if !slices.Contains(in.vars, name) {
		in.vars = append(in.vars, name)
	}
}

func (in *inputs) addFile(path string, limit int64) {
	if f := (watchedFile{path, limit}); !slices.Contains(in.files, f) {
		in.files = append(in.files, f)
	}
}

// fingerprintOf is the fingerprint of the configuration at path: the configuration as decoded
// (config.Fingerprint), with the contents of the TLS files its checks name, so a rotated Secret or a
// renewed certificate counts as a change, and a comment does not; when it does not decode, the file's
// bytes (read as --config is: bounded, a regular file only) and the errors stand in. Nothing of it is
// shown. It returns what the configuration read besides the file, for configWatch, and the configuration
// when it decoded (nil otherwise).
func fingerprintOf(path string, lookup env) ([sha256.Size]byte, inputs, *config.Config) {
	h := sha256.New()
	var in inputs
	cfg, err := config.LoadRefs(path, lookup)
	if cfg != nil {
		for _, r := range cfg.Refs {
			switch {
			case r.Var != "":
				in.addVar(r.Var)
			case r.File != "":
				in.addFile(r.File, config.SecretFileLimit)
			}
		}
	}
	if err != nil {
		data, _ := config.ReadFile(path, config.ConfigFileLimit)
		_, _ = h.Write(data)
		_, _ = io.WriteString(h, err.Error())
	} else {
		sum := cfg.Fingerprint()
		_, _ = h.Write(sum[:])
		for _, c := range cfg.Checks {
			_, _ = io.WriteString(h, checks.FilesKey(c))
			for _, f := range checks.Files(c) {
				in.addFile(f, config.BundleFileLimit)
			}
		}
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	if err != nil {
		cfg = nil
	}
	return sum, in, cfg
}

// placementOf hashes where each check of cfg is written (the line of each of its fields), which the
// fingerprint leaves out: a check moved in the file is the same check, but its hints name its lines.
func placementOf(cfg *config.Config) [sha256.Size]byte {
	var sum [sha256.Size]byte
	if cfg == nil {
		return sum
	}
	h := sha256.New()
	for _, c := range cfg.Checks {
		_ = json.NewEncoder(h).Encode(struct {
			Name  string
			Lines map[string]int
		}{c.Name, c.Src.Lines})
	}
	h.Sum(sum[:0])
	return sum
}

// relocate points the hints of the running checks at the lines the file now writes them on, when
// nothing but their place in it changed: that needs no reload (docs/design.md §11), as a reload keeps
// a check wherever it sits, but its hints name the line it is on now (README "Reload, not restart").
func (rl *reloader) relocate(cfg *config.Config) {
	current := make(map[string]*checks.Check, len(rl.cs))
	for _, c := range rl.cs {
		current[c.Name] = c
	}
	for _, cc := range cfg.Checks {
		// As a reload would take it: with the migrations block the process started with, which a
		// reload keeps whatever the file now says (restartOnly).
		cc, _ = rl.startedMigrations(cc)
		if c, ok := current[cc.Name]; ok && c.Configured(cc) {
			c.Relocate(cc)
		}
	}
}

// reload loads the configuration again and applies it, or refuses it whole. ctx is run's: a drain that
// starts while the reload waits for its changed checks' first runs (Replace) cuts those runs short at
// its end (monCtx), and the reload is then said to have ended with serve, not logged as done after
// "drained".
func (rl *reloader) reload(ctx context.Context, trigger string) {
	if rl.path == "" {
		rl.log.Warn("reload: nothing to reload: the configuration comes from the environment (DATABASE_URL / REDIS_URL), which a running process cannot re-read; restart to change it",
			"trigger", trigger)
		return
	}
	rl.watch.take(rl.path, rl.lookup)
	cfg, err := loadServeConfig(rl.path, rl.lookup, rl.listen)
	if err != nil {
		rl.refuse(trigger, err)
		return
	}
	rl.restartOnly(cfg)

	// Keep every check configured the same: same *checks.Check, so the monitor keeps its state and
	// runner and the check its pool. Build the others, before closing the dropped ones: checks of one
	// target share a pool (checks/shared.go), so a new check of a kept target joins its pool, and the
	// close of a dropped one only releases a reference while another check holds it. Closing first
	// would close a shared pool and reopen it (a reconnect on reload).
	current := make(map[string]*checks.Check, len(rl.cs))
	for _, c := range rl.cs {
		current[c.Name] = c
	}
	next := make([]*checks.Check, 0, len(cfg.Checks))
	var built []*checks.Check
	var added, changed []string
	for _, cc := range cfg.Checks {
		if c, ok := current[cc.Name]; ok && c.Configured(cc) {
			c.Relocate(cc) // the Same wherever it is written: its hints name where that is now
			next = append(next, c)
			delete(current, cc.Name)
			continue
		}
		c, err := checks.New(cc)
		if err != nil { // validated by loadServeConfig; a file it reads may have changed since
			checks.CloseAll(built)
			rl.refuse(trigger, err)
			return
		}
		built = append(built, c)
		next = append(next, c)
		if _, ok := current[cc.Name]; ok {
			changed = append(changed, cc.Name)
			delete(current, cc.Name)
		} else {
			added = append(added, cc.Name)
		}
	}
	var removed []string
	for _, c := range rl.cs {
		if _, ok := current[c.Name]; ok {
			removed = append(removed, c.Name)
		}
	}

	var monOpts monitor.Options
	var srvOpts server.Options
	oldPeers := rl.peers
	rl.applyFleet(cfg, next, &monOpts, &srvOpts)
	rl.applyServer(cfg, &srvOpts)
	// The new checks' series exist at 0 before Replace runs them (a changed check's first run, an added
	// one's runner), so each first run is an increase. Replace stops the runs of dropped checks before it
	// returns: only then are their series deleted (a last run would bring them back) and their clients
	// closed.
	for _, c := range next {
		rl.metrics.AddCheck(c.Name, c.Type)
	}
	dropped := rl.mon.Replace(next, monOpts.Fleet)
	rl.metrics.SetChecks(rl.mon.Snapshot())
	rl.handler.Reconfigure(srvOpts)
	checks.CloseAll(dropped)
	if oldPeers != nil && oldPeers != rl.peers {
		oldPeers.Close()
	}
	rl.cfg, rl.cs = cfg, next
	rl.metrics.ConfigLoaded(true, time.Now())
	if ctx.Err() != nil && len(changed) > 0 && rl.monCtx != nil && rl.monCtx.Err() != nil {
		// The drain ended while Replace waited for the changed checks' first runs, and stopped the monitor
		// under them. A reload whose runs ended before the drain did (shutdown_delay is longer than a
		// check's timeout) was applied whole, and is logged as any other.
		rl.log.Info("configuration reload ended by the shutdown: the first runs of its new checks were cut short", "trigger", trigger)
		return
	}
	rl.log.Info("configuration reloaded", "trigger", trigger, "config", rl.path,
		"added", strings.Join(added, ","), "removed", strings.Join(removed, ","), "changed", strings.Join(changed, ","),
		"unchanged", len(next)-len(added)-len(changed))
	if len(next) == 0 {
		rl.log.Warn(noChecksWarning(rl.path))
	}
}

// refuse logs every error of a configuration that does not validate, each with its file:line, and
// keeps the running one.
func (rl *reloader) refuse(trigger string, err error) {
	rl.metrics.ConfigLoaded(false, time.Now())
	var errs config.Errors
	if !errors.As(err, &errs) {
		rl.log.Error("configuration reload refused: still serving the previous configuration", "trigger", trigger, "config", rl.path, "error", err)
		return
	}
	rl.log.Error("configuration reload refused: still serving the previous configuration", "trigger", trigger, "config", rl.path, "errors", len(errs))
	for _, e := range errs {
		rl.log.Error("invalid configuration", "error", e.Error())
	}
}

// restartOnly says which changed settings need a restart, and keeps the running values in cfg.
func (rl *reloader) restartOnly(cfg *config.Config) {
	if rl.listen != "" {
		cfg.Server.Listen = rl.listen // --listen wins, as at start-up
	}
	old := rl.cfg.Server
	if cfg.Server.Listen != old.Listen {
		rl.log.Warn("server.listen changed: it needs a restart; still listening on the old address", "listen", old.Listen, "new", cfg.Server.Listen)
		cfg.Server.Listen = old.Listen
	}
	if cfg.Server.GRPCListen != old.GRPCListen {
		rl.log.Warn("server.grpc_listen changed: it needs a restart; the gRPC health port stays as it was", "grpc_listen", old.GRPCListen, "new", cfg.Server.GRPCListen)
		cfg.Server.GRPCListen = old.GRPCListen
	}
	for i, c := range cfg.Checks {
		var warning string
		cfg.Checks[i], warning = rl.startedMigrations(c)
		if warning != "" {
			rl.log.Warn(warning, "check", c.Name)
		}
	}
}

// startedMigrations is c with the migrations block the process started with, and the warning a reload
// logs when that differs from c's own ("" when c is left as it is).
//
// A check's migrations block says what the app of this pod needs from the schema, and that app
// does not change while it runs. A new release's configuration reaches the old release's pods
// (the kubelet updates a mounted ConfigMap in place, within a minute, while the rollout is still
// going): taking its version would fail every old pod with `schema` until the migration Job ends,
// and empty the Service during the deploy. So the block stays as the process started with it; a
// check the process did not start with (added, renamed, or of another type under its name) runs
// without one until a restart: that release's ConfigMap adds it to the old pods as well. A check it
// started with, removed by a reload and restored by another (a bad edit rolled back), is the same
// check: compared with the running configuration instead, it came back without its block.
func (rl *reloader) startedMigrations(c config.Check) (config.Check, string) {
	if rl.first == nil {
		rl.first = make(map[string]config.Check, len(rl.started.Checks))
		for _, c := range rl.started.Checks {
			rl.first[c.Name] = c
		}
	}
	was, ok := rl.first[c.Name]
	if !ok || was.Type != c.Type {
		if adopted, changed := c.Adopt(config.Check{}, "migrations"); changed {
			return adopted, "migrations of a check added by a reload: it needs a restart (what this pod's app needs from the schema); the check runs without migrations until then"
		}
		return c, ""
	}
	adopted, changed := c.Adopt(was, "migrations")
	switch {
	case !changed:
		return c, ""
	case !was.Src.IsSet("migrations"):
		// Started without (or added by an earlier reload, which left them out): it keeps none.
		return adopted, "migrations added by a reload: it needs a restart (what this pod's app needs from the schema); the check runs without migrations until then"
	}
	return adopted, "migrations changed: it needs a restart (what this pod's app needs from the schema); the check keeps the migrations it started with"
}

// applyServer applies the server settings a reload may change: details, details_token (srv), and the
// drain timing.
func (rl *reloader) applyServer(cfg *config.Config, srv *server.Options) {
	srv.Details, srv.DetailsToken = detailsOf(cfg.Server.Details), cfg.Server.DetailsToken
	rl.mu.Lock()
	rl.drain = [2]time.Duration{cfg.Server.ShutdownDelay, cfg.Server.ShutdownTimeout}
	rl.mu.Unlock()
}

// detailsOf maps the configuration's server.details to the server's; anything else (config.Validate
// refuses it) withholds reasons.
func detailsOf(s string) server.Details {
	switch s {
	case config.DetailsAlways:
		return server.DetailsAlways
	case config.DetailsToken:
		return server.DetailsToken
	}
	return server.DetailsNever
}

// drainTiming is server.Drain.Timing: shutdown_delay and shutdown_timeout as last loaded.
func (rl *reloader) drainTiming() (delay, timeout time.Duration) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.drain[0], rl.drain[1]
}

// applyFleet sets the fleet of mon and srv for cfg: the running peer client when the fleet section
// and the shared checks' shortest interval are unchanged, a new one otherwise, none without a fleet
// section. The previous client is the caller's to close.
func (rl *reloader) applyFleet(cfg *config.Config, cs []*checks.Check, mon *monitor.Options, srv *server.Options) {
	if !cfg.Fleet.Enabled() {
		rl.peers, rl.fleet, rl.fleetKey = nil, nil, ""
		return
	}
	key := fleetKey(cfg.Fleet, cs)
	if rl.peers != nil && key == rl.fleetKey {
		mon.Fleet = rl.fleet
		srv.Fleet = &server.FleetOptions{Instance: rl.instance, Token: cfg.Fleet.Token, PreviousToken: cfg.Fleet.PreviousToken}
		return
	}
	previous := rl.peers
	rl.peers = newFleet(cfg, cs, rl.instance, rl.metrics, rl.log, mon, srv)
	if previous != nil {
		rl.peers.Inherit(previous) // the peers' last DNS answer, should the name not resolve now
	}
	rl.fleet, rl.fleetKey = mon.Fleet, key
}

// fleetKey identifies what the peer client is built from. It holds the fleet token: compared, never shown.
func fleetKey(f config.Fleet, cs []*checks.Check) string {
	f.Src = config.Source{}
	var b strings.Builder
	_ = json.NewEncoder(&b).Encode(f)
	for _, c := range cs {
		if c.Shared && c.Critical {
			b.WriteString(c.Name + "=" + c.Interval.String() + ";")
		}
	}
	return b.String()
}

// close releases the checks and the peer client in use.
func (rl *reloader) close() {
	checks.CloseAll(rl.cs)
	if rl.peers != nil {
		rl.peers.Close()
	}
}
