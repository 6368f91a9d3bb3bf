package checks

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"sync"
	"time"
)

// Checks of one target share one client (docs/design.md §2). Ten checks of one database (a liveness
// query, a writable check, a migrations read...) use one pool of at most the kind's connections, not
// ten pools: 333 postgres checks of one database once opened 666 connections and exhausted
// max_connections.
//
// A shared client is keyed by its kind and everything that shapes it: the whole URL or DSN
// (credentials included), the TLS settings and the contents of the files they name, and the check's
// timeout where the driver bakes it into the client (a connect or read timeout). Two checks that
// differ in anything else (name, interval, thresholds, query, writable, role...) share; anything that
// changes the connection does not. The key is a SHA-256 of those parts: the registry keeps no secret,
// and nothing shows a key.
//
// A check holds one reference, taken when it is built and released when it is closed; the last release
// closes the client. A reload builds the checks it adds before it closes the ones it drops
// (reload.go), so a target that stays configured keeps its client, and its connections, throughout:
// a check added for it joins the pool, and a check removed beside another of its target closes nothing.
//
// What is not shared, and why:
//   - amqp, nats, mqtt keep one connection (one session) per check, dialled inside a run and bounded by
//     its deadline; a run that overruns closes the transport so that every call waiting on it returns,
//     and any failure drops the connection. On a connection shared by several checks, one check's
//     overrun or failure would cut the others' runs short with a reset that is not theirs. AMQP
//     (a channel per run) and NATS (concurrent PINGs) would allow sharing with the machinery redis has
//     below (a client replaced, and closed once no run uses it; work detached from cancellation), which
//     is not built for them yet; each holds one connection, not a pool of two.
//   - memcached's text protocol carries one exchange at a time on a connection (no request ids), and so
//     does its binary one as the check speaks it: a shared connection would queue one check's run behind
//     another's, eating its timeout.
//   - http keeps one idle keep-alive connection per check in a transport of its own. A transport shared
//     by the checks of one host would keep one idle connection for all of them, so checks whose runs
//     overlap would open and close connections every round (today a healthy check opens none after its
//     first run); capping connections per host instead would queue one check's request behind
//     another's slow one, eating its timeout.
//   - grpc multiplexes every run on one HTTP/2 connection and could share it per address and TLS
//     settings, but its not-HTTP/2 verdict is read off the connection a run dialled and reset per run,
//     and a failed run drops the idle connection: not shared yet.

// sharedKey identifies a shared client: a hash of its kind and the parts that shape it.
type sharedKey [sha256.Size]byte

// keyOf hashes a kind and the parts of its client's configuration, each length-prefixed so that no
// two lists of parts hash alike by shifting a boundary.
func keyOf(kind string, parts ...string) sharedKey {
	h := sha256.New()
	var n [8]byte
	for _, p := range append([]string{kind}, parts...) {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var k sharedKey
	h.Sum(k[:0])
	return k
}

type sharedEntry struct {
	refs  int
	value any
	close func()
}

// sharedClients is the process's set of shared clients.
var sharedClients = struct {
	mu sync.Mutex
	m  map[sharedKey]*sharedEntry
}{m: map[sharedKey]*sharedEntry{}}

// share returns the client for key, opening it with open when no check holds one, and the function
// that releases this reference (safe to call more than once: only the first counts). open runs under
// the registry's lock, so two checks built at once never open two clients for one key; it must not
// dial (building never does). The last release closes the client, outside the lock.
func share[T any](key sharedKey, open func() (T, func(), error)) (T, func(), error) {
	sharedClients.mu.Lock()
	e, ok := sharedClients.m[key]
	if !ok {
		v, closeFn, err := open()
		if err != nil {
			sharedClients.mu.Unlock()
			var zero T
			return zero, nil, err
		}
		e = &sharedEntry{value: v, close: closeFn}
		sharedClients.m[key] = e
	}
	e.refs++
	sharedClients.mu.Unlock()
	var once sync.Once
	release := func() {
		once.Do(func() {
			sharedClients.mu.Lock()
			e.refs--
			last := e.refs == 0
			if last && sharedClients.m[key] == e {
				delete(sharedClients.m, key)
			}
			sharedClients.mu.Unlock()
			if last {
				e.close()
			}
		})
	}
	return e.value.(T), release, nil
}

// dialWatch lets the runs waiting for one of a shared client's connections see the dials the client
// makes for them. A pool dials for whichever run asked first, often in a goroutine of the driver's
// with a context of its own, and hands the connection to any waiter; a run that times out waiting
// while the pool's dial hangs must still read as "could not connect" (trace.go), as it did when each
// check dialed its own connection.
type dialWatch struct {
	mu      sync.Mutex
	waiting map[*trace]int
	dials   map[*pendingDial]struct{}
	// last is how the client's last dial ended: 1 connected, -1 failed, 0 none yet.
	last int8
}

// pendingDial is a dial under way and the traces of the runs that wait on it.
type pendingDial struct {
	start  time.Time
	traces []*trace
	addrs  *addrsDial // a name's several addresses, once dialAddrs has resolved them
}

// wait registers the run of ctx as waiting for a connection; done(got) ends the wait. With got (the run
// has its connection) the client's dials stop counting in its trace. Without (the wait failed), a dial
// still under way stays visible to it, as the run's own dial would be, if it has been under way for
// at least half the wait: a dial the pool started just before the run gave up (a slot another run's
// connection freed) says nothing of the network. A run that saw no dial at all then learns how the
// client's last dial ended: a run that timed out behind connections that reached a hung server reads
// as "connected, but no answer", not as a network that drops the packets.
func (w *dialWatch) wait(ctx context.Context) (done func(got bool)) {
	t := traceOf(ctx)
	if t == nil {
		return func(bool) {}
	}
	w.mu.Lock()
	if w.waiting == nil {
		w.waiting = map[*trace]int{}
	}
	w.waiting[t]++
	start := time.Now()
	for d := range w.dials {
		if !slices.Contains(d.traces, t) {
			d.traces = append(d.traces, t)
			t.dialing.Add(1)
			if d.addrs != nil {
				t.addrs.Store(d.addrs)
			}
		}
	}
	w.mu.Unlock()
	var once sync.Once
	return func(got bool) {
		once.Do(func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.waiting[t]--; w.waiting[t] <= 0 {
				delete(w.waiting, t)
			}
			if !got {
				now := time.Now()
				for d := range w.dials {
					if i := slices.Index(d.traces, t); i >= 0 && now.Sub(d.start) < now.Sub(start)/2 {
						d.traces = slices.Delete(d.traces, i, i+1)
						t.dialing.Add(-1)
					}
				}
				if !t.connected.Load() && !t.dialFailed.Load() && t.dialing.Load() == 0 {
					switch w.last {
					case 1:
						t.connected.Store(true)
					case -1:
						t.dialFailed.Store(true)
					}
				}
				return
			}
			if w.waiting[t] > 0 {
				return
			}
			for d := range w.dials {
				if i := slices.Index(d.traces, t); i >= 0 {
					d.traces = slices.Delete(d.traces, i, i+1)
					t.dialing.Add(-1)
				}
			}
		})
	}
}

// dial dials for the client, recording it in the trace of ctx (when the driver passes the run's
// values) and in those of every run waiting for a connection.
func (w *dialWatch) dial(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	return w.watch(ctx, func(began func(*addrsDial)) (net.Conn, error) {
		return dialAddrs(ctx, d, network, addr, began)
	})
}

// dialOneOf is dial for the i-th address of ad, a name's several addresses that the driver tries one
// by one itself (pgx's attempts): ad is what a run that could not connect names.
func (w *dialWatch) dialOneOf(ctx context.Context, d *net.Dialer, network string, ad *addrsDial, i int) (net.Conn, error) {
	return w.watch(ctx, func(began func(*addrsDial)) (net.Conn, error) {
		ad.tried(i)
		began(ad)
		conn, err := d.DialContext(ctx, network, ad.addrs[i])
		if err != nil {
			ad.failed(i, err)
		}
		return conn, err
	})
}

// watch runs dial, recorded as dial says.
func (w *dialWatch) watch(ctx context.Context, dial func(began func(*addrsDial)) (net.Conn, error)) (net.Conn, error) {
	pd := &pendingDial{start: time.Now()}
	w.mu.Lock()
	if t := traceOf(ctx); t != nil {
		pd.traces = append(pd.traces, t)
	}
	for t := range w.waiting {
		if !slices.Contains(pd.traces, t) {
			pd.traces = append(pd.traces, t)
		}
	}
	for _, t := range pd.traces {
		t.dialing.Add(1)
	}
	if w.dials == nil {
		w.dials = map[*pendingDial]struct{}{}
	}
	w.dials[pd] = struct{}{}
	w.mu.Unlock()

	conn, err := dial(func(a *addrsDial) {
		w.mu.Lock()
		defer w.mu.Unlock()
		pd.addrs = a
		for _, t := range pd.traces {
			t.addrs.Store(a)
		}
	})

	w.mu.Lock()
	delete(w.dials, pd)
	traces := pd.traces
	pd.traces = nil
	w.last = 1
	if err != nil {
		w.last = -1
	}
	w.mu.Unlock()
	for _, t := range traces {
		if err != nil {
			t.dialFailed.Store(true)
		} else {
			t.connected.Store(true)
		}
		t.dialing.Add(-1)
	}
	return conn, err
}

// clientLife is the life of a shared client: the runs' work on it, which a run's cancellation does not
// cut short. Cancelling a query makes pgx and the MySQL driver close its connection, and go-redis's
// client had to be closed to end a read: a check dropped by a reload (its run cancelled) or a `wait`
// that stops would then close a connection of the pool its target's other checks use, and they would
// reconnect. So the work runs in a goroutine of its own, bounded by the run's deadline and by the
// client's life, and a cancelled run returns at once while its work finishes on the connection (a
// round trip; at most the run's timeout). The last check's close ends the client's life: the work still
// under way is cancelled, and waited for, before the client closes.
type clientLife struct {
	ctx    context.Context
	cancel context.CancelFunc
	// mu orders every run's start (wg.Add) before end's wg.Wait, which WaitGroup requires (the race
	// detector caught a run started by the engine racing the last close), and refuses runs after it.
	mu    sync.Mutex
	ended bool
	wg    sync.WaitGroup
}

// errClientClosed is a run on a client whose last check was closed (a run that raced the close).
var errClientClosed = &Error{Class: Unknown, Err: errors.New("the check was closed")}

func newClientLife() *clientLife {
	ctx, cancel := context.WithCancel(context.Background())
	return &clientLife{ctx: ctx, cancel: cancel}
}

// detached runs op as the run of ctx: with its values and deadline, not its cancellation. On a deadline
// it returns op's own error (op has the same deadline, so it ends then too, and says what timed out).
func (l *clientLife) detached(ctx context.Context, op func(context.Context) error) error {
	var opCtx context.Context
	var cancel context.CancelFunc
	if dl, ok := ctx.Deadline(); ok {
		opCtx, cancel = context.WithDeadline(context.WithoutCancel(ctx), dl)
	} else {
		opCtx, cancel = context.WithCancel(context.WithoutCancel(ctx))
	}
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		cancel()
		return errClientClosed
	}
	stop := context.AfterFunc(l.ctx, cancel)
	done := make(chan error, 1)
	l.wg.Go(func() {
		defer cancel()
		defer stop()
		done <- op(opCtx)
	})
	l.mu.Unlock()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return <-done
		}
		return ctx.Err()
	}
}

// end cancels the work under way and waits for it.
func (l *clientLife) end() {
	l.mu.Lock()
	l.ended = true
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()
}
