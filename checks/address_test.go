package checks_test

import (
	"testing"

	"github.com/healthgate/healthgate/config"
)

// TestAddressFieldsHideSecrets: a value that is not host:port in an address field (tcp, memcached and grpc
// address, dns host and server) is often a URL or DSN pasted into the wrong place, with its password
// (address: ${DATABASE_URL}); the error says what is wrong without quoting the secret, and a user part
// (user:pw@host:port) is refused before the resolver is asked for it, and prints it, at every run.
func TestAddressFieldsHideSecrets(t *testing.T) {
	spec := func(kv ...string) config.Check {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return config.Check{Spec: config.SpecOf(m)}
	}
	for _, kind := range []string{"tcp", "memcached", "grpc"} {
		t.Run(kind, func(t *testing.T) {
			assertConfigErrors(t, "dep", kind, []configCase{
				{"a database URL", spec("address", "postgres://app:s3cr3t-pw@db:5432/orders"), "must be host:port"},
				{"user and password", spec("address", "app:s3cr3t-pw@db:5432"), "user information (user:password@) has no place in an address"},
				{"a bad escape in a user part", spec("address", "s3cr3t%zz@db:5432"), "user information"},
				{"a token in a query", spec("address", "db:5432?token=s3cr3t"), "a path or parameters have no place"},
				{"a fragment before the port", spec("address", "db#s3cr3t:5432"), "a path or parameters have no place"},
				{"a port out of range", spec("address", "db:99999"), "port must be a number from 1 to 65535 (got 99999)"},
				// Past what an int holds: a number all the same, not "neither a number nor a service name".
				{"a port past an integer's range", spec("address", "db:99999999999999999999"), "port must be a number from 1 to 65535 (got 99999999999999999999)"},
				{"user:password alone", spec("address", "app:s3cr3t-pw"), "port must be a number from 1 to 65535 or a service name"},
				// A listen address's form: the host missing is said, and the value shown (digits alone).
				{"no host", spec("address", ":5432"), `must be host:port (got ":5432"): the host is missing; write 127.0.0.1:5432`},
				{"no host, a password as the port", spec("address", ":s3cr3t-pw"), "must be host:port"},
				{"an IPv6 address without brackets", spec("address", "fd00::7:5432"), "an IPv6 address is written in brackets"},
				{"an IPv6 address alone", spec("address", "::1"), "an IPv6 address is written in brackets"},
				// A name the resolver answers as NXDOMAIN without asking: said at once, and why.
				{"an empty label", spec("address", "db..internal:5432"), `must be host:port (got "db..internal:5432"): the host is not a DNS name: it has an empty label`},
				{"a label ending with '-'", spec("address", "db-.internal:5432"), "cannot begin or end with '-'"},
			})
		})
	}
	t.Run("dns", func(t *testing.T) {
		assertConfigErrors(t, "dep", "dns", []configCase{
			{"a URL as host", spec("host", "https://app:s3cr3t-pw@payments.internal/"), `must be a DNS name such as payments.internal (got "https://app:xxxxx@payments.internal/")`},
			{"user:password as host", spec("host", "app:s3cr3t-pw"), `must be a DNS name such as payments.internal (got "xxxxx")`},
			{"a user part in the server", spec("host", "payments.internal", "server", "app:s3cr3t-pw@10.0.0.1:53"), "user information"},
			{"a token in the server", spec("host", "payments.internal", "server", "10.0.0.1:53?token=s3cr3t"), "a path or parameters have no place"},
			{"a server name with an empty label", spec("host", "payments.internal", "server", "ns1..internal"), "the host is not a DNS name: it has an empty label"},
			// A DNS server's address is no secret: shown, as an address field's is; user:password is not.
			{"a server port that is not a number", spec("host", "payments.internal", "server", "127.0.0.1:abc"), `must be host or host:port of a DNS server (got "127.0.0.1:abc")`},
			{"a server port out of range", spec("host", "payments.internal", "server", "ns1.internal:99999"), "the port must be a number from 1 to 65535 (got 99999)"},
			{"a server port out of range, by address", spec("host", "payments.internal", "server", "10.0.0.1:99999"), "(got 99999)"},
			{"a server port past an integer's range", spec("host", "payments.internal", "server", "10.0.0.1:99999999999999999999"), "the port must be a number from 1 to 65535 (got 99999999999999999999)"},
			{"user:password as the server", spec("host", "payments.internal", "server", "app:s3cr3t-pw"), `must be host or host:port of a DNS server (got "xxxxx")`},
		})
	})
}
