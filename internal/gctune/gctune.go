// Package gctune sets the Go garbage collector's pace for a long-running
// server: petrel serve collects less often than the runtime's default, unless
// the operator chose with GOGC.
//
// Why: in IMAP's steady state (clients staying logged in, bench/run.sh
// imap-steady) the collector's marking took 18 % of the server's CPU with a
// small live heap (a few tens of MiB), because the default (GOGC=100) starts a
// cycle each time the heap has grown by as much as it holds live. Percent 400
// lets it grow four times the live heap between cycles: a quarter of the
// cycles, for memory Petrel has to spare (1000 idle IMAP connections hold
// about 100 MiB against Dovecot's 5 GiB).
//
// Invariants: it never overrides GOGC or GOMEMLIMIT from the environment, and
// it only paces the collector (what is live is never freed sooner or later).
package gctune

import (
	"runtime/debug"
)

// Percent is the GC percent petrel serve runs with when GOGC is not set.
const Percent = 400

// Server sets the collector's percent to Percent unless getenv("GOGC") is
// set, and says what it runs with and whether it changed it.
func Server(getenv func(string) string) (percent int, changed bool) {
	if getenv("GOGC") != "" {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p, false
	}
	debug.SetGCPercent(Percent)
	return Percent, true
}
