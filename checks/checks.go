// Package checks owns what one run of a check does: one file per kind (postgres.go, mysql.go, redis.go,
// http.go, tcp.go), the one registry of kinds, the reason classes of docs/design.md §4 and secret redaction. A check
// builds its client once, never dials while building, and bounds every run by its timeout.
package checks

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
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

	src    config.Source
	cfg    config.Check // what it was built from (the zero Check for Func)
	prober prober
}

// Configured reports whether this check was built from a configuration the Same as c: a reload
// keeps it, with its state and its client, instead of building c.
func (c *Check) Configured(cfg config.Check) bool { return c.cfg.Name != "" && c.cfg.Same(cfg) }

// prober is what each kind implements: one bounded run against the dependency, and the release of
// its client.
type prober interface {
	probe(ctx context.Context) error
	close()
}

// kind is one registry entry: the fields a check of this type may set (beyond the common ones), how to
// validate them and how to build the prober.
type kind struct {
	fields []string
	build  func(c config.Check) (p prober, target string, errs config.Errors)
	// component is the health+json draft's componentType for checks of this kind: "datastore" for
	// databases and caches, "component" for services.
	component string
	// elsewhere says where a kind takes a setting that other kinds have as a field.
	elsewhere map[string]string
	// targetField is the field that says where the dependency is, which hints name ("url" when empty).
	targetField string
}

// kinds is the one registry of check types (adding a kind touches only this package): config knows no
// type names.
var kinds = map[string]kind{
	"postgres": {fields: []string{"url", "query", "writable", "max_replication_lag", "migrations"}, build: buildPostgres, component: ComponentDatastore,
		elsewhere: map[string]string{"tls": "a postgres check takes its TLS settings in the URL, as libpq does: sslmode=verify-full, sslrootcert, sslcert, sslkey"}},
	"mysql": {fields: []string{"url", "query", "writable", "max_replication_lag", "migrations"}, build: buildMySQL, component: ComponentDatastore,
		elsewhere: map[string]string{"tls": "a mysql check takes its TLS setting in the URL or DSN, as the driver does: ?tls=true (verified), ?tls=skip-verify or ?tls=preferred"}},
	"redis":     {fields: []string{"url", "role", "tls"}, build: buildRedis, component: ComponentDatastore},
	"http":      {fields: []string{"url", "method", "headers", "expect_status", "body_contains", "follow_redirects", "tls"}, build: buildHTTP, component: ComponentService},
	"tcp":       {fields: []string{"address"}, build: buildTCP, component: ComponentService, targetField: "address"},
	"memcached": {fields: []string{"address"}, build: buildMemcached, component: ComponentDatastore, targetField: "address"},
	"grpc":      {fields: []string{"address", "service", "tls"}, build: buildGRPC, component: ComponentService, targetField: "address"},
	"dns":       {fields: []string{"host", "record", "expect", "server"}, build: buildDNS, component: ComponentService, targetField: "host"},
	"amqp":      {fields: []string{"url", "queue", "tls"}, build: buildAMQP, component: ComponentService},
	"nats":      {fields: []string{"url", "jetstream", "tls"}, build: buildNATS, component: ComponentService},
	"mqtt":      {fields: []string{"url", "tls"}, build: buildMQTT, component: ComponentService},
}

// The health+json draft's pre-defined componentType values (draft-inadarei-api-health-check):
// a datastore (database, cache), any other component (a service reached over HTTP, TCP, gRPC), or
// the system itself (healthgate's built-in lines: shutdown, ping, monitor).
const (
	ComponentDatastore = "datastore"
	ComponentService   = "component"
	ComponentSystem    = "system"
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
		if c.Type == "" {
			return nil, config.Errors{c.Src.Errorf("type", "required (one of %s)", strings.Join(Types(), ", "))}
		}
		return nil, config.Errors{c.Src.Errorf("type", "unknown type %q (known: %s)", c.Type, strings.Join(Types(), ", "))}
	}
	var errs config.Errors
	for key := range c.Src.Lines {
		if !slices.Contains(commonFields, key) && !slices.Contains(k.fields, key) {
			if note, ok := k.elsewhere[key]; ok {
				errs = append(errs, c.Src.Errorf(key, "does not apply: %s", note))
				continue
			}
			errs = append(errs, c.Src.Errorf(key, "does not apply to a %s check%s%s", c.Type, fieldNotes[key], appliesTo(key)))
		}
	}
	p, target, buildErrs := k.build(c)
	for _, e := range buildErrs {
		// A field that did not decode was reported by config already; what building says of its
		// (empty or default) value would only echo that. Every other field is still checked, so one
		// mistake does not hide the next (all errors at once).
		if !c.Src.Failed[e.Field] {
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
	return &Check{
		Name: c.Name, Type: c.Type, Target: target, Critical: c.Critical, Shared: c.Scope == config.ScopeShared,
		Interval: c.Interval, Timeout: c.Timeout,
		FailureThreshold: c.FailureThreshold, SuccessThreshold: c.SuccessThreshold,
		src: c.Src, cfg: c, prober: p,
	}, nil
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
		if c.Type == "" || c.Src.Failed[""] {
			continue // config reported it: no type, or not a mapping at all
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

// CloseAll releases every check's client.
func CloseAll(cs []*Check) {
	for _, c := range cs {
		c.Close()
	}
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
// otherwise an *Error carrying the reason class and a redacted cause.
func (c *Check) Run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	ctx, tr := withTrace(ctx)
	err := c.prober.probe(ctx)
	if err == nil {
		return nil
	}
	// A driver that returns its own error after our deadline passed still timed out.
	var verdict *Error
	if ctx.Err() == context.DeadlineExceeded && ClassOf(err) != Timeout && !(errors.As(err, &verdict) && verdict.past) {
		// Keep the driver's cause, without its class (it was not a reset, say, but our deadline),
		// and drop a "use of closed network connection" that our own close at the deadline caused.
		cause := err
		var e *Error
		if errors.As(err, &e) {
			cause = e.Err
		}
		if errors.Is(cause, net.ErrClosed) {
			err = &Error{Class: Timeout, Err: fmt.Errorf("no answer within %s", c.Timeout)}
		} else {
			err = &Error{Class: Timeout, Err: fmt.Errorf("no answer within %s: %w", c.Timeout, cause)}
		}
	}
	return tr.locate(classified(err))
}

// Close releases the check's client (pool, connections). Runs must have returned.
func (c *Check) Close() { c.prober.close() }

// Hint returns the one-line advice for a failed run of this check, naming where its target came from
// (e.g. "check the user, password and database in DATABASE_URL").
func (c *Check) Hint(err error) string {
	field := "url"
	if k, ok := kinds[c.Type]; ok && k.targetField != "" {
		field = k.targetField
	}
	return Hint(err, c.src.Origin(field))
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
	return &Check{
		Name: c.Name, Type: typ, Target: "in-process", Critical: c.Critical, Shared: c.Scope == config.ScopeShared,
		Interval: c.Interval, Timeout: c.Timeout,
		FailureThreshold: c.FailureThreshold, SuccessThreshold: c.SuccessThreshold,
		src: c.Src, prober: funcProber(fn),
	}
}
