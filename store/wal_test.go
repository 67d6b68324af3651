package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// quiet is the WAL tests' logger: their crashes would fill the output with
// the replays' log lines.
var quiet = slog.New(slog.DiscardHandler)

// walOptions are the WAL tests' store options.
var walOptions = Options{Logger: quiet, CheapPasswordHash: true}

// ioEvent is one file operation of the store: a write to the store file
// (main) or to its log, or a completed fdatasync of one of them.
type ioEvent struct {
	log  bool
	sync bool
	off  int64
	data []byte
}

// ioRecorder records what the store asks of the disk, so that a test can
// build the files a power loss at any moment could leave: everything
// synced, and any part of what was written since.
type ioRecorder struct {
	mu     sync.Mutex
	events []ioEvent
}

func (r *ioRecorder) add(e ioEvent) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *ioRecorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

func (r *ioRecorder) wrap(w *wal) {
	wm, sm, wl, sl := w.writeMain, w.syncMain, w.writeLog, w.syncLog
	w.writeMain = func(b []byte, off int64) (int, error) {
		r.add(ioEvent{off: off, data: slices.Clone(b)})
		return wm(b, off)
	}
	w.syncMain = func() error {
		err := sm()
		r.add(ioEvent{sync: true})
		return err
	}
	w.writeLog = func(b []byte, off int64) (int, error) {
		r.add(ioEvent{log: true, off: off, data: slices.Clone(b)})
		return wl(b, off)
	}
	w.syncLog = func() error {
		err := sl()
		r.add(ioEvent{log: true, sync: true})
		return err
	}
}

// image writes into dir the store file and log a power loss after the
// first n events could leave: the files as they were at the start (base),
// every write before the file's last sync, and of the writes after it a
// random choice, some cut short at a 512-byte sector.
func (r *ioRecorder) image(t *testing.T, dir string, base map[bool][]byte, size int64, n int, rnd *rand.Rand) {
	t.Helper()
	for _, log := range []bool{false, true} {
		lastSync := -1
		for i, e := range r.events[:n] {
			if e.log == log && e.sync {
				lastSync = i
			}
		}
		f := slices.Clone(base[log])
		put := func(off int64, b []byte) {
			if end := off + int64(len(b)); end > int64(len(f)) {
				f = append(f, make([]byte, end-int64(len(f)))...)
			}
			copy(f[off:], b)
		}
		for i, e := range r.events[:n] {
			if e.log != log || e.sync {
				continue
			}
			switch {
			case i < lastSync:
				put(e.off, e.data)
			case rnd.IntN(3) == 0:
				// lost
			case rnd.IntN(4) == 0 && len(e.data) > 512:
				put(e.off, e.data[:512*rnd.IntN(len(e.data)/512)]) // torn
			default:
				put(e.off, e.data)
			}
		}
		name := "mail.db"
		if log {
			name = "mail.db-wal"
		} else if int64(len(f)) < size {
			f = append(f, make([]byte, size-int64(len(f)))...) // bbolt's own growth, synced apart
		}
		if err := os.WriteFile(filepath.Join(dir, name), f, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// walState is what the test expects of INBOX: UID -> flags.
type walState map[UID]string

func readWALState(t *testing.T, s *Store, mbx MailboxID, maxUID UID) walState {
	t.Helper()
	uids := make([]UID, 0, maxUID)
	for u := UID(1); u <= maxUID+1; u++ {
		uids = append(uids, u)
	}
	msgs, err := s.Messages(mbx, uids)
	if err != nil {
		t.Fatal(err)
	}
	out := walState{}
	for _, m := range msgs {
		var body []byte
		if err := s.ReadRaw(mbx, m.UID, func(c *Content) error {
			body = c.Slice(0, c.Size())
			return nil
		}); err != nil {
			t.Fatalf("UID %d: %v", m.UID, err)
		}
		if want := walBody(m.UID); !bytes.HasSuffix(body, want) {
			t.Fatalf("UID %d: its bytes are not what was appended (%d bytes, want %d)", m.UID, len(body), len(want))
		}
		out[m.UID] = strings.Join(m.Flags, " ")
	}
	return out
}

// walBody is the message appended as UID u: sizes from one line to a few
// pages, so commits write overflow pages too.
func walBody(u UID) []byte {
	n := 200 + int(u)*977%14000
	return []byte(fmt.Sprintf("Subject: %d\r\n\r\n%s", u, strings.Repeat(fmt.Sprintf("line %d\r\n", u), n/8)))
}

// TestWALPowerLoss: at any moment of a run of appends, flag changes and
// expunges, with the log restarting every few commits, a power loss
// leaves a store that opens, passes bbolt's consistency check, and holds
// exactly the state after the last answered write (or the one after it,
// when that commit's record reached the disk before its answer). Without
// the log's ordering (the meta page held back until the record is synced)
// or its replay, crash points fail here.
func TestWALPowerLoss(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "mail.db")
	opts := walOptions
	opts.WALSize = 40 << 10
	s, in := openInbox(t, path, opts)
	// From a checkpoint on, the files on disk are the files as read.
	if err := s.wal.checkpoint(); err != nil {
		t.Fatal(err)
	}
	base := map[bool][]byte{}
	for log, name := range map[bool]string{false: path, true: walPath(path)} {
		var err error
		if base[log], err = os.ReadFile(name); err != nil {
			t.Fatal(err)
		}
	}
	rec := &ioRecorder{}
	rec.wrap(s.wal)
	// Bigger appends skip the log (commitDirect): both ways are crashed.
	s.wal.directSize = 24 << 10

	rnd := rand.New(rand.NewPCG(1, 2))
	model := walState{}
	states := []walState{maps.Clone(model)} // states[k]: after k writes
	acks := []int{0}                        // acks[k]: events when write k was answered
	var maxUID UID
	for k := 0; k < 120; k++ {
		var uids []UID
		for u := range model {
			uids = append(uids, u)
		}
		slices.Sort(uids)
		switch op := k % 4; {
		case op == 3 && len(uids) > 4:
			u := uids[rnd.IntN(len(uids))]
			if _, err := s.Expunge(ctx, in, []UID{u}); err != nil {
				t.Fatal(err)
			}
			delete(model, u)
		case op == 2 && len(uids) > 0:
			u := uids[rnd.IntN(len(uids))]
			flag := []string{`\Seen`, `\Flagged`, "$Label1", `\Answered`}[rnd.IntN(4)]
			msgs, err := s.StoreFlags(ctx, in, []UID{u}, FlagsAdd, []string{flag})
			if err != nil {
				t.Fatal(err)
			}
			model[u] = strings.Join(msgs[0].Flags, " ")
		default:
			d, err := s.Append(ctx, in, walBody(maxUID+1), nil, nowFunc())
			if err != nil {
				t.Fatal(err)
			}
			if d.UID != maxUID+1 {
				t.Fatalf("UID %d, want %d", d.UID, maxUID+1)
			}
			maxUID = d.UID
			model[d.UID] = ""
		}
		states = append(states, maps.Clone(model))
		acks = append(acks, rec.len())
	}
	// The store file is synced by checkpoints, and twice by each commit
	// that skips the log.
	checkpoints := -2 * s.wal.directCommits
	for _, e := range rec.events {
		if !e.log && e.sync {
			checkpoints++
		}
	}
	if s.wal.directCommits < 5 || s.wal.directCommits > 100 {
		t.Fatalf("%d of 120 commits skipped the log: the run does not cover both ways", s.wal.directCommits)
	}
	t.Logf("%d file operations; %d of 120 commits skipped the log; %d checkpoints", len(rec.events), s.wal.directCommits, checkpoints)
	if checkpoints < 3 {
		t.Fatalf("%d checkpoints: the run does not cover the log's restarts", checkpoints)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	points := []int{0, len(rec.events)}
	for range 150 {
		points = append(points, rnd.IntN(len(rec.events)+1))
	}
	for _, n := range points {
		crash := t.TempDir()
		rec.image(t, crash, base, info.Size(), n, rnd)
		// The last write answered by then, and the states allowed.
		k := 0
		for k+1 < len(acks) && acks[k+1] <= n {
			k++
		}
		c, err := Open(filepath.Join(crash, "mail.db"), walOptions)
		if err != nil {
			t.Fatalf("power loss after %d of %d file operations: %v", n, len(rec.events), err)
		}
		if err := checkConsistent(c); err != nil {
			t.Fatalf("power loss after %d of %d file operations: %v", n, len(rec.events), err)
		}
		got := readWALState(t, c, in, maxUID)
		ok := fmt.Sprint(got) == fmt.Sprint(states[k])
		if !ok && k+1 < len(states) {
			ok = fmt.Sprint(got) == fmt.Sprint(states[k+1])
		}
		if !ok {
			t.Fatalf("power loss after %d of %d file operations (write %d answered): INBOX %v, want %v", n, len(rec.events), k, got, states[k])
		}
		// The recovered store takes writes, and keeps them.
		if _, err := c.Append(ctx, in, walBody(maxUID+1), nil, nowFunc()); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// copyStore copies the store file and its log as they are now (what a
// process killed at this moment leaves: the page cache is the kernel's)
// into dir.
func copyStore(t testing.TB, path, dir string) string {
	t.Helper()
	for _, p := range []string{path, walPath(path)} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, filepath.Base(path))
}

// TestWALKilledAndForeign: a store copied while open (a killed process)
// opens with every write it answered; the same log beside another store
// file is refused with an error that says so, and that file is left as
// it was.
func TestWALKilledAndForeign(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mail.db")
	s, in := openInbox(t, path, walOptions)
	for u := UID(1); u <= 30; u++ {
		if _, err := s.Append(ctx, in, walBody(u), nil, nowFunc()); err != nil {
			t.Fatal(err)
		}
	}
	killed := copyStore(t, path, t.TempDir())
	if fi, err := os.Stat(walPath(killed)); err != nil || fi.Size() <= walHeaderSize {
		t.Fatalf("the log holds no record while open (%v): the test shows nothing", err)
	}

	// Another store, with commits of its own.
	other := filepath.Join(t.TempDir(), "mail.db")
	o, _ := openInbox(t, other, walOptions)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(walPath(killed))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(walPath(other), log, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(other, walOptions); err == nil || !strings.Contains(err.Error(), "of another store file") {
		t.Fatalf("a foreign log: Open says %v, want an error naming it", err)
	}
	if after, _ := os.ReadFile(other); !bytes.Equal(before, after) {
		t.Fatal("a foreign log was written into the store file")
	}

	k := mustOpen(t, killed, walOptions)
	defer k.Close()
	got := readWALState(t, k, in, 30)
	if len(got) != 30 {
		t.Fatalf("after a kill: %d of the 30 messages answered", len(got))
	}
}

// TestWALFailure: when the log cannot be synced, the write fails, every
// later write fails without touching the files, reads go on, and after a
// restart the store holds what was answered and not the failed write.
func TestWALFailure(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mail.db")
	s, in := openInbox(t, path, walOptions)
	if _, err := s.Append(ctx, in, walBody(1), nil, nowFunc()); err != nil {
		t.Fatal(err)
	}
	sync := s.wal.syncLog
	s.wal.syncLog = func() error { return syscall.EIO }
	if _, err := s.Append(ctx, in, walBody(2), nil, nowFunc()); !errors.Is(err, syscall.EIO) {
		t.Fatalf("append with a failing log: %v, want EIO", err)
	}
	s.wal.syncLog = sync
	if err := s.Err(); err == nil || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Err after a failed fdatasync: %v, want it (readiness reports it)", err)
	}
	if _, err := s.Append(ctx, in, walBody(2), nil, nowFunc()); err == nil || !strings.Contains(err.Error(), "takes no more writes") {
		t.Fatalf("append after the log failed: %v, want it refused", err)
	}
	if got := readWALState(t, s, in, 3); len(got) != 1 {
		t.Fatalf("reads after the failure: %v, want UID 1 only", got)
	}
	if err := s.Close(); err == nil {
		t.Fatal("Close after a failed log says nothing")
	}
	s = mustOpen(t, path, walOptions)
	defer s.Close()
	if got := readWALState(t, s, in, 3); len(got) != 1 {
		t.Fatalf("after a restart: %v, want UID 1 only", got)
	}
	if d, err := s.Append(ctx, in, walBody(2), nil, nowFunc()); err != nil || d.UID != 2 {
		t.Fatalf("append after the restart: %v %v", d, err)
	}
}

// TestWALMetaPageTrimmed: the log drops a page's zeroed end, which for a
// meta page whose checksum ends in zero bytes cuts into the checksum; the
// record must still read as committing its transaction.
func TestWALMetaPageTrimmed(t *testing.T) {
	page := make([]byte, 4096)
	binary.NativeEndian.PutUint32(page[boltMetaMagic:], boltMagic)
	var txid uint64
	for txid = 1; ; txid++ {
		binary.NativeEndian.PutUint64(page[boltMetaTxid:], txid)
		h := fnv.New64a()
		h.Write(page[boltMetaMagic:boltMetaCheck])
		sum := h.Sum64()
		if sum>>56 == 0 {
			binary.NativeEndian.PutUint64(page[boltMetaCheck:], sum)
			break
		}
	}
	if got, ok := metaTxid(page); !ok || got != txid {
		t.Fatalf("the test's meta page reads as %d %v", got, ok)
	}
	var logged []byte
	w := &wal{pageSize: 4096, gen: 7, capturing: true, off: walHeaderSize,
		writeLog:  func(b []byte, _ int64) (int, error) { logged = slices.Clone(b); return len(b), nil },
		writeMain: func(b []byte, _ int64) (int, error) { return len(b), nil },
	}
	w.rec = make([]byte, walRecordHead)
	if _, err := w.writeAt(page, 0); err != nil || len(w.meta) == 0 {
		t.Fatalf("the meta page's write: %v (held back: %d bytes)", err, len(w.meta))
	}
	if size, want := len(logged), walRecordHead+walEntryHead+boltMetaLength; size >= want {
		t.Fatalf("record of %d bytes: the meta page's zeroed end was kept (want < %d)", size, want)
	}
	recs, err := walRecords(logged, walHeader{gen: 7, pageSize: 4096})
	if err != nil || len(recs) != 1 || recs[0].txid != txid {
		t.Fatalf("records: %+v %v, want one committing transaction %d", recs, err, txid)
	}
}

// FuzzWALRecords: whatever a log holds after its header (a torn tail,
// bytes of an older generation, damage), reading its records neither
// panics nor hangs nor reads past its end: it returns the whole records
// before the damage, in transaction order, or an error.
func FuzzWALRecords(f *testing.F) {
	path := filepath.Join(f.TempDir(), "mail.db")
	s, _ := openInbox(f, path, walOptions)
	killed := copyStore(f, path, f.TempDir())
	if err := s.Close(); err != nil {
		f.Fatal(err)
	}
	log, _ := os.ReadFile(walPath(killed))
	h, ok := decodeWALHeader(log)
	if !ok || len(log) <= walHeaderSize {
		f.Fatal("the seed log has no header or no record")
	}
	f.Add(log[walHeaderSize:])
	f.Add([]byte{})
	f.Add(log[walHeaderSize : len(log)-100])
	f.Fuzz(func(t *testing.T, tail []byte) {
		recs, err := walRecords(tail, h)
		if err != nil {
			return
		}
		used := 0
		for i, r := range recs {
			if r.txid == 0 || i > 0 && r.txid != recs[i-1].txid+1 {
				t.Fatalf("record %d commits transaction %d after %d", i, r.txid, recs[max(i-1, 0)].txid)
			}
			used += walRecordHead + len(r.body)
		}
		if used > len(tail) {
			t.Fatalf("records take %d bytes of the log's %d", used, len(tail))
		}
	})
}

// TestWALWriteFails: when the log cannot be written (a full disk), the
// commit fails and bbolt rolls it back; the next writes go on once the log
// can be written again, and a restart finds exactly the writes answered.
func TestWALWriteFails(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mail.db")
	s, in := openInbox(t, path, walOptions)
	if _, err := s.Append(ctx, in, walBody(1), nil, nowFunc()); err != nil {
		t.Fatal(err)
	}
	write := s.wal.writeLog
	s.wal.writeLog = func(b []byte, off int64) (int, error) {
		n, _ := write(b[:len(b)/2], off) // a part reaches the file
		return n, syscall.ENOSPC
	}
	if _, err := s.Append(ctx, in, walBody(2), nil, nowFunc()); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append with a full log: %v, want ENOSPC", err)
	}
	if _, err := s.StoreFlags(ctx, in, []UID{1}, FlagsAdd, []string{`\Seen`}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("store with a full log: %v, want ENOSPC", err)
	}
	s.wal.writeLog = write
	if err := s.Err(); err != nil {
		t.Fatalf("a full disk stopped the store: %v", err)
	}
	d, err := s.Append(ctx, in, walBody(2), nil, nowFunc())
	if err != nil {
		t.Fatalf("append once the log can be written: %v", err)
	}
	if d.UID != 2 {
		t.Fatalf("UID %d after a rolled-back append, want 2", d.UID)
	}
	want := walState{1: "", 2: ""}
	if got := readWALState(t, s, in, 3); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the rollback: %v, want %v", got, want)
	}
	killed := copyStore(t, path, t.TempDir())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, killed} {
		s := mustOpen(t, p, walOptions)
		if got := readWALState(t, s, in, 3); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s reopened: %v, want %v", p, got, want)
		}
		if err := checkConsistent(s); err != nil {
			t.Fatalf("%s reopened: %v", p, err)
		}
		s.Close()
	}
}
