// Package gctune paces the Go garbage collector of a long-running server:
// petrel serve collects less often than the runtime's default while its heap
// is small, and as the default does once it is large, unless the operator
// chose with GOGC.
//
// Why: in IMAP's steady state (clients staying logged in, bench/run.sh
// imap-steady) the collector's marking took 18 % of the server's CPU with a
// live heap of a few tens of MiB, because the default (GOGC=100) starts a
// cycle each time the heap has grown by as much as it holds live. Letting
// it grow by four times the live heap instead cuts the cycles to a quarter,
// for memory Petrel has to spare. But a fixed GOGC of 400 also lets garbage
// pile up fivefold where it comes fast (a storm of a thousand hostile
// connections, each failed login leaving 19 MiB of argon2id memory: 166 →
// 313 MiB of peak RSS, past 1 GiB under the race detector): so the headroom
// above the live heap is 4 × live, but never more than HeadroomCap beyond the
// default's (live). With 32 MiB: imap-steady 13,000 ops/s against 10,000 at
// GOGC=100, the storm's peak 612 MiB (race detector) against 516.
//
// Invariants: it never overrides GOGC from the environment; it only paces the
// collector (what is live is never freed sooner or later), and with any heap
// the goal is at least the runtime default's (percent ≥ 100).
package gctune

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

const (
	// MaxPercent is the GC percent of a small heap.
	MaxPercent = 400
	// HeadroomCap bounds the heap the tuner allows beyond the default's:
	// the goal is live + min(4 × live, live + HeadroomCap).
	HeadroomCap = 32 << 20
)

// Percent is the GC percent for live bytes of live heap and GC roots.
func Percent(live uint64) int {
	if live == 0 {
		return MaxPercent
	}
	extra := min(MaxPercent/100*live, live+HeadroomCap)
	return int(max(100, min(MaxPercent, extra*100/live)))
}

// Server paces the collector for petrel serve until ctx ends, unless
// getenv("GOGC") is set; it says whether it does. It sets the percent for
// the live heap at once, then again after every collection, as the heap
// changes (a storm of connections can grow it several times within a
// second).
func Server(ctx context.Context, getenv func(string) string) bool {
	paced, _ := start(ctx, getenv)
	return paced
}

// start is Server; done is closed once pacing has stopped, at the first
// collection after ctx ended (nil if it did not start).
func start(ctx context.Context, getenv func(string) string) (paced bool, done chan struct{}) {
	if getenv("GOGC") != "" {
		return false, nil
	}
	t := &tuner{ctx: ctx, done: make(chan struct{}),
		// What GOGC multiplies: the live heap and the GC roots (stacks,
		// globals); a thousand connections' goroutine stacks count.
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}},
	}
	t.tune()
	t.arm()
	return true, t.done
}

type tuner struct {
	ctx    context.Context
	done   chan struct{}
	sample []metrics.Sample
	cur    int
}

// sentinel is garbage as soon as it is made: its cleanup runs after the
// next collection. It holds a pointer so that it is not a tiny allocation
// (those share blocks, and their cleanups may wait).
type sentinel struct{ _ *int }

// arm makes a sentinel whose cleanup, after the next collection, tunes and
// arms again (on the runtime's cleanup goroutine; tune is short).
func (t *tuner) arm() {
	runtime.AddCleanup(&sentinel{}, func(t *tuner) {
		if t.ctx.Err() != nil {
			close(t.done)
			return
		}
		t.tune()
		t.arm()
	}, t)
}

// tune sets the percent for what the last collection found live.
func (t *tuner) tune() {
	metrics.Read(t.sample)
	var live uint64
	for _, s := range t.sample {
		if s.Value.Kind() == metrics.KindUint64 {
			live += s.Value.Uint64()
		}
	}
	if p := Percent(live); p != t.cur {
		debug.SetGCPercent(p)
		t.cur = p
	}
}
