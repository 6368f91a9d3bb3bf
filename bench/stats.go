package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median[T cmp.Ordered](s []T) T { return quantile(s, 0.5) }

// quantile of s (q in [0, 1]) by the nearest-rank method: the smallest value with at least q of them at or
// below it. The zero value for none.
func quantile[T cmp.Ordered](s []T, q float64) T {
	if len(s) == 0 {
		var zero T
		return zero
	}
	s = slices.Clone(s)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// spread is "median (max)" of several durations, or the one.
func spread(d []time.Duration) string {
	if len(d) == 1 {
		return fmtDur(d[0])
	}
	return fmt.Sprintf("%s (%s)", fmtDur(median(d)), fmtDur(slices.Max(d)))
}

// fmtDur prints a duration with three significant digits or so.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", ms(d))
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", ms(d))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

// thousands prints n rounded, with commas between thousands.
func thousands(n float64) string {
	s := fmt.Sprintf("%.0f", n)
	var out []byte
	if s[0] == '-' {
		out, s = append(out, '-'), s[1:]
	}
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
