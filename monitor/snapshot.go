package monitor

import "time"

// ShutdownCheck is the name of /readyz's built-in line that fails once shutdown starts (the config
// refuses it as a check name, as config.ShutdownCheck).
const ShutdownCheck = "shutdown"

// Snapshot is the published state: immutable, shared by every reader without locks.
type Snapshot struct {
	At           time.Time
	ShuttingDown bool
	Checks       []CheckStatus // in configuration order

	// Ready: not shutting down and every critical check passing (/readyz).
	Ready bool
	// Status: pass, warn (only non-critical checks not passing) or fail.
	Status Status
	// Degraded: a non-critical check is not passing, or a critical one fails open (the
	// X-Envoy-Degraded signal).
	Degraded bool
	// Started: every critical check has passed at least once (/startupz); it never goes back, not even
	// when a reload adds a critical check that has not passed yet.
	Started bool

	index map[string]int // name → index in Checks; shared by the snapshots of one configuration
	next  chan struct{}
}

// Changed returns a channel closed when a newer snapshot is published: watchers (gRPC Watch) wait on
// it instead of registering callbacks.
func (s *Snapshot) Changed() <-chan struct{} { return s.next }

// Lookup returns the named check's status.
func (s *Snapshot) Lookup(name string) (*CheckStatus, bool) {
	i, ok := s.Index(name)
	if !ok {
		return nil, false
	}
	return &s.Checks[i], true
}

// Index returns the position of the named check in Checks. A reload may change it: use it only with
// this snapshot's Checks.
func (s *Snapshot) Index(name string) (int, bool) {
	i, ok := s.index[name]
	return i, ok
}

func (s *Snapshot) summarize() {
	s.Ready, s.Started = !s.ShuttingDown, true
	for i := range s.Checks {
		c := &s.Checks[i]
		switch {
		case c.Critical && !c.Passing() && !c.FailOpen:
			s.Ready = false
		case !c.Passing():
			s.Degraded = true // non-critical, or failing open
		}
		if c.Critical && !c.EverPassed {
			s.Started = false
		}
	}
	switch {
	case !s.Ready:
		s.Status = Fail
	case s.Degraded:
		s.Status = Warn
	default:
		s.Status = Pass
	}
}

func (s *Snapshot) failingNames() []string {
	var names []string
	if s.ShuttingDown {
		names = append(names, ShutdownCheck)
	}
	for _, c := range s.Checks {
		if c.Critical && !c.Passing() && !c.FailOpen {
			names = append(names, c.Name)
		}
	}
	return names
}
