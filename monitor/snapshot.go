package monitor

import "time"

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
	// Started: every critical check has passed at least once (/startupz); it never goes back.
	Started bool

	next chan struct{}
}

// Changed returns a channel closed when a newer snapshot is published: watchers (gRPC Watch) wait on
// it instead of registering callbacks.
func (s *Snapshot) Changed() <-chan struct{} { return s.next }

// Check returns the named check's status.
func (s *Snapshot) Check(name string) (*CheckStatus, bool) {
	for i := range s.Checks {
		if s.Checks[i].Name == name {
			return &s.Checks[i], true
		}
	}
	return nil, false
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
		names = append(names, "shutdown")
	}
	for _, c := range s.Checks {
		if c.Critical && !c.Passing() && !c.FailOpen {
			names = append(names, c.Name)
		}
	}
	return names
}
