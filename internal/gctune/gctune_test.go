package gctune

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// TestPercent: four times the live heap of headroom while that is small,
// never more than HeadroomCap beyond the default's, never below it.
func TestPercent(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 400},
		{1 << 20, 400},
		{8 << 20, 400},
		{16 << 20, 300}, // 16 + 32 of headroom
		{32 << 20, 200}, // 32 + 32
		{64 << 20, 150},
		{256 << 20, 112},
		{1 << 30, 103},
		{64 << 30, 100},
	} {
		if got := Percent(c.live); got != c.want {
			t.Errorf("Percent(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
		if extra := uint64(Percent(c.live)) * c.live / 100; c.live > 0 && extra > c.live+HeadroomCap {
			t.Errorf("Percent(%d MiB): %d MiB of headroom, over the default's %d MiB by more than %d MiB", c.live>>20, extra>>20, c.live>>20, HeadroomCap>>20)
		}
	}
}

// stopPacing ends the tuner's context and waits until pacing has stopped
// (done closed), which it does at the first collection after: it collects
// until then, for a minute at most, and reports an error if pacing goes on.
func stopPacing(t *testing.T, cancel context.CancelFunc, done <-chan struct{}) bool {
	t.Helper()
	cancel()
	deadline := time.Now().Add(time.Minute)
	for n := 1; ; n++ {
		runtime.GC()
		select {
		case <-done:
			return true
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Errorf("pacing did not stop within a minute (%d collections) after its context ended", n)
			return false
		}
	}
}

// TestServer: without GOGC the collector is paced (this test's small heap
// gets MaxPercent); with GOGC the operator's percent stays.
func TestServer(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	ctx, cancel := context.WithCancel(context.Background())
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }

	debug.SetGCPercent(100)
	paced, done := start(ctx, getenv)
	if !paced {
		t.Fatal("without GOGC: not paced")
	}
	if got := debug.SetGCPercent(MaxPercent); got != MaxPercent {
		t.Fatalf("runtime percent %d, want %d for a small heap", got, MaxPercent)
	}
	if !stopPacing(t, cancel, done) {
		t.FailNow() // still pacing: it would override the operator's GOGC below
	}

	env["GOGC"] = "50"
	debug.SetGCPercent(50)
	if Server(context.Background(), getenv) {
		t.Fatal("with GOGC=50: paced anyway")
	}
	if got := debug.SetGCPercent(50); got != 50 {
		t.Fatalf("runtime percent %d, want the operator's 50", got)
	}
}

// TestRetunedAfterCollection: the percent follows the live heap after each
// collection: down when a large heap becomes live, back up when it is gone.
func TestRetunedAfterCollection(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	ctx, cancel := context.WithCancel(context.Background())
	paced, done := start(ctx, func(string) string { return "" })
	if !paced {
		t.Fatal("not paced")
	}
	defer stopPacing(t, cancel, done)
	gogc := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	waitFor := func(what string, ok func(int) bool) {
		t.Helper()
		for i := 0; ; i++ {
			runtime.GC()
			metrics.Read(gogc)
			p := int(gogc[0].Value.Uint64())
			if ok(p) {
				return
			}
			if i == 500 {
				t.Fatalf("%s: the percent stayed %d", what, p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("small heap", func(p int) bool { return p == MaxPercent })
	big := make([]byte, 96<<20) // live: 96 MiB, 32 of headroom at most
	waitFor("96 MiB live", func(p int) bool { return p < 150 })
	runtime.KeepAlive(big)
	waitFor("96 MiB gone", func(p int) bool { return p == MaxPercent })
}
