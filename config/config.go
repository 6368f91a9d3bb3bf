// Package config owns healthgate's user input: the shape of healthgate.yaml, its defaults, ${VAR}
// expansion, secrets read from files, a strict decode that names the line of every problem, and the
// cross-field validation. It knows nothing about check kinds: a check's kind-specific part is kept
// resolved but undecoded (Check.Spec), and the checks package decodes it into the kind's own struct with
// the same strict decoder (Check.DecodeSpec), using the positions recorded here.
package config

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Defaults that docs/design.md §2 and §3 promise.
const (
	DefaultListen           = ":8080"
	DefaultShutdownDelay    = 5 * time.Second
	DefaultShutdownTimeout  = 10 * time.Second
	DefaultInterval         = 5 * time.Second
	DefaultTimeout          = 2 * time.Second
	DefaultFailureThreshold = 2
	DefaultSuccessThreshold = 1
)

// Details says when failure reasons are shown in probe responses.
const (
	DetailsNever  = "never"
	DetailsToken  = "token"
	DetailsAlways = "always"
)

// Names no user check may take: ShutdownCheck is the built-in readiness check that fails once shutdown
// starts; ReadinessService and LivenessService are the gRPC health service names that stand for the whole
// of /readyz and /livez, so a check with one of those names could not be asked for on its own.
const (
	ShutdownCheck    = "shutdown"
	ReadinessService = "readiness"
	LivenessService  = "liveness"
)

// Config is a whole healthgate.yaml.
type Config struct {
	Server   Server   `yaml:"server"`
	Defaults Defaults `yaml:"defaults"`
	Checks   []Check  `yaml:"checks"`
	// Fleet, when its section is present, lets shared checks fail open (docs/design.md §10).
	Fleet Fleet `yaml:"fleet"`

	// File is where the configuration came from, for messages ("healthgate.yaml", or "environment").
	File string `yaml:"-"`
	Src  Source `yaml:"-"`
	// Refs lists what the file takes from outside itself, as decoded: filled by Inspect and LoadRefs only.
	Refs []Ref `yaml:"-"`
}

// Fingerprint hashes the configuration as decoded, each check's own fields included (with the values
// its ${VAR}s and *_file fields resolved to), so that any change a reload would apply changes it, and a
// comment or a reordering of keys does not. Positions are left out: a comment line moves every line
// below it, and a reload keeps a check wherever it sits (Same). It holds secrets: compare it, never
// show it.
func (c *Config) Fingerprint() [sha256.Size]byte {
	h := sha256.New()
	cp := *c
	cp.Refs = nil // what LoadRefs adds: the values they gave are in the fields
	cp.Src, cp.Server.Src, cp.Defaults.Src, cp.Fleet.Src = c.Src.unplaced(), c.Server.Src.unplaced(), c.Defaults.Src.unplaced(), c.Fleet.Src.unplaced()
	cp.Checks = make([]Check, len(c.Checks))
	for i, ch := range c.Checks {
		ch.Src = ch.Src.unplaced()
		cp.Checks[i] = ch
	}
	_ = json.NewEncoder(h).Encode(&cp) // a Spec's fields are unexported: written below
	for _, ch := range c.Checks {
		writeNode(h, ch.Spec.node)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// Ref is one value a configuration takes from outside its file: an environment variable (Var, from
// ${Var} or ${Var:-Default}) or a file (File, the path of a *_file field). A manifest checker learns
// from them what a pod must provide (Inspect).
type Ref struct {
	Path  string // the mapping, as errors name it: server, fleet, checks[1] "cache"
	Field string // its YAML key; key.name inside a mapping (headers.Authorization, headers_file.X-Api-Key)

	Var        string
	Default    string
	HasDefault bool // ${Var:-...}, even with an empty default
	Whole      bool // the value is ${Var} alone

	File string // after its own ${VAR}s, which are Refs too
}

// Server configures `healthgate serve`.
type Server struct {
	Listen          string        `yaml:"listen"`
	GRPCListen      string        `yaml:"grpc_listen"`
	ShutdownDelay   time.Duration `yaml:"shutdown_delay"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	Details         string        `yaml:"details"`
	DetailsToken    string        `yaml:"details_token" secret:"true"`

	Src Source `yaml:"-"`
}

// Defaults hold the timing every check inherits unless it sets its own.
type Defaults struct {
	Interval         time.Duration `yaml:"interval"`
	Timeout          time.Duration `yaml:"timeout"`
	FailureThreshold int           `yaml:"failure_threshold"`
	SuccessThreshold int           `yaml:"success_threshold"`

	Src Source `yaml:"-"`
}

// Check is one dependency to check: the fields every kind has, and the kind's own part (Spec), which
// the checks package decodes for its Type.
type Check struct {
	Name     string `yaml:"name"`
	Type     string `yaml:"type"`
	Critical bool   `yaml:"critical"`

	Interval         time.Duration `yaml:"interval"`
	Timeout          time.Duration `yaml:"timeout"`
	FailureThreshold int           `yaml:"failure_threshold" schema:"minimum=1"`
	SuccessThreshold int           `yaml:"success_threshold" schema:"minimum=1"`
	// Scope is ScopeLocal (the default) or ScopeShared: a dependency every pod of the fleet uses, which
	// may fail open when most of the fleet sees it failing (docs/design.md §10).
	Scope string `yaml:"scope" schema:"enum=local|shared" desc:"local (default): a failure takes this pod out. shared: a dependency every pod uses; fails open when most of the fleet sees it failing (needs fleet.enabled)."`

	// Spec is the kind's part: every other key, resolved but undecoded; the kind decodes it into its own
	// struct (checks/<kind>.go) with Spec.Decode.
	Spec Spec `yaml:"-"`

	Src Source `yaml:"-"`
}

// TLS configures the client side of TLS for the kinds that speak it (http with https://, redis with
// rediss://, amqp with amqps://, nats with tls:// or a server that requires TLS, mqtt with mqtts://;
// grpc, mysql and postgres, where a written block turns TLS on).
type TLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file" needs:"key_file"`
	KeyFile            string `yaml:"key_file" needs:"cert_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`

	Src Source `yaml:"-"`
}

// Migrations says which migration tool keeps the schema's version, in which table, and the version this
// release needs (README "Migrations"). The checks package knows the tools; config only holds the fields.
type Migrations struct {
	Tool    string `yaml:"tool" schema:"enum=tools"`
	Table   string `yaml:"table" schema:"minLength=1" desc:"The tool's table, optionally schema.table; default: the tool's own."`
	Version string `yaml:"version" schema:"minLength=1" desc:"The version this release needs. golang-migrate: at least this version; goose, dbmate, rails, flyway: this version itself applied, or for flyway a baseline at or above it (a later version alone fails: an out-of-order migration is pending); liquibase: a tag or changeset (FILENAME::ID::AUTHOR) that must have run; alembic: the exact head. Quote it: a YAML number would lose leading zeros or dots."`

	Src Source `yaml:"-"`
}

// Set reports whether a migrations requirement was given (in a file or by a flag).
func (m Migrations) Set() bool {
	return m.Tool != "" || m.Table != "" || m.Version != "" || len(m.Src.Lines) > 0 || m.Src.File != ""
}

// Source records where a decoded mapping and each of its fields came from, so that errors found after
// decoding (by Validate, or by the checks package) still name a line.
type Source struct {
	File   string
	Path   string // e.g. `checks[1] "cache"`
	Line   int
	Column int
	// Lines maps a field's YAML key to the line it was set on; a key absent here was not set.
	Lines map[string]int
	// Columns maps a field's YAML key to the column of that key, so that an error found after decoding
	// is placed as precisely (file:line:column) as one the decoder found.
	Columns map[string]int
	// Vars maps a field's YAML key to the environment variables its value was expanded from, so a
	// hint can say "check the credentials in DATABASE_URL".
	Vars map[string][]string
	// Origins maps a field's YAML key to where its whole value came from when that is not the file
	// itself: an environment variable (`url: ${DATABASE_URL}`), a secret file (`url_file:`), a flag.
	Origins map[string]string
	// Failed holds the keys whose values could not be decoded (already reported); the key "" means the
	// whole mapping did not decode (it was not a mapping at all).
	Failed map[string]bool
}

// IsSet reports whether the field with this YAML key was written in the file.
func (s Source) IsSet(key string) bool {
	_, ok := s.Lines[key]
	return ok
}

// Errorf returns an error positioned at the field with this YAML key (or at the mapping itself when the
// field was not written).
func (s Source) Errorf(key, format string, args ...any) *Error {
	line, col := s.Line, s.Column
	if l, ok := s.Lines[key]; ok {
		line, col = l, s.Columns[key]
	}
	msg := sprintf(format, args...)
	if vars := s.Vars[key]; len(vars) > 0 && strings.HasPrefix(msg, "required") {
		// Written, as ${VAR}s that are set but empty (a Secret's key with no value, an empty
		// export): the field is not missing, its variables are.
		msg += " " + emptyVariables(vars)
	}
	return &Error{File: s.File, Line: line, Column: col, Path: s.Path, Field: key, Msg: msg}
}

// ErrorfAt is Errorf placed at line and column, a place within the field (an entry of a mapping:
// Spec.EntryAt), when line is not 0.
func (s Source) ErrorfAt(key string, line, column int, format string, args ...any) *Error {
	e := s.Errorf(key, format, args...)
	if line > 0 {
		e.Line, e.Column = line, column
	}
	return e
}

// emptyVariables says that a value was written with these variables (their names), set but empty: the
// words every error about such a value adds.
func emptyVariables(vars []string) string {
	return fmt.Sprintf("(written with %s, which is empty here)", strings.Join(vars, ", "))
}

// Origin names where a field's value came from, for hints ("check the credentials in DATABASE_URL"):
// the variable, file or flag that gave the whole value; else the field and its position, with the
// variables it uses (`url (healthgate.yaml:12, uses API_KEY)`).
func (s Source) Origin(key string) string {
	if o, ok := s.Origins[key]; ok {
		return o
	}
	where := key
	if line := s.Lines[key]; line > 0 {
		where = fmt.Sprintf("%s (%s:%d", key, s.File, line)
		if vars := s.Vars[key]; len(vars) > 0 {
			where += ", uses " + strings.Join(vars, ", ")
		}
		where += ")"
	}
	return where
}

// SetOrigin records that a field's whole value came from origin (a flag, say).
func (s *Source) SetOrigin(key, origin string) {
	if s.Origins == nil {
		s.Origins = map[string]string{}
	}
	s.Origins[key] = origin
}

// Same reports whether two checks are configured alike: every decoded value equal, and each value
// from the same variables, files and flags (hints name them), wherever in the file they were written.
// A reload keeps a check whose configuration is the Same (docs/design.md §11).
func (c Check) Same(o Check) bool {
	cs, os := c.Spec, o.Spec
	c.Src, o.Src = c.Src.origins(), o.Src.origins()
	c.Spec, o.Spec = Spec{}, Spec{}
	return reflect.DeepEqual(c, o) && cs.same(os)
}

// DecodeSpec decodes the check's kind-specific part into into (a pointer to the kind's struct), strictly:
// see Spec.Decode. An unknown field is suggested among into's fields and known.
func (c Check) DecodeSpec(into any, known ...string) Errors {
	s := c.Spec
	if s.file == "" && s.path == "" {
		s.file, s.path = c.Src.File, c.Src.Path // built in Go: errors are about the check
	}
	return s.decode(into, c.Src.Vars, known...)
}

// unplaced is s without positions: which keys were set (not on which line), where values came from,
// and what failed to decode.
func (s Source) unplaced() Source {
	o := Source{File: s.File, Vars: s.Vars, Origins: s.Origins, Failed: s.Failed}
	if s.Lines != nil {
		o.Lines = make(map[string]int, len(s.Lines))
		for k := range s.Lines {
			o.Lines[k] = 0
		}
	}
	return o
}

// origins keeps what a Source says of where values came from, without positions.
func (s Source) origins() Source {
	o := Source{Vars: s.Vars, Origins: s.Origins}
	if len(o.Vars) == 0 {
		o.Vars = nil
	}
	if len(o.Origins) == 0 {
		o.Origins = nil
	}
	return o
}
