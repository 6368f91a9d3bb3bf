package policy

import (
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// isolating: the NetworkPolicies of the set that select the workload's pods and restrict the direction
// typ (without policyTypes: Ingress always, Egress when the policy has egress rules, as the API server
// defaults them). Policies add up: a connection passes when one of them admits it.
func (c *checker) isolating(w workload, typ networkingv1.PolicyType) []*networkingv1.NetworkPolicy {
	var out []*networkingv1.NetworkPolicy
	for _, np := range c.netpols {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || !sel.Matches(labels.Set(w.podLabels)) {
			continue
		}
		types := np.Spec.PolicyTypes
		if len(types) == 0 {
			types = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
			if len(np.Spec.Egress) > 0 {
				types = append(types, networkingv1.PolicyTypeEgress)
			}
		}
		for _, t := range types {
			if t == typ {
				out = append(out, np)
			}
		}
	}
	return out
}

// mayBe: a peer list may hold the pods labelled podLabels of the set's own namespace. An ipBlock, or a
// namespaceSelector that is not {}, may hold them or not (pod IPs and namespace labels are not in the
// manifests): counted as a yes, so a finding is never a guess.
func mayBe(peers []networkingv1.NetworkPolicyPeer, podLabels map[string]string) bool {
	if len(peers) == 0 {
		return true // every source or destination
	}
	for _, p := range peers {
		if p.IPBlock != nil {
			return true
		}
		if ns := p.NamespaceSelector; ns != nil && (len(ns.MatchLabels) > 0 || len(ns.MatchExpressions) > 0) {
			return true
		}
		if p.PodSelector == nil {
			return true // namespaceSelector {} alone: every pod of every namespace
		}
		if sel, err := metav1.LabelSelectorAsSelector(p.PodSelector); err == nil && sel.Matches(labels.Set(podLabels)) {
			return true
		}
	}
	return false
}

// portsAllow: a rule's ports admit proto/port (a named port by name, when the pod declares it so).
func portsAllow(ports []networkingv1.NetworkPolicyPort, proto corev1.Protocol, port int32, name string) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Protocol != nil && *p.Protocol != proto || p.Protocol == nil && proto != corev1.ProtocolTCP {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.Type == intstr.String:
			if name != "" && p.Port.StrVal == name {
				return true
			}
		case p.Port.IntVal == port || p.EndPort != nil && p.Port.IntVal <= port && port <= *p.EndPort:
			return true
		}
	}
	return false
}

// mayBeDNS: a rule's ports may admit DNS (port 53) over proto. An egress port given by name is the
// destination's port of that name (CoreDNS names its ports dns and dns-tcp): the resolver's pods are not
// in the set, so a named port counts as a yes, as mayBe counts what the manifests cannot tell.
func mayBeDNS(ports []networkingv1.NetworkPolicyPort, proto corev1.Protocol) bool {
	if portsAllow(ports, proto, 53, "") {
		return true
	}
	for _, p := range ports {
		if p.Port != nil && p.Port.Type == intstr.String && (p.Protocol == nil && proto == corev1.ProtocolTCP || p.Protocol != nil && *p.Protocol == proto) {
			return true
		}
	}
	return false
}

// portName: the name of the container port port in the pod (for a NetworkPolicy naming it).
func portName(spec *corev1.PodSpec, port int32) string {
	for _, ct := range allContainers(spec) {
		for _, cp := range ct.Ports {
			if cp.ContainerPort == port {
				return cp.Name
			}
		}
	}
	return ""
}

// networkPolicies: NetworkPolicies that select a healthgate pod must leave it what it needs. Egress
// restricted: DNS (UDP and TCP port 53), or no check and no dns:/// peer resolves. With dns:/// fleet peers in this
// set: ingress from the pods themselves on the listen port (peers ask each other's /fleetz), and with egress
// restricted, egress to them, or a shared check can never fail open. kubelet probes need no rule: the pod's
// own node is always admitted.
func (c *checker) networkPolicies(o Object, who string, w workload, cfg hgConfig) {
	fleet := c.peersInSet(cfg)
	if egress := c.isolating(w, networkingv1.PolicyTypeEgress); len(egress) > 0 {
		dns, dnsTCP, peers, openShiftDNS := false, false, false, false
		name := portName(w.spec, cfg.listenPort)
		for _, np := range egress {
			for _, r := range np.Spec.Egress {
				dns = dns || mayBeDNS(r.Ports, corev1.ProtocolUDP)
				openShiftDNS = openShiftDNS || portsAllow(r.Ports, corev1.ProtocolUDP, 5353, "")
				dnsTCP = dnsTCP || mayBeDNS(r.Ports, corev1.ProtocolTCP)
				peers = peers || mayBe(r.To, w.podLabels) && portsAllow(r.Ports, corev1.ProtocolTCP, cfg.listenPort, name)
			}
		}
		switch {
		case !dns && openShiftDNS:
			// Not "without DNS": on OpenShift, whose resolver pods listen on 5353 behind the Service's 53
			// (a policy judges the pod's port), it is DNS; which cluster this is, the set cannot tell.
			c.add(o, RuleNetwork, "%s: egress restricted by %s allows DNS on port 5353 alone, not 53: the port OpenShift's resolver pods listen on behind the Service's 53; elsewhere the resolver listens on 53, and no check and no peer name resolves (OpenShift: allow both, 53 and 5353)", who, policyNames(egress))
		case !dns:
			c.add(o, RuleNetwork, "%s: egress restricted by %s without DNS (UDP port 53): no check and no peer name resolves", who, policyNames(egress))
		case !dnsTCP:
			// Go's resolver asks again over TCP when the UDP answer is truncated: a dns:/// peers name
			// of a large fleet (its A records past the 1232 bytes of an EDNS answer, some 70 pods), a
			// dns check's long record set.
			c.add(o, RuleNetwork, "%s: egress restricted by %s allows DNS over UDP but not TCP (port 53): an answer too long for UDP (a large fleet's peers, a long record set) is asked again over TCP and fails", who, policyNames(egress))
		}
		if fleet && !peers {
			c.add(o, RuleNetwork, "%s: egress restricted by %s with no connection to the fleet peers (these pods) on port %d: a shared check can never fail open", who, policyNames(egress), cfg.listenPort)
		}
	}
	if ingress := c.isolating(w, networkingv1.PolicyTypeIngress); fleet && len(ingress) > 0 {
		name := portName(w.spec, cfg.listenPort)
		for _, np := range ingress {
			for _, r := range np.Spec.Ingress {
				if mayBe(r.From, w.podLabels) && portsAllow(r.Ports, corev1.ProtocolTCP, cfg.listenPort, name) {
					return
				}
			}
		}
		c.add(o, RuleNetwork, "%s: ingress restricted by %s with no fleet peer (these pods) on port %d: the peers' /fleetz requests are dropped and a shared check can never fail open", who, policyNames(ingress), cfg.listenPort)
	}
}

func policyNames(nps []*networkingv1.NetworkPolicy) string {
	names := make([]string, len(nps))
	for i, np := range nps {
		names[i] = "NetworkPolicy/" + np.Name
	}
	return strings.Join(names, ", ")
}

// peersInSet: the config's fleet peers are found through a Service of this set (dns:///<service>...): the
// peers are the set's own pods.
func (c *checker) peersInSet(cfg hgConfig) bool {
	for _, p := range cfg.peers {
		rest, ok := strings.CutPrefix(p, "dns://")
		if !ok {
			continue
		}
		_, target, _ := strings.Cut(rest, "/")
		host, _, err := net.SplitHostPort(target)
		if err != nil {
			continue
		}
		svc, _, _ := strings.Cut(host, ".")
		for _, s := range c.services {
			if s.Name == svc {
				return true
			}
		}
	}
	return false
}
