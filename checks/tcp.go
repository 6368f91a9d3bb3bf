package checks

import (
	"context"
	"net"

	"github.com/healthgate/healthgate/config"
)

type tcpCheck struct {
	address string
	dialer  net.Dialer
}

// tcpSpec is a tcp check's own configuration (config.Check.Spec, decoded).
type tcpSpec struct {
	Address string `yaml:"address" schema:"minLength=1,form=address"`
}

func buildTCP(c config.Check, s *tcpSpec) (prober, string, config.Errors) {
	if _, err := checkAddress(c, s.Address, "address", ""); err != nil {
		return nil, "", config.Errors{err}
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
