// Command benchimap is the IMAP client of bench/run.sh's IMAP scenarios,
// run by bench/cmd/benchrun against Petrel and Dovecot alike. It talks to
// benchrun in lines: benchrun writes a command on standard input, benchimap
// answers with one line of JSON on standard output, so that benchrun can
// read the server's CPU from /proc between them.
//
//	benchimap steps    one session on a big mailbox; each input line names a
//	                   step (login, select, uid-fetch-flags, …) to run and time
//	benchimap conc     -clients sessions, each logged in with INBOX
//	                   selected; "ready", then on "go" they loop FETCH,
//	                   STORE and NOOP for -seconds and report ops and latency
//	benchimap imaptest the same clients running imaptest's default state
//	                   mix (LOGIN … LOGOUT, over and over) in a mailbox
//	                   "imaptest" kept near 30 messages
//	benchimap steady   -clients sessions that stay logged in, each on its
//	                   own account's INBOX; "ready", then on "go" each
//	                   loops a desktop client's commands (LIST, STATUS,
//	                   FETCH of flags, envelopes and bodies, STORE,
//	                   EXPUNGE, APPEND) for -seconds
//	benchimap idle     -clients connections logged in, INBOX selected, in
//	                   IDLE; "ready", then on "quit" they are closed
//
// Clients connect from -src-net.1, .2, … (at most -per-src connections
// from one address), so that per-address connection limits are those a
// crowd of real clients would meet. -addr may list several servers
// (host:port,host:port,…: the nodes of one mail host): client i connects
// to the (i mod n)-th. Every session is bounded by
// -max-time.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

var (
	addr     = flag.String("addr", "", "server host:port, or several, comma-separated (client i uses the (i mod n)-th)")
	user     = flag.String("user", "alice@bench.test", "account (steps)")
	users    = flag.String("users", "u%03d@bench.test", "account template, %d = 1…accounts (conc, imaptest, idle)")
	accounts = flag.Int("accounts", 200, "accounts; client i uses account i % accounts + 1")
	pass     = flag.String("pass", "bench-secret", "password of every account")
	clients  = flag.Int("clients", 200, "concurrent clients (conc, imaptest, idle)")
	seconds  = flag.Float64("seconds", 30, "measured time (conc, imaptest)")
	srcNet   = flag.String("src-net", "127.0.2", "clients connect from this /24 (.1, .2, …)")
	perSrc   = flag.Int("per-src", 40, "at most this many connections from one source address")
	parallel = flag.Int("login-parallel", 20, "logins at once while connecting")
	seed     = flag.Uint64("seed", 1, "random seed")
	appendD  = flag.String("append-dir", "", "directory of messages to APPEND (imaptest)")
	bodyWord = flag.String("body-word", "kumquat", "SEARCH BODY word (steps)")
	subjWord = flag.String("subject-word", "invoice", "SEARCH SUBJECT word (steps)")
	fromWord = flag.String("from-word", "Okonkwo", "SEARCH FROM word (steps)")
	picks    = flag.Int("picks", 1000, "messages of the random BODY.PEEK[] and STORE steps")
	client   = flag.String("client", "raw", "steady's client: raw (lines and literals, not decoded) or imapclient (go-imap's, decoding everything)")
	maxTime  = flag.Duration("max-time", 10*time.Minute, "give up after this long")
)

func main() {
	flag.Parse()
	if *addr == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: benchimap -addr host:port [flags] steps|conc|imaptest|steady|idle")
		os.Exit(2)
	}
	go func() {
		time.Sleep(*maxTime)
		fmt.Fprintf(os.Stderr, "benchimap: -max-time %v reached\n", *maxTime)
		os.Exit(3)
	}()
	var err error
	switch flag.Arg(0) {
	case "steps":
		err = steps()
	case "conc":
		err = conc(false)
	case "imaptest":
		err = conc(true)
	case "idle":
		err = idle()
	case "steady":
		err = steady()
	default:
		err = fmt.Errorf("unknown mode %q", flag.Arg(0))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchimap:", err)
		os.Exit(1)
	}
}

// ---------------------------------------------------------------- plumbing

var stdin = bufio.NewScanner(os.Stdin)

func readCmd() (string, bool) {
	if !stdin.Scan() {
		return "", false
	}
	return strings.TrimSpace(stdin.Text()), true
}

var outMu sync.Mutex

func emit(v any) {
	b, _ := json.Marshal(v)
	outMu.Lock()
	os.Stdout.Write(append(b, '\n'))
	outMu.Unlock()
}

// countConn counts the bytes read from the server.
type countConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

var received, literals atomic.Int64

func srcAddr(i int) *net.TCPAddr {
	k := i % max(1, (*clients+*perSrc-1) / *perSrc)
	return &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("%s.%d", *srcNet, k+1))}
}

// serverOf is the server client i connects to: -addr's (i mod n)-th.
func serverOf(i int) string {
	a := strings.Split(*addr, ",")
	return a[i%len(a)]
}

func dial(i int, h *imapclient.UnilateralDataHandler) (*imapclient.Client, error) {
	d := net.Dialer{LocalAddr: srcAddr(i), Timeout: 30 * time.Second}
	conn, err := d.Dial("tcp", serverOf(i))
	if err != nil {
		return nil, err
	}
	c := imapclient.New(countConn{conn, &received}, &imapclient.Options{UnilateralDataHandler: h})
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	return c, nil
}

func account(i int) string {
	if strings.Contains(*users, "%") {
		return fmt.Sprintf(*users, i%*accounts+1)
	}
	return *users
}

func cpuNow() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// drain reads a FETCH command's responses, literals included, and returns
// the number of messages.
func drain(cmd *imapclient.FetchCommand) (int, error) {
	n := 0
	for m := cmd.Next(); m != nil; m = cmd.Next() {
		for it := m.Next(); it != nil; it = m.Next() {
			switch it := it.(type) {
			case imapclient.FetchItemDataBodySection:
				if it.Literal != nil {
					k, _ := io.Copy(io.Discard, it.Literal)
					literals.Add(k)
				}
			case imapclient.FetchItemDataBinarySection:
				if it.Literal != nil {
					io.Copy(io.Discard, it.Literal)
				}
			}
		}
		n++
	}
	return n, cmd.Close()
}

// picksOf returns k distinct random numbers in 1…n, from seed.
func picksOf(seed uint64, n, k int) []uint32 {
	r := rand.New(rand.NewPCG(seed, 77))
	k = min(k, n)
	seen := map[uint32]bool{}
	var out []uint32
	for len(out) < k {
		x := uint32(1 + r.IntN(n))
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// ---------------------------------------------------------------- steps

type stepResult struct {
	Step      string  `json:"step"`
	Seconds   float64 `json:"seconds"`
	Count     int     `json:"count"`
	Bytes     int64   `json:"bytes"`
	Literal   int64   `json:"literal"` // bytes of BODY[] literals
	ClientCPU float64 `json:"client_cpu"`
	UIDNext   uint32  `json:"uidnext,omitempty"`
	Err       string  `json:"err,omitempty"`
}

// steps runs one session, a step per input line ("quit" ends it). A step
// argument after a space is its seed (fetch-body, store-each, store-set).
func steps() error {
	var c *imapclient.Client
	var n int // messages in INBOX
	for {
		line, ok := readCmd()
		if !ok || line == "quit" {
			if c != nil {
				c.Logout().Wait()
				c.Close()
			}
			return nil
		}
		name, arg, _ := strings.Cut(line, " ")
		var s uint64
		fmt.Sscan(arg, &s)
		res := stepResult{Step: name}
		cpu0, rx0, lit0, t0 := cpuNow(), received.Load(), literals.Load(), time.Now()
		err := func() error {
			if name != "login" && c == nil {
				return errors.New("not logged in")
			}
			switch name {
			case "login": // connect, greeting, LOGIN
				var err error
				if c, err = dial(0, nil); err != nil {
					return err
				}
				return c.Login(*user, *pass).Wait()
			case "select":
				d, err := c.Select("INBOX", nil).Wait()
				if err != nil {
					return err
				}
				n, res.Count, res.UIDNext = int(d.NumMessages), int(d.NumMessages), uint32(d.UIDNext)
			case "uid-fetch-flags":
				k, err := drain(c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}))
				res.Count = k
				return err
			case "fetch-envelope-bodystructure":
				k, err := drain(c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}))
				res.Count = k
				return err
			case "fetch-body": // one UID FETCH … BODY.PEEK[] per message
				for _, u := range picksOf(s, n, *picks) {
					k, err := drain(c.Fetch(imap.UIDSetNum(imap.UID(u)), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}))
					if err != nil {
						return err
					}
					res.Count += k
				}
			case "search-from", "search-subject", "search-body":
				var cr imap.SearchCriteria
				switch name {
				case "search-from":
					cr.Header = []imap.SearchCriteriaHeaderField{{Key: "From", Value: *fromWord}}
				case "search-subject":
					cr.Header = []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: *subjWord}}
				default:
					cr.Body = []string{*bodyWord}
				}
				d, err := c.UIDSearch(&cr, nil).Wait()
				if err != nil {
					return err
				}
				res.Count = len(d.AllUIDs())
			case "store-each": // one UID STORE +FLAGS (\Flagged) per message
				for _, u := range picksOf(s, n, *picks) {
					k, err := drain(c.Store(imap.UIDSetNum(imap.UID(u)), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil))
					if err != nil {
						return err
					}
					res.Count += k
				}
			case "store-set": // one UID STORE -FLAGS (\Flagged) for all of them
				var set imap.UIDSet
				for _, u := range picksOf(s, n, *picks) {
					set.AddNum(imap.UID(u))
				}
				k, err := drain(c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsDel, Flags: []imap.Flag{imap.FlagFlagged}}, nil))
				res.Count = k
				return err
			default:
				return fmt.Errorf("unknown step %q", name)
			}
			return nil
		}()
		res.Seconds = time.Since(t0).Seconds()
		res.Bytes = received.Load() - rx0
		res.Literal = literals.Load() - lit0
		res.ClientCPU = cpuNow() - cpu0
		if err != nil {
			res.Err = err.Error()
		}
		emit(res)
	}
}

// ---------------------------------------------------------------- conc, imaptest

// A lat collects the latencies of one kind of command.
type lat struct {
	mu sync.Mutex
	d  []float64 // ms
	e  int
}

func (l *lat) add(d time.Duration, err error) {
	l.mu.Lock()
	if err != nil {
		l.e++
	} else {
		l.d = append(l.d, float64(d.Microseconds())/1000)
	}
	l.mu.Unlock()
}

type opStats struct {
	Count  int     `json:"count"`
	Errors int     `json:"errors"`
	P50    float64 `json:"p50_ms"`
	P99    float64 `json:"p99_ms"`
	Max    float64 `json:"max_ms"`
}

func pct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return v[min(len(v)-1, int(p*float64(len(v))))]
}

type concResult struct {
	Clients    int                 `json:"clients"`
	Seconds    float64             `json:"seconds"`
	Ops        int                 `json:"ops"`
	Errors     int                 `json:"errors"`
	P50        float64             `json:"p50_ms"`
	P99        float64             `json:"p99_ms"`
	Iterations int64               `json:"iterations"`
	Sessions   int64               `json:"sessions,omitempty"`
	ByOp       map[string]*opStats `json:"by_op"`
	Bytes      int64               `json:"bytes"`
	ClientCPU  float64             `json:"client_cpu"`
	FirstError string              `json:"first_error,omitempty"`
}

type concState struct {
	mu         sync.Mutex
	lats       map[string]*lat
	iterations atomic.Int64
	sessions   atomic.Int64
	firstErr   atomic.Value
}

func (s *concState) timed(name string, f func() error) error {
	s.mu.Lock()
	l := s.lats[name]
	if l == nil {
		l = &lat{}
		s.lats[name] = l
	}
	s.mu.Unlock()
	t := time.Now()
	err := f()
	l.add(time.Since(t), err)
	if err != nil {
		s.firstErr.CompareAndSwap(nil, name+": "+err.Error())
	}
	return err
}

func (s *concState) result(elapsed time.Duration, rx int64, cpu float64) concResult {
	r := concResult{Clients: *clients, Seconds: elapsed.Seconds(), ByOp: map[string]*opStats{}, Iterations: s.iterations.Load(), Sessions: s.sessions.Load(), Bytes: rx, ClientCPU: cpu}
	var all []float64
	for name, l := range s.lats {
		sort.Float64s(l.d)
		r.ByOp[name] = &opStats{Count: len(l.d), Errors: l.e, P50: pct(l.d, 0.5), P99: pct(l.d, 0.99), Max: pct(l.d, 1)}
		if name == "connect" { // not a command
			continue
		}
		r.Ops += len(l.d)
		r.Errors += l.e
		all = append(all, l.d...)
	}
	sort.Float64s(all)
	r.P50, r.P99 = pct(all, 0.5), pct(all, 0.99)
	if e, ok := s.firstErr.Load().(string); ok {
		r.FirstError = e
	}
	return r
}

// conc connects the clients (login and SELECT, -login-parallel at a time),
// says ready, and on "go" runs the loop (or imaptest's mix) for -seconds.
func conc(mix bool) error {
	var msgs [][]byte
	if mix {
		var err error
		if msgs, err = loadMessages(*appendD); err != nil {
			return err
		}
	}
	st := &concState{lats: map[string]*lat{}}
	cs := make([]*imapclient.Client, *clients)
	sem := make(chan struct{}, *parallel)
	var wg sync.WaitGroup
	var setupErr atomic.Value
	t0 := time.Now()
	for i := range cs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := dial(i, nil)
			if err == nil {
				err = login(c, account(i))
			}
			if err == nil && mix {
				err = prefill(c, msgs, rand.New(rand.NewPCG(*seed, uint64(i))))
			} else if err == nil {
				var d *imap.SelectData
				if d, err = c.Select("INBOX", nil).Wait(); err == nil {
					inboxMu.Lock()
					inboxSize = int(d.NumMessages)
					inboxMu.Unlock()
				}
			}
			if err != nil {
				setupErr.CompareAndSwap(nil, fmt.Sprintf("client %d (%s): %v", i, account(i), err))
				return
			}
			cs[i] = c
		}()
	}
	wg.Wait()
	if e, ok := setupErr.Load().(string); ok {
		return errors.New(e)
	}
	emit(map[string]any{"ready": true, "setup_seconds": time.Since(t0).Seconds()})
	if l, _ := readCmd(); l != "go" {
		return fmt.Errorf("expected go, got %q", l)
	}
	cpu0, rx0 := cpuNow(), received.Load()
	start := time.Now()
	deadline := start.Add(time.Duration(*seconds * float64(time.Second)))
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(*seed, uint64(1000+i)))
			if mix {
				c.Logout().Wait()
				c.Close()
				imaptestLoop(i, st, r, msgs, deadline)
				return
			}
			for time.Now().Before(deadline) {
				if err := iteration(c, st, r); err != nil {
					if c, err = reconnect(i); err != nil {
						st.firstErr.CompareAndSwap(nil, "reconnect: "+err.Error())
						return
					}
				}
				st.iterations.Add(1)
			}
			c.Logout().Wait()
			c.Close()
		}()
	}
	wg.Wait()
	emit(st.result(time.Since(start), received.Load()-rx0, cpuNow()-cpu0))
	return nil
}

func reconnect(i int) (*imapclient.Client, error) {
	c, err := dial(i, nil)
	if err != nil {
		return nil, err
	}
	if err := login(c, account(i)); err != nil {
		return nil, err
	}
	_, err = c.Select("INBOX", nil).Wait()
	return c, err
}

// login logs in as a mail client does: a server shedding password checks
// (NO [UNAVAILABLE], as Petrel answers past its bound on argon2id work)
// is asked again after a pause (growing to 1 s, with jitter), for up to a
// minute.
func login(c *imapclient.Client, user string) error {
	deadline := time.Now().Add(time.Minute)
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		err := c.Login(user, *pass).Wait()
		var ie *imap.Error
		if err == nil || !errors.As(err, &ie) || ie.Code != imap.ResponseCodeUnavailable || time.Now().After(deadline) {
			return err
		}
		time.Sleep(delay/2 + rand.N(delay))
	}
}

// inboxSize is the number of messages of every INBOX (the accounts all
// have the same, and the loop neither adds nor removes any).
var (
	inboxMu   sync.Mutex
	inboxSize int
)

// iteration is one round of the fixed loop: the flags of the whole
// mailbox, a random message's header, a random message, a flag set and
// cleared, a NOOP.
func iteration(c *imapclient.Client, st *concState, r *rand.Rand) error {
	n := inboxSize
	if n == 0 {
		return errors.New("empty mailbox")
	}
	u1, u2, u3 := imap.UID(1+r.IntN(n)), imap.UID(1+r.IntN(n)), imap.UID(1+r.IntN(n))
	ops := []struct {
		name string
		f    func() error
	}{
		{"UID FETCH 1:* (UID FLAGS)", func() error {
			_, err := drain(c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}))
			return err
		}},
		{"UID FETCH n BODY.PEEK[HEADER]", func() error {
			_, err := drain(c.Fetch(imap.UIDSetNum(u1), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Peek: true}}}))
			return err
		}},
		{"UID FETCH n BODY.PEEK[]", func() error {
			_, err := drain(c.Fetch(imap.UIDSetNum(u2), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}))
			return err
		}},
		{"UID STORE n +FLAGS (\\Flagged)", func() error {
			_, err := drain(c.Store(imap.UIDSetNum(u3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil))
			return err
		}},
		{"UID STORE n -FLAGS (\\Flagged)", func() error {
			_, err := drain(c.Store(imap.UIDSetNum(u3), &imap.StoreFlags{Op: imap.StoreFlagsDel, Flags: []imap.Flag{imap.FlagFlagged}}, nil))
			return err
		}},
		{"NOOP", func() error { return c.Noop().Wait() }},
	}
	for _, op := range ops {
		if err := st.timed(op.name, op.f); err != nil {
			return err
		}
	}
	return nil
}

// ---------------------------------------------------------------- imaptest's mix

const (
	mixBox  = "imaptest"
	mixMsgs = 30 // imaptest's msgs: the mailbox is kept near this size
)

func loadMessages(dir string) ([][]byte, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("-append-dir: %w", err)
	}
	var out [][]byte
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, []byte(strings.ReplaceAll(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n", "\r\n")))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no messages in %s", dir)
	}
	return out, nil
}

// prefill makes the mix's mailbox and APPENDs until it holds mixMsgs
// messages (before the clock starts).
func prefill(c *imapclient.Client, msgs [][]byte, r *rand.Rand) error {
	c.Create(mixBox, nil).Wait() // it may exist
	d, err := c.Select(mixBox, nil).Wait()
	if err != nil {
		return err
	}
	for k := int(d.NumMessages); k < mixMsgs; k++ {
		if err := appendOne(c, msgs, r); err != nil {
			return err
		}
	}
	return nil
}

var mixFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDraft, "$Label1", "$Label2", "$Label3", "$Label4", "$Label5"}

func randomFlags(r *rand.Rand) []imap.Flag {
	var f []imap.Flag
	for _, x := range mixFlags {
		if r.IntN(4) == 0 {
			f = append(f, x)
		}
	}
	return f
}

func appendOne(c *imapclient.Client, msgs [][]byte, r *rand.Rand) error {
	m := msgs[r.IntN(len(msgs))]
	var o imap.AppendOptions
	if r.IntN(2) == 0 {
		o.Flags = randomFlags(r)
	}
	if r.IntN(2) == 0 {
		o.Time = time.Now().Add(-time.Duration(r.IntN(1000)) * time.Hour)
	}
	cmd := c.Append(mixBox, int64(len(m)), &o)
	if _, err := cmd.Write(m); err != nil {
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	_, err := cmd.Wait()
	return err
}

// randomSeqs returns up to k random sequence numbers in 1…n (as imaptest's
// client_get_random_seq_range).
func randomSeqs(r *rand.Rand, n, k int) imap.SeqSet {
	var s imap.SeqSet
	for i := 0; i < k; i++ {
		s.AddNum(uint32(1 + r.IntN(n)))
	}
	return s
}

// imaptestLoop runs imaptest's default states, in its order, each with its
// default probability, session after session until the deadline: LOGIN
// 100, LIST 50, STATUS 50, SELECT 100, FETCH 100, FETCH2 100 (again 30),
// STORE 50, DELETE 100, EXPUNGE 100, APPEND 100 (again 5), LOGOUT 100.
// COPY (33) is left out: imaptest runs it only with a copybox set. No
// pipelining: one command at a time.
func imaptestLoop(i int, st *concState, r *rand.Rand, msgs [][]byte, deadline time.Time) {
	do := func(p int) bool { return r.IntN(100) < p }
	for time.Now().Before(deadline) {
		// The message count, kept here: imapclient's Mailbox() is set
		// only after SELECT's Wait returns.
		var count atomic.Int64
		h := &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					count.Store(int64(*d.NumMessages))
				}
			},
			Expunge: func(uint32) { count.Add(-1) },
		}
		var c *imapclient.Client
		err := st.timed("connect", func() (err error) { c, err = dial(i, h); return })
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		session := func() error {
			if err := st.timed("LOGIN", func() error { return c.Login(account(i), *pass).Wait() }); err != nil {
				return err
			}
			if do(50) {
				if err := st.timed("LIST", func() error { _, err := c.List("", "*", nil).Collect(); return err }); err != nil {
					return err
				}
			}
			if do(50) {
				if err := st.timed("STATUS", func() error {
					_, err := c.Status(mixBox, &imap.StatusOptions{NumMessages: true, NumUnseen: true}).Wait()
					return err
				}); err != nil {
					return err
				}
			}
			if err := st.timed("SELECT", func() error {
				d, err := c.Select(mixBox, nil).Wait()
				if err == nil {
					count.Store(int64(d.NumMessages))
				}
				return err
			}); err != nil {
				return err
			}
			n := func() int { return int(max(0, count.Load())) }
			if n() > 0 { // FETCH: up to 100 random messages, 1–4 random items
				fields := []string{"UID", "FLAGS", "ENVELOPE", "INTERNALDATE", "BODY", "BODYSTRUCTURE", "RFC822.SIZE"}
				headers := []string{"From", "To", "Cc", "Subject", "References", "In-Reply-To", "Message-ID", "Delivered-To"}
				var o imap.FetchOptions
				for k := 1 + r.IntN(4); k > 0; k-- {
					if r.IntN(4) != 0 {
						switch fields[r.IntN(len(fields))] {
						case "UID":
							o.UID = true
						case "FLAGS":
							o.Flags = true
						case "ENVELOPE":
							o.Envelope = true
						case "INTERNALDATE":
							o.InternalDate = true
						case "BODY":
							o.BodyStructure = &imap.FetchItemBodyStructure{}
						case "BODYSTRUCTURE":
							o.BodyStructure = &imap.FetchItemBodyStructure{Extended: true}
						case "RFC822.SIZE":
							o.RFC822Size = true
						}
					} else {
						var hf []string
						for j := 1 + r.IntN(4); j > 0; j-- {
							hf = append(hf, headers[r.IntN(len(headers))])
						}
						o.BodySection = append(o.BodySection, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: hf, Peek: true})
					}
				}
				set := randomSeqs(r, n(), min(n(), 100))
				if err := st.timed("FETCH", func() error { _, err := drain(c.Fetch(set, &o)); return err }); err != nil {
					return err
				}
			}
			for again := true; again && n() > 0; again = do(30) { // FETCH2
				secs := []*imap.FetchItemBodySection{
					{Specifier: imap.PartSpecifierHeader, Peek: true}, {Specifier: imap.PartSpecifierHeader, Peek: true},
					{Peek: true}, {Part: []int{1}, Peek: true}, {Specifier: imap.PartSpecifierText, Peek: true},
				}
				o := &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{secs[r.IntN(len(secs))]}}
				set := imap.SeqSetNum(uint32(1 + r.IntN(n())))
				if err := st.timed("FETCH2", func() error { _, err := drain(c.Fetch(set, o)); return err }); err != nil {
					return err
				}
			}
			if do(50) && n() > 0 { // STORE
				k := r.IntN(max(1, min(n()/5, 50)))
				if n() < 10 {
					k = r.IntN(n())
				}
				if k > 0 {
					sf := &imap.StoreFlags{Op: []imap.StoreFlagsOp{imap.StoreFlagsAdd, imap.StoreFlagsDel, imap.StoreFlagsSet}[r.IntN(3)], Silent: r.IntN(2) == 0, Flags: randomFlags(r)}
					set := randomSeqs(r, n(), k)
					if err := st.timed("STORE", func() error { _, err := drain(c.Store(set, sf, nil)); return err }); err != nil {
						return err
					}
				}
			}
			if n() > 0 { // DELETE
				k := r.IntN(5)
				if n() > mixMsgs+5 {
					k = r.IntN(n() - mixMsgs)
				}
				if k > 0 {
					sf := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: r.IntN(2) == 0, Flags: []imap.Flag{imap.FlagDeleted}}
					set := randomSeqs(r, n(), k)
					if err := st.timed("DELETE", func() error { _, err := drain(c.Store(set, sf, nil)); return err }); err != nil {
						return err
					}
				}
			}
			if err := st.timed("EXPUNGE", func() error {
				seqs, err := c.Expunge().Collect()
				count.Add(-int64(len(seqs)))
				return err
			}); err != nil {
				return err
			}
			for again := true; again && n() < mixMsgs; again = do(5) { // APPEND
				if err := st.timed("APPEND", func() error { return appendOne(c, msgs, r) }); err != nil {
					return err
				}
			}
			return st.timed("LOGOUT", func() error { return c.Logout().Wait() })
		}
		session()
		c.Close()
		st.sessions.Add(1)
		st.iterations.Add(1)
	}
}

// ---------------------------------------------------------------- idle

// idle opens the connections on bare sockets (LOGIN, SELECT INBOX, IDLE),
// -login-parallel at a time, says ready, and closes them on "quit".
func idle() error {
	conns := make([]net.Conn, *clients)
	sem := make(chan struct{}, *parallel)
	var wg sync.WaitGroup
	var setupErr atomic.Value
	t0 := time.Now()
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := idleOne(i)
			if err != nil {
				setupErr.CompareAndSwap(nil, fmt.Sprintf("connection %d (%s): %v", i, account(i), err))
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	open := 0
	for _, c := range conns {
		if c != nil {
			open++
		}
	}
	e, _ := setupErr.Load().(string)
	emit(map[string]any{"ready": true, "open": open, "setup_seconds": time.Since(t0).Seconds(), "first_error": e})
	readCmd()
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	return nil
}

func idleOne(i int) (net.Conn, error) {
	d := net.Dialer{LocalAddr: srcAddr(i), Timeout: 30 * time.Second}
	c, err := d.Dial("tcp", serverOf(i))
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(c)
	until := func(prefix string) error {
		for {
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			l, err := br.ReadString('\n')
			if err != nil {
				return err
			}
			if strings.HasPrefix(l, prefix) {
				return nil
			}
			if strings.HasPrefix(l, "a NO") || strings.HasPrefix(l, "a BAD") || strings.HasPrefix(l, "b NO") || strings.HasPrefix(l, "b BAD") || strings.HasPrefix(l, "* BYE") {
				return errors.New(strings.TrimSpace(l))
			}
		}
	}
	fail := func(err error) (net.Conn, error) { c.Close(); return nil, err }
	if err := until("* OK"); err != nil {
		return fail(err)
	}
	fmt.Fprintf(c, "a LOGIN %q %q\r\n", account(i), *pass)
	if err := until("a OK"); err != nil {
		return fail(err)
	}
	fmt.Fprintf(c, "b SELECT INBOX\r\n")
	if err := until("b OK"); err != nil {
		return fail(err)
	}
	fmt.Fprintf(c, "c IDLE\r\n")
	if err := until("+ "); err != nil {
		return fail(err)
	}
	c.SetReadDeadline(time.Time{})
	return c, nil
}
