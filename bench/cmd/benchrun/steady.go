package main

// The imap-steady scenario: a few clients that stay logged in, each on a
// mailbox of a few hundred messages, looping a desktop client's commands;
// and the imaplib APPEND probe (Nagle on, literal and CRLF in separate
// writes), Petrel against Dovecot.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// steadyOps are benchimap steady's command kinds, as it names them.
var steadyOps = []string{"LIST", "STATUS", "UID FETCH 1:* (FLAGS)", "FETCH 20 (ENVELOPE …)", "FETCH n BODY.PEEK[]", "STORE", "EXPUNGE", "APPEND"}

// steadyClientNote describes STEADY_CLIENT's choices in the notes.
var steadyClientNote = map[string]string{
	"raw":        "STEADY_CLIENT=raw: benchimap's lean client, which reads responses as lines and literals, skipped by their count, checking each tagged OK and following EXISTS/EXPUNGE, like Dovecot's imaptest; go-imap's imapclient, which decodes every item, spent as much CPU per command as either server, so on 2 cores it capped both alike",
	"imapclient": "STEADY_CLIENT=imapclient: go-imap v2's imapclient, decoding every response; it spends as much CPU per command as either server",
}

// steadyProbeAppends is how many APPENDs the imaplib probe makes per run.
const steadyProbeAppends = 40

func (b *bench) imapSteady() (*result, error) {
	n := b.n["imap-steady"]
	clients := b.steadyClients
	r := &result{name: "imap-steady", peerName: "Dovecot", n: clients,
		metrics: []string{"ops/s", "p50 ms", "p99 ms", "server CPU ms/op", "client CPU s"}}
	for _, o := range steadyOps {
		r.metrics = append(r.metrics, o+": p50 ms")
	}
	r.metrics = append(r.metrics, "imaplib APPEND p50 ms", "imaplib APPEND min ms", "imaplib APPEND max ms")
	f, err := b.makeFixture("imap-steady", userList(clients), n, 3, 0)
	if err != nil {
		return nil, err
	}
	p, err := b.startPetrel("steady-petrel", petrelOpts{imap: true, http: true, dataDir: f.petrelData})
	if err != nil {
		return nil, err
	}
	defer p.stop()
	d, err := b.startDovecotIMAP("steady-dovecot", f.dovecot)
	if err != nil {
		return nil, err
	}
	defer d.stop()
	probeMsg := filepath.Join(f.appendDir, firstFile(f.appendDir))

	var onGo, onDone func() // PROFILE's perf, around the measured part
	one := func(sys, addr string, roots []int, seed int) (map[string]float64, error) {
		var commits0 commitStats
		if sys != "Dovecot" {
			commits0, _ = storeCommits(p.http)
		}
		c, err := b.startChild("-addr", addr, "-users", "u%03d@bench.test", "-accounts", fmt.Sprint(clients), "-pass", imapPass,
			"-clients", fmt.Sprint(clients), "-seconds", fmt.Sprint(b.imapDuration.Seconds()), "-seed", fmt.Sprint(seed),
			"-append-dir", f.appendDir, "-max-time", (b.runTimeout + b.imapDuration).String(), "-client", b.steadyClient, "steady")
		if err != nil {
			return nil, err
		}
		defer c.finish()
		var ready struct {
			SetupSeconds float64 `json:"setup_seconds"`
		}
		if err := c.recv(&ready, b.runTimeout); err != nil {
			return nil, fmt.Errorf("setup: %w", err)
		}
		cm := meter(roots...)
		if onGo != nil {
			onGo()
		}
		c.send("go")
		var res struct {
			Seconds    float64
			Ops        int
			Errors     int
			P50        float64 `json:"p50_ms"`
			P99        float64 `json:"p99_ms"`
			Bytes      int64
			ClientCPU  float64 `json:"client_cpu"`
			FirstError string  `json:"first_error"`
			ByOp       map[string]struct {
				Count, Errors int
				P50           float64 `json:"p50_ms"`
				P99           float64 `json:"p99_ms"`
				Max           float64 `json:"max_ms"`
			} `json:"by_op"`
		}
		if err := c.recv(&res, b.imapDuration+b.runTimeout); err != nil {
			return nil, err
		}
		if onDone != nil {
			onDone()
		}
		after := cpuByName(roots...)
		var ticks int64
		for k, v := range after {
			ticks += v - cm.before[k]
		}
		if res.Ops == 0 || res.Errors > 0 {
			return nil, fmt.Errorf("%d ops, %d errors: %s", res.Ops, res.Errors, res.FirstError)
		}
		var by []string
		for k, v := range res.ByOp {
			by = append(by, fmt.Sprintf("%s %d p50 %.2f p99 %.1f max %.0f", k, v.Count, v.P50, v.P99, v.Max))
		}
		sort.Strings(by)
		b.logf("    imap-steady %s: setup %.1fs; %d ops in %.1fs; %.1f MiB received; server CPU %s\n      %s", sys, ready.SetupSeconds, res.Ops, res.Seconds,
			float64(res.Bytes)/(1<<20), cpuDelta(cm.before, after, res.Ops), strings.Join(by, "\n      "))
		if sys != "Dovecot" {
			if c1, err := storeCommits(p.http); err == nil && c1.count > commits0.count {
				n := c1.count - commits0.count
				b.logf("    imap-steady %s: %.0f store commits (%.0f/s), %.2f writes and %.2f ms each on average", sys, n, n/res.Seconds, (c1.writes-commits0.writes)/n, (c1.seconds-commits0.seconds)/n*1e3)
			}
		}
		m := map[string]float64{"ops/s": float64(res.Ops) / res.Seconds, "p50 ms": res.P50, "p99 ms": res.P99,
			"server CPU ms/op": float64(ticks) * 10 / float64(res.Ops), "client CPU s": res.ClientCPU}
		for k, v := range res.ByOp {
			m[k+": p50 ms"] = v.P50
		}
		// The imaplib probe, after the loop (its clients have logged out).
		host, port := addr[:strings.LastIndexByte(addr, ':')], portOf(addr)
		cmd := exec.Command(b.python, b.imaplibScript, host, port, "u001@bench.test", imapPass, probeMsg, fmt.Sprint(steadyProbeAppends))
		out, err := run("imaplib", filepath.Join(b.work, "imaplib.log"), b.runTimeout, cmd)
		if err != nil {
			return nil, fmt.Errorf("imaplib probe: %v: %s\n%s", err, out, tail(filepath.Join(b.work, "imaplib.log"), 2000))
		}
		var probe struct {
			Count int     `json:"count"`
			Min   float64 `json:"min_ms"`
			P50   float64 `json:"p50_ms"`
			Max   float64 `json:"max_ms"`
		}
		if err := json.Unmarshal(out, &probe); err != nil || probe.Count != steadyProbeAppends {
			return nil, fmt.Errorf("imaplib probe said %q (%v)", out, err)
		}
		b.logf("    imap-steady %s: imaplib %d APPENDs: min %.2f ms, p50 %.2f ms, max %.2f ms", sys, probe.Count, probe.Min, probe.P50, probe.Max)
		m["imaplib APPEND p50 ms"], m["imaplib APPEND min ms"], m["imaplib APPEND max ms"] = probe.P50, probe.Min, probe.Max
		return m, nil
	}
	calls := 0 // the same seed for both servers in a round
	seed := func() int { calls++; return (calls + 1) / 2 }
	// Warm-up, not counted: Dovecot indexes each Maildir at its first
	// SELECT, Petrel caches the password checks.
	for _, w := range []struct{ sys, addr string }{{"Dovecot", d.imap}, {"Petrel", p.imap}} {
		c, err := b.startChild("-addr", w.addr, "-users", "u%03d@bench.test", "-accounts", fmt.Sprint(clients), "-pass", imapPass,
			"-clients", fmt.Sprint(clients), "-seconds", "1", "-append-dir", f.appendDir, "-max-time", b.runTimeout.String(), "-client", b.steadyClient, "steady")
		if err != nil {
			return nil, err
		}
		var ready struct{ Ready bool }
		err = c.recv(&ready, b.runTimeout)
		c.finish()
		if err != nil {
			return nil, fmt.Errorf("%s warm-up: %w", w.sys, err)
		}
	}
	err = b.alternate(r,
		func() (map[string]float64, error) { return one("Petrel", p.imap, []int{p.p.pid()}, seed()) },
		func() (map[string]float64, error) { return one("Dovecot", d.imap, []int{d.p.pid()}, seed()) })
	if err != nil {
		return nil, fmt.Errorf("%w\npetrel log:\n%s\ndovecot log:\n%s", err, tail(p.log, 1500), tail(d.log, 1500))
	}
	if os.Getenv("PROFILE") != "" {
		// One more, unmeasured, run against Petrel under perf.
		report := b.underPerf(p.p.pid(), "perf-steady", &onGo, &onDone, func() error {
			_, err := one("Petrel (under perf)", p.imap, []int{p.p.pid()}, 99)
			return err
		})
		if report != "" {
			os.WriteFile(filepath.Join(b.outDir, "profile-imap-steady.txt"), []byte(fmt.Sprintf("perf record -F 999 -g -p <petrel serve> during one imap-steady run (%d clients, %v; %s)\n%s", clients, b.imapDuration, time.Now().UTC().Format(time.RFC3339), report)), 0o644)
			r.notes = append(r.notes, "imap-steady: PROFILE=1: perf profile of Petrel during one more, unmeasured, run: bench/out/profile-imap-steady.txt (perf data in the work directory with KEEP=1).")
		}
	}
	r.notes = append(r.notes,
		fmt.Sprintf("imap-steady: %d clients that stay logged in, each on its own account (u001…u%03d@bench.test) whose INBOX holds %d generated messages (%.1f KiB on average, no large attachments) and four more folders. Before the clock: log in, CREATE the folders, SELECT INBOX. Then for %v each loops, one command at a time (%s, TCP_NODELAY as Go sets it): LIST \"\" *, STATUS of a folder, UID FETCH 1:* (UID FLAGS), FETCH of 20 messages (UID FLAGS ENVELOPE RFC822.SIZE INTERNALDATE), 3× FETCH n BODY.PEEK[] with 2× STORE +FLAGS.SILENT (\\Seen) after them, STORE ±FLAGS (\\Flagged), STORE +FLAGS.SILENT (\\Deleted), EXPUNGE, APPEND of a small message (the mailbox keeps its size): 13 commands, counted as ops.", clients, clients, n, float64(f.md.Bytes)/float64(n)/1024, b.imapDuration, steadyClientNote[b.steadyClient]),
		fmt.Sprintf("imap-steady: imaplib probe after each run: Python's imaplib (Nagle left on: it writes an APPEND literal and its closing CRLF in separate writes, the second held until the first is acknowledged) makes %d APPENDs of a %d-byte message to Drafts as u001, each timed from the command to its OK.", steadyProbeAppends, fileSize(probeMsg)))
	return r, nil
}

func firstFile(dir string) string {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !e.IsDir() {
			return e.Name()
		}
	}
	return ""
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// commitStats are Petrel's store commits so far, from its /metrics.
type commitStats struct{ count, seconds, writes float64 }

func storeCommits(addr string) (commitStats, error) {
	m, err := metrics(addr)
	if err != nil {
		return commitStats{}, err
	}
	return commitStats{count: m["petrel_store_commit_seconds_count"], seconds: m["petrel_store_commit_seconds_sum"], writes: m["petrel_store_commit_writes_sum"]}, nil
}
