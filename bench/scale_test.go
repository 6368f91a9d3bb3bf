package main

import (
	"strings"
	"testing"
	"time"
)

func TestScaleParsers(t *testing.T) {
	ns, err := parseSchedstat("123456789 2000 17\n")
	if err != nil || ns != 123456789 {
		t.Errorf("parseSchedstat = %d, %v; want 123456789", ns, err)
	}
	// A command name with spaces and a parenthesis: fields are counted from the last ')'.
	stat := "4242 (heal th)gate) S 1 4242 4242 0 -1 4194560 300 0 0 0 150 25 0 0 20 0 9 0 100 800000 2000 0"
	d, err := parseStatCPU(stat)
	if err != nil || d != 175*10*time.Millisecond {
		t.Errorf("parseStatCPU = %v, %v; want 1.75s (150 + 25 ticks)", d, err)
	}
	if _, err := parseStatCPU("4242 no parenthesis"); err == nil {
		t.Error("parseStatCPU accepted a line without a command name")
	}
	scrape := `# HELP healthgate_check_runs_total Completed runs of each check, by result.
# TYPE healthgate_check_runs_total counter
healthgate_check_runs_total{check="a",result="failure",type="tcp"} 2
healthgate_check_runs_total{check="a",result="success",type="tcp"} 40
healthgate_check_runs_total{check="b {x}",result="success",type="tcp"} 1e+03
healthgate_check_runs_totally_else 7
`
	sum, err := sumCounter(strings.NewReader(scrape), "healthgate_check_runs_total")
	if err != nil || sum != 1042 {
		t.Errorf("sumCounter = %v, %v; want 1042", sum, err)
	}
	if _, err := sumCounter(strings.NewReader("other 1\n"), "healthgate_check_runs_total"); err == nil {
		t.Error("sumCounter found a family that is not there")
	}
	if got := redisHostPort("redis://127.0.0.1/0"); got != "127.0.0.1:6379" {
		t.Errorf("redisHostPort without a port = %q", got)
	}
}
