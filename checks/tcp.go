package checks

import (
	"context"
	"net"
	"strconv"

	"github.com/healthgate/healthgate/config"
)

type tcpCheck struct {
	address string
	dialer  net.Dialer
}

// tcpSpec is a tcp check's own configuration (config.Check.Spec, decoded).
type tcpSpec struct {
	Address string `yaml:"address" schema:"minLength=1"`
}

func buildTCP(c config.Check, s *tcpSpec) (prober, string, config.Errors) {
	if s.Address == "" {
		return nil, "", config.Errors{c.Src.Errorf("address", "required: host:port")}
	}
	host, port, err := net.SplitHostPort(s.Address)
	if err != nil || host == "" {
		return nil, "", config.Errors{c.Src.Errorf("address", "must be host:port (got %q)", s.Address)}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		if _, err := net.LookupPort("tcp", port); err != nil {
			return nil, "", config.Errors{c.Src.Errorf("address", "port must be a number from 1 to 65535 (got %q)", port)}
		}
	}
	return &tcpCheck{address: s.Address}, s.Address, nil
}

// probe proves that something accepts connections there, nothing more: prefer a protocol check where
// one exists, since an open port is not a working service.
func (t *tcpCheck) probe(ctx context.Context) error {
	conn, err := dialContext(ctx, &t.dialer, "tcp", t.address)
	if err != nil {
		return classified(err)
	}
	return conn.Close()
}

func (t *tcpCheck) close() {}
