package config

import (
	"errors"
	"os"
	"slices"
	"strings"
)

// DefaultFile is read when no file is given and it exists in the working directory.
const DefaultFile = "healthgate.yaml"

// Path is the configuration file to read: file, else ./healthgate.yaml if it exists, else "" (the
// environment).
func Path(file string) string {
	if file == "" {
		if _, err := os.Stat(DefaultFile); err == nil {
			return DefaultFile
		}
	}
	return file
}

// FindOptions say what Find validates beyond the file itself.
type FindOptions struct {
	// Kinds validates what is specific to each check's type (checks.Validate): config knows no kinds.
	Kinds func([]Check) Errors
	// Server also validates the server section, and reports the errors of the sections only serve uses
	// (server, fleet). Without it, `check` and `wait` ignore those sections, their decoding errors too
	// (an unset ${VAR}, a bad duration, an unknown key), so a setting only serve uses (details_token, a
	// fleet token, say) cannot stop an init container.
	Server bool
	// Listen is serve's --listen, bound in place of server.listen: grpc_listen is not compared with the
	// file's listen, which is not bound (serve compares it with Listen).
	Listen string
}

// Find finds and loads the configuration (docs/design.md §2 and README "Configuration"): file, else
// ./healthgate.yaml, else the conventional DATABASE_URL and REDIS_URL. Every error, from the file and
// from the check kinds, is reported at once, as an Errors.
func Find(file string, env LookupEnv, opts FindOptions) (*Config, error) {
	file = Path(file)
	if file == "" {
		// The kinds validate the environment's checks as a file's: serve --validate said
		// "configuration OK" of a DATABASE_URL that serve then refused.
		cfg := FromEnvironment(env)
		if opts.Kinds != nil {
			if err := opts.Kinds(cfg.Checks).Err(); err != nil {
				return nil, err
			}
		}
		return cfg, nil
	}
	cfg, err := Load(file, env)
	var errs Errors
	if err != nil && !errors.As(err, &errs) {
		return nil, err
	}
	if cfg != nil {
		if opts.Kinds != nil {
			errs = append(errs, opts.Kinds(cfg.Checks)...)
		}
		if opts.Server {
			errs = append(errs, cfg.validateServer(opts.Listen)...)
		}
	}
	if !opts.Server {
		errs = slices.DeleteFunc(errs, ServeOnly)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// ServeOnly reports whether e is about a section only serve uses, server or fleet (or its key itself):
// the errors check and wait ignore.
func ServeOnly(e *Error) bool {
	for _, s := range []string{"server", "fleet"} {
		if e.Path == s || strings.HasPrefix(e.Path, s+".") || e.Path == "" && e.Field == s {
			return true
		}
	}
	return false
}
