package checks_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// Redis behind Sentinel (the HA setup of Bitnami's redis chart with sentinel.enabled): a URL with
// master_name, go-redis's form (redis://[sentinel user:password@]SENTINEL:26379/DB?master_name=NAME
// &addr=OTHER:26379&password=MASTER'S), asks the Sentinels where the master is, and checks that master.

func sentinelURL(sentinel, master string) string {
	return "redis://" + sentinel + "/0?master_name=" + master
}

// TestRedisSentinel: the check follows the master Sentinel names, through a failover; with replica_only, a
// replica it names (once Sentinel knows it: before, go-redis falls back to the master, and the check asks
// again rather than keep that connection). While the master is
// down and not yet failed over, the run says the master Sentinel names does not answer; once Sentinel has
// promoted the replica, runs pass again on the new master (role: master holds).
func TestRedisSentinel(t *testing.T) {
	primary := checktest.StartRedis(t)
	front := checktest.NewProxy(t, primary)
	checktest.StartRedis(t, "--replicaof", "127.0.0.1", portOnly(t, "redis://"+front.Addr()))
	sentinel := checktest.StartRedisSentinel(t, front.Addr())
	ch := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{
		"url": sentinelURL(sentinel, checktest.SentinelMaster), "role": "master"})}, generousTimeout)
	if ch.Target != "sentinel "+sentinel+" master "+checktest.SentinelMaster+"/0" {
		t.Errorf("target %q; want the Sentinels and the master's name", ch.Target)
	}
	for run := range 3 {
		if err, _ := runCheck(t, ch); err != nil {
			t.Fatalf("run %d: %v (hint: %s)", run+1, err, ch.Hint(err))
		}
	}
	// replica_only=true (go-redis's): a replica the Sentinels name, for a check of the read path.
	replica := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{
		"url": sentinelURL(sentinel, checktest.SentinelMaster) + "&replica_only=true", "role": "replica"})}, generousTimeout)
	checktest.Eventually(t, 10*time.Second, "the Sentinel to know the replica", func() bool { err, _ := runCheck(t, replica); return err == nil })
	asMaster := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{
		"url": sentinelURL(sentinel, checktest.SentinelMaster) + "&replica_only=true", "role": "master"})}, generousTimeout)
	err, _ := runCheck(t, asMaster)
	assertAnswer(t, asMaster, err, checks.ReadOnly, "primary", "no secret here")

	front.Set(checktest.Refuse) // the master is gone; Sentinel notices after two seconds
	err, _ = runCheck(t, ch)
	assertAnswer(t, ch, err, checks.Refused, "the master the Sentinels in url name", "no secret here")
	if _, ok := checktest.Poll(30*time.Second, 200*time.Millisecond, func() bool { err, _ := runCheck(t, ch); return err == nil }); !ok {
		err, _ := runCheck(t, ch)
		t.Fatalf("no pass within 30 s of the master going away: Sentinel's failover to the replica was not followed: %v", err)
	}
}

// TestRedisSentinelAnswers: a master name the Sentinels do not know, and Sentinels that do not answer.
func TestRedisSentinelAnswers(t *testing.T) {
	sentinel := checktest.StartRedisSentinel(t, checktest.StartRedis(t))
	ch := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": sentinelURL(sentinel, "nosuchmaster")})}, generousTimeout)
	err, _ := runCheck(t, ch)
	assertAnswer(t, ch, err, checks.BadResponse, `know no master named "nosuchmaster"`, "no secret here")

	closed := checktest.NewProxy(t, sentinel)
	closed.Set(checktest.Refuse)
	ch = newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{
		"url": "redis://:s3cret-sentinel@" + closed.Addr() + "/0?master_name=" + checktest.SentinelMaster + "&password=s3cret-master"})}, generousTimeout)
	err, _ = runCheck(t, ch)
	assertAnswer(t, ch, err, checks.Refused, "no Sentinel in url answered", "s3cret")
}

// TestRedisSentinelNotASentinel: a URL with master_name= whose address is a Redis server, not a Sentinel
// (its own port, 6379, for Sentinel's 26379) is bad_response with a hint that says so; it had the generic
// "check its status, body or protocol", the error only quoting "ERR unknown command 'sentinel'".
func TestRedisSentinelNotASentinel(t *testing.T) {
	addr := checktest.HostPort(t, checktest.RedisURL(t))
	ch := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{
		"url": "redis://:s3cret-sentinel@" + addr + "/0?master_name=mymaster&password=s3cret-master"})}, generousTimeout)
	err, _ := runCheck(t, ch)
	assertAnswer(t, ch, err, checks.BadResponse, "is not a Sentinel", "s3cret")

	// Redis before 6.2 quotes the unknown command with backquotes.
	old := checktest.Serve(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			_, _ = c.Write([]byte("-ERR unknown command `sentinel`, with args beginning with: `get-master-addr-by-name`, `mymaster`, \r\n"))
		}
	})
	ch = newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{
		"url": "redis://:s3cret-sentinel@" + old + "/0?master_name=mymaster&password=s3cret-master"})}, generousTimeout)
	err, _ = runCheck(t, ch)
	assertAnswer(t, ch, err, checks.BadResponse, "is not a Sentinel", "s3cret")
}

// TestRedisURLAtASentinel: a URL without master_name= whose address is a Sentinel's (26379, where the
// Redis server's 6379 was meant, or Bitnami's Service port for Sentinel) is bad_response with a hint that
// names master_name. A Sentinel answers PING (and HELLO, AUTH) as a Redis server does, and refuses every
// command on data: the run passed, while an application given the URL could do nothing; with role: master
// it was read_only "a read-only replica", with role: replica "the server is the primary", with key "EXISTS
// renamed or disabled", and with a database number the generic hint. A Redis server whose CLUSTER is
// renamed is asked ROLE once, and passes.
func TestRedisURLAtASentinel(t *testing.T) {
	sentinel := checktest.StartRedisSentinel(t, checktest.StartRedis(t))
	for _, tc := range []struct {
		name string
		spec map[string]any
		hint string
	}{
		{"ping", map[string]any{"url": "redis://:s3cret-pw@" + sentinel + "/0"}, "is a Redis Sentinel's (port 26379 by default), which holds no data: to check the master it watches, add master_name=NAME"},
		{"role master", map[string]any{"url": "redis://" + sentinel + "/0", "role": "master"}, "add master_name=NAME"},
		{"role replica", map[string]any{"url": "redis://" + sentinel + "/0", "role": "replica"}, "add master_name=NAME"},
		{"key", map[string]any{"url": "redis://" + sentinel + "/0", "key": "healthgate:probe"}, "add master_name=NAME"},
		{"database number", map[string]any{"url": "redis://:s3cret-pw@" + sentinel + "/3"}, "does not know SELECT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(tc.spec)}, generousTimeout)
			for range 2 { // the second run too: nothing learnt from the first lets it pass
				err, _ := runCheck(t, ch)
				assertAnswer(t, ch, err, checks.BadResponse, tc.hint, "s3cret")
			}
		})
	}
	noCluster := checktest.StartRedis(t, "--rename-command", "CLUSTER", "")
	ch := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "redis://" + noCluster + "/0"})}, generousTimeout)
	for range 2 {
		err, _ := runCheck(t, ch)
		assertClass(t, err, "")
	}
}

// TestRedisSentinelTLS: Sentinel, master and replica speak only TLS (Bitnami's redis chart with tls and
// sentinel enabled). Each server is verified as the host it is dialled by: the Sentinel as the URL's host
// (localhost: the only name its certificate holds), the master as the address the Sentinel names
// (127.0.0.1: the only one its certificate holds). Verifying the master as the Sentinel's host, which
// go-redis does by itself, fails here. The failover is followed over TLS too.
func TestRedisSentinelTLS(t *testing.T) {
	p := newPKI(t)
	dataCert, dataKey := p.issueServer(nil, net.IPv4(127, 0, 0, 1))
	sentinelCert, sentinelKey := p.issueServer([]string{"localhost"})
	data := checktest.RedisTLS{Cert: dataCert, Key: dataKey, CA: p.ca}
	front := checktest.NewProxy(t, checktest.StartRedisTLS(t, data))
	checktest.StartRedisTLS(t, data, "--replicaof", "127.0.0.1", portOnly(t, "redis://"+front.Addr()))
	sentinel := checktest.StartRedisSentinelTLS(t, front.Addr(), checktest.RedisTLS{Cert: sentinelCert, Key: sentinelKey, CA: p.ca})
	url := "rediss://localhost:" + portOnly(t, "redis://"+sentinel) + "/0?master_name=" + checktest.SentinelMaster
	build := func(tb config.TLS) *checks.Check {
		return newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": url, "role": "master", "tls": tb})}, generousTimeout)
	}
	ch := build(config.TLS{CAFile: p.ca})
	for run := range 3 {
		if err, _ := runCheck(t, ch); err != nil {
			t.Fatalf("run %d: %v (hint: %s)", run+1, err, ch.Hint(err))
		}
	}

	t.Run("unknown CA", func(t *testing.T) {
		other := build(config.TLS{CAFile: p.otherCA})
		err, _ := runCheck(t, other)
		assertAnswer(t, other, err, checks.TLS, "tls.ca_file", "no secret here")
		if !strings.Contains(err.Error(), "with Sentinel localhost:") {
			t.Errorf("error %q does not name the Sentinel it failed with", err)
		}
	})
	t.Run("one server_name for every server", func(t *testing.T) {
		// The Sentinel holds localhost and answers; the master, verified as localhost too, does not.
		named := build(config.TLS{CAFile: p.ca, ServerName: "localhost"})
		err, _ := runCheck(t, named)
		assertAnswer(t, named, err, checks.TLS, "does not hold tls.server_name", "no secret here")
		if !strings.Contains(err.Error(), "with the master 127.0.0.1:") {
			t.Errorf("error %q does not name the master it failed with", err)
		}
	})
	t.Run("master certificate without the address the Sentinels name", func(t *testing.T) {
		// A master whose certificate holds only localhost, named 127.0.0.1 by its Sentinel.
		master := checktest.StartRedisTLS(t, checktest.RedisTLS{Cert: sentinelCert, Key: sentinelKey, CA: p.ca})
		other := checktest.StartRedisSentinelTLS(t, master, checktest.RedisTLS{Cert: sentinelCert, Key: sentinelKey, CA: p.ca})
		ch := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{
			"url": "rediss://localhost:" + portOnly(t, "redis://"+other) + "/0?master_name=" + checktest.SentinelMaster, "tls": config.TLS{CAFile: p.ca}})}, generousTimeout)
		err, _ := runCheck(t, ch)
		assertAnswer(t, ch, err, checks.TLS, "announce-hostnames", "no secret here")
	})
	t.Run("failover", func(t *testing.T) {
		front.Set(checktest.Refuse)
		if _, ok := checktest.Poll(30*time.Second, 200*time.Millisecond, func() bool { err, _ := runCheck(t, ch); return err == nil }); !ok {
			err, _ := runCheck(t, ch)
			t.Fatalf("no pass within 30 s of the master going away: the failover was not followed over TLS: %v (hint: %s)", err, ch.Hint(err))
		}
	})
}

// TestRedisSentinelConfig: a broken Sentinel URL is named without its passwords.
func TestRedisSentinelConfig(t *testing.T) {
	spec := func(m map[string]any) config.Check { return config.Check{Spec: config.SpecOf(m)} }
	assertConfigErrors(t, "cache", "redis", []configCase{
		{"bad option", spec(map[string]any{"url": "redis://:s3cr3t@127.0.0.1:26379/0?master_name=mymaster&password=s3cr3t&bogus=1"}), "not a valid redis URL: unexpected option: bogus"},
		{"tls block on a redis:// URL", spec(map[string]any{"url": "redis://127.0.0.1:26379/0?master_name=mymaster", "tls": config.TLS{InsecureSkipVerify: true}}), "applies to rediss:// URLs"},
	})
}
