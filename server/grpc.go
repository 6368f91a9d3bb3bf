package server

import (
	"errors"
	"io"
	"log"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/healthgate/healthgate/internal/grpcwire"
	"github.com/healthgate/healthgate/monitor"
)

// The gRPC health service (grpc.health.v1.Health: Check, Watch, List), served by net/http's own
// HTTP/2 without TLS (h2c with prior knowledge, which is what gRPC clients and a Kubernetes grpc:
// probe speak).
//
// Why not grpc-go: the service is three methods whose messages are one string and one enum, and
// grpc-go (with the protobuf runtime) costs every healthgate process about 4.5 MB of resident memory
// and 15 MB of binary even with gRPC off (measured: an idle binary importing grpc and its health
// package uses 10.5 MB RSS against 6 MB for pgx + go-redis + net/http; healthgate's own binary is
// 38.5 MB with grpc-go and 23.3 MB without), which is what separates a
// 30 MB budget from a miss (bench figure 5). The tests talk to this server with grpc-go's own client
// and with grpc-health-probe, so it is held to the real protocol.

// gRPC service names beside each check's own name: "" and "readiness" mean /readyz, "liveness"
// means /livez (what a Kubernetes `grpc:` probe asks with its `service` field); "shutdown"
// (monitor.ShutdownCheck) means /readyz/shutdown.
// The config refuses checks with these names (config.ReadinessService and LivenessService; the root
// package's TestLayoutServerNames holds the two equal).
const (
	ReadinessService = "readiness"
	LivenessService  = "liveness"
)

// livenessPoll is how often Watch re-reads liveness, which changes with the heartbeat rather than
// with snapshots.
const livenessPoll = time.Second

// maxGRPCMessage bounds a request message: a service name.
const maxGRPCMessage = 4 << 10

// Serving status values of grpc.health.v1.HealthCheckResponse.ServingStatus.
type servingStatus uint64

const (
	statusUnknown        servingStatus = 0
	statusServing        servingStatus = 1
	statusNotServing     servingStatus = 2
	statusServiceUnknown servingStatus = 3
)

// gRPC status codes used here.
const (
	codeOK                = 0
	codeInvalidArgument   = 3
	codeDeadlineExceeded  = 4
	codeNotFound          = 5
	codeResourceExhausted = 8
	codeUnimplemented     = 12
	codeInternal          = 13
	codeUnavailable       = 14
	methodCheck           = "/grpc.health.v1.Health/Check"
	methodWatch           = "/grpc.health.v1.Health/Watch"
	methodList            = "/grpc.health.v1.Health/List"
	grpcContentType       = "application/grpc"
	grpcContentTypeProto  = "application/grpc+proto"
)

// Health serves grpc.health.v1.Health on the published snapshot. Like the HTTP probes it never runs
// a check.
type Health struct {
	src Source

	stopOnce sync.Once
	stopped  chan struct{} // closed to end Watch streams, so the drain can finish
}

// NewHealth returns the gRPC health service reading src.
func NewHealth(src Source) *Health {
	return &Health{src: src, stopped: make(chan struct{})}
}

// stop ends every Watch stream.
func (h *Health) stop() { h.stopOnce.Do(func() { close(h.stopped) }) }

// newGRPCServer returns the HTTP/2-only server that carries the service.
func (h *Health) newGRPCServer(errorLog *log.Logger) *http.Server {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	// The HTTP port's limits: a connection left idle (no stream) is closed, as on the HTTP port.
	return &http.Server{Handler: h, Protocols: &p, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: idleTimeout,
		MaxHeaderBytes: maxHeaderBytes, ErrorLog: errorLog}
}

// statusOf answers for one service; known is false for an unknown name. Once shutdown starts,
// readiness and every check are NOT_SERVING; liveness is not, as /livez stays 200 during the drain
// (docs/design.md §5): a `grpc:` liveness probe must not restart a pod that is draining. "shutdown" is
// /readyz/shutdown's built-in check, SERVING until the drain starts, unless a check has that name
// (the config reserves it).
func (h *Health) statusOf(s *monitor.Snapshot, service string) (st servingStatus, known bool) {
	serving := func(ok bool) servingStatus {
		if ok && !s.ShuttingDown {
			return statusServing
		}
		return statusNotServing
	}
	switch service {
	case "", ReadinessService:
		return serving(s.Ready), true
	case LivenessService:
		if h.src.Alive(time.Now()) {
			return statusServing, true
		}
		return statusNotServing, true
	}
	if c, ok := s.Lookup(service); ok {
		return serving(c.Passing()), true
	}
	if service == monitor.ShutdownCheck {
		return serving(true), true
	}
	return statusServiceUnknown, false
}

func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A client that never sends its message, or never reads the answer, must not hold this call (and
	// the drain) for ever (stalledAfter): a call's message is one small frame, its answer one more.
	g := &grpcWriter{w: w, rc: http.NewResponseController(w)}
	_ = g.rc.SetReadDeadline(time.Now().Add(stalledAfter))
	_ = g.rc.SetWriteDeadline(time.Now().Add(stalledAfter))
	ct := r.Header.Get("Content-Type")
	if r.Method != http.MethodPost || (ct != grpcContentType && ct != grpcContentTypeProto) {
		http.Error(w, "this port serves gRPC (grpc.health.v1.Health)", http.StatusUnsupportedMediaType)
		return
	}
	w.Header().Set("Content-Type", grpcContentType)
	// The method first: another service's call (a reflection client, grpcurl) is UNIMPLEMENTED
	// whatever its message, which is no HealthCheckRequest and may be larger than one, or never come
	// (a bidirectional stream whose client waits for our headers).
	switch r.URL.Path {
	case methodCheck, methodList, methodWatch:
	default:
		g.finish(codeUnimplemented, "unknown method "+r.URL.Path)
		return
	}
	req, err := readGRPCMessage(r.Body, r.Header.Get("Grpc-Encoding"))
	switch {
	case errors.Is(err, grpcwire.ErrEncoding):
		// The protocol's answer to an algorithm the server does not have: UNIMPLEMENTED, saying which
		// it has.
		w.Header().Set("Grpc-Accept-Encoding", grpcwire.AcceptEncoding)
		g.finish(codeUnimplemented, "grpc-encoding "+r.Header.Get("Grpc-Encoding")+" is not supported")
		return
	case errors.Is(err, grpcwire.ErrCompressed):
		g.finish(codeInternal, err.Error())
		return
	case errors.Is(err, errRequestTooLarge):
		// As grpc-go answers a message over its limit ("received message larger than max").
		g.finish(codeResourceExhausted, err.Error())
		return
	case err != nil:
		g.finish(codeInvalidArgument, err.Error())
		return
	}
	_ = g.rc.SetReadDeadline(time.Time{})
	service, err := decodeService(req)
	if err != nil {
		g.finish(codeInvalidArgument, err.Error())
		return
	}
	switch r.URL.Path {
	case methodCheck:
		st, known := h.statusOf(h.src.Snapshot(), service)
		if !known {
			g.finish(codeNotFound, "unknown service "+quoteName(service)) // bounded, as /readyz/{name}'s 404
			return
		}
		_ = g.send(encodeStatus(st))
		g.finish(codeOK, "")
	case methodList:
		_ = g.send(h.encodeList(h.src.Snapshot()))
		g.finish(codeOK, "")
	case methodWatch:
		var deadline <-chan time.Time
		if d, ok := grpcwire.ParseTimeout(r.Header.Get("Grpc-Timeout")); ok {
			t := time.NewTimer(d)
			defer t.Stop()
			deadline = t.C
		}
		h.watch(g, r, service, deadline)
	}
}

// watch sends the service's status now and at every change. An unknown service gets SERVICE_UNKNOWN
// and the stream stays open, as the protocol asks. The call ends with DEADLINE_EXCEEDED when deadline
// (the client's grpc-timeout; nil: none) fires.
func (h *Health) watch(g *grpcWriter, r *http.Request, service string, deadline <-chan time.Time) {
	last := servingStatus(1 << 10) // no status sent yet
	var poll <-chan time.Time
	if service == LivenessService {
		t := time.NewTicker(livenessPoll)
		defer t.Stop()
		poll = t.C
	}
	for {
		s := h.src.Snapshot()
		if st, _ := h.statusOf(s, service); st != last {
			// Each message must be taken within stalledAfter (the deadline is armed again for it);
			// between messages the stream may stay quiet for as long as nothing changes.
			_ = g.rc.SetWriteDeadline(time.Now().Add(stalledAfter))
			if g.send(encodeStatus(st)) != nil {
				return // reset: the client does not read
			}
			_ = g.rc.SetWriteDeadline(time.Time{})
			last = st
		}
		select {
		case <-s.Changed():
		case <-poll:
		case <-r.Context().Done():
			return
		case <-deadline:
			_ = g.rc.SetWriteDeadline(time.Now().Add(stalledAfter))
			g.finish(codeDeadlineExceeded, "deadline exceeded (grpc-timeout)")
			return
		case <-h.stopped:
			_ = g.rc.SetWriteDeadline(time.Now().Add(stalledAfter))
			g.finish(codeUnavailable, "server is shutting down")
			return
		}
	}
}

// grpcWriter writes one call's messages and its final status.
type grpcWriter struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	sent bool // a message went out, so the status goes in the trailers
}

// send writes one length-prefixed message; the error says the stream is gone (its write deadline
// passed, or the client left).
func (g *grpcWriter) send(msg []byte) error {
	g.sent = true
	if _, err := g.w.Write(grpcwire.Frame(msg)); err != nil {
		return err
	}
	return g.rc.Flush()
}

// finish ends the call with its status: in the trailers after a message, or in the headers alone
// ("Trailers-Only") when nothing was sent.
func (g *grpcWriter) finish(code int, msg string) {
	prefix := http.TrailerPrefix
	if !g.sent {
		prefix = ""
	}
	g.w.Header().Set(prefix+"Grpc-Status", strconv.Itoa(code))
	if msg != "" {
		g.w.Header().Set(prefix+"Grpc-Message", percentEncode(msg))
	}
	if !g.sent {
		g.w.WriteHeader(http.StatusOK)
	}
}

var errRequestTooLarge = errors.New("request message larger than 4 KiB") // maxGRPCMessage

// readGRPCMessage reads one length-prefixed message, uncompressed or gzip.
func readGRPCMessage(r io.Reader, encoding string) ([]byte, error) {
	msg, err := grpcwire.ReadMessageEncoded(r, maxGRPCMessage, encoding)
	switch {
	case errors.Is(err, grpcwire.ErrMissing):
		return nil, errors.New("missing request message")
	case errors.Is(err, grpcwire.ErrTooLarge):
		return nil, errRequestTooLarge
	case errors.Is(err, grpcwire.ErrTruncated):
		return nil, errors.New("truncated request message")
	}
	return msg, err
}

// decodeService reads field 1 (service, a string) of a HealthCheckRequest, skipping anything else.
func decodeService(b []byte) (string, error) {
	service, err := grpcwire.String(b, 1)
	if err != nil {
		return "", errors.New("malformed request message")
	}
	return service, nil
}

// encodeStatus is a HealthCheckResponse: field 1, the status enum (a zero enum is the empty message).
func encodeStatus(st servingStatus) []byte {
	return grpcwire.AppendVarint(nil, 1, uint64(st))
}

// encodeList is a HealthListResponse: field 1, map<string, HealthCheckResponse> statuses, that is
// one entry message per service with the key as field 1 and the response as field 2.
func (h *Health) encodeList(s *monitor.Snapshot) []byte {
	names := []string{"", ReadinessService, LivenessService}
	if _, ok := s.Lookup(monitor.ShutdownCheck); !ok {
		names = append(names, monitor.ShutdownCheck)
	}
	for _, c := range s.Checks {
		names = append(names, c.Name)
	}
	var out []byte
	for _, name := range names {
		st, _ := h.statusOf(s, name)
		value := encodeStatus(st)
		entry := grpcwire.AppendBytes(nil, 1, []byte(name))
		entry = grpcwire.AppendBytes(entry, 2, value)
		out = grpcwire.AppendBytes(out, 1, entry)
	}
	return out
}

// percentEncode is grpc-message's encoding.
func percentEncode(s string) string { return grpcwire.PercentEncode(s) }
