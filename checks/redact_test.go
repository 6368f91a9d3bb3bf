package checks_test

import (
	"strings"
	"testing"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/config"
)

func TestRedactURL(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{name: "empty", raw: "", want: ""},
		{name: "host and port", raw: "db.internal:5432", want: "db.internal:5432"},
		{name: "socket path", raw: "/var/run/postgresql", want: "/var/run/postgresql"},
		{name: "no password", raw: "postgres://app@db/app", want: "postgres://app@db/app"},
		{name: "token as the HTTP user", raw: "https://s3cr3t@api/h", want: "https://xxxxx@api/h"},
		{name: "token as the NATS user", raw: "nats://s3cr3t@nats:4222", want: "nats://xxxxx@nats:4222"},
		{name: "token as the NATS user over TLS", raw: "tls://s3cr3t@nats:4222", want: "tls://xxxxx@nats:4222"},
		{name: "AMQP password, vhost kept", raw: "amqps://app:s3cr3t@rabbit:5671/prod", want: "amqps://app:xxxxx@rabbit:5671/prod"},
		{name: "token as the MQTT user", raw: "mqtt://A1_TEST_TOKEN@mosquitto:1883", want: "mqtt://xxxxx@mosquitto:1883"},
		{name: "token as the MQTT user over TLS", raw: "mqtts://A1_TEST_TOKEN@mosquitto:8883", want: "mqtts://xxxxx@mosquitto:8883"},
		{name: "token as the MQTT user, paho's schemes", raw: "tcp://A1_TEST_TOKEN@mosquitto:1883", want: "tcp://xxxxx@mosquitto:1883"},
		{name: "token as the MQTT user, paho's TLS scheme", raw: "SSL://A1_TEST_TOKEN@mosquitto:8883", want: "ssl://xxxxx@mosquitto:8883"},
		{name: "MQTT user and password, user kept", raw: "mqtt://sensor:s3cr3t@mosquitto:1883", want: "mqtt://sensor:xxxxx@mosquitto:1883"},
		{name: "AMQP user kept", raw: "amqp://app@rabbit:5672/prod", want: "amqp://app@rabbit:5672/prod"},
		{name: "password", raw: "postgres://app:s3cr3t@db/app", want: "postgres://app:xxxxx@db/app"},
		{name: "unescaped @ in the password", raw: "redis://app:p@s3cr3t@db:6379/0", want: "redis://app:xxxxx@db:6379/0"},
		{name: "secret parameters", raw: "https://api/h?api_key=s3cr3t&region=eu&X-Amz-Signature=s3cr3t", want: "https://api/h?api_key=xxxxx&region=eu&X-Amz-Signature=xxxxx"},
		{name: "secret path parameters", raw: "https://api/app;jsessionid=s3cr3t;v=2/status;token=s3cr3t", want: "https://api/app;jsessionid=xxxxx;v=2/status;token=xxxxx"},
		{name: "webhook token in the path", raw: "https://hooks.slack.com/services/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", want: "https://hooks.slack.com/services/T0AB1CD2E/B0FG3HI4J/xxxxx"},
		{name: "bot token in the path", raw: "https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe", want: "https://api.telegram.org/xxxxx/getMe"},
		{name: "key between dashes in the path", raw: "https://api/v1/sk_live_4eC39HqLyjWDarjtT1zdp7dc/health", want: "https://api/v1/xxxxx/health"},
		{name: "relative reference with a token in its path", raw: "/hook/a1B2c3D4e5F6g7H8i9J0k1L2?x=1", want: "/hook/xxxxx?x=1"},
		{name: "words, dates and UUIDs in the path kept", raw: "https://api/readiness-check-v2-2024/20241120093000/123e4567-e89b-12d3-a456-426614174000/x", want: "https://api/readiness-check-v2-2024/20241120093000/123e4567-e89b-12d3-a456-426614174000/x"},
		{name: "a database's name is no token", raw: "postgres://app@db/analytics2024warehouse1replica", want: "postgres://app@db/analytics2024warehouse1replica"},
		{name: "short secret parameter names", raw: "https://api/h?pw=s3cr3t&bearer=s3cr3t&DB_PWD=s3cr3t", want: "https://api/h?pw=xxxxx&bearer=xxxxx&DB_PWD=xxxxx"},
		{name: "fragment dropped", raw: "https://api/h#access_token=s3cr3t", want: "https://api/h"},
		{name: "dsn", raw: "host=db user=app password=s3cr3t dbname=app", want: "host=db user=app password=xxxxx dbname=app"},
		{name: "dsn quoted", raw: "host=db password='s3 cr3t' sslmode=disable", want: "host=db password=xxxxx sslmode=disable"},
		{name: "dsn unterminated quote", raw: "host=db password='s3cr3t", want: "xxxxx"},
		{name: "relative reference", raw: "/login?next=/health&session=s3cr3t", want: "/login?next=/health&session=xxxxx"},
		{name: "parameters kept as written, in their order", raw: "http://app:8080/readyz?verbose&z=1&a=%2F&a=2", want: "http://app:8080/readyz?verbose&z=1&a=%2F&a=2"},
		{name: "a secret parameter's name alone", raw: "https://api/h?token&api_key=s3cr3t", want: "https://api/h?token&api_key=xxxxx"},
		{name: "a secret parameter with an escaped name", raw: "https://api/h?api%5Fkey=s3cr3t&x", want: "https://api/h?api%5Fkey=xxxxx&x"},
		{name: "a semicolon separator", raw: "https://api/h?x=1;token=s3cr3t", want: "https://api/h?xxxxx"},
		{name: "a bad escape", raw: "https://api/h?token=s3cr3t%zz", want: "https://api/h?xxxxx"},
		{name: "unparsable URL", raw: "http://app:s3cr3t@db:port/", want: "xxxxx"},
		{name: "not a URL but has credentials", raw: "app:s3cr3t@db", want: "xxxxx"},
		{name: "mysql URL", raw: "mysql://app:s3cr3t@db:3306/orders?tls=true", want: "mysql://app:xxxxx@db:3306/orders?tls=true"},
		{name: "mysql DSN", raw: "app:s3cr3t@tcp(db:3306)/orders", want: "app:xxxxx@tcp(db:3306)/orders"},
		{name: "mysql DSN, @ : / in the password", raw: "app:s3:cr/3@t@tcp(db:3306)/orders?parseTime=true", want: "app:xxxxx@tcp(db:3306)/orders?parseTime=true"},
		{name: "mysql DSN over a socket", raw: "app:s3cr3t@unix(/run/mysqld/mysqld.sock)/orders", want: "app:xxxxx@unix(/run/mysqld/mysqld.sock)/orders"},
		{name: "mysql DSN, no protocol", raw: "app:s3cr3t@/orders", want: "app:xxxxx@tcp(127.0.0.1:3306)/orders"},
		{name: "mysql DSN, no password", raw: "app@unix(/run/mysqld/mysqld.sock)/orders", want: "app@unix(/run/mysqld/mysqld.sock)/orders"},
		{name: "mysql DSN, no user", raw: "tcp(db)/orders", want: "tcp(db:3306)/orders"},
		{name: "mysql DSN, secret parameter", raw: "app:s3cr3t@tcp(db)/orders?app_token=s3cr3t&charset=utf8mb4", want: "app:xxxxx@tcp(db:3306)/orders?app_token=xxxxx&charset=utf8mb4"},
		{name: "mysql DSN, bad address", raw: "app:s3cr3t@tcp(db/orders", want: "xxxxx"},
		// Found by FuzzRedactURL: each of these showed part of the secret.
		{name: "token with an empty password", raw: "https://s3cr3t:@api/h", want: "https://xxxxx@api/h"},
		{name: "password with a '/', the port shown", raw: "postgres://app:12/s3cr3t@db/app", want: "xxxxx"},
		{name: "token with a '/'", raw: "https://abc/s3cr3t@api/h", want: "xxxxx"},
		{name: "password with '@' and '#'", raw: "https://app:@s3cr3t#x@api/h", want: "xxxxx"},
		{name: "URL inside a path", raw: "/proxy/https://app:s3cr3t@db/x", want: "xxxxx"},
		{name: "relative reference with an '@' in its path", raw: "/users/@me?x=1", want: "/users/@me?x=1"},
		{name: "URL passed on in a parameter", raw: "https://api/cb?next=https://app/x?token=s3cr3t", want: "https://api/cb?next=https%3A%2F%2Fapp%2Fx%3Ftoken%3Dxxxxx"},
		{name: "a second '?'", raw: "https://api/h?x=?api_key=s3cr3t", want: "https://api/h?x=xxxxx"},
		{name: "nested deeper than maxNesting", raw: "/a?n=/b?n=/c?n=/d?n=/e?x=1", want: "/a?n=%2Fb%3Fn%3D%252Fc%253Fn%253D%25252Fd%25253Fn%25253Dxxxxx"},
		{name: "dsn, unquoted password with a blank", raw: "host=db password=two s3cr3t dbname=app", want: "xxxxx"},
		{name: "dsn, empty value before the password", raw: "host= password=s3cr3t dbname=app", want: "host=xxxxx dbname=app"},
		// password=two s3cr3t=x: libpq (and pgx) read password=two and a key s3cr3t, a password with a
		// blank written unquoted; a key after an unquoted secret that is no connection keyword is one.
		{name: "dsn, unquoted password with a blank and an '='", raw: "host=db password=two s3cr3t=x dbname=app", want: "xxxxx"},
		{name: "dsn, unquoted password with a blank and an '=', last", raw: "host=db password=a s3=cr3t", want: "xxxxx"},
		{name: "dsn, a keyword after the password", raw: "password=s3cr3t application_name=api sslmode=disable", want: "password=xxxxx application_name=api sslmode=disable"},
		{name: "dsn, a runtime parameter after a quoted password", raw: "password='s3 cr3t' search_path=app", want: "password=xxxxx search_path=app"},
		{name: "dsn, a keyword glued to the password's '='", raw: "host=db password=a=b sslmode=disable", want: "host=db password=xxxxx sslmode=disable"},
		{name: "dsn, a quoted value and a key glued to it", raw: "host=db password=''s3cr3t= dbname=app", want: "xxxxx"},
		{name: "dsn, credentials in a value", raw: "A=app:s3cr3t@unix(/run/mysqld.sock)/orders", want: "A=xxxxx"},
		{name: "mysql DSN, '/' in the password and no database", raw: "/:s3cr3t@db", want: "xxxxx"},
		{name: "mysql DSN, '/' in a secret parameter", raw: "app@tcp(db)/orders?app_token=a)/s3cr3t", want: "xxxxx"},
		{name: "mysql DSN, '@/' in a secret parameter", raw: "app@tcp(db)/orders?app_token=s3cr3t@/", want: "xxxxx"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := checks.RedactURL(tc.raw); got != tc.want {
				t.Errorf("RedactURL(%q) = %q; want %q", tc.raw, got, tc.want)
			}
		})
	}
}

// TestRedactURLDeepNesting: a value inside a value is redacted a few levels deep, then whole, so a
// string of thousands of nested queries (a hostile Location header) is not escaped once per level.
func TestRedactURLDeepNesting(t *testing.T) {
	raw := "https://api/h?n=" + strings.Repeat("/?n=", 2000) + "/?token=s3cr3t"
	got := checks.RedactURL(raw)
	if strings.Contains(got, "s3cr3t") || len(got) > 200 {
		t.Errorf("RedactURL(%d bytes nested 2000 deep) = %d bytes: %.200q", len(raw), len(got), got)
	}
}

// A password with an unescaped '@' must not spill into the target or the error as part of the host.
func TestPostgresPasswordWithAt(t *testing.T) {
	for _, raw := range []string{
		"postgres://app:p@s3cr3t@127.0.0.1:5432/app",
		"postgres://app:pa/s3cr3t@127.0.0.1:5432/app",
	} {
		c := config.NewCheck("db", "postgres", "test", config.NewDefaults())
		c.Spec.Set("url", raw)
		ch, err := checks.New(c)
		if err == nil {
			ch.Close()
			t.Fatalf("checks.New(%q) succeeded with target %q; want an error", raw, ch.Target)
		}
		if !strings.Contains(err.Error(), "percent-encode") {
			t.Errorf("error for %q does not say how to fix it: %v", raw, err)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error for %q leaks the password: %v", raw, err)
		}
	}
}
