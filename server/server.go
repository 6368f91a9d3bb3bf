// Package server serves the published health state over HTTP (/livez, /readyz, /readyz/{name},
// /startupz, /metrics) and drains on shutdown (docs/design.md §3, §5). A probe is a pointer load and a
// write of bytes rendered once per state change: no I/O, no lock shared with a check.
package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/healthgate/healthgate/monitor"
)

// Source is what the server reads: the monitor.
type Source interface {
	Snapshot() *monitor.Snapshot
	Alive(now time.Time) bool
}

// Options configure the handler.
type Options struct {
	Details      Details
	DetailsToken string
	Metrics      *Metrics      // served at /metrics when set
	Fleet        *FleetOptions // /fleetz served when set
}

// Details says when a probe response shows failure reasons (the configuration's server.details, which
// main maps): otherwise they read "reason withheld".
type Details int

const (
	DetailsNever Details = iota
	DetailsToken         // with Options.DetailsToken as the bearer token
	DetailsAlways
)

// MaxNameLen is the longest check name the configuration accepts (config.MaxNameLen; the root
// package's TestLayoutServerNames holds the two equal), named in the answer for a longer one.
const MaxNameLen = 63

// fleetzPath is where peers ask for this process's checks (served with a fleet section).
const fleetzPath = "/fleetz"

// bodyDeadline bounds reading a request body nobody asked for.
const bodyDeadline = 2 * time.Second

// Shared header values: assigning these slices to a header map costs no allocation per request.
var (
	textType    = []string{"text/plain; charset=utf-8"}
	jsonType    = []string{"application/health+json"}
	noStore     = []string{"no-store"}
	degradedVal = []string{"true"}
	allowVal    = []string{"GET, HEAD, OPTIONS"}
	closeVal    = []string{"close"}
)

// Handler serves the probe endpoints.
type Handler struct {
	src      Source
	settings atomic.Pointer[settings] // replaced by a reload (Reconfigure)
	cache    atomic.Pointer[bodies]
	live     [2][numFormats][2]*body // [alive][format][details]
	router   chi.Router
	notFound http.HandlerFunc

	fleet atomic.Pointer[fleetCache]
}

// settings are what a configuration reload may change in the handler.
type settings struct {
	details    Details
	token      []byte
	fleet      bool // /fleetz is served
	instance   string
	fleetToken []byte
	fleetPrev  []byte // accepted as well during a rotation
}

func newSettings(opts Options) *settings {
	s := &settings{details: opts.Details, token: []byte(opts.DetailsToken)}
	if opts.Fleet != nil {
		s.fleet, s.instance, s.fleetToken = true, opts.Fleet.Instance, []byte(opts.Fleet.Token)
		if opts.Fleet.PreviousToken != "" {
			s.fleetPrev = []byte(opts.Fleet.PreviousToken)
		}
	}
	return s
}

// Reconfigure applies a reloaded configuration's details, details_token and fleet settings (Metrics
// is ignored: the registry stays). Probes in flight finish with the settings they started with.
func (h *Handler) Reconfigure(opts Options) { h.settings.Store(newSettings(opts)) }

// body is a rendered response: bytes plus what the headers need.
type body struct {
	data     []byte
	length   []string // Content-Length, pre-formatted
	ok       bool
	degraded bool
	json     bool
}

func newBody(v view, f format, details bool) *body {
	data := render(v, f, details)
	return &body{data: data, length: []string{strconv.Itoa(len(data))}, ok: v.ok, degraded: v.status == monitor.Warn, json: f == hjson}
}

// bodies caches the renderings of one snapshot, filled on first use: slot (target, format, details),
// with targets 0 = /readyz, 1 = /startupz, 2 = /readyz/shutdown, 3+i = /readyz/{check i}.
type bodies struct {
	snap  *monitor.Snapshot
	slots []atomic.Pointer[body]
}

const (
	targetReady = iota
	targetStartup
	targetShutdown
	targetChecks
)

// New returns the probe handler.
func New(src Source, opts Options) *Handler {
	h := &Handler{src: src}
	h.settings.Store(newSettings(opts))
	for alive := range 2 {
		for f := range numFormats {
			for d := range 2 {
				h.live[alive][f][d] = newBody(liveView(alive == 1), f, d == 1)
			}
		}
	}
	var metrics http.Handler
	if opts.Metrics != nil {
		metrics = opts.Metrics.handler(src)
	}
	r := chi.NewRouter()
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodOptions} {
		r.MethodFunc(m, "/livez", h.livez)
		r.MethodFunc(m, "/readyz", h.readyz)
		r.MethodFunc(m, "/readyz/{name}", h.readyzOne)
		r.MethodFunc(m, "/startupz", h.startupz)
		if metrics != nil {
			r.Method(m, "/metrics", noStoreHandler(metrics))
		}
		r.MethodFunc(m, fleetzPath, h.fleetz) // not found without a fleet section: a reload may add one
	}
	h.notFound = func(w http.ResponseWriter, r *http.Request) {
		replyError(w, r, http.StatusNotFound, "not found: healthgate serves /livez, /readyz, /readyz/{check}, /startupz, /metrics (and /fleetz with a fleet)")
	}
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == fleetzPath && !h.settings.Load().fleet {
			h.notFound(w, r) // as a GET is answered: without a fleet there is nothing to allow
			return
		}
		// chi sends a method it has no name for (PURGE, a lower-case get) here whatever the path: on
		// a path that is no endpoint it is not found, as POST there is.
		if !h.router.Match(chi.NewRouteContext(), http.MethodGet, r.URL.Path) {
			h.notFound(w, r)
			return
		}
		w.Header()["Allow"] = allowVal
		replyError(w, r, http.StatusMethodNotAllowed, "method not allowed: use GET, HEAD or OPTIONS")
	})
	r.NotFound(h.notFound)
	h.router = r
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Probes carry no body. The server sets no read deadline past the headers (see Serve), so a
	// request that does carry one gets a deadline of its own (net/http drains an unread body after
	// the answer) and its connection closed.
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyDeadline))
		w.Header()["Connection"] = closeVal
	}
	if r.ProtoMajor == 2 {
		// h2c: a client that never opens its stream's window must not hold the answer (and the
		// drain) for ever (see stalledAfter); HTTP/1.1 probes pay nothing for it.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(stalledAfter))
	}
	if r.URL.RawPath != "" {
		// The path was escaped otherwise than net/http would (/readyz/%64b): chi routes on that raw
		// form, and its {name} would be "%64b". A percent-encoded character is the character (RFC 3986
		// §6.2.2), and kube-apiserver and net/http's ServeMux route on the decoded path: so does this.
		u := *r.URL
		u.RawPath = ""
		r2 := *r
		r2.URL = &u
		r = &r2
	}
	if r.Method == http.MethodOptions && r.RequestURI == "*" {
		// The server as a whole (RFC 9110 §9.3.7), asked by a load balancer's check: its readiness.
		h.readyz(w, r)
		return
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
		// The paths probed many times a second skip the router: chi's Mux copies the request to attach
		// its routing context (two allocations, 368 bytes, nine tenths of a probe's time in BenchmarkProbe).
		// The routes stay on the router, which calls the same handlers for these methods; the others
		// (405) and every other path are its to answer.
		switch r.URL.Path {
		case "/readyz":
			h.readyz(w, r)
			return
		case "/livez":
			h.livez(w, r)
			return
		case "/startupz":
			h.startupz(w, r)
			return
		case fleetzPath:
			h.fleetz(w, r)
			return
		}
		if name, ok := strings.CutPrefix(r.URL.Path, "/readyz/"); ok && name != "" && !strings.Contains(name, "/") {
			h.readyzCheck(w, r, name) // what chi's /readyz/{name} matches
			return
		}
	}
	h.router.ServeHTTP(w, r)
}

func (h *Handler) livez(w http.ResponseWriter, r *http.Request) {
	q := parseQuery(r.URL.RawQuery)
	alive := 0
	if h.src.Alive(time.Now()) {
		alive = 1
	}
	write(w, h.live[alive][formatOf(r, q)][h.detailsIndex(r)])
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	q := parseQuery(r.URL.RawQuery)
	f, details := formatOf(r, q), h.detailsAllowed(r)
	snap := h.src.Snapshot()
	if q.exclude {
		write(w, newBody(readyView(snap, "", excludes(r.URL.RawQuery)), f, details))
		return
	}
	write(w, h.cached(snap, targetReady, f, details))
}

func (h *Handler) readyzOne(w http.ResponseWriter, r *http.Request) {
	h.readyzCheck(w, r, chi.URLParam(r, "name"))
}

// readyzCheck answers /readyz/{name}: one check's readiness, or the drain's for "shutdown".
func (h *Handler) readyzCheck(w http.ResponseWriter, r *http.Request, name string) {
	target := targetShutdown
	snap := h.src.Snapshot() // the index is this snapshot's: a reload may reorder the checks
	if name != monitor.ShutdownCheck {
		i, ok := snap.Index(name)
		if !ok {
			h.unknownCheck(w, r, name)
			return
		}
		target = targetChecks + i
	}
	q := parseQuery(r.URL.RawQuery)
	write(w, h.cached(snap, target, formatOf(r, q), h.detailsAllowed(r)))
}

// unknownCheck answers /readyz/{name} for a name no check has: 404, in the format asked for, echoing
// at most the first maxNameShown bytes of the name, as for unknown excludes (a request can carry
// kilobytes of it).
func (h *Handler) unknownCheck(w http.ResponseWriter, r *http.Request, name string) {
	replyError(w, r, http.StatusNotFound, "not found: no check named "+quoteName(name))
}

// quoteName quotes a name a request gave that matches nothing: its first maxNameShown bytes at most,
// then its length (a request can carry kilobytes of it: /readyz/{name}, a gRPC health service).
func quoteName(name string) string {
	if len(name) > maxNameShown {
		return fmt.Sprintf("%s... (%d bytes; a check name has at most %d)",
			strconv.Quote(strings.ToValidUTF8(name[:maxNameShown], "")), len(name), MaxNameLen)
	}
	return strconv.Quote(name)
}

// replyError answers code (404, 405, 401) with msg (which echoes a bounded part of the request at
// most), as health+json when JSON was asked for, as text otherwise: a client that asked for JSON gets
// JSON for every path and method it may get wrong (/readyz/, /readyz/db/x, POST), not for an unknown
// check alone.
func replyError(w http.ResponseWriter, r *http.Request, code int, msg string) {
	hdr := w.Header()
	hdr["Cache-Control"] = noStore
	if formatOf(r, parseQuery(r.URL.RawQuery)) != hjson {
		http.Error(w, msg, code)
		return
	}
	b, _ := json.Marshal(hjsonBody{Status: monitor.Fail, Output: msg}) // strings alone: cannot fail
	hdr["Content-Type"] = jsonType
	hdr["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

func (h *Handler) startupz(w http.ResponseWriter, r *http.Request) {
	q := parseQuery(r.URL.RawQuery)
	if q.exclude {
		write(w, newBody(startupView(h.src.Snapshot(), excludes(r.URL.RawQuery)), formatOf(r, q), h.detailsAllowed(r)))
		return
	}
	write(w, h.cached(h.src.Snapshot(), targetStartup, formatOf(r, q), h.detailsAllowed(r)))
}

// cached returns the rendering of (target, format, details) for this snapshot, rendering it on first
// use. Two concurrent first uses may both render; both results are equal.
func (h *Handler) cached(snap *monitor.Snapshot, target int, f format, details bool) *body {
	bs := h.cache.Load()
	if bs == nil || bs.snap != snap {
		nb := &bodies{snap: snap, slots: make([]atomic.Pointer[body], (targetChecks+len(snap.Checks))*int(numFormats)*2)}
		if h.cache.CompareAndSwap(bs, nb) {
			bs = nb
		} else if bs = h.cache.Load(); bs.snap != snap {
			bs = nb // a newer (or older) snapshot won the race: render privately
		}
	}
	d := 0
	if details {
		d = 1
	}
	slot := &bs.slots[(target*int(numFormats)+int(f))*2+d]
	if b := slot.Load(); b != nil {
		return b
	}
	var v view
	switch {
	case target == targetReady:
		v = readyView(snap, "", nil)
	case target == targetStartup:
		v = startupView(snap, nil)
	case target == targetShutdown:
		v = readyView(snap, monitor.ShutdownCheck, nil)
	default:
		v = readyView(snap, snap.Checks[target-targetChecks].Name, nil)
	}
	b := newBody(v, f, details)
	slot.Store(b)
	return b
}

// noStoreHandler marks h's answers uncacheable, as every answer of this server is.
func noStoreHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Cache-Control"] = noStore
		h.ServeHTTP(w, r)
	})
}

// write answers with a rendered body: 200 when it passes, 503 when it fails, never cacheable.
func write(w http.ResponseWriter, b *body) {
	hdr := w.Header()
	if b.json {
		hdr["Content-Type"] = jsonType
	} else {
		hdr["Content-Type"] = textType
	}
	hdr["Cache-Control"] = noStore
	hdr["Content-Length"] = b.length
	if b.degraded {
		hdr["X-Envoy-Degraded"] = degradedVal
	}
	code := http.StatusOK
	if !b.ok {
		code = http.StatusServiceUnavailable
	}
	w.WriteHeader(code)
	_, _ = w.Write(b.data)
}

// formatOf is the body format a request asks for: health+json for ?format=json or a JSON Accept, else
// verbose for ?verbose, else plain.
func formatOf(r *http.Request, q query) format {
	if q.json {
		return hjson
	}
	if accept := r.Header.Get("Accept"); accept != "" && wantsJSON(accept) {
		return hjson
	}
	if q.verbose {
		return verbose
	}
	return plain
}

// wantsJSON reports whether an Accept header prefers JSON (application/health+json or application/json,
// named) to text: its best q-value is above 0 and at least that of text/plain (or of the most specific
// range matching it: text/*, */*). So `application/json` and `application/json, */*` ask for JSON, and
// `text/plain, application/json;q=0.5` or `application/json;q=0` do not (any mention of JSON did). It
// allocates nothing: it runs on the probe path.
func wantsJSON(accept string) bool {
	jsonQ := -1.0
	text := [3]float64{-1, -1, -1} // the q of text/plain, text/* and */*, -1 when not named
	for accept != "" {
		var item string
		item, accept, _ = strings.Cut(accept, ",")
		mediaType, params, _ := strings.Cut(item, ";")
		mediaType = strings.TrimSpace(mediaType)
		q := qValue(params)
		switch { // media types are case-insensitive
		case strings.EqualFold(mediaType, "application/health+json"), strings.EqualFold(mediaType, "application/json"):
			jsonQ = max(jsonQ, q)
		case strings.EqualFold(mediaType, "text/plain"):
			text[0] = max(text[0], q)
		case strings.EqualFold(mediaType, "text/*"):
			text[1] = max(text[1], q)
		case mediaType == "*/*":
			text[2] = max(text[2], q)
		}
	}
	textQ := -1.0
	for _, q := range text { // the most specific range that names text/plain decides its q
		if q >= 0 {
			textQ = q
			break
		}
	}
	return jsonQ > 0 && jsonQ >= textQ
}

// qValue is the q parameter among a media range's parameters (";q=0.5"), 1 when absent or unreadable.
func qValue(params string) float64 {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(name), "q") {
			if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && q >= 0 && q <= 1 {
				return q
			}
			return 1
		}
	}
	return 1
}

// detailsAllowed: reasons are shown with details: always, or with details: token and the right
// bearer token (compared in constant time).
func (h *Handler) detailsAllowed(r *http.Request) bool {
	s := h.settings.Load()
	switch s.details {
	case DetailsAlways:
		return true
	case DetailsToken:
		return bearerMatches(r.Header.Get("Authorization"), s.token)
	}
	return false
}

func (h *Handler) detailsIndex(r *http.Request) int {
	if h.detailsAllowed(r) {
		return 1
	}
	return 0
}

// query is what a probe's query string asks for, parsed without allocating unless it is escaped.
type query struct {
	verbose, json, exclude bool
}

func parseQuery(raw string) query {
	var q query
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		key, val, _ := strings.Cut(part, "=")
		if strings.ContainsAny(part, "%+") { // rare: decode as r.URL.Query() would, dropping a bad escape
			var kerr, verr error
			key, kerr = url.QueryUnescape(key)
			val, verr = url.QueryUnescape(val)
			if kerr != nil || verr != nil {
				continue
			}
		}
		switch key {
		case "verbose":
			q.verbose = true // present means on, as in kube-apiserver
		case "format":
			q.json = strings.EqualFold(val, "json")
		case "exclude":
			q.exclude = true
		}
	}
	return q
}

func excludes(raw string) []string {
	vals, _ := url.ParseQuery(raw)
	return vals["exclude"]
}
