//go:build k8snode

package k8snode

import (
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// clusterDNS is the node's cluster DNS, reduced to what these tests need: the kubelet points every pod's
// resolv.conf at hostIP:53 (scripts/k8s-node, clusterDNS), and this server answers A queries for
// <service>.<namespace>.svc.cluster.local from the API server as CoreDNS's kubernetes plugin does: a
// ClusterIP Service's ClusterIP; a headless Service's ready endpoints (with publishNotReadyAddresses every
// endpoint is ready=true). Anything else is NXDOMAIN. It reads Services and EndpointSlices with kubectl
// every second. Running CoreDNS instead would add a 111 MB build to every cold CI run for the same
// answers; the resolving is still done by the pods' own resolver against /etc/resolv.conf.
type clusterDNS struct {
	n    *node
	conn *net.UDPConn
	mu   sync.Mutex
	a    map[string][]netip.Addr // FQDN with the trailing dot → addresses
	stop chan struct{}
	wg   sync.WaitGroup
}

func startClusterDNS(t *testing.T, n *node) *clusterDNS {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(hostIP+":53")))
	if err != nil {
		t.Fatalf("cluster DNS on %s:53: %v", hostIP, err)
	}
	d := &clusterDNS{n: n, conn: conn, a: map[string][]netip.Addr{}, stop: make(chan struct{})}
	d.refresh()
	d.wg.Go(d.serve)
	d.wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-d.stop:
				return
			case <-tick.C:
				d.refresh()
			}
		}
	})
	t.Cleanup(func() {
		close(d.stop)
		_ = conn.Close()
		d.wg.Wait()
	})
	return d
}

// refresh rebuilds the name table; on a kubectl error the old one stays.
func (d *clusterDNS) refresh() {
	out, err := d.n.kcErr("get", "services,endpointslices", "--all-namespaces", "-o", "json")
	if err != nil {
		return
	}
	var list struct {
		Items []struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string            `json:"name"`
				Namespace string            `json:"namespace"`
				Labels    map[string]string `json:"labels"`
			} `json:"metadata"`
			Spec struct {
				ClusterIP string `json:"clusterIP"`
			} `json:"spec"`
			Endpoints []Endpoint `json:"endpoints"`
		} `json:"items"`
	}
	if json.Unmarshal([]byte(out), &list) != nil {
		return
	}
	a := map[string][]netip.Addr{}
	headless := map[string]bool{}
	for _, it := range list.Items {
		if it.Kind != "Service" {
			continue
		}
		fqdn := it.Metadata.Name + "." + it.Metadata.Namespace + ".svc.cluster.local."
		if it.Spec.ClusterIP == "None" {
			headless[fqdn] = true
			a[fqdn] = nil
		} else if ip, err := netip.ParseAddr(it.Spec.ClusterIP); err == nil {
			a[fqdn] = []netip.Addr{ip}
		}
	}
	for _, it := range list.Items {
		svc := it.Metadata.Labels["kubernetes.io/service-name"]
		fqdn := svc + "." + it.Metadata.Namespace + ".svc.cluster.local."
		if it.Kind != "EndpointSlice" || !headless[fqdn] {
			continue
		}
		for _, e := range it.Endpoints {
			if e.Conditions.Ready == nil || !*e.Conditions.Ready {
				continue
			}
			for _, s := range e.Addresses {
				if ip, err := netip.ParseAddr(s); err == nil && ip.Is4() {
					a[fqdn] = append(a[fqdn], ip)
				}
			}
		}
	}
	d.mu.Lock()
	d.a = a
	d.mu.Unlock()
}

func (d *clusterDNS) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := d.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if resp, ok := d.answer(buf[:n]); ok {
			_, _ = d.conn.WriteToUDPAddrPort(resp, from)
		}
	}
}

func (d *clusterDNS) answer(req []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil || h.Response {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	name := strings.ToLower(q.Name.String())
	d.mu.Lock()
	addrs, known := d.a[name]
	d.mu.Unlock()
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
		return nil, false
	}
	if known && q.Type == dnsmessage.TypeA && q.Class == dnsmessage.ClassINET {
		for _, ip := range addrs {
			if b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1},
				dnsmessage.AResource{A: ip.As4()}) != nil {
				return nil, false
			}
		}
	}
	resp, err := b.Finish()
	return resp, err == nil
}
