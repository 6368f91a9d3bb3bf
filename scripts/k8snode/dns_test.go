//go:build k8snode

package k8snode

import (
	"encoding/json"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks/checktest"
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
	mu   sync.Mutex
	a    map[string][]netip.Addr // FQDN with the trailing dot → addresses
	stop chan struct{}
	wg   sync.WaitGroup
}

func startClusterDNS(t *testing.T, n *node) *clusterDNS {
	t.Helper()
	d := &clusterDNS{n: n, a: map[string][]netip.Addr{}, stop: make(chan struct{})}
	d.refresh()
	checktest.ServeDNS(t, hostIP+":53", d.lookup)
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
		d.wg.Wait()
	})
	return d
}

// lookup answers a name from the table; a name not in it does not exist.
func (d *clusterDNS) lookup(name string) ([]netip.Addr, dnsmessage.RCode) {
	d.mu.Lock()
	defer d.mu.Unlock()
	addrs, known := d.a[name]
	if !known {
		return nil, dnsmessage.RCodeNameError
	}
	return addrs, dnsmessage.RCodeSuccess
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
