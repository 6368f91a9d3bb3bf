package server

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/healthgate/healthgate/monitor"
)

// gRPC service names beside each check's own name: "" and "readiness" mean /readyz, "liveness"
// means /livez (what a Kubernetes `grpc:` probe asks with its `service` field).
const (
	serviceReadiness = "readiness"
	serviceLiveness  = "liveness"
)

// livenessPoll is how often Watch re-reads liveness, which changes with the heartbeat rather than
// with snapshots.
const livenessPoll = time.Second

// Health implements grpc.health.v1.Health (Check, Watch, List) on the published snapshot. Like the
// HTTP probes it never runs a check.
type Health struct {
	healthpb.UnimplementedHealthServer
	src Source

	stopOnce sync.Once
	stopped  chan struct{} // closed to end Watch streams, so GracefulStop can finish
}

// NewHealth returns the gRPC health service reading src.
func NewHealth(src Source) *Health {
	return &Health{src: src, stopped: make(chan struct{})}
}

// Register adds the service to a gRPC server.
func (h *Health) Register(s *grpc.Server) { healthpb.RegisterHealthServer(s, h) }

// stop ends every Watch stream.
func (h *Health) stop() { h.stopOnce.Do(func() { close(h.stopped) }) }

// statusOf answers for one service; known is false for an unknown name. Everything is NOT_SERVING
// once shutdown starts.
func (h *Health) statusOf(s *monitor.Snapshot, service string) (st healthpb.HealthCheckResponse_ServingStatus, known bool) {
	serving := func(ok bool) healthpb.HealthCheckResponse_ServingStatus {
		if ok && !s.ShuttingDown {
			return healthpb.HealthCheckResponse_SERVING
		}
		return healthpb.HealthCheckResponse_NOT_SERVING
	}
	switch service {
	case "", serviceReadiness:
		return serving(s.Ready), true
	case serviceLiveness:
		return serving(h.src.Alive(time.Now())), true
	}
	if c, ok := s.Check(service); ok {
		return serving(c.Passing()), true
	}
	return healthpb.HealthCheckResponse_SERVICE_UNKNOWN, false
}

// Check answers one probe.
func (h *Health) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	st, known := h.statusOf(h.src.Snapshot(), req.GetService())
	if !known {
		return nil, status.Errorf(codes.NotFound, "unknown service %q", req.GetService())
	}
	return &healthpb.HealthCheckResponse{Status: st}, nil
}

// List answers every service at once.
func (h *Health) List(_ context.Context, _ *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	s := h.src.Snapshot()
	out := &healthpb.HealthListResponse{Statuses: map[string]*healthpb.HealthCheckResponse{}}
	names := []string{"", serviceReadiness, serviceLiveness}
	for _, c := range s.Checks {
		names = append(names, c.Name)
	}
	for _, n := range names {
		st, _ := h.statusOf(s, n)
		out.Statuses[n] = &healthpb.HealthCheckResponse{Status: st}
	}
	return out, nil
}

// Watch sends the service's status now and at every change. An unknown service gets SERVICE_UNKNOWN
// and the stream stays open, as the protocol asks.
func (h *Health) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	service := req.GetService()
	last := healthpb.HealthCheckResponse_ServingStatus(-1)
	var poll <-chan time.Time
	if service == serviceLiveness {
		t := time.NewTicker(livenessPoll)
		defer t.Stop()
		poll = t.C
	}
	for {
		s := h.src.Snapshot()
		st, _ := h.statusOf(s, service)
		if st != last {
			if err := stream.Send(&healthpb.HealthCheckResponse{Status: st}); err != nil {
				return err
			}
			last = st
		}
		select {
		case <-s.Changed():
		case <-poll:
		case <-stream.Context().Done():
			return stream.Context().Err()
		case <-h.stopped:
			return status.Error(codes.Unavailable, "server is shutting down")
		}
	}
}
