package main

import (
	"strings"
	"testing"

	"github.com/healthgate/healthgate/checks/checktest"
)

// --mysql has --postgres's semantics: critical, waited for, backed off by class; the password never shows.
func TestWaitMySQLFlag(t *testing.T) {
	my := checktest.MySQLURL(t)
	code, stdout, stderr := runMain(t, noEnv, "wait", "--mysql", my, "--timeout", "30s")
	if code != exitOK {
		t.Fatalf("wait --mysql %s: exit %d; want 0\n%s%s", my, code, stdout, stderr)
	}

	p := checktest.NewProxy(t, checktest.HostPort(t, my))
	p.Set(checktest.Refuse)
	code, _, stderr = runMain(t, noEnv, "wait", "--mysql", checktest.WithHost(t, my, p.Addr()), "--timeout", "2s")
	if code != exitTimeout || !strings.Contains(stderr, "refused") {
		t.Fatalf("wait --mysql (refused): exit %d; want %d naming refused\n%s", code, exitTimeout, stderr)
	}

	// The driver's DSN form, with a password the server rejects (1045): auth, and no password anywhere.
	dsn := "healthgate_nobody:s3cr3t-pw@tcp(" + checktest.HostPort(t, my) + ")/test"
	code, stdout, stderr = runMain(t, noEnv, "check", "--mysql", dsn)
	if code != exitFailed || !strings.Contains(stdout, "auth") || !strings.Contains(stdout, "--mysql") {
		t.Fatalf("check --mysql (bad user): exit %d; want 1 with auth and a hint naming --mysql\n%s%s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, "s3cr3t-pw") {
		t.Fatalf("the password shows:\n%s%s", stdout, stderr)
	}
}
