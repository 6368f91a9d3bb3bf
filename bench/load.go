package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// loadResult is what one load run served.
type loadResult struct {
	elapsed   time.Duration
	status    map[int]int     // responses by status code
	errors    int             // requests without a response (timeouts, resets)
	latencies []time.Duration // of every response, when asked for
	firstErr  error
}

// ok is the number of 200 responses.
func (r loadResult) ok() int { return r.status[200] }

// rate is 200 responses per second.
func (r loadResult) rate() float64 { return float64(r.ok()) / r.elapsed.Seconds() }

// answered is the number of HTTP responses, whatever their status.
func (r loadResult) answered() int {
	n := 0
	for _, v := range r.status {
		n += v
	}
	return n
}

// quantile of the recorded latencies (q in [0, 1]).
func (r loadResult) quantile(q float64) time.Duration { return quantile(r.latencies, q) }

// codes is a short summary of the status codes seen, such as "200" or "503, 3 errors".
func (r loadResult) codes() string {
	var parts []string
	keys := make([]int, 0, len(r.status))
	for k := range r.status {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		parts = append(parts, strconv.Itoa(k))
	}
	if r.errors > 0 {
		parts = append(parts, fmt.Sprintf("%d errors", r.errors))
	}
	return strings.Join(parts, ", ")
}

// load sends GET path to addr from conns keep-alive connections, each waiting for its answer before the next
// request (a closed loop), for d. Requests still in flight at the end are waited for (up to timeout) and
// counted. It is a small HTTP/1.1 client written for this: net/http's client would take a large share of
// the two cores from the server under test.
func load(ctx context.Context, addr, path string, conns int, d, timeout time.Duration) loadResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return fanOut(conns, func(res *loadResult) {
		cl := newClient(addr, path)
		defer cl.close()
		for ctx.Err() == nil {
			code, err := cl.do(time.Now().Add(timeout))
			res.add(code, err, 0)
			if err != nil {
				time.Sleep(10 * time.Millisecond) // a refused or failing server is not a reason to spin
			}
		}
	})
}

// pace sends GET path at a fixed rate for d (an open loop, like many independent probers) over up to conns
// connections, and times each request from when it was due: a server that stalls delays every probe due
// during the stall, and each of those counts (a closed loop would send fewer requests and hide them).
// A request not answered within timeout of being due counts as an error, with its time so far.
func pace(ctx context.Context, addr, path string, rate float64, d time.Duration, conns int, timeout time.Duration) loadResult {
	n := int(rate * d.Seconds())
	due := make(chan time.Time, n)
	begin := time.Now()
	go guard(func() {
		defer close(due)
		for i := range n {
			t := begin.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(t)):
				due <- time.Now() // not t: the pacer's own lateness is the harness's, not the server's
			}
		}
	})()
	return fanOut(conns, func(res *loadResult) {
		cl := newClient(addr, path)
		defer cl.close()
		for t := range due {
			if time.Since(t) > timeout {
				res.add(0, errors.New("not sent: every connection was busy until the timeout"), time.Since(t))
				continue
			}
			code, err := cl.do(t.Add(timeout))
			res.add(code, err, time.Since(t))
		}
	})
}

// fanOut runs work on n goroutines, each with its own result, and adds the results up.
func fanOut(n int, work func(*loadResult)) loadResult {
	results := make([]loadResult, n)
	begin := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		results[i].status = map[int]int{}
		wg.Go(guard(func() { work(&results[i]) }))
	}
	wg.Wait()
	total := loadResult{elapsed: time.Since(begin), status: map[int]int{}}
	for _, r := range results {
		for k, v := range r.status {
			total.status[k] += v
		}
		total.errors += r.errors
		total.latencies = append(total.latencies, r.latencies...)
		if total.firstErr == nil {
			total.firstErr = r.firstErr
		}
	}
	return total
}

// add records one request; a latency of 0 is not recorded.
func (r *loadResult) add(code int, err error, latency time.Duration) {
	if err != nil {
		r.errors++
		if r.firstErr == nil {
			r.firstErr = err
		}
	} else {
		r.status[code]++
	}
	if latency > 0 {
		r.latencies = append(r.latencies, latency)
	}
}

// client is one keep-alive HTTP/1.1 connection sending the same request.
type client struct {
	addr string
	req  []byte
	c    net.Conn
	br   *bufio.Reader
}

func newClient(addr, path string) *client {
	return &client{addr: addr, req: []byte("GET " + path + " HTTP/1.1\r\nHost: " + addr +
		"\r\nUser-Agent: healthgate-bench\r\nAccept: */*\r\n\r\n")}
}

// do sends the request and reads the answer by deadline, (re)connecting when needed.
func (cl *client) do(deadline time.Time) (int, error) {
	if cl.c == nil {
		c, err := net.DialTimeout("tcp", cl.addr, time.Until(deadline))
		if err != nil {
			return 0, err
		}
		cl.c, cl.br = c, bufio.NewReaderSize(c, 4096)
	}
	cl.c.SetDeadline(deadline)
	if _, err := cl.c.Write(cl.req); err != nil {
		cl.close()
		return 0, err
	}
	code, keep, err := readResponse(cl.br)
	if err != nil || !keep {
		cl.close()
	}
	return code, err
}

func (cl *client) close() {
	if cl.c != nil {
		cl.c.Close()
		cl.c = nil
	}
}

// readResponse reads one HTTP/1.1 response and returns its status code and whether the connection stays open.
func readResponse(br *bufio.Reader) (code int, keep bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || string(line[:5]) != "HTTP/" {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	code, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	keep = true
	length := -1
	chunked := false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		if len(line) <= 2 {
			break
		}
		name, value, ok := strings.Cut(string(line), ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "content-length":
			if length, err = strconv.Atoi(value); err != nil {
				return 0, false, fmt.Errorf("bad content-length %q", value)
			}
		case "transfer-encoding":
			chunked = strings.EqualFold(value, "chunked")
		case "connection":
			keep = !strings.EqualFold(value, "close")
		}
	}
	switch {
	case chunked:
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return 0, false, err
			}
			size, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(line, ";", 2)[0]), 16, 64)
			if err != nil {
				return 0, false, fmt.Errorf("bad chunk size %q", line)
			}
			if _, err := br.Discard(int(size) + 2); err != nil {
				return 0, false, err
			}
			if size == 0 {
				return code, keep, nil
			}
		}
	case length >= 0:
		_, err = br.Discard(length)
		return code, keep, err
	case code == 204 || code == 304:
		return code, keep, nil
	default:
		_, err = io.Copy(io.Discard, br)
		if errors.Is(err, io.EOF) {
			err = nil
		}
		return code, false, err
	}
}
