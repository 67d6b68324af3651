package main

// The IMAP scenarios: imap (one big mailbox, step by step), imap-concurrency
// (many clients looping, then imaptest's mix) and memory (idle connections),
// Petrel against Dovecot, both at their default durability.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"petrel/bench/mailgen"
)

const (
	imapPass  = "bench-secret"
	mailUID   = 65534 // Dovecot's mail owner, as in pop3/dovecot_test.go
	imapAlice = "alice@bench.test"
)

// ---------------------------------------------------------------- the client process

// A child is bench/out/benchimap, driven line by line.
type child struct {
	p     *proc
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	log   string
}

func (b *bench) startChild(args ...string) (*child, error) {
	c := &child{log: filepath.Join(b.work, "benchimap.log"), lines: make(chan string, 16)}
	c.cmd = exec.Command(b.imapBin, args...)
	c.in, _ = c.cmd.StdinPipe()
	// An os.Pipe, not StdoutPipe: Wait (in start) closes a StdoutPipe as
	// soon as the process exits, which can lose its last line.
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	c.cmd.Stdout = w
	f, err := os.OpenFile(c.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	defer f.Close()
	c.cmd.Stderr = f
	c.p, err = start("benchimap", c.log, c.cmd)
	w.Close() // the child has its copy
	if err != nil {
		r.Close()
		return nil, err
	}
	go func() {
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		if err := sc.Err(); err != nil {
			if f, e := os.OpenFile(c.log, os.O_WRONLY|os.O_APPEND, 0); e == nil {
				fmt.Fprintf(f, "benchrun: reading benchimap's output: %v\n", err)
				f.Close()
			}
		}
		close(c.lines)
	}()
	return c, nil
}

func (c *child) send(s string) { io.WriteString(c.in, s+"\n") }

// recv returns the next line, decoded into v.
func (c *child) recv(v any, timeout time.Duration) error {
	select {
	case l, ok := <-c.lines:
		if !ok {
			<-c.p.done
			return fmt.Errorf("benchimap exited (%v): %s", c.p.err, tail(c.log, 1500))
		}
		if err := json.Unmarshal([]byte(l), v); err != nil {
			return fmt.Errorf("benchimap said %q: %v", l, err)
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("benchimap: no answer within %v", timeout)
	}
}

// finish closes its input, waits for it to exit and returns its CPU.
func (c *child) finish() float64 {
	c.in.Close()
	select {
	case <-c.p.done:
	case <-time.After(time.Minute):
	}
	c.p.stop(time.Second)
	return clientCPU(c.cmd)
}

// ---------------------------------------------------------------- Dovecot for IMAP

// dovecotIMAPLimits are the settings raised from Dovecot's defaults so that
// 1,000 clients are served at once (each is one imap process; the
// login, auth, anvil and stats services take a connection from each).
const dovecotIMAPLimits = `# Raised for 1,000 concurrent clients (defaults: default_client_limit 1000,
# imap-login process_limit = default_process_limit 100, imap process_limit 1024).
default_client_limit = 3000
service imap-login {
  process_limit = 1200
}
service imap {
  process_limit = 1200
}
`

// startDovecotIMAP runs Dovecot's IMAP on ipPeer for the users of root (a
// passwd file root/passwd, mail in root/users/<local part>/Maildir owned
// by uid 65534), at its defaults (mail_fsync = optimized) but for
// dovecotIMAPLimits. Its run and log directories are dir.
func (b *bench) startDovecotIMAP(name, root string) (*dovecot, error) {
	s := &dovecot{dir: filepath.Join(b.work, name)}
	s.log = filepath.Join(s.dir, "dovecot.log")
	os.MkdirAll(s.dir, 0o755)
	s.imap = fmt.Sprintf("%s:%d", ipPeer, freePort(ipPeer))
	conf := fmt.Sprintf(`# written by bench/cmd/benchrun; Dovecot defaults otherwise (mail_fsync = optimized)
protocols = imap
listen = %[1]s
base_dir = %[2]s/run
state_dir = %[2]s/state
log_path = %[2]s/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:%[3]s/users/%%n/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN %[3]s/passwd
}
userdb {
  driver = static
  args = uid=%[4]d gid=%[4]d home=%[3]s/users/%%n
}
service imap-login {
  inet_listener imap {
    port = %[5]s
  }
}
%[6]s`, ipPeer, s.dir, root, mailUID, portOf(s.imap), dovecotIMAPLimits)
	confPath := filepath.Join(s.dir, "dovecot.conf")
	os.WriteFile(confPath, []byte(conf), 0o644)
	p, err := start("dovecot", filepath.Join(s.dir, "dovecot.out"), exec.Command(b.dovecotBin, "-F", "-c", confPath))
	if err != nil {
		return nil, err
	}
	s.p = p
	if err := waitListen(p, s.imap, 30*time.Second, s.log); err != nil {
		p.stop(5 * time.Second)
		return nil, fmt.Errorf("%v\n%s", err, tail(filepath.Join(s.dir, "dovecot.out"), 2000))
	}
	return s, nil
}

// ---------------------------------------------------------------- mailboxes

// An imapFixture is a set of accounts with the same INBOX, for Petrel (a
// data directory) and Dovecot (Maildirs of hard links to the same files).
type imapFixture struct {
	users      []string
	petrelData string
	dovecot    string // root: passwd, users/<local>/Maildir
	md         *mailgen.Maildir
	appendDir  string // messages the imaptest mix APPENDs
}

// makeFixture writes n generated messages once and gives them to every
// user: Petrel by `petrel user add` and `petrel import maildir` (offline),
// Dovecot by hard links into each user's Maildir (Dovecot indexes them at
// the first SELECT, in a warm-up that is not counted).
func (b *bench) makeFixture(name string, users []string, n int, seed uint64, largeShare float64) (*imapFixture, error) {
	t0 := time.Now()
	root := filepath.Join(b.work, name)
	f := &imapFixture{users: users, petrelData: filepath.Join(root, "petrel-data"), dovecot: filepath.Join(root, "dovecot")}
	md, err := mailgen.WriteMaildir(filepath.Join(root, "src", "Maildir"), seed, n, largeShare)
	if err != nil {
		return nil, err
	}
	f.md = md
	b.logf("%s: %d messages generated, %.1f MiB (%.1f KiB each on average); searches should find FROM %d, SUBJECT %d, BODY %d",
		name, n, float64(md.Bytes)/(1<<20), float64(md.Bytes)/float64(n)/1024, md.From, md.SubjHits, md.BodyHits)
	// Dovecot: hard links, owned by its mail user.
	for _, name := range md.Names {
		os.Chown(filepath.Join(md.Dir, "cur", name), mailUID, mailUID)
	}
	var passwd strings.Builder
	for _, u := range users {
		local := u[:strings.IndexByte(u, '@')]
		home := filepath.Join(f.dovecot, "users", local)
		for _, d := range []string{"", "Maildir", "Maildir/cur", "Maildir/new", "Maildir/tmp"} {
			p := filepath.Join(home, d)
			os.MkdirAll(p, 0o700)
			os.Chown(p, mailUID, mailUID)
		}
		for _, name := range md.Names {
			if err := os.Link(filepath.Join(md.Dir, "cur", name), filepath.Join(home, "Maildir", "cur", name)); err != nil {
				return nil, err
			}
		}
		ul := filepath.Join(home, "Maildir", "dovecot-uidlist")
		if err := copyFile(ul, filepath.Join(md.Dir, "dovecot-uidlist")); err != nil {
			return nil, err
		}
		os.Chown(ul, mailUID, mailUID)
		fmt.Fprintf(&passwd, "%s:{PLAIN}%s\n", u, imapPass)
	}
	os.Chmod(root, 0o755)
	os.Chmod(f.dovecot, 0o755)
	os.Chmod(filepath.Join(f.dovecot, "users"), 0o755)
	if err := os.WriteFile(filepath.Join(f.dovecot, "passwd"), []byte(passwd.String()), 0o644); err != nil {
		return nil, err
	}
	// Petrel: offline, before serve.
	conf := filepath.Join(root, "petrel-admin.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf("hostname = \"petrel.bench\"\ndomains = [\"bench.test\"]\ndata_dir = %q\n[listen]\n", f.petrelData)), 0o644)
	logPath := filepath.Join(root, "petrel-admin.log")
	t1 := time.Now()
	for _, u := range users {
		cmd := petrelCmd(b.petrelBin, "user", "add", u, "--force", "--config", conf)
		cmd.Stdin = strings.NewReader(imapPass + "\n")
		if _, err := run("petrel user add", logPath, time.Minute, cmd); err != nil {
			return nil, err
		}
	}
	t2 := time.Now()
	for _, u := range users {
		cmd := petrelCmd(b.petrelBin, "import", "maildir", u, md.Dir, "--config", conf)
		if _, err := run("petrel import maildir", logPath, 10*time.Minute, cmd); err != nil {
			return nil, fmt.Errorf("%v\n%s", err, tail(logPath, 1000))
		}
	}
	b.logf("%s: %d accounts: petrel user add %.1fs, petrel import maildir %.1fs (%.2fs per account); fixture ready in %.0fs",
		name, len(users), t2.Sub(t1).Seconds(), time.Since(t2).Seconds(), time.Since(t2).Seconds()/float64(len(users)), time.Since(t0).Seconds())
	// Messages for the imaptest mix to APPEND: small ones, another seed.
	f.appendDir = filepath.Join(root, "append")
	am, err := mailgen.WriteMaildir(filepath.Join(root, "append-src"), seed+100, 100, 0)
	if err != nil {
		return nil, err
	}
	os.MkdirAll(f.appendDir, 0o755)
	for _, name := range am.Names {
		os.Rename(filepath.Join(am.Dir, "cur", name), filepath.Join(f.appendDir, name))
	}
	return f, nil
}

// loadFixture takes up the imap-accounts directory of an earlier run kept
// with KEEP=1 (env IMAP_FIXTURE): its accounts must be at least users.
func loadFixture(root string, users []string) (*imapFixture, error) {
	f := &imapFixture{users: users, petrelData: filepath.Join(root, "petrel-data"), dovecot: filepath.Join(root, "dovecot"), appendDir: filepath.Join(root, "append")}
	pw, err := os.ReadFile(filepath.Join(f.dovecot, "passwd"))
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		if !strings.Contains(string(pw), u+":") {
			return nil, fmt.Errorf("%s has no account %s", root, u)
		}
	}
	if _, err := os.Stat(filepath.Join(f.petrelData, "mail.db")); err != nil {
		return nil, err
	}
	md := &mailgen.Maildir{Dir: filepath.Join(root, "src", "Maildir")}
	ents, err := os.ReadDir(filepath.Join(md.Dir, "cur"))
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		md.Names = append(md.Names, e.Name())
		if fi, err := e.Info(); err == nil {
			md.Bytes += fi.Size()
		}
	}
	f.md = md
	return f, nil
}

func userList(n int) []string {
	var u []string
	for i := 1; i <= n; i++ {
		u = append(u, fmt.Sprintf("u%03d@bench.test", i))
	}
	return u
}

// accountsFixture is the fixture of imap-concurrency and memory, made once
// per run: IMAP_ACCOUNTS accounts (default IMAP_CLIENTS), each with the
// same INBOX of N_IMAP_CONCURRENCY (1000) messages without large
// attachments.
func (b *bench) accountsFixture() (*imapFixture, error) {
	if b.accounts != nil {
		return b.accounts, nil
	}
	if dir := os.Getenv("IMAP_FIXTURE"); dir != "" {
		f, err := loadFixture(dir, userList(b.imapAccounts))
		if err != nil {
			return nil, fmt.Errorf("IMAP_FIXTURE: %w", err)
		}
		b.logf("imap-accounts: reusing %s (%d accounts, %d messages each)", dir, len(f.users), len(f.md.Names))
		b.n["imap-concurrency"] = len(f.md.Names)
		b.accounts = f
		return f, nil
	}
	f, err := b.makeFixture("imap-accounts", userList(b.imapAccounts), b.n["imap-concurrency"], 2, 0)
	if err != nil {
		return nil, err
	}
	b.accounts = f
	return f, nil
}

// ---------------------------------------------------------------- imap

// imapSteps are the steps of the imap scenario, in order: the name
// benchimap knows and the label of the table.
var imapSteps = []struct{ step, label string }{
	{"login", "connect+LOGIN"},
	{"select", "SELECT INBOX"},
	{"uid-fetch-flags", "UID FETCH 1:* (UID FLAGS)"},
	{"fetch-envelope-bodystructure", "FETCH 1:* (ENVELOPE BODYSTRUCTURE)"},
	{"fetch-body", "1000× UID FETCH n BODY.PEEK[]"},
	{"search-from", "UID SEARCH FROM"},
	{"search-subject", "UID SEARCH SUBJECT"},
	{"search-body", "UID SEARCH BODY"},
	{"store-each", "1000× UID STORE n +FLAGS (\\Flagged)"},
	{"store-set", "UID STORE <1000 UIDs> -FLAGS (\\Flagged)"},
}

type stepOut struct {
	Step      string  `json:"step"`
	Seconds   float64 `json:"seconds"`
	Count     int     `json:"count"`
	Bytes     int64   `json:"bytes"`
	Literal   int64   `json:"literal"`
	ClientCPU float64 `json:"client_cpu"`
	UIDNext   uint32  `json:"uidnext"`
	Err       string  `json:"err"`
}

func (b *bench) imapBig() (*result, error) {
	n := b.n["imap"]
	r := &result{name: "imap", peerName: "Dovecot", n: n}
	for _, s := range imapSteps {
		r.metrics = append(r.metrics, s.label+": wall ms", s.label+": server CPU ms")
	}
	f, err := b.makeFixture("imap-big", []string{imapAlice}, n, 1, mailgen.LargeShareDefault)
	if err != nil {
		return nil, err
	}
	p, err := b.startPetrel("imap-petrel", petrelOpts{imap: true, dataDir: f.petrelData})
	if err != nil {
		return nil, err
	}
	defer p.stop()
	d, err := b.startDovecotIMAP("imap-dovecot", f.dovecot)
	if err != nil {
		return nil, err
	}
	defer d.stop()
	counts := map[string]map[string]int{"petrel": {}, "peer": {}}
	bytesOf := map[string]map[string]int64{"petrel": {}, "peer": {}}
	session := func(sys, addr string, roots []int, stepsNow []string, seed int) (map[string]float64, error) {
		c, err := b.startChild("-addr", addr, "-user", imapAlice, "-pass", imapPass, "-picks", "1000",
			"-body-word", mailgen.SearchBodyWord, "-subject-word", mailgen.SearchSubjectWord, "-from-word", mailgen.SearchFromName,
			"-max-time", b.runTimeout.String(), "steps")
		if err != nil {
			return nil, err
		}
		defer c.finish()
		m := map[string]float64{}
		for _, st := range stepsNow {
			label := st
			for _, s := range imapSteps {
				if s.step == st {
					label = s.label
				}
			}
			cm := meter(roots...)
			c.send(fmt.Sprintf("%s %d", st, seed))
			var o stepOut
			if err := c.recv(&o, b.runTimeout); err != nil {
				return nil, err
			}
			after := cpuByName(roots...)
			var ticks int64
			for k, v := range after {
				ticks += v - cm.before[k]
			}
			if o.Err != "" {
				return nil, fmt.Errorf("%s: %s", st, o.Err)
			}
			b.logf("    %-8s %-42s %7.3fs  server CPU %5.0f ms (%s)  client CPU %.3fs  %d items  %.1f MiB", sys, label, o.Seconds, float64(ticks)*10, cpuDelta(cm.before, after, 1), o.ClientCPU, o.Count, float64(o.Bytes)/(1<<20))
			m[label+": wall ms"] = o.Seconds * 1000
			m[label+": server CPU ms"] = float64(ticks) * 10
			counts[sys][st] = o.Count
			bytesOf[sys][st] = o.Literal
			if st == "select" && (o.Count != n || o.UIDNext != uint32(n+1)) {
				return nil, fmt.Errorf("SELECT: %d messages, UIDNEXT %d; want %d and %d", o.Count, o.UIDNext, n, n+1)
			}
		}
		c.send("quit")
		return m, nil
	}
	var all []string
	for _, s := range imapSteps {
		all = append(all, s.step)
	}
	// Warm-up, not counted: Dovecot indexes the Maildir at its first
	// SELECT; Petrel loads the mailbox and caches the password check.
	for _, w := range []struct {
		sys, addr string
		root      int
	}{{"peer", d.imap, d.p.pid()}, {"petrel", p.imap, p.p.pid()}} {
		t0 := time.Now()
		m, err := session(w.sys, w.addr, []int{w.root}, []string{"login", "select"}, 0)
		if err != nil {
			return nil, fmt.Errorf("%s warm-up: %w\n%s", w.sys, err, tail(d.log, 1500))
		}
		r.notes = append(r.notes, fmt.Sprintf("imap: warm-up (not counted) of %s: first SELECT %.2f s, server CPU %.0f ms (session %.1f s).", map[string]string{"peer": "Dovecot", "petrel": "Petrel"}[w.sys], m["SELECT INBOX: wall ms"]/1000, m["SELECT INBOX: server CPU ms"], time.Since(t0).Seconds()))
	}
	calls := 0 // the same seed for both servers in a round
	seed := func() int { calls++; return (calls + 1) / 2 }
	err = b.alternate(r,
		func() (map[string]float64, error) { return session("petrel", p.imap, []int{p.p.pid()}, all, seed()) },
		func() (map[string]float64, error) { return session("peer", d.imap, []int{d.p.pid()}, all, seed()) })
	if err != nil {
		return nil, fmt.Errorf("%w\npetrel log:\n%s\ndovecot log:\n%s", err, tail(p.log, 1500), tail(d.log, 1500))
	}
	if os.Getenv("PROFILE") != "" {
		if err := b.profileIMAP(p, all); err != nil {
			b.logf("imap: PROFILE: %v", err)
			r.notes = append(r.notes, "imap: PROFILE=1 failed: "+err.Error())
		} else {
			r.notes = append(r.notes, "imap: PROFILE=1: perf profiles of Petrel, one unmeasured session after the rounds, step by step: bench/out/profile-imap.txt.")
		}
	}
	// Both must have found the same: the same messages were fetched.
	var same []string
	for _, s := range imapSteps {
		pc, dc := counts["petrel"][s.step], counts["peer"][s.step]
		// (STORE answers differ by design: Dovecot sends no FETCH for a
		// message whose flags did not change.)
		if pc != dc && !strings.HasPrefix(s.step, "store") {
			r.notes = append(r.notes, fmt.Sprintf("imap: MISMATCH in %s: Petrel %d items, Dovecot %d", s.label, pc, dc))
		}
		if s.step == "fetch-body" {
			if pb, db := bytesOf["petrel"][s.step], bytesOf["peer"][s.step]; pb != db {
				r.notes = append(r.notes, fmt.Sprintf("imap: MISMATCH in %s: Petrel sent %d bytes of messages, Dovecot %d (last round)", s.label, pb, db))
			} else {
				r.notes = append(r.notes, fmt.Sprintf("imap: %s: both sent the same %.1f MiB of messages (last round).", s.label, float64(pb)/(1<<20)))
			}
		}
		if strings.HasPrefix(s.step, "search") {
			same = append(same, fmt.Sprintf("%s %d", strings.TrimPrefix(s.label, "UID SEARCH "), pc))
		}
	}
	r.notes = append(r.notes,
		fmt.Sprintf("imap: one INBOX of %d generated messages (%.0f MiB, %.1f KiB on average: 55 %% text/plain, 25 %% multipart/alternative, 10 %% with a 50–500 KiB base64 attachment, 10 %% with 1–3 small ones; headers as delivered mail has them). Petrel imported it with `petrel import maildir` (offline), Dovecot serves the Maildir (LF line ends, S= and W= sizes in the names, dovecot-uidlist so that both number the messages alike).", n, float64(f.md.Bytes)/(1<<20), float64(f.md.Bytes)/float64(n)/1024),
		"imap: one session per round and server (bench/cmd/benchimap steps, go-imap v2's imapclient), steps in the order of the table; the 1,000 messages fetched and flagged are random UIDs, the same for both in a round (another set each round). Server CPU is read from /proc before and after each step (10 ms ticks).",
		fmt.Sprintf("imap: the searches found, on both: %s (the generator counted FROM %d, SUBJECT %d, BODY %d).", strings.Join(same, ", "), f.md.From, f.md.SubjHits, f.md.BodyHits))
	return r, nil
}

// ---------------------------------------------------------------- imap-concurrency

func (b *bench) imapConcurrency() (*result, error) {
	n := b.n["imap-concurrency"]
	clients := b.imapClients
	f, err := b.accountsFixture()
	if err != nil {
		return nil, err
	}
	loop := &result{name: "imap-concurrency", peerName: "Dovecot", n: clients}
	mix := &result{name: "imap-concurrency (imaptest mix)", peerName: "Dovecot", n: clients}
	loopOps := []string{"UID FETCH 1:* (UID FLAGS)", "UID FETCH n BODY.PEEK[HEADER]", "UID FETCH n BODY.PEEK[]", "UID STORE n +FLAGS (\\Flagged)", "UID STORE n -FLAGS (\\Flagged)", "NOOP"}
	mixOps := []string{"LOGIN", "SELECT", "FETCH", "FETCH2", "STORE", "DELETE", "EXPUNGE", "APPEND", "LOGOUT"}
	loop.metrics = []string{"ops/s", "p50 ms", "p99 ms", "server CPU ms/op", "client CPU s"}
	for _, o := range loopOps {
		loop.metrics = append(loop.metrics, o+": p50 ms", o+": p99 ms")
	}
	mix.metrics = []string{"commands/s", "sessions/s", "p50 ms", "p99 ms", "server CPU ms/command", "client CPU s"}
	for _, o := range mixOps {
		mix.metrics = append(mix.metrics, o+": p50 ms", o+": p99 ms")
	}
	p, err := b.startPetrel("conc-petrel", petrelOpts{imap: true, dataDir: f.petrelData})
	if err != nil {
		return nil, err
	}
	defer p.stop()
	d, err := b.startDovecotIMAP("conc-dovecot", f.dovecot)
	if err != nil {
		return nil, err
	}
	defer d.stop()

	var onGo, onDone func() // PROFILE's perf, around the measured part
	one := func(mode, sys, addr string, roots []int, seed int) (map[string]float64, error) {
		args := []string{"-addr", addr, "-users", "u%03d@bench.test", "-accounts", fmt.Sprint(len(f.users)), "-pass", imapPass,
			"-clients", fmt.Sprint(clients), "-seconds", fmt.Sprint(b.imapDuration.Seconds()), "-seed", fmt.Sprint(seed),
			"-append-dir", f.appendDir, "-max-time", (b.runTimeout + b.imapDuration).String(), mode}
		c, err := b.startChild(args...)
		if err != nil {
			return nil, err
		}
		defer c.finish()
		var ready struct {
			Ready        bool
			SetupSeconds float64 `json:"setup_seconds"`
		}
		if err := c.recv(&ready, b.runTimeout); err != nil {
			return nil, fmt.Errorf("setup: %w", err)
		}
		if onGo != nil {
			onGo()
		}
		cm := meter(roots...)
		c.send("go")
		var res struct {
			Seconds    float64
			Ops        int
			Errors     int
			P50        float64 `json:"p50_ms"`
			P99        float64 `json:"p99_ms"`
			Iterations int64
			Sessions   int64
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
		err = c.recv(&res, b.imapDuration+b.runTimeout)
		if onDone != nil {
			onDone()
		}
		if err != nil {
			return nil, err
		}
		after := cpuByName(roots...)
		var ticks int64
		for k, v := range after {
			ticks += v - cm.before[k]
		}
		if res.Ops == 0 {
			return nil, fmt.Errorf("no operation completed: %s", res.FirstError)
		}
		var by []string
		for k, v := range res.ByOp {
			by = append(by, fmt.Sprintf("%s %d (%d err) p50 %.1f p99 %.1f max %.0f", k, v.Count, v.Errors, v.P50, v.P99, v.Max))
		}
		sort.Strings(by)
		b.logf("    %s %s: setup %.1fs; %d ops in %.1fs, %d errors%s; %.1f MiB received; server CPU %s\n      %s", mode, sys, ready.SetupSeconds, res.Ops, res.Seconds, res.Errors,
			map[bool]string{true: " (first: " + res.FirstError + ")", false: ""}[res.Errors > 0], float64(res.Bytes)/(1<<20), cpuDelta(cm.before, after, res.Ops), strings.Join(by, "\n      "))
		m := map[string]float64{"p50 ms": res.P50, "p99 ms": res.P99, "client CPU s": res.ClientCPU}
		cpuPerOp := float64(ticks) * 10 / float64(res.Ops)
		if mode == "conc" {
			m["ops/s"] = float64(res.Ops) / res.Seconds
			m["server CPU ms/op"] = cpuPerOp
		} else {
			m["commands/s"] = float64(res.Ops) / res.Seconds
			m["sessions/s"] = float64(res.Sessions) / res.Seconds
			m["server CPU ms/command"] = cpuPerOp
		}
		for k, v := range res.ByOp {
			m[k+": p50 ms"], m[k+": p99 ms"] = v.P50, v.P99
		}
		return m, nil
	}
	calls := 0 // the same seed for both servers in a round
	seed := func() int { calls++; return (calls + 1) / 2 }
	for _, x := range []struct {
		mode string
		r    *result
	}{{"conc", loop}, {"imaptest", mix}} {
		err = b.alternate(x.r,
			func() (map[string]float64, error) { return one(x.mode, "Petrel", p.imap, []int{p.p.pid()}, seed()) },
			func() (map[string]float64, error) { return one(x.mode, "Dovecot", d.imap, []int{d.p.pid()}, seed()) })
		if err != nil {
			return nil, fmt.Errorf("%s: %w\npetrel log:\n%s\ndovecot log:\n%s", x.mode, err, tail(p.log, 1500), tail(d.log, 1500))
		}
	}
	if os.Getenv("PROFILE") != "" {
		// One more, unmeasured, run of the loop against Petrel under perf.
		report := b.underPerf(p.p.pid(), "perf-concurrency", &onGo, &onDone, func() error {
			_, err := one("conc", "Petrel (under perf)", p.imap, []int{p.p.pid()}, 99)
			return err
		})
		if report != "" {
			os.WriteFile(filepath.Join(b.outDir, "profile-imap-concurrency.txt"), []byte(fmt.Sprintf("perf record -F 999 -g -p <petrel serve> during one imap-concurrency loop run (%d clients, %v; %s)\n%s", clients, b.imapDuration, time.Now().UTC().Format(time.RFC3339), report)), 0o644)
			loop.notes = append(loop.notes, "imap-concurrency: PROFILE=1: perf profile of Petrel during one more, unmeasured, run: bench/out/profile-imap-concurrency.txt.")
		}
	}
	shared := "each client its own account"
	if len(f.users) < clients {
		shared = fmt.Sprintf("%d accounts shared round-robin", len(f.users))
	}
	loop.notes = append(loop.notes,
		fmt.Sprintf("imap-concurrency: %d clients (%s: u001…u%03d@bench.test), each with the same INBOX of %d generated messages (%.0f KiB on average, no large attachments), connecting from 127.0.2.1… (at most 40 per address, under Petrel's 50 per address). Before the clock: all log in and SELECT INBOX, %d at a time (Dovecot builds its indexes at the first round's SELECTs). Then for %v each loops UID FETCH 1:* (UID FLAGS), UID FETCH n BODY.PEEK[HEADER], UID FETCH n BODY.PEEK[] (random n), UID STORE n +FLAGS then -FLAGS (\\Flagged), NOOP, one command at a time; latency is per command, ops are commands.", clients, shared, len(f.users), n, float64(f.md.Bytes)/float64(n)/1024, 20, b.imapDuration),
		"imap-concurrency: Dovecot checks passwords in plain text (passwd-file {PLAIN}); Petrel's are argon2id, with a 5-minute cache of good logins (the setup's logins fill it).")
	mix.notes = append(mix.notes,
		fmt.Sprintf("imap-concurrency (imaptest mix): the same %d clients and accounts, each in a mailbox \"imaptest\" filled to 30 messages before the clock, running imaptest's default states in its order for %v: connect, LOGIN, LIST \"\" * (50 %%), STATUS (50 %%), SELECT, FETCH of up to 100 random messages with 1–4 random items, FETCH2 of one message's BODY.PEEK[]/[HEADER]/[1]/[TEXT] (again with 30 %%), STORE ±FLAGS of random flags (50 %%), STORE +FLAGS \\Deleted, EXPUNGE, APPEND while under 30 messages (again 5 %%), LOGOUT, then again. COPY is off (imaptest needs a copybox for it); no pipelining. Commands/s excludes connects.", clients, b.imapDuration))
	loop.more = []*result{mix}
	return loop, nil
}

// ---------------------------------------------------------------- memory

// procMem sums VmRSS (and Pss, from smaps_rollup) over the processes
// rooted at the given pids, as cpuByName finds them, in KiB, with the
// RSS and count per program.
func procMem(roots ...int) (rss, pss int64, procs int, byName map[string][2]int64) {
	pids := procTree(roots...)
	byName = map[string][2]int64{}
	var anon, file int64
	for pid, comm := range pids {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		var r int64
		for _, l := range strings.Split(string(st), "\n") {
			f := strings.Fields(l)
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "VmRSS:":
				r = v
			case "RssAnon:":
				anon += v
			case "RssFile:", "RssShmem:":
				file += v
			}
		}
		if sm, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
			for _, l := range strings.Split(string(sm), "\n") {
				if strings.HasPrefix(l, "Pss:") {
					v, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
					pss += v
				}
			}
		}
		rss += r
		procs++
		x := byName[comm]
		byName[comm] = [2]int64{x[0] + r, x[1] + 1}
	}
	byName[" anonymous"] = [2]int64{anon, 0}
	byName[" file-backed and shared"] = [2]int64{file, 0}
	return
}

// procTree returns pid -> program name of every process rooted at roots:
// each root, its process group, and their descendants.
func procTree(roots ...int) map[int]string {
	all := procStats()
	out := map[int]string{}
	for pid := range procTreeOf(all, roots) {
		out[pid] = all[pid].comm
	}
	return out
}

func fmtMem(by map[string][2]int64) string {
	type kv struct {
		k string
		v [2]int64
	}
	var l []kv
	for k, v := range by {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool {
		si, sj := strings.HasPrefix(l[i].k, " "), strings.HasPrefix(l[j].k, " ")
		if si != sj {
			return sj
		}
		return l[i].v[0] > l[j].v[0]
	})
	var parts []string
	for _, e := range l {
		if strings.HasPrefix(e.k, " ") {
			parts = append(parts, fmt.Sprintf("of which%s %.1f MiB", e.k, float64(e.v[0])/1024))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s ×%d %.1f MiB", e.k, e.v[1], float64(e.v[0])/1024))
	}
	return strings.Join(parts, ", ")
}

// stableMem reads procMem every 2 s until RSS has moved less than 2 %
// (or 1 MiB) over the last 10 s and atLeast has passed, at most for
// limit, and returns the last reading and how long it waited. A Go process returns freed heap to the
// system only after a GC cycle (forced every 2 minutes when idle) and then
// gradually; Dovecot's processes settle at once.
func stableMem(atLeast, limit time.Duration, roots ...int) (rss, pss int64, procs int, by map[string][2]int64, waited time.Duration) {
	t0 := time.Now()
	var hist []int64
	for {
		rss, pss, procs, by = procMem(roots...)
		hist = append(hist, rss)
		if len(hist) >= 6 {
			lo, hi := hist[len(hist)-6], hist[len(hist)-6]
			for _, v := range hist[len(hist)-6:] {
				lo, hi = min(lo, v), max(hi, v)
			}
			if hi-lo <= max64(1024, hi/50) && time.Since(t0) >= atLeast {
				return rss, pss, procs, by, time.Since(t0)
			}
		}
		if time.Since(t0) >= limit {
			return rss, pss, procs, by, time.Since(t0)
		}
		time.Sleep(2 * time.Second)
	}
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// metrics reads Petrel's /metrics: every unlabelled sample, by name.
func metrics(addr string) (map[string]float64, error) {
	resp, err := httpGet("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	for _, l := range strings.Split(resp, "\n") {
		f := strings.Fields(l)
		if len(f) != 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			m[f[0]] = v
		}
	}
	return m, nil
}

// goMem reads Petrel's /metrics: Go heap and stacks in use, and goroutines.
func goMem(addr string) (heapStack, goroutines float64, err error) {
	m, err := metrics(addr)
	if err != nil {
		return 0, 0, err
	}
	heapStack = m["go_memstats_heap_inuse_bytes"] + m["go_memstats_stack_inuse_bytes"]
	if heapStack == 0 {
		return 0, 0, fmt.Errorf("no go_memstats in /metrics")
	}
	return heapStack, m["go_goroutines"], nil
}

func (b *bench) memory() (*result, error) {
	conns := b.imapIdle
	f, err := b.accountsFixture()
	if err != nil {
		return nil, err
	}
	r := &result{name: "memory", peerName: "Dovecot", n: conns,
		metrics: []string{"RSS with 0 MiB", fmt.Sprintf("RSS with %d MiB", conns), "RSS per connection KiB", "PSS per connection KiB",
			"Go heap+stacks per connection KiB", "processes", "connect+LOGIN+SELECT+IDLE s"}}
	one := func(sys string) (map[string]float64, error) {
		var roots []int
		var addr string
		var stop func()
		var logPath, httpAddr string
		if sys == "petrel" {
			p, err := b.startPetrel("mem-petrel", petrelOpts{imap: true, http: true, dataDir: f.petrelData})
			if err != nil {
				return nil, err
			}
			roots, addr, stop, logPath, httpAddr = []int{p.p.pid()}, p.imap, p.stop, p.log, p.http
		} else {
			d, err := b.startDovecotIMAP("mem-dovecot", f.dovecot)
			if err != nil {
				return nil, err
			}
			roots, addr, stop, logPath = []int{d.p.pid()}, d.imap, d.stop, d.log
		}
		defer stop()
		open := func(k int, parallel string) (*child, float64, error) {
			c, err := b.startChild("-addr", addr, "-users", "u%03d@bench.test", "-accounts", fmt.Sprint(len(f.users)), "-pass", imapPass,
				"-clients", fmt.Sprint(k), "-login-parallel", parallel, "-max-time", b.runTimeout.String(), "idle")
			if err != nil {
				return nil, 0, err
			}
			var ready struct {
				Open         int
				SetupSeconds float64 `json:"setup_seconds"`
				FirstError   string  `json:"first_error"`
			}
			if err := c.recv(&ready, b.runTimeout); err != nil {
				c.finish()
				return nil, 0, err
			}
			if ready.Open != k {
				c.finish()
				return nil, 0, fmt.Errorf("%d of %d connections opened: %s\n%s", ready.Open, k, ready.FirstError, tail(logPath, 1500))
			}
			return c, ready.SetupSeconds, nil
		}
		// Warm-up: every account logs in and selects its INBOX once
		// (Dovecot indexes, Petrel's login cache), then all close.
		w, _, err := open(len(f.users), "1")
		if err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		w.send("quit")
		w.finish()
		time.Sleep(5 * time.Second)
		// Petrel: past the Go runtime's forced GC (every 2 minutes), so
		// that the garbage of the warm-up's argon2id checks (19 MiB each)
		// is collected and returned before "with 0", and likewise after
		// the connections are made.
		atLeast := time.Duration(0)
		if httpAddr != "" {
			atLeast = 150 * time.Second
		}
		rss0, pss0, n0, by0, waited0 := stableMem(atLeast, 200*time.Second, roots...)
		var go0, gr0 float64
		if httpAddr != "" {
			if go0, gr0, err = goMem(httpAddr); err != nil {
				return nil, err
			}
		}
		c, setup, err := open(conns, "20")
		if err != nil {
			return nil, err
		}
		time.Sleep(5 * time.Second)
		rss1, pss1, n1, by1, waited1 := stableMem(atLeast, 200*time.Second, roots...)
		var go1, gr1 float64
		if httpAddr != "" {
			if go1, gr1, err = goMem(httpAddr); err != nil {
				return nil, err
			}
		}
		c.send("quit")
		c.finish()
		b.logf("    memory %s: with 0 (stable after %.0fs more): %d processes, RSS %.1f MiB, PSS %.1f MiB (%s)", sys, waited0.Seconds(), n0, float64(rss0)/1024, float64(pss0)/1024, fmtMem(by0))
		b.logf("    memory %s: with %d (stable after %.0fs more): %d processes, RSS %.1f MiB, PSS %.1f MiB (%s)", sys, conns, waited1.Seconds(), n1, float64(rss1)/1024, float64(pss1)/1024, fmtMem(by1))
		m := map[string]float64{
			"RSS with 0 MiB": float64(rss0) / 1024, fmt.Sprintf("RSS with %d MiB", conns): float64(rss1) / 1024,
			"RSS per connection KiB": float64(rss1-rss0) / float64(conns), "PSS per connection KiB": float64(pss1-pss0) / float64(conns),
			"processes": float64(n1), "connect+LOGIN+SELECT+IDLE s": setup,
		}
		if httpAddr != "" {
			m["Go heap+stacks per connection KiB"] = (go1 - go0) / 1024 / float64(conns)
			b.logf("    memory %s: Go heap+stacks %.1f → %.1f MiB, goroutines %.0f → %.0f", sys, go0/(1<<20), go1/(1<<20), gr0, gr1)
		}
		return m, nil
	}
	if err := b.alternate(r, func() (map[string]float64, error) { return one("petrel") }, func() (map[string]float64, error) { return one("peer") }); err != nil {
		return nil, err
	}
	r.notes = append(r.notes,
		fmt.Sprintf("memory: %d connections (raw sockets: LOGIN, SELECT INBOX, IDLE; 20 at a time) over the %d accounts of imap-concurrency (INBOX of %d messages), from 127.0.2.1… (at most 40 per address). Each round starts the server afresh, logs every account in once, one at a time (warm-up: Dovecot's indexes, Petrel's login cache, so that no argon2id runs during the measurement), waits 5 s, reads memory \"with 0\" once RSS has been stable for 10 s (within 2 %%; for Petrel also at least 150 s, past the Go runtime's forced GC (2 minutes after the last one) and the return of the freed pages that follows it: the heap the warm-up's argon2id checks used, 19 MiB each, is otherwise still held and returned in the middle of the measurement), opens the connections, waits 5 s, reads \"with %d\" the same way. For Petrel, \"Go heap+stacks\" is go_memstats_heap_inuse_bytes + go_memstats_stack_inuse_bytes from its /metrics (HTTP listener on for this scenario), read with the RSS. RSS = VmRSS from /proc/PID/status summed over the server's processes (Petrel: one; Dovecot: master and every child, so every imap process); PSS (smaps_rollup) divides shared pages among the processes that map them. Per connection = (with %d − with 0)/%d.", conns, len(f.users), b.n["imap-concurrency"], conns, conns, conns),
		"memory: Dovecot at its defaults but for `default_client_limit = 3000` and `process_limit = 1200` for imap-login and imap (one imap process per connection; imap_hibernate_timeout stays 0, its default, so idle clients keep their process). bench/run.sh raises fs.inotify.max_user_instances to 2048 for the run (default 128 per user: beyond it Dovecot's IDLE stops using inotify and polls).")
	return r, nil
}

// profileIMAP runs one more (unmeasured) session of the steps against
// Petrel with `perf record -g` attached to it during each step, and writes
// the top functions of each step (self time, and cumulative time of
// Petrel's own and go-imap's functions) to bench/out/profile-imap.txt.
func (b *bench) profileIMAP(p *petrel, steps []string) error {
	perf, err := exec.LookPath("perf")
	if err != nil {
		return fmt.Errorf("perf not found (apt-get install linux-perf)")
	}
	c, err := b.startChild("-addr", p.imap, "-user", imapAlice, "-pass", imapPass, "-picks", "1000",
		"-body-word", mailgen.SearchBodyWord, "-subject-word", mailgen.SearchSubjectWord, "-from-word", mailgen.SearchFromName,
		"-max-time", b.runTimeout.String(), "steps")
	if err != nil {
		return err
	}
	defer c.finish()
	var out strings.Builder
	fmt.Fprintf(&out, "perf record -F 999 -g -p <petrel serve> during each step of one imap session (%s)\n", time.Now().UTC().Format(time.RFC3339))
	for _, st := range steps {
		stop, err := b.perfRecord(perf, p.p.pid(), "perf-"+st)
		if err != nil {
			return err
		}
		c.send(st + " 99")
		var o stepOut
		err = c.recv(&o, b.runTimeout)
		report := stop()
		if err != nil || o.Err != "" {
			return fmt.Errorf("%s: %v %s", st, err, o.Err)
		}
		fmt.Fprintf(&out, "\n===== %s (%.2f s)\n%s", st, o.Seconds, report)
	}
	c.send("quit")
	return os.WriteFile(filepath.Join(b.outDir, "profile-imap.txt"), []byte(out.String()), 0o644)
}

// underPerf runs run once more under perf (attached to pid): onGo and
// onDone, which run calls around its measured part, start and stop the
// recording meanwhile. It returns perf's report, "" when perf is missing or
// the run failed.
func (b *bench) underPerf(pid int, name string, onGo, onDone *func(), run func() error) string {
	perf, err := exec.LookPath("perf")
	if err != nil {
		b.logf("%s: PROFILE: perf not found", name)
		return ""
	}
	var stop func() string
	var report string
	*onGo = func() { stop, _ = b.perfRecord(perf, pid, name) }
	*onDone = func() {
		if stop != nil {
			report = stop()
		}
	}
	err = run()
	*onGo, *onDone = nil, nil
	if err != nil {
		return ""
	}
	return report
}

// perfRecord attaches `perf record -F 999 -g` to pid; the function it
// returns stops it and gives its report: the top functions by self time,
// and Petrel's, go-imap's and bbolt's by cumulative time.
func (b *bench) perfRecord(perf string, pid int, name string) (func() string, error) {
	data := filepath.Join(b.work, name+".data")
	pr, err := start("perf record", filepath.Join(b.work, "perf.log"), exec.Command(perf, "record", "-F", "999", "-g", "-p", fmt.Sprint(pid), "-o", data))
	if err != nil {
		return nil, err
	}
	time.Sleep(500 * time.Millisecond) // attached
	return func() string {
		pr.cmd.Process.Signal(os.Interrupt)
		select {
		case <-pr.done:
		case <-time.After(30 * time.Second):
		}
		pr.stop(time.Second)
		flat, _ := exec.Command(perf, "report", "-i", data, "--no-children", "--sort", "symbol", "--stdio", "-g", "none", "--percent-limit", "1.5").Output()
		cum, _ := exec.Command(perf, "report", "-i", data, "--children", "--sort", "symbol", "--stdio", "-g", "none", "--percent-limit", "3").Output()
		return fmt.Sprintf("-- self:\n%s-- cumulative (Petrel's, go-imap's, bbolt's functions; json.Unmarshal, GC marking, allocation, syscalls):\n%s", perfLines(flat, nil), perfLines(cum, []string{"petrel/", "go-imap", "bbolt", "imapserver", "json.Unmarshal", "runtime.gcBgMarkWorker", "runtime.mallocgc", "syscall.Syscall"}))
	}, nil
}

// perfLines keeps perf report's sample lines (those with a percentage),
// only those containing one of keep if given, at most 25.
func perfLines(report []byte, keep []string) string {
	var out []string
	for _, l := range strings.Split(string(report), "\n") {
		t := strings.TrimSpace(strings.TrimRight(l, " -"))
		if strings.HasPrefix(t, "# Samples") {
			out = append(out, "  "+strings.TrimPrefix(t, "# "))
			continue
		}
		if t == "" || strings.HasPrefix(t, "#") || !strings.Contains(t, "%") {
			continue
		}
		if keep != nil {
			ok := false
			for _, k := range keep {
				if strings.Contains(t, k) {
					ok = true
				}
			}
			if !ok {
				continue
			}
		}
		out = append(out, "  "+t)
		if len(out) == 25 {
			break
		}
	}
	return strings.Join(out, "\n") + "\n"
}

func httpGet(url string) (string, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(b), err
}
