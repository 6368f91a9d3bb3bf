package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/healthgate/healthgate/internal/termtext"
	"github.com/healthgate/healthgate/monitor"
)

// maxBody keeps every probe body under what kubelet reads (10 KiB); a body that would be larger is
// rendered again with less detail (see render).
const maxBody = 10 << 10

// maxReason bounds one check's reason in a body.
const maxReason = 256

const withheld = "reason withheld"

const shutdownReason = "process is shutting down"

// componentSystem is the health+json componentType of the built-in lines (shutdown, ping, monitor).
const componentSystem = "system"

// line is one row of a verbose body or one entry of health+json, independent of the format.
type line struct {
	name     string
	typ      string // the check's kind; empty for the built-in lines (shutdown, ping, monitor)
	comp     string // health+json componentType: the kind's, or system for the built-in lines
	ok       bool
	excluded bool
	reason   string // shown only when details are allowed
	note     string // healthgate's own words before the reason (has not passed yet), shown always
	duration time.Duration
	at       time.Time
	critical bool
	hasRun   bool
	// failOpen: failing locally, counted as passing because most of the fleet sees it failing too;
	// fleet says on how many pods (docs/design.md §10). Only /readyz as a whole fails open.
	failOpen bool
	fleet    string
}

// view is what one response shows: the endpoint's verdict and its lines.
type view struct {
	endpoint string // "livez", "readyz", "startupz"
	ok       bool
	status   monitor.Status
	lines    []line
	missing  []string // excluded names that match nothing, at most maxMissing, each cut to maxNameShown
	more     int      // further names that match nothing, counted, not listed
}

// A probe URL can carry any number of ?exclude= names of any length; the body stays small anyway.
const (
	maxMissing   = 5
	maxNameShown = 64
)

// readyView computes /readyz, or /readyz/{name} when only is set, honouring ?exclude.
func readyView(s *monitor.Snapshot, only string, exclude []string) view {
	v := view{endpoint: "readyz", ok: true, status: monitor.Pass}
	if only == "" || only == monitor.ShutdownCheck {
		l := line{name: monitor.ShutdownCheck, ok: !s.ShuttingDown, critical: true}
		if s.ShuttingDown {
			l.reason = shutdownReason
		}
		l.excluded = slices.Contains(exclude, l.name)
		v.add(l)
	}
	cs := s.Checks
	if only != "" {
		// One check: found through the index, so that rendering /readyz/{name} for every check of a
		// snapshot costs O(checks), not O(checks²).
		cs = nil
		if i, ok := s.Index(only); ok {
			cs = s.Checks[i : i+1]
		}
	}
	for i := range cs {
		c := &cs[i]
		l := line{name: c.Name, typ: c.Type, comp: c.Component, ok: c.Passing(), duration: c.Duration, at: c.LastRun, critical: c.Critical || only != "", hasRun: !c.LastRun.IsZero()}
		l.note, l.reason = ownWords(c.Err)
		if c.FailOpen && only == "" {
			// /readyz/{name} keeps the local truth: the dependency is failing.
			l.ok, l.failOpen = true, true
			l.fleet = fmt.Sprintf("failing open: failing on %d of %d pods heard from", c.FleetFailing, c.FleetHeard)
		}
		l.excluded = slices.Contains(exclude, c.Name)
		v.add(l)
	}
	v.noteUnknown(s, exclude)
	return v
}

// noteUnknown lists the excluded names that match no check of s (nor the built-in shutdown): the first
// maxMissing, each cut to maxNameShown bytes, then a count. A name given more than once is one name.
func (v *view) noteUnknown(s *monitor.Snapshot, exclude []string) {
	var seen map[string]bool // a request can repeat a name thousands of times
	for _, e := range exclude {
		if e == monitor.ShutdownCheck || seen[e] {
			continue
		}
		if _, found := s.Index(e); found {
			continue
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		seen[e] = true
		if len(v.missing) == maxMissing {
			v.more++
			continue
		}
		if len(e) > maxNameShown {
			e = e[:maxNameShown] + "..."
		}
		v.missing = append(v.missing, e)
	}
}

func (v *view) add(l line) {
	v.lines = append(v.lines, l)
	if l.failOpen && !l.excluded && v.status == monitor.Pass {
		v.status = monitor.Warn
	}
	if l.excluded || l.ok {
		return
	}
	if l.critical {
		v.ok, v.status = false, monitor.Fail
	} else if v.status == monitor.Pass {
		v.status = monitor.Warn
	}
}

// startupView computes /startupz: every critical check has passed once, but those excluded.
func startupView(s *monitor.Snapshot, exclude []string) view {
	v := view{endpoint: "startupz", ok: true, status: monitor.Pass}
	for i := range s.Checks {
		c := &s.Checks[i]
		if !c.Critical {
			continue
		}
		l := line{name: c.Name, typ: c.Type, comp: c.Component, ok: c.EverPassed, critical: true, duration: c.Duration, at: c.LastRun, hasRun: !c.LastRun.IsZero()}
		if !c.EverPassed {
			// What healthgate knows of the check is no dependency's detail: shown however server.details
			// is set; the run's error is the reason, withheld as any other.
			own, reason := ownWords(c.Err)
			l.note, l.reason = "has not passed yet", reason
			if own != "" {
				l.note += ": " + own
			}
			if s.Started {
				// Added or changed (rebuilt) by a reload after start-up: start-up does not come back (/readyz tells the
				// truth about it), so it only warns here.
				l.critical, l.note = false, "added or changed by a reload, "+l.note
			}
		}
		l.excluded = slices.Contains(exclude, c.Name)
		v.add(l)
	}
	v.noteUnknown(s, exclude)
	return v
}

// liveView computes /livez: the process serves (ping) and the engine's heartbeat is fresh.
func liveView(alive bool) view {
	v := view{endpoint: "livez", ok: true, status: monitor.Pass}
	v.add(line{name: "ping", ok: true, critical: true})
	l := line{name: "monitor", ok: alive, critical: true}
	if !alive {
		l.reason = "the check engine's heartbeat stopped"
	}
	v.add(l)
	return v
}

// format of a response body.
type format int

const (
	plain   format = iota // "ok", or verbose when failing
	verbose               // always the [+]/[-] lines
	hjson                 // application/health+json
	numFormats
)

// render writes a view. A body over maxBody is rendered again with shorter reasons, then without the
// passing lines, then cut: the verdict line always survives.
func render(v view, f format, details bool) []byte {
	for level := 0; ; level++ {
		var b []byte
		if f == hjson {
			b = renderJSON(v, details, level)
		} else {
			b = renderText(v, f == verbose, details, level)
		}
		if len(b) <= maxBody || level == 3 {
			return b
		}
	}
}

func renderText(v view, verboseAsked, details bool, level int) []byte {
	// kube-apiserver's convention: a passing probe says "ok"; a failure (or a warn: the lines are
	// about each check) is always verbose.
	if !verboseAsked && v.status == monitor.Pass && len(v.missing) == 0 {
		return []byte("ok")
	}
	var lines []string
	omitted := 0
	for _, l := range v.lines {
		switch {
		case l.excluded:
			if level >= 2 {
				omitted++
				continue
			}
			lines = append(lines, fmt.Sprintf("[+]%s excluded: ok\n", l.name))
		case l.failOpen:
			s := fmt.Sprintf("[+]%s %s", l.name, l.fleet)
			if details {
				s += fmt.Sprintf(" (here: %s)", reasonText(l.reason, details, level))
			}
			lines = append(lines, s+"\n")
		case l.ok:
			if level >= 2 {
				omitted++
				continue
			}
			lines = append(lines, fmt.Sprintf("[+]%s ok\n", l.name))
		default:
			lines = append(lines, fmt.Sprintf("[-]%s failed: %s\n", l.name, failText(l, details, level)))
		}
	}
	// What follows the lines, the verdict last, is always written whole.
	var tail bytes.Buffer
	if omitted > 0 {
		fmt.Fprintf(&tail, "[+]%s not listed\n", countChecks(omitted, "passing or excluded "))
	}
	for _, m := range v.missing {
		fmt.Fprintf(&tail, "warn: some health checks cannot be excluded: no matches for %s\n", strconv.Quote(m))
	}
	if v.more > 0 {
		fmt.Fprintf(&tail, "warn: and %d more excluded names that match no check\n", v.more)
	}
	verdict := "passed"
	if !v.ok {
		verdict = "failed"
	}
	fmt.Fprintf(&tail, "%s check %s\n", v.endpoint, verdict)
	const cut = "[-]... more lines cut to stay under 10 KiB\n"
	var b bytes.Buffer
	for _, s := range lines {
		// Last resort: as many lines as fit with the cut line and the tail.
		if level >= 3 && b.Len()+len(s)+len(cut)+tail.Len() > maxBody {
			b.WriteString(cut)
			break
		}
		b.WriteString(s)
	}
	b.Write(tail.Bytes())
	return b.Bytes()
}

// ownWords splits a check's Err into what healthgate says of it itself (no result yet), shown however
// server.details is set, and the run's error, a reason withheld unless details are allowed.
func ownWords(err string) (note, reason string) {
	if err == monitor.NoResult {
		return err, ""
	}
	return "", err
}

// failText is a failing line's words: its note, shown always, then its reason, withheld unless details
// are allowed (none to withhold when the check has not run).
func failText(l line, details bool, level int) string {
	switch {
	case l.note == "":
		return reasonText(l.reason, details, level)
	case l.reason == "":
		return l.note
	}
	return l.note + ": " + reasonText(l.reason, details, level)
}

func reasonText(reason string, details bool, level int) string {
	if !details {
		return withheld
	}
	limit := maxReason
	if level >= 1 {
		limit = 48
	}
	return clip(reason, limit)
}

// clip shortens s to n bytes on a rune boundary, on one line, its control characters shown, not sent
// (termtext.Printable: a text body is read on a terminal, curl's).
func clip(s string, n int) string {
	s = termtext.Printable(oneLine(s))
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "..."
}

// oneLine makes a reason one line: every run of whitespace that holds a line break or a tab (drivers
// indent their multi-line errors with "\n\t") becomes one space.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n\t") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for f := range strings.FieldsSeq(s) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f)
	}
	return b.String()
}

// jsonRest is an upper bound on what a health+json body of v needs beside its checks' entries: the body
// without them, with every note the last level may add at its longest.
func jsonRest(body hjsonBody, v view) int {
	body.Checks = nil
	body.Notes = []string{
		countChecks(len(v.lines), "passing or excluded ") + " not listed",
		countChecks(len(v.lines), "more ") + " not listed to stay under 10 KiB (ask /readyz/{name})",
		"and " + strconv.Itoa(v.more) + " more excluded names that match no check",
	}
	for _, m := range v.missing {
		body.Notes = append(body.Notes, "cannot exclude "+strconv.Quote(m)+": no such check")
	}
	b, _ := json.Marshal(body)
	return len(b) + len(`,"checks":{}`) + 1 // and the final newline
}

// health+json, draft-inadarei-api-health-check. A check that has run is keyed "name:responseTime" (the
// draft's componentName:measurementName), with the last run's duration as observedValue; one that has
// not, and the built-in lines, which measure nothing, are keyed by the name alone, which the draft
// allows, so that no responseTime entry lacks its observedValue. componentType is one of the draft's
// own values (datastore, component, system); the check's kind (postgres, redis, http, tcp) is in
// componentKind. A check's componentType comes with its status (the checks registry says it per kind);
// the built-in lines are the draft's system.
type hjsonBody struct {
	Status      monitor.Status           `json:"status"`
	Description string                   `json:"description,omitempty"`
	Output      string                   `json:"output,omitempty"`
	Checks      map[string][]hjsonDetail `json:"checks,omitempty"`
	Notes       []string                 `json:"notes,omitempty"`
}

type hjsonDetail struct {
	ComponentID   string         `json:"componentId"`
	ComponentType string         `json:"componentType"`
	ComponentKind string         `json:"componentKind,omitempty"`
	ObservedValue *float64       `json:"observedValue,omitempty"`
	ObservedUnit  string         `json:"observedUnit,omitempty"`
	Status        monitor.Status `json:"status"`
	Time          string         `json:"time,omitempty"`
	Output        string         `json:"output,omitempty"`
	Critical      bool           `json:"critical"`
}

func renderJSON(v view, details bool, level int) []byte {
	body := hjsonBody{Status: v.status, Description: v.endpoint, Checks: map[string][]hjsonDetail{}}
	if !v.ok {
		body.Output = v.endpoint + " check failed"
	}
	omitted, cut := 0, 0
	size := 0 // at level 3: the entries' size so far, and what the rest of the body needs (below)
	if level >= 3 {
		size = jsonRest(body, v)
	}
	for _, l := range v.lines {
		if l.excluded || (level >= 2 && l.ok && !l.failOpen) {
			omitted++
			continue
		}
		if level >= 3 && (len(body.Checks) >= 20 || size > maxBody) {
			cut++
			continue
		}
		d := hjsonDetail{ComponentID: l.name, ComponentType: componentSystem, ComponentKind: l.typ, Status: monitor.Pass, Critical: l.critical}
		if l.comp != "" {
			d.ComponentType = l.comp
		}
		key := l.name
		if l.hasRun {
			ms := float64(l.duration.Microseconds()) / 1000
			d.ObservedValue, d.ObservedUnit = &ms, "ms"
			d.Time = l.at.UTC().Format(time.RFC3339Nano)
			key += ":responseTime"
		}
		switch {
		case l.failOpen:
			d.Status, d.Output = monitor.Warn, l.fleet
			if details {
				d.Output += " (here: " + reasonText(l.reason, details, level) + ")"
			}
		case !l.ok:
			d.Status = monitor.Fail
			d.Output = failText(l, details, level)
		}
		if level >= 3 {
			// The entry as it will be written, "key":[{...}], and its comma: as many as fit.
			k, _ := json.Marshal(key)
			e, _ := json.Marshal(d)
			if size += len(k) + len(e) + 4; size > maxBody {
				cut++
				continue
			}
		}
		body.Checks[key] = append(body.Checks[key], d)
	}
	if omitted > 0 {
		body.Notes = append(body.Notes, countChecks(omitted, "passing or excluded ")+" not listed")
	}
	if cut > 0 {
		body.Notes = append(body.Notes, countChecks(cut, "more ")+" not listed to stay under 10 KiB (ask /readyz/{name})")
	}
	for _, m := range v.missing {
		body.Notes = append(body.Notes, "cannot exclude "+strconv.Quote(m)+": no such check")
	}
	if v.more > 0 {
		body.Notes = append(body.Notes, "and "+strconv.Itoa(v.more)+" more excluded names that match no check")
	}
	b, err := json.Marshal(body)
	if err != nil {
		return []byte(`{"status":"fail","output":"cannot render"}`)
	}
	return append(b, '\n')
}

// countChecks counts checks in words: "1 more check", "2 more checks".
func countChecks(n int, what string) string {
	if n == 1 {
		return "1 " + what + "check"
	}
	return strconv.Itoa(n) + " " + what + "checks"
}
