package config

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// NamePattern is docs/design.md §2's check name: it appears in URLs (/readyz/{name}), metric labels and log
// fields, so it stays a conservative DNS-label-like token.
var NamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// sameKey reports whether two mappings' key was written at the same place: the same key node, which
// an alias repeats.
func sameKey(a, b Source, key string) bool {
	return a.Lines[key] == b.Lines[key] && a.Columns[key] == b.Columns[key]
}

// NameMaySecret reports whether a check's name, which is no valid name, may hold a secret: a URL or a DSN
// written in place of the name (postgres://app:pw@db, ${DATABASE_URL}), which no message may show; --only
// (startup) asks it of a name given to it.
func NameMaySecret(name string) bool {
	return !NamePattern.MatchString(name) && strings.ContainsAny(name, ":/@=?")
}

// MaxNameLen is the longest check name.
const MaxNameLen = 63

// The shortest interval and timeout a configuration may set: below them a check would load the
// dependency it watches (`interval: 2ns` ran 13,500 checks a second) or always time out.
const (
	MinInterval = 100 * time.Millisecond
	MinTimeout  = 10 * time.Millisecond
)

func (c *Config) applyDefaults() {
	s := &c.Server
	if !s.Src.IsSet("listen") {
		s.Listen = DefaultListen
	}
	if !s.Src.IsSet("shutdown_delay") {
		s.ShutdownDelay = DefaultShutdownDelay
	}
	if !s.Src.IsSet("shutdown_timeout") {
		s.ShutdownTimeout = DefaultShutdownTimeout
	}
	if !s.Src.IsSet("details") {
		s.Details = DetailsNever
	}
	d := &c.Defaults
	if !d.Src.IsSet("interval") {
		d.Interval = DefaultInterval
	}
	if !d.Src.IsSet("timeout") {
		d.Timeout = DefaultTimeout
	}
	if !d.Src.IsSet("failure_threshold") {
		d.FailureThreshold = DefaultFailureThreshold
	}
	if !d.Src.IsSet("success_threshold") {
		d.SuccessThreshold = DefaultSuccessThreshold
	}
	for i := range c.Checks {
		c.Checks[i].inherit(*d)
	}
	c.Fleet.applyDefaults(c.Checks)
}

// inherit fills the timing the check did not set from the defaults, and makes it critical unless it
// says otherwise.
func (ch *Check) inherit(d Defaults) {
	if !ch.Src.IsSet("critical") {
		ch.Critical = true
	}
	if !ch.Src.IsSet("scope") {
		ch.Scope = ScopeLocal
	}
	if !ch.Src.IsSet("interval") {
		ch.Interval = d.Interval
	}
	if !ch.Src.IsSet("timeout") {
		ch.Timeout = d.Timeout
	}
	if !ch.Src.IsSet("failure_threshold") {
		ch.FailureThreshold = d.FailureThreshold
	}
	if !ch.Src.IsSet("success_threshold") {
		ch.SuccessThreshold = d.SuccessThreshold
	}
}

// NewCheck returns a check with the default timing, for checks that do not come from a file (the
// environment, or `wait --postgres URL`).
func NewCheck(name, typ, origin string, d Defaults) Check {
	ch := Check{Name: name, Type: typ, Src: Source{File: origin, Path: strconv.Quote(name), Lines: map[string]int{}},
		Spec: Spec{file: origin, path: strconv.Quote(name)}}
	ch.inherit(d)
	return ch
}

// NewDefaults returns the defaults of docs/design.md §2.
func NewDefaults() Defaults {
	return Defaults{Interval: DefaultInterval, Timeout: DefaultTimeout, FailureThreshold: DefaultFailureThreshold, SuccessThreshold: DefaultSuccessThreshold}
}

// validate checks what the decoder cannot: values in range and fields that must agree. failed lists
// the fields that did not decode; they are not reported twice. The server section is left to
// ValidateServer: `check` and `wait` must not refuse a file for a setting only `serve` uses.
func (c *Config) validate(failed map[string]bool) Errors {
	var errs Errors
	add := func(e *Error) { errs = append(errs, e) }

	d := c.Defaults
	d.Src.Path = "defaults"
	// badDefault: the defaults' timing fields that did not decode or are invalid (reported at defaults).
	// A check that inherits one is not judged by it again; one whose own value is compared with a valid
	// default is (an invalid failure_threshold hid every check's timeout >= interval).
	badDefault := map[string]bool{}
	for _, key := range []string{"interval", "timeout", "failure_threshold", "success_threshold"} {
		badDefault[key] = failed["defaults."+key]
	}
	for _, e := range timingErrors(d.Interval, d.Timeout, d.FailureThreshold, d.SuccessThreshold, d.Src, func(key string) bool {
		return !failed[d.Src.Path+"."+key]
	}) {
		add(e)
		badDefault[e.Field] = true
	}

	names := map[string]*Check{}
	for i := range c.Checks {
		ch := &c.Checks[i]
		if ch.Src.Failed[""] {
			continue // not a mapping: reported as such
		}
		if failed[ch.Src.Path+".name"] {
			// Reported where it failed (a list, an unset variable): it was written.
		} else if !ch.Src.IsSet("name") || ch.Name == "" {
			add(ch.Src.Errorf("name", "required"))
		} else {
			switch {
			case len(ch.Name) > MaxNameLen:
				add(ch.Src.Errorf("name", "longer than %d characters", MaxNameLen))
			case NameMaySecret(ch.Name):
				add(ch.Src.Errorf("name", "not a valid name, and not shown: it may hold a secret (a URL in place of a name?); use lowercase letters, digits, '-' and '_', starting with a letter or digit"))
			case !NamePattern.MatchString(ch.Name):
				add(ch.Src.Errorf("name", "%q is not a valid name: use lowercase letters, digits, '-' and '_', starting with a letter or digit", ch.Name))
			case ch.Name == ShutdownCheck:
				add(ch.Src.Errorf("name", "%q is reserved for the built-in check that fails during shutdown", ch.Name))
			case ch.Name == ReadinessService || ch.Name == LivenessService:
				add(ch.Src.Errorf("name", "%q is reserved: gRPC health clients ask for it to mean the whole of %s", ch.Name, map[string]string{ReadinessService: "/readyz", LivenessService: "/livez"}[ch.Name]))
			case names[ch.Name] != nil && sameKey(names[ch.Name].Src, ch.Src, "name"):
				// An alias of a check (- *db) repeats it whole: the error is at the alias, not at
				// the name it repeats, which is the first's.
				e := ch.Src.Errorf("name", "duplicate name %q: an alias repeats the check on line %d whole, its name too (to reuse it under another name, merge it: {<<: *anchor, name: other})", ch.Name, names[ch.Name].Src.Line)
				e.Line, e.Column = ch.Src.Line, ch.Src.Column
				add(e)
			case names[ch.Name] != nil:
				add(ch.Src.Errorf("name", "duplicate name %q (first used on line %d)", ch.Name, names[ch.Name].Src.Lines["name"]))
			default:
				names[ch.Name] = ch
			}
		}
		if (!ch.Src.IsSet("type") || ch.Type == "") && !failed[ch.Src.Path+".type"] {
			add(ch.Src.Errorf("type", "required"))
		}
		errs = append(errs, c.scopeErrors(ch, failed)...)
		// What a check inherits from invalid defaults has already been reported there.
		errs = append(errs, timingErrors(ch.Interval, ch.Timeout, ch.FailureThreshold, ch.SuccessThreshold, ch.Src, func(key string) bool {
			return !failed[ch.Src.Path+"."+key] && (ch.Src.IsSet(key) || !badDefault[key])
		})...)
	}
	errs = append(errs, c.Fleet.validate(c, failed)...)
	return errs
}

// ValidateServer checks the server section, which only `serve` uses (`check` and `wait` read the same
// file and ignore it): listen addresses, details and the details token. Like every configuration
// error, each names its file, line and field. Fields that did not decode were reported by Load.
func (c *Config) ValidateServer() Errors { return c.validateServer("") }

// validateServer is ValidateServer for a serve whose --listen (listen, when not "") binds in place of
// server.listen: grpc_listen must differ from that, not from the file's listen, which is not bound
// (serve says so of a --listen equal to grpc_listen, as a usage error).
func (c *Config) validateServer(listen string) Errors {
	var errs Errors
	add := func(e *Error) { errs = append(errs, e) }
	s := c.Server
	if s.Src.Failed[""] {
		return nil // not a mapping: reported as such
	}
	s.Src.Path = "server"
	if s.Src.File == "" {
		s.Src.File = c.File
	}
	ok := func(src Source, key string) bool { return src.IsSet(key) && !src.Failed[key] }
	if ok(s.Src, "listen") {
		if err := checkListen(s.Listen, s.Src.Vars["listen"]); err != "" {
			add(s.Src.Errorf("listen", "%s", err))
		}
	}
	if ok(s.Src, "grpc_listen") && s.GRPCListen != "" {
		if err := checkListen(s.GRPCListen, s.Src.Vars["grpc_listen"]); err != "" {
			add(s.Src.Errorf("grpc_listen", "%s", err))
		} else if listen == "" && SameSocket(s.GRPCListen, s.Listen) {
			add(s.Src.Errorf("grpc_listen", "must differ from listen (%s): both would bind the same port", s.Listen))
		}
	}
	if ok(s.Src, "details") {
		switch s.Details {
		case DetailsNever, DetailsToken, DetailsAlways:
		default:
			add(s.Src.Errorf("details", "must be one of never, token, always %s", Got(s.Details, s.Src.Vars["details"])))
		}
	}
	if s.Details == DetailsToken && s.DetailsToken == "" && !s.Src.Failed["details_token"] {
		add(s.Src.Errorf("details_token", "required when details is token (for example ${HEALTHGATE_DETAILS_TOKEN})"))
	}
	if ok(s.Src, "details_token") {
		if msg := tokenProblem(s.DetailsToken); msg != "" {
			add(s.Src.Errorf("details_token", "%s", msg))
		}
	}

	return errs
}

// timingErrors applies docs/design.md §2's rules to one set of timing; check says whether a field decoded
// (and so is worth reporting on).
func timingErrors(interval, timeout time.Duration, fails, succs int, src Source, check func(key string) bool) Errors {
	var errs Errors
	if check("interval") && interval < MinInterval {
		errs = append(errs, src.Errorf("interval", "must be at least %s (got %s): a check runs once per interval, and a shorter one would hammer the dependency", MinInterval, interval))
	}
	if check("timeout") && timeout < MinTimeout {
		errs = append(errs, src.Errorf("timeout", "must be at least %s (got %s): no real dependency answers faster", MinTimeout, timeout))
	}
	if check("interval") && check("timeout") && interval > 0 && timeout > 0 && timeout >= interval {
		// Point at whichever of the two this mapping set; the timeout when both or neither.
		key := "timeout"
		if !src.IsSet("timeout") && src.IsSet("interval") {
			key = "interval"
		}
		errs = append(errs, src.Errorf(key, "timeout (%s) must be shorter than interval (%s), so one run ends before the next starts", timeout, interval))
	}
	if check("failure_threshold") && fails < 1 {
		errs = append(errs, src.Errorf("failure_threshold", "must be at least 1 (got %d)", fails))
	}
	if check("success_threshold") && succs < 1 {
		errs = append(errs, src.Errorf("success_threshold", "must be at least 1 (got %d)", succs))
	}
	return errs
}

// CheckListen says what is wrong with a listen address (host:port or :port), or "" when nothing is;
// for flags that override server.listen.
func CheckListen(addr string) string { return checkListen(addr, nil) }

// checkListen is CheckListen of an address written with the variables vars. The address is not quoted
// when it may hold a secret: a URL or a DSN (listen: ${DATABASE_URL}), a value of a variable named as a
// secret, or a port that is no number after a host, as the password of a user:password is (app:s3cr3t).
func checkListen(addr string, vars []string) string {
	host, port, err := net.SplitHostPort(addr)
	hidden := strings.ContainsAny(addr, "/@=?") || slices.ContainsFunc(vars, IsSecretName)
	if err != nil {
		return "must be host:port or :port " + gotUnless(hidden, addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		hidden = hidden || host != "" && strings.Trim(port, "0123456789") != ""
		return "port must be a number from 0 to 65535 " + gotUnless(hidden, port)
	}
	return ""
}

// SameSocket reports whether two listen addresses would bind the same port: the same port (not 0, which
// picks a free one) on the same host, or on any host when either is a wildcard (:8080, 0.0.0.0:8080,
// [::]:8080), which binds every address.
func SameSocket(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	na, _ := strconv.Atoi(pa)
	nb, _ := strconv.Atoi(pb)
	if na == 0 || na != nb {
		return false
	}
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || wildcard(ha) || wildcard(hb)
}

// EnvironmentName is the File of a configuration built by FromEnvironment.
const EnvironmentName = "environment"

// conventional are the variables FromEnvironment reads, and the check each becomes.
var conventional = []struct{ variable, name, typ string }{
	{"DATABASE_URL", "postgres", "postgres"},
	{"REDIS_URL", "redis", "redis"},
}

// EnvironmentHint is how a "nothing to check" error says to use the environment: "set DATABASE_URL /
// REDIS_URL", or, for a variable set but empty (a Secret's empty key, DATABASE_URL=$UNSET in a
// manifest), that it is: asked to set a variable that is set, a reader looks for a typo in its name.
func EnvironmentHint(env LookupEnv) string {
	var all, empty []string
	for _, conv := range conventional {
		all = append(all, conv.variable)
		if v, ok := env(conv.variable); ok && v == "" {
			empty = append(empty, conv.variable)
		}
	}
	switch len(empty) {
	case 0:
		return "set " + strings.Join(all, " / ")
	case 1:
		return "give " + empty[0] + " a URL: it is set, but empty"
	}
	return "give " + strings.Join(empty, " or ") + " a URL: both are set, but empty"
}

// FromEnvironment builds the configuration used when there is no file: the conventional DATABASE_URL
// becomes a postgres check named "postgres" and REDIS_URL a redis check named "redis". With neither it
// has no checks, and the caller decides.
func FromEnvironment(env LookupEnv) *Config {
	c := &Config{File: EnvironmentName}
	c.applyDefaults()
	for _, conv := range conventional {
		url, ok := env(conv.variable)
		if !ok || url == "" {
			continue
		}
		// Errors about this check name the variable the user has to fix: `DATABASE_URL: "postgres": url: ...`.
		ch := NewCheck(conv.name, conv.typ, conv.variable, c.Defaults)
		ch.Spec.Set("url", url)
		ch.Src.Lines["url"] = 0
		ch.Src.Vars = map[string][]string{"url": {conv.variable}}
		ch.Src.SetOrigin("url", conv.variable)
		c.Checks = append(c.Checks, ch)
	}
	return c
}

// BadDNSName says why name cannot be asked of a resolver ("" when it can): each label (the parts between
// dots) 1 to 63 letters, digits, '-' or '_' (as in _grpc._tcp), not beginning or ending with '-', and
// not every label digits alone, at most 253 characters in all. A final dot (a fully qualified name) is allowed.
func BadDNSName(name string) string {
	if name == "." {
		return "" // the root
	}
	if n := len(strings.TrimSuffix(name, ".")); n > 253 {
		return fmt.Sprintf("a DNS name is at most 253 characters; this one has %d", n)
	}
	labels := strings.Split(strings.TrimSuffix(name, "."), ".")
	numeric := true
	for _, l := range labels {
		switch {
		case l == "":
			return "it has an empty label (two dots together, or a dot at the start)"
		case len(l) > 63:
			return fmt.Sprintf("a label (a part between dots) is at most 63 characters; %q has %d", l[:12]+"...", len(l))
		case l[0] == '-' || l[len(l)-1] == '-':
			return fmt.Sprintf("a label cannot begin or end with '-' (%q)", l)
		}
		for _, r := range l {
			switch {
			case r >= '0' && r <= '9':
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '-', r == '_':
				numeric = false
			case r > unicode.MaxASCII:
				return "a name in another alphabet is asked in its ASCII form (IDNA, xn--...), which the resolver does not make: write that form"
			default:
				return fmt.Sprintf("%q is not allowed in a DNS name (letters, digits, '-', '_' and dots)", r)
			}
		}
	}
	if numeric {
		return "digits and dots alone are not a name (nor an IP address)"
	}
	return ""
}
