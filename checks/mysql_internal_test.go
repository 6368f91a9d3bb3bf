package checks

import (
	"strings"
	"testing"
	"time"
)

// The replica status as MySQL 8.0.22+ spells it (SHOW REPLICA STATUS), which this machine's MariaDB
// cannot produce: the MariaDB spelling is exercised against a real replica in mysql_test.go.
func TestJudgeReplicaStatusMySQLSpelling(t *testing.T) {
	cols := []string{"Replica_IO_State", "Source_Host", "Replica_IO_Running", "Replica_SQL_Running", "Seconds_Behind_Source", "Channel_Name"}
	s := func(v string) *string { return &v }
	row := func(io, sql string, behind *string, channel string) []*string {
		return []*string{s("Waiting for source to send event"), s("db-primary"), s(io), s(sql), behind, s(channel)}
	}
	for _, tc := range []struct {
		name string
		rows [][]*string
		want Class
		text string
	}{
		{name: "not a replica", rows: nil},
		{name: "within", rows: [][]*string{row("Yes", "Yes", s("3"), "")}},
		{name: "behind", rows: [][]*string{row("Yes", "Yes", s("45"), "")}, want: Lag, text: "replica is 45s behind (max_replication_lag 30s)"},
		{name: "one channel of two behind", rows: [][]*string{row("Yes", "Yes", s("0"), "a"), row("Yes", "Yes", s("31"), "b")}, want: Lag, text: `replication connection "b"`},
		{name: "stopped", rows: [][]*string{row("No", "Yes", nil, "")}, want: Lag, text: "IO thread no, SQL thread yes"},
		{name: "nonsense", rows: [][]*string{row("Yes", "Yes", s("soon"), "")}, want: BadResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := judgeReplicaStatus("SHOW REPLICA STATUS", cols, tc.rows, 30*time.Second)
			if got := ClassOf(err); got != tc.want {
				t.Fatalf("class %q (%v); want %q", got, err, tc.want)
			}
			if tc.text != "" && !strings.Contains(err.Error(), tc.text) {
				t.Errorf("%q does not contain %q", err, tc.text)
			}
		})
	}
	if err := judgeReplicaStatus("SHOW REPLICA STATUS", []string{"Replica_IO_State"}, [][]*string{{nil}}, time.Second); ClassOf(err) != BadResponse {
		t.Errorf("a status without a lag column: %v; want bad_response", err)
	}
}
