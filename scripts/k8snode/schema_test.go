//go:build k8snode

package k8snode

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // the pgx5:// driver
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"

	"github.com/healthgate/healthgate/checks/checktest"
)

// exampleMigrations is the Deployment of examples/kubernetes/migrations.yaml (the shape README "Migrations:
// wait for the schema" recommends: a `wait --postgres $(DATABASE_URL) --migrations golang-migrate:VERSION`
// init container), with this node's images: healthgate's, and the demo app for the app (its readiness on
// the demo's /healthz, the example's app having /ready). It returns the manifest and the VERSION the init
// container waits for. The example's Job is the test's own golang-migrate run: its image is the app's.
func exampleMigrations(t *testing.T, repo string) (manifest, version string) {
	t.Helper()
	for _, doc := range strings.Split(readExample(t, repo, "migrations.yaml"), "\n---\n") {
		if strings.Contains(doc, "\nkind: Deployment\n") {
			manifest = doc
		}
	}
	m := regexp.MustCompile(`- --migrations\n\s*- golang-migrate:([0-9]+)\n`).FindStringSubmatch(manifest)
	if m == nil {
		t.Fatalf("examples/kubernetes/migrations.yaml: no Deployment whose init container waits with --migrations golang-migrate:VERSION")
	}
	return substitute(t, "examples/kubernetes/migrations.yaml's Deployment", manifest,
		[2]string{"ghcr.io/healthgate/healthgate:0.1.0", "localhost/hg-healthgate:v1"},
		[2]string{"registry.example.com/my-app:1.5.0", "localhost/hg-demo:v1"},
		[2]string{"httpGet: {path: /ready, port: http}", "httpGet: {path: /healthz, port: http}"}), m[1]
}

// TestWaitHoldsForSchema: a release whose schema changes, in the example's shape. The database answers but
// golang-migrate's schema_migrations (in a schema private to the test) is at the previous release's version:
// the `wait` init container holds the pods (app container not started, pod not Ready), also while the
// migration runs and golang-migrate marks the new version dirty; once the migration is done, the app starts
// and the pods turn Ready. Everything is read from the pods' status; the URL's password is in no log.
func TestWaitHoldsForSchema(t *testing.T) {
	n := needNode(t)
	t.Parallel()
	manifest, version := exampleMigrations(t, n.repo)
	const previous = "20241101000000" // the previous release's migration

	// The app's schema, private to the test, dropped at the end.
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	schema := "hg_k8s_schema_" + hex.EncodeToString(rnd[:])
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, checktest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		_ = admin.Close(context.Background())
	})
	// golang-migrate itself writes its table; the new release's migration takes a while (as a real one on a
	// big table does), and golang-migrate marks its version dirty until it is done.
	const migrating = 6 // s
	src, err := iofs.New(fstest.MapFS{
		"m/" + previous + "_orders.up.sql":       {Data: []byte("CREATE TABLE orders (id bigint PRIMARY KEY);")},
		"m/" + previous + "_orders.down.sql":     {Data: []byte("DROP TABLE orders;")},
		"m/" + version + "_orders_note.up.sql":   {Data: []byte("ALTER TABLE orders ADD COLUMN note text; SELECT pg_sleep(" + strconv.Itoa(migrating) + ");")},
		"m/" + version + "_orders_note.down.sql": {Data: []byte("ALTER TABLE orders DROP COLUMN note;")},
	}, "m")
	if err != nil {
		t.Fatal(err)
	}
	mig, err := migrate.NewWithSourceInstance("iofs", src, "pgx5://postgres@"+postgres+"/test?sslmode=disable&search_path="+schema)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	defer mig.Close()
	if err := mig.Migrate(mustUint(t, previous)); err != nil {
		t.Fatalf("migrate to %s: %v", previous, err)
	}

	ns := n.namespace("hg-schema")
	pg := pgProxy(t)
	// Trust auth ignores the password: it is there to be looked for in the logs.
	const password = "k8s-schema-s3cret"
	n.kc("-n", ns, "create", "secret", "generic", "app-db", "--from-literal=url=postgres://postgres:"+password+"@"+pg.Addr()+
		"/test?sslmode=disable&connect_timeout=2&search_path="+schema)
	n.apply(ns, manifest)
	const selector = "app.kubernetes.io/name=my-app"

	// held checks every pod: wait-for-schema running, the app container not started, not Ready; it returns
	// what was not so.
	held := func() string {
		for _, p := range n.pods(ns, selector) {
			app, _ := p.Container("app")
			if p.Ready() || app.State.Running != nil || app.State.Terminated != nil {
				return fmt.Sprintf("pod %s Ready=%v, app container started (%+v)", p.Metadata.Name, p.Ready(), app.State)
			}
			if w, _ := p.Container("wait-for-schema"); w.State.Running == nil {
				return fmt.Sprintf("pod %s: wait-for-schema not running: %+v", p.Metadata.Name, w.State)
			}
		}
		return ""
	}
	n.eventually(120*time.Second, "wait-for-schema running in both pods", func() (bool, string) {
		ps := n.pods(ns, selector)
		running := 0
		for _, p := range ps {
			if c, ok := p.Container("wait-for-schema"); ok && c.State.Running != nil {
				running++
			}
		}
		return len(ps) == 2 && running == 2, strconv.Itoa(running) + " of " + strconv.Itoa(len(ps)) + " running"
	})

	// Pending: the database answers, the schema is at the previous version. wait says so.
	start := time.Now()
	for time.Since(start) < 10*time.Second {
		if bad := held(); bad != "" {
			t.Fatalf("schema at %s: %s", previous, bad)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, p := range n.pods(ns, selector) {
		logs := n.kc("-n", ns, "logs", p.Metadata.Name, "-c", "wait-for-schema")
		if !strings.Contains(logs, "schema") || !strings.Contains(logs, "pending (at "+previous+", need "+version+")") {
			t.Errorf("pod %s: wait-for-schema's log does not say the migration is pending:\n%s", p.Metadata.Name, logs)
		}
	}
	t.Logf("held: pods not Ready, app containers not started for %v with the schema at %s (need %s)",
		time.Since(start).Round(time.Second), previous, version)

	// The migration runs: golang-migrate marks version dirty, alters the table, then marks it clean.
	// Polled until golang-migrate returns (no Fatal meanwhile: the goroutine must end first).
	to := mustUint(t, version)
	// The end is timed where Migrate returns: the loop may be in a slow kubectl call by then, while the
	// init container already sees the version and the app starts.
	type result struct {
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() { err := mig.Migrate(to); done <- result{err, time.Now()} }()
	sawDirty, bad := false, ""
	var migrated time.Time
	for migrated.IsZero() {
		select {
		case r := <-done:
			if r.err != nil {
				t.Fatalf("migrate to %s: %v", version, r.err)
			}
			migrated = r.at
		case <-time.After(500 * time.Millisecond):
			var dirty bool
			if err := admin.QueryRow(ctx, "SELECT dirty FROM "+schema+".schema_migrations").Scan(&dirty); err == nil && dirty {
				sawDirty = true
			}
			if bad == "" {
				bad = held()
			}
		}
	}
	if bad != "" {
		t.Fatalf("during the migration: %s", bad)
	}
	if !sawDirty {
		t.Errorf("golang-migrate's version was never seen dirty during the %d s migration", migrating)
	}
	t.Logf("held during the migration (%s dirty for about %d s)", version, migrating)

	took := n.eventually(90*time.Second, "both pods Ready after the migration", func() (bool, string) {
		ps := n.pods(ns, selector)
		ready := 0
		for _, p := range ps {
			if p.Ready() {
				ready++
			}
		}
		return len(ps) == 2 && ready == 2, strconv.Itoa(ready) + " of " + strconv.Itoa(len(ps)) + " Ready"
	})
	for _, p := range n.pods(ns, selector) {
		w, _ := p.Container("wait-for-schema")
		app, _ := p.Container("app")
		if w.State.Terminated == nil || w.State.Terminated.ExitCode != 0 {
			t.Errorf("pod %s: wait-for-schema %+v, want terminated with exit 0", p.Metadata.Name, w.State)
		}
		// startedAt has a resolution of a second.
		if app.State.Running == nil || app.State.Running.StartedAt.Before(migrated.Truncate(time.Second)) {
			t.Errorf("pod %s: app container started %v, before the migration finished (%v)", p.Metadata.Name, app.State.Running, migrated)
		}
		logs := n.kc("-n", ns, "logs", p.Metadata.Name, "-c", "wait-for-schema")
		if strings.Contains(logs, password) {
			t.Errorf("pod %s: wait-for-schema's log holds the URL's password:\n%s", p.Metadata.Name, logs)
		}
		if !strings.Contains(logs, "ready: postgres") {
			t.Errorf("pod %s: wait-for-schema's log does not say postgres became ready:\n%s", p.Metadata.Name, logs)
		}
	}
	if ps := n.pods(ns, selector); len(ps) > 0 {
		t.Logf("wait-for-schema's log in %s:\n%s", ps[0].Metadata.Name, n.kc("-n", ns, "logs", ps[0].Metadata.Name, "-c", "wait-for-schema"))
	}
	t.Logf("migrated: both pods Ready %v after the migration finished", took.Round(100*time.Millisecond))
	n.noRestarts(ns, selector)
}

func mustUint(t *testing.T, s string) uint {
	t.Helper()
	u, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("version %q: %v", s, err)
	}
	return uint(u)
}
