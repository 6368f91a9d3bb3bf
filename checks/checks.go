// Package checks owns what one run of a check does: one file per kind (postgres.go, redis.go, http.go,
// mysql.go, amqp.go, ...: the registry, kinds, lists them), the one registry of kinds, the reason classes of docs/design.md §4 and secret redaction. A check
// builds its client once, never dials while building, and bounds every run by its timeout.
//
// A kind is its file: its configuration struct (the fields beyond the common ones, decoded strictly from
// config.Check.Spec; secret:"true" marks the fields never shown; schema and desc tags describe them for the
// chart), its build function and its prober, and one line in the registry (kinds). Everything else follows
// from the registry: the type names config accepts, the `wait`/`check` flag --KIND and the usage, the
// "does not apply" and "known types" messages, the chart's check schema (TestChartSchema renders it;
// `go test ./checks -run TestChartSchema -update` writes it) and the chart README's field list
// (TestChartReadmeFields). A new kind touches its file, its line in the registry, its test and testdata,
// two README rows (what it executes, its `wait` flag: TestDocsReadmeKinds in the root package fails until
// both exist), and the two rendered files.
package checks

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/healthgate/healthgate/config"
)

// UserAgent is sent by http checks; main sets the version.
var UserAgent = "healthgate"

// Check is one configured dependency check, built once and run many times.
type Check struct {
	Name     string
	Type     string
	Target   string // where it points, redacted: safe to show anyone
	Critical bool
	// Shared: scope shared, a dependency every pod uses; it may fail open (docs/design.md §10).
	Shared bool

	Interval         time.Duration
	Timeout          time.Duration
	FailureThreshold int
	SuccessThreshold int

	// src is where its settings were written, which hints name (file:line): a reload that keeps the
	// check moves it (Relocate) when lines before it were added or removed.
	src    atomic.Pointer[config.Source]
	cfg    config.Check // what it was built from (the zero Check for Func)
	files  string       // filesKey of what it was built from
	prober prober
}

// Configured reports whether this check was built from a configuration the Same as c, naming TLS
// files whose contents have not changed since: a reload keeps it, with its state and its client,
// instead of building c. A renewed certificate (cert-manager rewriting a mounted Secret) rebuilds it.
func (c *Check) Configured(cfg config.Check) bool {
	return c.cfg.Name != "" && c.cfg.Same(cfg) && c.files == FilesKey(cfg)
}

// Retimes reports whether c was built from o's configuration with only its timing changed (interval,
// timeout, failure and success thresholds): the same dependency asked the same way, so o's last result
// still says something about c until c's first run (a reload carries it over instead of starting c
// unknown).
func (c *Check) Retimes(o *Check) bool {
	if c.cfg.Name == "" || o.cfg.Name == "" || c.files != o.files {
		return false
	}
	a, b := c.cfg, o.cfg
	a.Interval, a.Timeout, a.FailureThreshold, a.SuccessThreshold = b.Interval, b.Timeout, b.FailureThreshold, b.SuccessThreshold
	return a.Same(b)
}

// FilesKey digests the contents of the TLS files a check's configuration names ("" when it names
// none), so that serve's reload notices a renewed certificate although the configuration reads the
// same. Decode errors are New's to report.
func FilesKey(c config.Check) string {
	k, ok := kinds[c.Type]
	if !ok {
		return ""
	}
	spec := k.spec()
	_ = c.DecodeSpec(spec, commonFields...)
	return filesKey(spec)
}

// Files lists the files FilesKey reads for c (nil when it names none): serve's reload poll watches
// them, beside the configuration's own inputs, so that it decodes the configuration again only when
// one of them changed.
func Files(c config.Check) []string {
	k, ok := kinds[c.Type]
	if !ok {
		return nil
	}
	spec := k.spec()
	_ = c.DecodeSpec(spec, commonFields...)
	if f, ok := spec.(interface{ files() []string }); ok {
		return f.files()
	}
	if t, ok := specTLS(spec); ok {
		return tlsFiles(t)
	}
	return nil
}

// filesKey is FilesKey of a decoded spec: its own filesKey when it has one (postgres: the files its URL
// names), else the tlsKey of its config.TLS field, if it has one.
func filesKey(spec any) string {
	if f, ok := spec.(interface{ filesKey() string }); ok {
		return f.filesKey()
	}
	if t, ok := specTLS(spec); ok {
		return tlsKey(t)
	}
	return ""
}

// specTLS is the config.TLS field of a decoded spec, when it has one and it is given.
func specTLS(spec any) (config.TLS, bool) {
	v := reflect.ValueOf(spec).Elem()
	for i := range v.NumField() {
		if t, ok := v.Field(i).Interface().(config.TLS); ok && tlsGiven(t) {
			return t, true
		}
	}
	return config.TLS{}, false
}

// prober is what each kind implements: one bounded run against the dependency, and the release of
// its client.
type prober interface {
	probe(ctx context.Context) error
	close()
}

// kind is one registry entry: the struct of a check's own fields (its configuration, beyond the common
// ones), how to build the prober from it, and what the command line and the health+json output need.
type kind struct {
	// spec returns a new pointer to the kind's configuration struct (its <kind>Spec); its yaml tags are
	// the fields a check of this kind may set, secret:"true" marks the fields whose values are never
	// shown, and schema/desc tags render the chart's schema (schema_test.go), as does a tls field's
	// plain:"SCHEME|..." (the URL schemes, without TLS, on which the block is refused).
	spec    func() any
	build   func(c config.Check, s any) (p prober, target string, errs config.Errors)
	fields  []string // the yaml keys of spec's struct
	secrets []string // of which, those tagged secret:"true"
	// needs maps a field to the one it is useless without, from its needs:"FIELD" tag (memcached's
	// username to its password).
	needs map[string]string
	// component is the health+json draft's componentType for checks of this kind: "datastore" for
	// databases and caches, "component" for services.
	component string
	// target is the field that says where a check points, as `wait` and `check` take it from a flag
	// named after the kind (--postgres URL).
	target target
	// schemaDesc, when set, is the description of the kind's block in the chart's schema.
	schemaDesc string
	// tls names where a check of this kind asks for TLS besides its tls block (the scheme, the URL's
	// parameters), for the generic tls hint: every kind's words, of which one applies, read as a puzzle.
	tls string
}

// register makes a registry entry of a kind's build function, typed by its configuration struct S
// (the kind's <kind>Spec).
func register[S any](k kind, build func(c config.Check, s *S) (prober, string, config.Errors)) kind {
	k.spec = func() any { return new(S) }
	k.build = func(c config.Check, s any) (prober, string, config.Errors) {
		p, target, errs := build(c, s.(*S))
		if len(errs) > 0 {
			errs = append(errs, unreportedTLSErrors(c, s, errs)...) // all at once, whatever stopped the kind early
		}
		return p, target, errs
	}
	t := reflect.TypeFor[S]()
	for i := range t.NumField() {
		if key := t.Field(i).Tag.Get("yaml"); key != "" && key != "-" {
			k.fields = append(k.fields, key)
			if t.Field(i).Tag.Get("secret") == "true" {
				k.secrets = append(k.secrets, key)
			}
			if other := t.Field(i).Tag.Get("needs"); other != "" {
				if k.needs == nil {
					k.needs = map[string]string{}
				}
				k.needs[key] = other
			}
		}
	}
	return k
}

// target describes a kind's target field for the command line.
type target struct {
	field string // its YAML key: url, address
	arg   string // the flag's argument in usage text: URL, HOST:PORT
	help  string // what the flag gives, and what must answer: "a Postgres `URL` (a query must answer)"
	// example is a target aimed at 127.0.0.1:9 (discard) that builds: what tools/policy gives a
	// rendered configuration's ${VAR} so that healthgate's own loader can run on it without a secret.
	example string
}

// kinds is the one registry of check types (adding a kind touches only this package, and the files
// rendered from it): config knows no type names.
var kinds = map[string]kind{
	"postgres": register(kind{tls: "sslmode, sslrootcert", component: ComponentDatastore,
		target: target{"url", "URL", "a Postgres `URL` (a query must answer", "postgres://healthgate@127.0.0.1:9/healthgate?sslmode=disable"}}, buildPostgres),
	"mysql": register(kind{tls: "the tls parameter", component: ComponentDatastore,
		target: target{"url", "URL", "a MySQL or MariaDB `URL` (mysql://user:pw@host:3306/db or user:pw@tcp(host:3306)/db; a query must answer",
			"mysql://healthgate@127.0.0.1:9/healthgate"},
		schemaDesc: "A mysql (MySQL or MariaDB) check: the fields healthgate's checks registry accepts for this type. url: mysql://user:pw@host:3306/db or the driver's DSN user:pw@tcp(host:3306)/db."},
		buildMySQL),
	"amqp": register(kind{tls: "amqps://", component: ComponentService,
		target:     target{"url", "URL", "an AMQP 0-9-1 broker (RabbitMQ) `URL` (login and a channel", "amqp://healthgate@127.0.0.1:9/"},
		schemaDesc: "An amqp check: the fields healthgate's checks registry accepts for this type."}, buildAMQP),
	"nats": register(kind{tls: "tls://", component: ComponentService,
		target: target{"url", "URL", "a NATS server `URL` (PING must answer PONG", "nats://127.0.0.1:9"}}, buildNATS),
	"mqtt": register(kind{tls: "mqtts://", component: ComponentService,
		target:     target{"url", "URL", "an MQTT broker `URL` (CONNECT must be accepted", "mqtt://127.0.0.1:9"},
		schemaDesc: "An mqtt check: the fields healthgate's checks registry accepts for this type."}, buildMQTT),
	"redis": register(kind{tls: "rediss://", component: ComponentDatastore,
		target: target{"url", "URL", "a Redis `URL` (PING must answer PONG; with master_name=, from the master its Sentinels name", "redis://127.0.0.1:9/0"}}, buildRedis),
	"http": register(kind{tls: "https://", component: ComponentService,
		target: target{"url", "URL", "an HTTP `URL` (2xx", "http://127.0.0.1:9/healthz"}}, buildHTTP),
	"tcp": register(kind{component: ComponentService,
		target: target{"address", "HOST:PORT", "`HOST:PORT` (a connection must open", "127.0.0.1:9"}}, buildTCP),
	"memcached": register(kind{component: ComponentDatastore,
		target: target{"address", "HOST:PORT", "a memcached at `HOST:PORT` (version must answer", "127.0.0.1:9"}}, buildMemcached),
	"grpc": register(kind{tls: "https://", component: ComponentService,
		target: target{"address", "HOST:PORT", "a gRPC server at `HOST:PORT` (grpc.health.v1.Health/Check must answer SERVING; plaintext, or TLS with https://HOST:PORT", "127.0.0.1:9"}}, buildGRPC),
	"dns": register(kind{component: ComponentService,
		target: target{"host", "HOST", "the DNS name `HOST` (it must resolve: A/AAAA, system resolver", "localhost"}}, buildDNS),
}

// Kind is what the command line knows of a registered kind: `wait` and `check` take a flag per kind
// (--NAME TARGETARG), and their usage lists them, so a new kind gets its flag by being registered.
type Kind struct {
	Name string
	// TargetField is the YAML key of the field a flag sets (url, address).
	TargetField string
	// TargetArg names the flag's argument in usage text (URL, HOST:PORT).
	TargetArg string
	// TargetHelp says what the flag gives and what must answer, for flag.Var: "a Postgres `URL` (a
	// query must answer" (the caller closes the parenthesis, adding what it needs, "; repeatable)").
	TargetHelp string
	// TargetExample is a target that builds, aimed at 127.0.0.1:9 (discard): a placeholder for tools.
	TargetExample string
	// Fields are the YAML keys of the kind's own fields (beyond the common ones), as a file writes them;
	// --set KIND.FIELD=VALUE sets them on flag targets.
	Fields []string
	// Secrets are the fields among them whose values are never shown (secret:"true").
	Secrets []string
	// Needs maps a field to the field it is useless without (needs:"FIELD"): memcached's username to
	// its password. A --set of the one is refused when the other is a secret, which --set never takes.
	Needs map[string]string
	// Migrations: checks of this kind take a migrations: block (a SQL database has a schema), and flag
	// targets of this kind take --migrations.
	Migrations bool
}

// Kinds lists the registered kinds, sorted by name.
func Kinds() []Kind {
	var ks []Kind
	for _, name := range Types() {
		t := kinds[name].target
		ks = append(ks, Kind{Name: name, TargetField: t.field, TargetArg: t.arg, TargetHelp: t.help, TargetExample: t.example,
			Fields: slices.Clone(kinds[name].fields), Secrets: slices.Clone(kinds[name].secrets), Needs: maps.Clone(kinds[name].needs), Migrations: slices.Contains(kinds[name].fields, "migrations")})
	}
	return ks
}

// SetTarget sets the target field of c's kind (url, address) to value, as the flag --KIND value
// does. It reports false for a kind the registry does not know.
func SetTarget(c *config.Check, value string) bool {
	k, ok := kinds[c.Type]
	if !ok {
		return false
	}
	c.Spec.Set(k.target.field, value)
	return true
}

// The health+json draft's pre-defined componentType values (draft-inadarei-api-health-check) for a
// check: a datastore (database, cache) or any other component (a service reached over HTTP, TCP,
// gRPC). The draft's third, system, is the server's, for its built-in lines (shutdown, ping, monitor).
const (
	ComponentDatastore = "datastore"
	ComponentService   = "component"
)

// ComponentType is the health+json componentType of a check of this kind: "component" for a kind
// the registry does not know (a Func check).
func ComponentType(kind string) string {
	if k, ok := kinds[kind]; ok && k.component != "" {
		return k.component
	}
	return ComponentService
}

// fieldNotes say why a field applies only to some kinds, for the "does not apply" message.
var fieldNotes = map[string]string{
	"migrations": ": only a SQL database has a schema whose migrations can be checked",
}

var commonFields = []string{"name", "type", "critical", "interval", "timeout", "failure_threshold", "success_threshold", "scope"}

// Types lists the known check types, sorted.
func Types() []string { return slices.Sorted(maps.Keys(kinds)) }

// New builds a check from its configuration. It does not dial: building never depends on the
// dependency being up. The error is a config.Errors positioned in the configuration file.
func New(c config.Check) (*Check, error) {
	k, ok := kinds[c.Type]
	if !ok {
		errs := config.Errors{c.Src.Errorf("type", "unknown type %s%s (known: %s)", config.Quote(c.Type, c.Src.Vars["type"]), suggestType(c.Type), strings.Join(Types(), ", "))}
		if c.Type == "" {
			errs = config.Errors{c.Src.Errorf("type", "required (one of %s)", strings.Join(Types(), ", "))}
		}
		return nil, append(errs, unknownFields(c)...).Err()
	}
	var errs config.Errors
	var others []string // fields of other kinds: reported here, left out of the decode
	for _, key := range c.Spec.Keys() {
		if slices.Contains(k.fields, key) {
			continue
		}
		if owners := appliesTo(key); owners != "" {
			e := c.Src.Errorf(key, "does not apply to a %s check%s%s", c.Type, fieldNotes[key], owners)
			e.Field = c.Spec.WrittenAs(key) // address_file: does not apply
			errs = append(errs, e)
			others = append(others, key)
		}
	}
	c.Spec = c.Spec.Without(others...)
	spec := k.spec()
	decodeErrs := c.DecodeSpec(spec, commonFields...)
	errs = append(errs, decodeErrs...)
	failed := func(field string) bool {
		if c.Src.Failed[field] {
			return true
		}
		for _, e := range decodeErrs {
			if e.Field == field || strings.HasPrefix(e.Field, field+".") || strings.HasPrefix(e.Field, field+"[") {
				return true
			}
		}
		return false
	}
	p, target, buildErrs := k.build(c, spec)
	for _, e := range buildErrs {
		// A field that did not decode was reported already; what building says of its (empty or
		// default) value would only echo that. Every other field is still checked, so one mistake does
		// not hide the next (all errors at once).
		if !failed(e.Field) {
			errs = append(errs, e)
		}
	}
	if len(errs) == 0 && len(c.Src.Failed) > 0 {
		errs = append(errs, c.Src.Errorf("", "not built: fix the errors above"))
	}
	if len(errs) > 0 {
		if p != nil {
			p.close()
		}
		return nil, errs.Err()
	}
	ch := &Check{
		Name: c.Name, Type: c.Type, Target: target, Critical: c.Critical, Shared: c.Scope == config.ScopeShared,
		Interval: c.Interval, Timeout: c.Timeout,
		FailureThreshold: c.FailureThreshold, SuccessThreshold: c.SuccessThreshold,
		cfg: c, files: filesKey(spec), prober: p,
	}
	ch.Relocate(c)
	return ch, nil
}

// Relocate records where c's settings are written now (the file, lines and variables its hints name):
// a reload keeps a check configured the Same wherever it moved in the file, and its hints must name
// the lines it is on now, not those it was built from. Safe while the check runs.
func (c *Check) Relocate(cfg config.Check) {
	src := cfg.Src
	c.src.Store(&src)
}

// typeAliases are the names users give a dependency that a kind checks under another name: the product
// (mariadb, rabbitmq, mosquitto, valkey) or a longer spelling (postgresql, https).
var typeAliases = map[string]string{
	"postgresql": "postgres", "pg": "postgres", "psql": "postgres", "mariadb": "mysql", "rabbitmq": "amqp",
	"rabbit": "amqp", "mosquitto": "mqtt", "valkey": "redis", "keydb": "redis", "memcache": "memcached",
	"https": "http", "nslookup": "dns", "grpc-health": "grpc",
}

// suggestType is the " (did you mean ...)" of an unknown type: the kind an alias names, else the
// closest kind name, else "".
func suggestType(name string) string {
	lower := strings.ToLower(strings.TrimSpace(name))
	best, ok := typeAliases[lower]
	if !ok {
		best = config.Closest(lower, Types(), 3)
	}
	if best == "" || best == name {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// NewAll builds every check of a configuration, reporting every error at once. On error it closes
// what it built.
func NewAll(cs []config.Check) ([]*Check, error) {
	var errs config.Errors
	built := make([]*Check, 0, len(cs))
	for _, c := range cs {
		ch, err := New(c)
		if err != nil {
			errs = append(errs, err.(config.Errors)...)
			continue
		}
		built = append(built, ch)
	}
	if err := errs.Err(); err != nil {
		CloseAll(built)
		return nil, err
	}
	return built, nil
}

// Validate reports what building these checks would reject, without keeping anything built. The fields
// that failed to decode were reported by config, and are not reported again.
func Validate(cs []config.Check) config.Errors {
	var errs config.Errors
	for _, c := range cs {
		if c.Src.Failed[""] {
			continue // config reported it: not a mapping at all
		}
		if c.Type == "" {
			errs = append(errs, unknownFields(c)...) // config reported the missing type
			continue
		}
		ch, err := New(c)
		if err != nil {
			for _, e := range err.(config.Errors) {
				if e.Field != "" || len(c.Src.Failed) == 0 {
					errs = append(errs, e) // not the "not built" note: config said why
				}
			}
			continue
		}
		ch.Close()
	}
	return errs
}

// CloseAll releases every check's client, all at once, and returns when every close has returned. A
// close can wait on the dependency (an amqp check's goodbye waits up to min(timeout, 2 s) for a hung
// broker's close-ok), so closing one after the other would add those waits up, to a reload's or a
// shutdown's time. Checks of one target release their shared client's references under its lock
// (shared.go), in any order.
func CloseAll(cs []*Check) {
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(c.Close)
	}
	wg.Wait()
}

// unknownFields reports the keys of a check whose type is missing or unknown that no kind has (tipe,
// urll): unknown whatever its type, they were not reported until the type was fixed, one round later,
// and a typo in the type key itself (tipe: tcp) only read as "type: required".
func unknownFields(c config.Check) config.Errors {
	all := slices.Clone(commonFields)
	for _, k := range kinds {
		all = append(all, k.fields...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	var errs config.Errors
	for _, key := range c.Spec.Keys() {
		written := c.Spec.WrittenAs(key) // pasword_file, as the file has it
		if slices.Contains(all, key) {
			// A field some kind has, written as NAME_file whose file could not be read: the type
			// being unknown, no kind's decode says so; said here, all errors at once.
			errs = append(errs, c.Spec.Unread(key)...)
			continue
		}
		suggestion := ""
		if best := config.Closest(strings.ToLower(key), all, 3); best != "" {
			suggestion = fmt.Sprintf(" (did you mean %q?)", best+strings.TrimPrefix(written, key))
		}
		e := c.Src.Errorf(key, "unknown field%s", suggestion)
		e.Field = written
		errs = append(errs, e)
	}
	return errs
}

func appliesTo(key string) string {
	var owners []string
	for _, name := range Types() {
		if slices.Contains(kinds[name].fields, key) {
			owners = append(owners, name)
		}
	}
	if len(owners) == 0 {
		return ""
	}
	return " (it applies to " + strings.Join(owners, ", ") + ")"
}

// Run runs the check once, bounded by its timeout. It returns nil when the dependency is healthy and
// otherwise an *Error carrying the reason class and a redacted cause. A panic in the check is its failure
// of class panic, for serve, wait and check alike (docs/design.md §2); PanicStack gives where it was.
func (c *Check) Run(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &Error{Class: Panic, Err: fmt.Errorf("panic: %v", r), stack: string(debug.Stack())}
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	ctx, tr := withTrace(ctx)
	err = c.prober.probe(ctx)
	if err == nil {
		return nil
	}
	// A driver that returns its own error after our deadline passed still timed out.
	var verdict *Error
	if deadlinePassed(ctx) && !(errors.As(err, &verdict) && verdict.past) {
		err = timedOut(err, c.Timeout)
	}
	return tr.locate(classified(err))
}

// PanicStack is the stack of the panic that err, a run's failure, is; "" for any other error. The error
// itself stays one line; the stack is for one log record.
func PanicStack(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.stack
	}
	return ""
}

// timedOut is the error of a run whose deadline passed: a timeout, worded "no answer within TIMEOUT"
// (docs/design.md §3), then what the driver says of where it was waiting, without the words of the
// deadline itself ("context deadline exceeded", which the timeout has said) and without a "use of closed
// network connection" that our own close at the deadline caused. A driver's error of another class (a
// reset, when it was our deadline) loses that class and its hint; a kind's own timeout hint stays.
func timedOut(err error, timeout time.Duration) error {
	cause, hint := err, ""
	var e *Error
	if errors.As(err, &e) {
		cause = e.Err
		if e.Class == Timeout {
			hint = e.Hint
		}
	}
	what := fmt.Sprintf("no answer within %s", timeout)
	msg := ""
	// amqp091 hands the close back as its own Error, with the text only.
	if cause != nil && !errors.Is(cause, net.ErrClosed) && !strings.Contains(cause.Error(), net.ErrClosed.Error()) {
		msg = withoutDeadlineWords(cause.Error())
	}
	if msg == "" {
		return &Error{Class: Timeout, Err: errors.New(what), Hint: hint}
	}
	return &Error{Class: Timeout, Err: &flatError{msg: what + ": " + msg, err: cause}, Hint: hint}
}

// withoutDeadlineWords drops the words a driver ends its error with when the run's context ended the
// wait: "context deadline exceeded" (pgx adds "timeout: " before it), or a bare "i/o timeout".
func withoutDeadlineWords(msg string) string {
	msg = strings.TrimSuffix(msg, context.DeadlineExceeded.Error())
	msg = strings.TrimSuffix(strings.TrimSuffix(msg, ": "), ": timeout")
	if msg == "timeout" || msg == "i/o timeout" {
		return ""
	}
	return msg
}

// deadlinePassed reports whether ctx's deadline has passed, by its error or by the clock. The clock
// matters: a shared client's run works under a context of its own with the same deadline (clientLife),
// whose timer may fire, close the connection and return "use of closed network connection" before
// ctx's own timer has marked ctx done (seen under -race on a loaded machine: a blackholed Redis
// classified reset instead of timeout).
func deadlinePassed(ctx context.Context) bool {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// timeLeft reports whether a run may still try again (the one retry on a fresh connection after a
// reset): neither cancelled nor past its deadline, by the clock as well (deadlinePassed). A driver's
// own socket deadline, set to the run's, can cut a read and report a broken connection before ctx's
// timer has marked ctx done; a retry then would only dial with no time left.
func timeLeft(ctx context.Context) bool { return ctx.Err() == nil && !deadlinePassed(ctx) }

// remaining is what is left of a run for a client library's own timeouts (connect, write): the time to
// the run's deadline, at least 1 ms; 30 s for a run without one.
func remaining(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return max(time.Until(dl), time.Millisecond)
	}
	return 30 * time.Second
}

// Close releases the check's client (pool, connections). Runs must have returned.
func (c *Check) Close() { c.prober.close() }

// Hint returns the one-line advice for a failed run of this check, naming where its target came from
// (e.g. "check the user, password and database in DATABASE_URL").
func (c *Check) Hint(err error) string {
	field := "url"
	k, ok := kinds[c.Type]
	if ok {
		field = k.target.field
	}
	origin := c.src.Load().Origin(field)
	if e := (*Error)(nil); ok && errors.As(err, &e) && e.Class == TLS && e.Hint == "" {
		where := "the tls settings"
		if k.tls != "" {
			where = k.tls + ", the tls settings"
		}
		return fillOrigin("the TLS handshake failed: check the scheme and TLS settings in %s ("+where+"), the CA and the server name", origin)
	}
	return Hint(err, origin)
}

// funcProber runs a Go function: for checks computed in-process, and for tests of what runs checks.
type funcProber func(ctx context.Context) error

func (f funcProber) probe(ctx context.Context) error { return f(ctx) }
func (f funcProber) close()                          {}

// Func returns a check of the timing, name and criticality in c that runs fn. Its Type is c.Type,
// or "func" when empty.
func Func(c config.Check, fn func(ctx context.Context) error) *Check {
	typ := c.Type
	if typ == "" {
		typ = "func"
	}
	ch := &Check{
		Name: c.Name, Type: typ, Target: "in-process", Critical: c.Critical, Shared: c.Scope == config.ScopeShared,
		Interval: c.Interval, Timeout: c.Timeout,
		FailureThreshold: c.FailureThreshold, SuccessThreshold: c.SuccessThreshold,
		prober: funcProber(fn),
	}
	ch.Relocate(c)
	return ch
}
