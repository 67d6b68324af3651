package gctune

import (
	"runtime/debug"
	"testing"
)

func TestServer(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }

	debug.SetGCPercent(100)
	if p, changed := Server(getenv); p != Percent || !changed {
		t.Fatalf("without GOGC: %d %v, want %d true", p, changed, Percent)
	}
	if got := debug.SetGCPercent(100); got != Percent {
		t.Fatalf("runtime percent %d, want %d", got, Percent)
	}

	// The operator's GOGC (applied by the runtime at start) stays.
	env["GOGC"] = "50"
	debug.SetGCPercent(50)
	if p, changed := Server(getenv); p != 50 || changed {
		t.Fatalf("with GOGC=50: %d %v, want 50 false", p, changed)
	}
	if got := debug.SetGCPercent(100); got != 50 {
		t.Fatalf("runtime percent %d, want 50 kept", got)
	}
}
