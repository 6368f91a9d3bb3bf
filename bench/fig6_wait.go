package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// wait is figure 6, for every waiter against Postgres and Redis at once (each through its own proxy):
// (a) the time from the dependency's port opening to the waiter's exit, (b) the attempts per second (accepted
// connections) against a dependency that accepts and answers "not ready".
func (b *bench) wait(ctx context.Context) {
	targets := []struct {
		dep             dependency
		rowWait, rowTry string
	}{
		{b.pg, rowWaitPG, rowTryPG},
		{b.rd, rowWaitRd, rowTryRd},
	}
	var wg sync.WaitGroup
	for _, w := range waiters {
		if w.peer == "" && b.healthgate == "" {
			continue
		}
		for _, t := range targets {
			wg.Go(guard(func() {
				if err := b.waitUp(ctx, w, t.dep, t.rowWait); err != nil {
					b.tab.fail(t.rowWait, w.name, err)
				}
			}))
			wg.Go(guard(func() {
				if err := b.waitFailing(ctx, w, t.dep, t.rowTry); err != nil {
					b.tab.fail(t.rowTry, w.name, err)
				}
			}))
		}
	}
	wg.Wait()
}

// startWaiter starts w waiting for the dependency at px.
func (b *bench) startWaiter(w waiter, px *proxy) (*proc, error) {
	url := withHost(px.url, px.addr)
	if w.peer == "" {
		return start("healthgate wait", b.healthgate, "wait", "--"+px.kind, url, "--timeout", "30s", "--quiet")
	}
	return start(w.name, b.bin(w.peer), "-"+px.kind, url, "-timeout", "30s")
}

func (b *bench) waitUp(ctx context.Context, w waiter, d dependency, row string) error {
	var times []time.Duration
	for range b.p.waitReps {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t, err := b.waitOnce(ctx, w, d)
		if err != nil {
			return err
		}
		times = append(times, t)
	}
	b.logf("  %-12s %-8s up → exit %v", w.name, d.kind, times)
	b.tab.set(row, w.name, ms(median(times)), "%s / %s", fmtDur(median(times)), fmtDur(quantile(times, 0.9)))
	return nil
}

// waitOnce starts w while nothing listens, opens the port after a random pause, and times the exit.
func (b *bench) waitOnce(ctx context.Context, w waiter, d dependency) (time.Duration, error) {
	px, err := newProxy(d)
	if err != nil {
		return 0, err
	}
	defer px.close()
	if err := px.set(refuse); err != nil {
		return 0, err
	}
	p, err := b.startWaiter(w, px)
	if err != nil {
		return 0, err
	}
	defer p.stop(2 * time.Second)
	// A pause of 1–2 s puts the opening at a uniformly random point of a 1 s poller's cycle.
	sleep(ctx, time.Second+time.Duration(rand.Int64N(int64(time.Second))))
	if !p.running() {
		return 0, fmt.Errorf("exited (%d) before the dependency was up: %s", p.exitCode(), p.output())
	}
	t0 := time.Now()
	if err := px.set(forward); err != nil {
		return 0, err
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		return 0, errors.New("still waiting 10 s after the dependency came up")
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if c := p.exitCode(); c != 0 {
		return 0, fmt.Errorf("exited %d: %s", c, p.output())
	}
	return p.exited.Sub(t0), nil
}

// waitFailing counts the tries per second of w against a dependency that answers "not ready", after 5 s.
func (b *bench) waitFailing(ctx context.Context, w waiter, d dependency, row string) error {
	px, err := newProxy(d)
	if err != nil {
		return err
	}
	defer px.close()
	px.set(failing)
	p, err := b.startWaiter(w, px)
	if err != nil {
		return err
	}
	defer p.stop(2 * time.Second)
	sleep(ctx, 5*time.Second)
	a := px.tries.Load()
	sleep(ctx, b.p.failWindow)
	z := px.tries.Load()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !p.running() {
		return fmt.Errorf("exited (%d) while the dependency failed: %s", p.exitCode(), p.output())
	}
	rate, err := triesRate(a, z, b.p.failWindow)
	if err != nil {
		return err
	}
	b.logf("  %-12s %-8s failing: %d attempts in the first 5 s, %.1f/s after", w.name, d.kind, a, rate)
	b.tab.set(row, w.name, rate, "%.1f/s (%d in the first 5 s)", rate, a)
	return nil
}

// triesRate is the attempts per second over window, from the counts at its start (after 5 s) and end. A
// waiter that never reached the dependency would read 0/s, under any bound: that is no figure.
func triesRate(atStart, atEnd int64, window time.Duration) (float64, error) {
	if atStart == 0 {
		return 0, errors.New("no attempt reached the failing dependency in the first 5 s")
	}
	return float64(atEnd-atStart) / window.Seconds(), nil
}
