package policy

import (
	"errors"
	"fmt"
	"net"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/healthgate/healthgate/config"
	corev1 "k8s.io/api/core/v1"
)

type hgConfig struct {
	found           bool
	name            string // ConfigMap/key
	listenPort      int32
	grpcPort        int32 // 0: off
	shutdownDelay   time.Duration
	shutdownTimeout time.Duration
	maxTimeout      time.Duration // the longest check timeout (0 without checks)
	peers           []string      // fleet.peers (a string is a list of one)
	vars            []string      // ${VAR} references without a default
}

// containerConfig finds the healthgate.yaml a container reads (--config through a ConfigMap volume).
func (c *checker) containerConfig(o Object, who string, ct corev1.Container, spec *corev1.PodSpec) hgConfig {
	cfg := hgConfig{shutdownDelay: config.DefaultShutdownDelay, shutdownTimeout: config.DefaultShutdownTimeout}
	cfg.listenPort, _ = listenPort(config.DefaultListen)
	file, ok := flagValue(ct.Args, "--config")
	if !ok {
		return cfg
	}
	var cm *corev1.ConfigMap
	key := ""
	for _, m := range ct.VolumeMounts {
		rel, ok := strings.CutPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			cm = c.configMaps[v.ConfigMap.Name]
			key = path.Join(m.SubPath, rel)
			for _, it := range v.ConfigMap.Items {
				if it.Path == key {
					key = it.Key
				}
			}
		}
	}
	if cm == nil {
		c.add(o, RuleConfig, "%s: --config %s is not a file of a ConfigMap in this set", who, file)
		return cfg
	}
	data, ok := cm.Data[key]
	if !ok {
		c.add(o, RuleConfig, "%s: --config %s: ConfigMap/%s has no key %q", who, file, cm.Name, key)
		return cfg
	}
	cfg.found, cfg.name = true, "ConfigMap/"+cm.Name+"/"+key
	// healthgate's own reader, as the pod would read it with every variable unset and no secret file:
	// the defaults, durations and lists are healthgate's, not a second reading of them.
	hc, err := config.Inspect(cfg.name, []byte(data))
	var errs config.Errors
	errors.As(err, &errs)
	for _, e := range errs {
		// Only the sections serve alone uses, server and fleet, are reported here (what decides the
		// ports and the drain, and the rest of them: `healthgate check`, which scripts/k8s-validate
		// runs on every rendered configuration, ignores them as `wait` does); the rest of the file is
		// for healthgate itself to refuse.
		if strings.HasPrefix(e.Msg, "invalid YAML") || config.ServeOnly(e) {
			c.add(o, RuleConfig, "%s: %v", who, e)
		}
	}
	if hc == nil {
		return cfg
	}
	if p, err := listenPort(hc.Server.Listen); err == nil {
		cfg.listenPort = p
	}
	if hc.Server.GRPCListen != "" {
		cfg.grpcPort, _ = listenPort(hc.Server.GRPCListen)
	}
	cfg.shutdownDelay, cfg.shutdownTimeout = hc.Server.ShutdownDelay, hc.Server.ShutdownTimeout
	for _, ch := range hc.Checks {
		cfg.maxTimeout = max(cfg.maxTimeout, ch.Timeout)
	}
	cfg.peers = hc.Fleet.Peers
	for _, r := range hc.Refs {
		if r.Var != "" && !r.HasDefault && !slices.Contains(cfg.vars, r.Var) {
			cfg.vars = append(cfg.vars, r.Var)
		}
	}
	sort.Strings(cfg.vars)
	return cfg
}

func listenPort(addr string) (int32, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(p, 10, 32)
	if err != nil || n <= 0 || n > 65535 {
		return 0, fmt.Errorf("bad port %q", p)
	}
	return int32(n), nil
}
