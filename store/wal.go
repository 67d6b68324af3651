package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"syscall"
	"time"
	"unsafe"

	bolt "go.etcd.io/bbolt"

	"petrel/internal/durable"
)

// The write-ahead log (the file beside the store, path + "-wal").
//
// bbolt makes a commit durable with two fdatasyncs of the store file: one
// after the commit's pages, one after its meta page. The pages are spread
// over the file (about 35 separate places for a commit of four IMAP
// writes), and the disk charges for each place: 0.6–0.7 ms of the 1.1–1.3
// ms a commit took in IMAP's steady state. With the log, a commit is made
// durable by one sequential append of the same page images and one
// fdatasync of the log:
//
//  1. bbolt commits without syncing (NoSync). Its page writes go to the
//     store file's page cache at once, where nothing refers to them yet
//     (bbolt writes only pages that are free in the last durable state),
//     and into the commit's record.
//  2. Its last write, the meta page that makes those pages the store's
//     state, completes the record: the record (pages and meta page, with
//     a checksum) is appended to the log. If that fails (a full disk),
//     bbolt's commit fails and rolls back.
//  3. Once bbolt's commit returns, the log is fdatasync'd (outside bbolt's
//     locks, so readers do not wait for the disk): the commit is durable.
//     Only then is the meta page written to the store file (page cache),
//     and the commit's writers are answered.
//
// So the store file's meta pages only ever name states whose pages are
// all in the log or synced in the file, and readers only ever see those.
// When the log has grown past its size (Options.WALSize, 64 MiB), a
// checkpoint syncs the store file and starts the log again (a new
// generation, so records of an older one are never read). Open, before
// bbolt reads the file, writes every record of the log's current
// generation into the store file, in order, and syncs it: after a crash or
// a power loss, the file holds every commit whose writers were answered,
// and a commit torn by the crash is as if it never began (its record fails
// its checksum, and nothing refers to its pages).
//
// bbolt has no public hook for its page writes. attach sets, through
// reflection, the one function every page write goes through (DB.ops.writeAt,
// unexported), after checking that the field has the expected name and
// type: a bbolt that changes it makes Open fail with a clear error, and the
// store's tests with it, rather than write around the log.

const (
	walMagic       = "PETRELWAL1\x00\x00"
	walHeaderSize  = 4096 // records start here
	walRecordHead  = 16   // crc32c, body length, generation
	walEntryHead   = 16   // offset, length, length stored (the rest is zeros)
	walDefaultSize = 64 << 20
	walFillAhead   = 1 << 20 // zeros written ahead of the records (fill)
	walDirectSize  = 4 << 20 // a bigger commit skips the log (commitDirect)
)

var walCRC = crc32.MakeTable(crc32.Castagnoli)

// wal is the store's write-ahead log. Its methods run on the goroutine that
// leads a commit (one at a time), except open and close.
type wal struct {
	f        *os.File
	pageSize int
	gen      uint64
	off      int64 // where the next record goes
	filled   int64 // the log file's size: records, then zeros (fill)
	limit    int64 // checkpoint once off passes it
	// directSize: a commit whose record would pass it skips the log
	// (commitDirect).
	directSize    int
	direct        bool     // the commit being captured is one
	directCommits int      // how many did (tests)
	main          *os.File // the store file, to read its meta pages
	log           *slog.Logger
	// The file operations, fields so that tests can record them (a
	// power loss keeps what was synced and any part of the rest).
	writeMain  func([]byte, int64) (int, error) // bbolt's own writeAt: the store file
	syncMain   func() error                     // fdatasync of the store file
	writeLog   func([]byte, int64) (int, error)
	syncLog    func() error
	bboltWrite func([]byte, int64) (int, error) // the hooked original, given back by detach

	capturing bool   // inside commit: bbolt's writes are the commit's
	meta      []byte // the commit's meta page, written to the store file once the log is synced
	metaOff   int64
	rec       []byte // the record being built: head, then entries
	// failed says why a log write or sync failed: the store takes no
	// more writes. Set on the committing goroutine, read by any (Err).
	failMu sync.Mutex
	failed error
}

// walPath is the log of the store at path.
func walPath(path string) string { return path + "-wal" }

// openWAL locks the log of the store at path (so two processes never
// replay or write it at once), and replays its current generation into the
// store file. It runs before bbolt opens the file.
func openWAL(path string, timeout time.Duration, limit int64, log *slog.Logger) (*wal, error) {
	_, statErr := os.Stat(walPath(path))
	f, err := os.OpenFile(walPath(path), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open write-ahead log: %w", err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// The log's name must survive a power loss before a commit
		// relies on it.
		if err := durable.SyncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, fmt.Errorf("open write-ahead log: %w", err)
		}
	}
	if err := lockFile(f, timeout); err != nil {
		f.Close()
		return nil, err
	}
	w := &wal{f: f, limit: limit, directSize: walDirectSize, log: log, writeLog: f.WriteAt, syncLog: func() error { return durable.Datasync(f) }}
	if w.limit <= 0 {
		w.limit = walDefaultSize
	}
	if err := w.replay(path); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

func lockFile(f *os.File, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("lock write-ahead log: %w", err)
		}
		if time.Now().After(deadline) {
			return ErrLocked
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// walHeader begins the log. base holds the checksums of the store file's
// two meta pages when the generation began (synced then): the states its
// first record builds on.
type walHeader struct {
	gen      uint64
	pageSize uint32
	base     [2]uint64
}

func (h walHeader) encode() []byte {
	b := make([]byte, walHeaderSize)
	copy(b, walMagic)
	binary.BigEndian.PutUint64(b[12:], h.gen)
	binary.BigEndian.PutUint32(b[20:], h.pageSize)
	binary.BigEndian.PutUint64(b[24:], h.base[0])
	binary.BigEndian.PutUint64(b[32:], h.base[1])
	binary.BigEndian.PutUint32(b[40:], crc32.Checksum(b[:40], walCRC))
	return b
}

func decodeWALHeader(b []byte) (walHeader, bool) {
	if len(b) < 44 || string(b[:12]) != walMagic || binary.BigEndian.Uint32(b[40:]) != crc32.Checksum(b[:40], walCRC) {
		return walHeader{}, false
	}
	return walHeader{
		gen:      binary.BigEndian.Uint64(b[12:]),
		pageSize: binary.BigEndian.Uint32(b[20:]),
		base:     [2]uint64{binary.BigEndian.Uint64(b[24:]), binary.BigEndian.Uint64(b[32:])},
	}, true
}

// fileMetas reads the checksums of the two meta pages of the bbolt file f
// (0 for one that is not whole and valid: torn by a crash).
func fileMetas(f io.ReaderAt, pageSize int) [2]uint64 {
	var out [2]uint64
	p := make([]byte, boltMetaLength)
	for i := range out {
		if _, err := f.ReadAt(p, int64(i*pageSize)); err == nil {
			if _, ok := metaTxid(p); ok {
				out[i] = binary.NativeEndian.Uint64(p[boltMetaCheck:])
			}
		}
	}
	return out
}

// bbolt's meta page, as its file format lays it out (in the machine's
// byte order): a 16-byte page header, then magic, version, page size,
// flags, root bucket (page, sequence), free list, high water mark, txid,
// and a 64-bit FNV-1a checksum of what precedes it.
const (
	boltMagic      = 0xED0CDAED
	boltMetaMagic  = 16
	boltMetaTxid   = 64
	boltMetaCheck  = 72
	boltMetaLength = 80
)

// metaTxid returns the transaction ID of the bbolt meta page p, and false
// when p is not a whole, valid one.
func metaTxid(p []byte) (uint64, bool) {
	if len(p) < boltMetaLength || binary.NativeEndian.Uint32(p[boltMetaMagic:]) != boltMagic {
		return 0, false
	}
	h := fnv.New64a()
	h.Write(p[boltMetaMagic:boltMetaCheck])
	if h.Sum64() != binary.NativeEndian.Uint64(p[boltMetaCheck:]) {
		return 0, false
	}
	return binary.NativeEndian.Uint64(p[boltMetaTxid:]), true
}

// walRecord is a record found in the log: its body, and the transaction
// it commits.
type walRecord struct {
	body []byte
	txid uint64
	meta uint64 // the checksum of its meta page
}

// walRecords reads the records of generation h in log, the log file's
// bytes after its header: every whole record, each committing the
// transaction after the one before, up to the first that is not (the end,
// zeros written ahead, an older generation's, or a record torn by a
// crash). A whole record that breaks the order is an error.
func walRecords(log []byte, h walHeader) ([]walRecord, error) {
	var out []walRecord
	for off := 0; len(log)-off >= walRecordHead; {
		rh := log[off : off+walRecordHead]
		size := int(binary.BigEndian.Uint32(rh[4:]))
		if binary.BigEndian.Uint64(rh[8:]) != h.gen || size > len(log)-off-walRecordHead {
			break
		}
		body := log[off+walRecordHead : off+walRecordHead+size]
		if crc32.Update(crc32.Checksum(rh[4:], walCRC), walCRC, body) != binary.BigEndian.Uint32(rh) {
			break
		}
		r := walRecord{body: body}
		err := walEntries(body, func(at int64, b []byte, _ int) error {
			if at < 2*int64(h.pageSize) {
				// The log holds the page without its zeroed end,
				// which may end inside the meta's last field.
				m := make([]byte, boltMetaLength)
				copy(m, b)
				if txid, ok := metaTxid(m); ok {
					r.txid, r.meta = txid, binary.NativeEndian.Uint64(m[boltMetaCheck:])
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("record at %d: %w", walHeaderSize+off, err)
		}
		if r.txid == 0 || len(out) > 0 && r.txid != out[len(out)-1].txid+1 {
			return nil, fmt.Errorf("record at %d: commits transaction %d, not the one after the record before it", walHeaderSize+off, r.txid)
		}
		out = append(out, r)
		off += walRecordHead + size
	}
	return out, nil
}

// walEntries calls fn with each page write of a record's body: its offset,
// the bytes stored, and the length of the write (the bytes stored, then
// zeros).
func walEntries(body []byte, fn func(at int64, b []byte, size int) error) error {
	for p := body; len(p) > 0; {
		if len(p) < walEntryHead {
			return errors.New("malformed")
		}
		at := int64(binary.BigEndian.Uint64(p))
		size := int(binary.BigEndian.Uint32(p[8:]))
		l := int(binary.BigEndian.Uint32(p[12:]))
		if at < 0 || l > size || len(p) < walEntryHead+l {
			return errors.New("malformed")
		}
		if err := fn(at, p[walEntryHead:walEntryHead+l], size); err != nil {
			return err
		}
		p = p[walEntryHead+l:]
	}
	return nil
}

// trimZeros returns b without its trailing zero bytes: bbolt's pages are
// zeroed before use, so a page's unused end is zeros, and the log need not
// hold it.
func trimZeros(b []byte) []byte {
	n := len(b)
	for n >= 8 && binary.NativeEndian.Uint64(b[n-8:n]) == 0 {
		n -= 8
	}
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return b[:n]
}

// replay writes the records of the log's current generation into the store
// file at path, in order, and syncs it.
//
// The log must be the file's: each whole meta page of the file is one the
// generation began on (the header keeps their checksums) or one of its
// records' (a meta page reaches the file only after its record is synced),
// and one at least is whole. A log found beside another file (one copied
// or restored over the store's) is refused rather than written into it.
func (w *wal) replay(path string) error {
	// The whole log at once: it is read only after a crash, and is at
	// most its size (WALSize) and a commit.
	log, err := io.ReadAll(w.f)
	if err != nil {
		return fmt.Errorf("read write-ahead log: %w", err)
	}
	h, ok := decodeWALHeader(log)
	if !ok {
		// New, or never got past its header. Whatever it holds is not
		// read again: a new generation's records may not run into an
		// older one's.
		if err := w.f.Truncate(0); err != nil {
			return fmt.Errorf("write-ahead log: %w", err)
		}
		return nil
	}
	w.gen = h.gen
	recs, err := walRecords(log[walHeaderSize:], h)
	if err != nil {
		return fmt.Errorf("replay write-ahead log %s: %w", walPath(path), err)
	}
	if len(recs) == 0 {
		return nil
	}
	main, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("replay write-ahead log: %w", err)
	}
	defer main.Close()
	known := map[uint64]bool{h.base[0]: true, h.base[1]: true}
	for _, r := range recs {
		known[r.meta] = true
	}
	delete(known, 0)
	metas := fileMetas(main, int(h.pageSize))
	for _, m := range metas {
		if m != 0 && !known[m] || metas == [2]uint64{} {
			return fmt.Errorf("write-ahead log %s holds commits %d to %d of another store file than %s: if that file was replaced on purpose, move the log away", walPath(path), recs[0].txid, recs[len(recs)-1].txid, path)
		}
	}
	zeros := make([]byte, h.pageSize)
	var bytes int
	for _, r := range recs {
		bytes += walRecordHead + len(r.body)
		err := walEntries(r.body, func(at int64, b []byte, size int) error {
			if _, err := main.WriteAt(b, at); err != nil {
				return err
			}
			for at, n := at+int64(len(b)), size-len(b); n > 0; {
				z := zeros[:min(n, len(zeros))]
				if _, err := main.WriteAt(z, at); err != nil {
					return err
				}
				at, n = at+int64(len(z)), n-len(z)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("replay write-ahead log: %w", err)
		}
	}
	if err := durable.Datasync(main); err != nil {
		return fmt.Errorf("replay write-ahead log: %w", err)
	}
	w.log.Info("store: replayed the write-ahead log after a crash", "path", path, "commits", len(recs), "first_txid", recs[0].txid, "last_txid", recs[len(recs)-1].txid, "bytes", bytes)
	// The records are in the file now: the log starts again before
	// anything commits past them.
	w.pageSize = int(h.pageSize)
	return w.restart(main)
}

// attach makes the log the way db's commits become durable: it hooks
// bbolt's page writes, starts a new generation, and turns bbolt's own
// syncs off. Commits must go through commit from then on.
func (w *wal) attach(db *bolt.DB) error {
	p, err := boltWriteAt(db)
	if err != nil {
		return err
	}
	w.pageSize = db.Info().PageSize
	w.bboltWrite = *p
	w.writeMain = *p
	w.syncMain = db.Sync
	if fi, err := w.f.Stat(); err == nil {
		w.filled = fi.Size()
	}
	if w.main, err = os.Open(db.Path()); err != nil {
		return fmt.Errorf("write-ahead log: %w", err)
	}
	if err := w.restart(w.main); err != nil {
		return err
	}
	*p = w.writeAt
	db.NoSync = true
	return nil
}

// detach checkpoints and gives bbolt its own writes and syncs back (for
// Close's last commit).
func (w *wal) detach(db *bolt.DB) error {
	p, err := boltWriteAt(db)
	if err != nil {
		return err
	}
	err = w.checkpoint()
	db.NoSync = false
	*p = w.bboltWrite
	return err
}

// boltWriteAt returns where db keeps the function its page writes go
// through, after checking it is what this file expects.
func boltWriteAt(db *bolt.DB) (*func([]byte, int64) (int, error), error) {
	t := reflect.TypeOf(db).Elem()
	ops, ok := t.FieldByName("ops")
	if ok && ops.Type.Kind() == reflect.Struct && ops.Type.NumField() == 1 {
		f := ops.Type.Field(0)
		if f.Name == "writeAt" && f.Type == reflect.TypeOf((func([]byte, int64) (int, error))(nil)) {
			return (*func([]byte, int64) (int, error))(unsafe.Add(unsafe.Pointer(db), ops.Offset+f.Offset)), nil
		}
	}
	return nil, errors.New("write-ahead log: this version of bbolt has no DB.ops.writeAt to hook (see store/wal.go)")
}

// restart begins a new generation of the log: records of the older ones
// are never read again.
func (w *wal) restart(main io.ReaderAt) error {
	w.gen++
	h := walHeader{gen: w.gen, pageSize: uint32(w.pageSize), base: fileMetas(main, w.pageSize)}
	if _, err := w.writeLog(h.encode(), 0); err != nil {
		return fmt.Errorf("write-ahead log: %w", err)
	}
	if err := w.syncLog(); err != nil {
		return fmt.Errorf("write-ahead log: %w", err)
	}
	w.off = walHeaderSize
	return nil
}

// writeAt is bbolt's page write while the log is attached. A page goes to
// the store file at once (nothing refers to it yet) and into the record.
// The meta page, bbolt's last write of a commit, completes the record,
// which is written to the log (not yet synced: bbolt holds its meta lock,
// which every read transaction takes to begin) and kept back from the
// store file until commit has synced the log. An error here fails bbolt's
// commit, which rolls its state in memory back: a log that cannot be
// written (a full disk) fails the writes of this commit, not the next
// ones.
func (w *wal) writeAt(b []byte, off int64) (int, error) {
	if !w.capturing {
		return 0, errors.New("write-ahead log: a bbolt write outside a commit")
	}
	meta := off < 2*int64(w.pageSize) // one of bbolt's two meta pages
	if !w.direct {
		t := trimZeros(b)
		w.rec = binary.BigEndian.AppendUint64(w.rec, uint64(off))
		w.rec = binary.BigEndian.AppendUint32(w.rec, uint32(len(b)))
		w.rec = binary.BigEndian.AppendUint32(w.rec, uint32(len(t)))
		w.rec = append(w.rec, t...)
		w.direct = len(w.rec) > w.directSize && !meta
	}
	if !meta {
		return w.writeMain(b, off)
	}
	if !w.direct {
		rec := w.seal()
		if _, err := w.writeLog(rec, w.off); err != nil {
			w.cut()
			return 0, fmt.Errorf("write-ahead log: %w", err)
		}
	}
	w.meta = append(w.meta[:0], b...)
	w.metaOff = off
	return len(b), nil
}

// commitDirect makes a big commit durable the way bbolt does, in the store
// file itself: writing its pages into the log too would double them (an
// EXPUNGE of thousands of messages, a large message). The store file is
// synced (the commit's pages and every earlier commit's since the last
// checkpoint), the log starts again (it must hold nothing older than the
// file's state once the new meta page is durable), then the meta page is
// written and synced, and the log starts again on it.
func (w *wal) commitDirect() error {
	if err := w.syncMain(); err != nil {
		return err
	}
	if err := w.restart(w.main); err != nil {
		return err
	}
	if _, err := w.writeMain(w.meta, w.metaOff); err != nil {
		return err
	}
	if err := w.syncMain(); err != nil {
		return err
	}
	// Again, so that the log's records build on the new meta page (the
	// header names the file's meta pages they may follow).
	return w.restart(w.main)
}

// fill writes zeros past the end of the log file, ahead of the records: a
// record written into blocks the file already has is an overwrite, which
// its fdatasync writes alone; a record that extends the file also makes
// it write the file's new size and blocks, every time (a fifth of a
// commit's time in a benchmark of deliveries). The next sync writes the
// zeros, once: after the first pass through the log, every record is an
// overwrite. A failure leaves records to extend the file as before.
func (w *wal) fill() {
	zeros := make([]byte, 64<<10)
	for end := w.filled + walFillAhead; w.filled < end; w.filled += int64(len(zeros)) {
		if _, err := w.writeLog(zeros, w.filled); err != nil {
			return
		}
	}
}

// cut takes what may have reached the log of a record that failed off its
// end, so that a replay does not make a write that was answered with an
// error.
func (w *wal) cut() {
	if w.f.Truncate(w.off) == nil {
		w.filled = w.off
		_ = w.syncLog()
	}
}

// commit runs bbolt's commit fn (a db.Update) with the log capturing its
// writes, then makes the commit durable: it syncs the log, and only then
// writes the meta page to the store file. It checkpoints when the log is
// long.
func (w *wal) commit(fn func() error) error {
	if err := w.err(); err != nil {
		return err
	}
	w.capturing, w.direct = true, false
	w.rec = append(w.rec[:0], make([]byte, walRecordHead)...)
	w.meta = w.meta[:0]
	err := fn()
	w.capturing = false
	if err != nil || len(w.meta) == 0 {
		return err // rolled back (or a commit that wrote nothing)
	}
	// bbolt has committed in memory: from here a failure leaves its
	// state ahead of the file's, and the store stops.
	if w.direct {
		w.rec = nil // not kept: a big commit's
		if err := w.commitDirect(); err != nil {
			return w.stop("store file sync failed", err)
		}
		w.directCommits++
		return nil
	}
	if err := w.syncLog(); err != nil {
		// After a failed fdatasync the kernel may have dropped what
		// it could not write, and a later one may say nothing of it:
		// the disk is not to be trusted any more.
		w.cut()
		return w.stop("write-ahead log failed", err)
	}
	w.off += int64(len(w.rec))
	if _, err := w.writeMain(w.meta, w.metaOff); err != nil {
		return w.stop("store file write failed", err)
	}
	if cap(w.rec) > 4<<20 {
		w.rec = nil // a big commit's buffer is not kept
	}
	w.filled = max(w.filled, w.off)
	if w.off+walFillAhead > w.filled && w.filled < w.limit+walFillAhead {
		w.fill()
	}
	if w.off > w.limit {
		if err := w.checkpoint(); err != nil {
			// This commit is durable (it is in the log); the next
			// ones cannot be made so.
			w.stop("write-ahead log checkpoint failed", err)
		}
	}
	return nil
}

// seal completes the record being built: its length, generation and
// checksum.
func (w *wal) seal() []byte {
	rec := w.rec
	binary.BigEndian.PutUint32(rec[4:], uint32(len(rec)-walRecordHead))
	binary.BigEndian.PutUint64(rec[8:], w.gen)
	binary.BigEndian.PutUint32(rec, crc32.Checksum(rec[4:], walCRC))
	return rec
}

// stop records that what failed: bbolt's state in memory is then ahead of
// what is durable (or the disk cannot be trusted), so the store takes no
// more writes until it is opened again, which replays the log.
func (w *wal) stop(what string, err error) error {
	err = fmt.Errorf("%s, the store takes no more writes until restarted: %w", what, err)
	w.failMu.Lock()
	defer w.failMu.Unlock()
	w.failed = err
	w.log.Error("store: "+err.Error(), "path", w.f.Name())
	return err
}

// err is why the store takes no more writes, or nil.
func (w *wal) err() error {
	w.failMu.Lock()
	defer w.failMu.Unlock()
	return w.failed
}

// checkpoint makes the store file hold every commit (one fdatasync of it)
// and starts the log again.
func (w *wal) checkpoint() error {
	start := time.Now()
	if err := w.syncMain(); err != nil {
		return fmt.Errorf("write-ahead log checkpoint: %w", err)
	}
	size := w.off - walHeaderSize
	if err := w.restart(w.main); err != nil {
		return err
	}
	w.log.Debug("store: checkpoint", "log_bytes", size, "ms", float64(time.Since(start).Microseconds())/1000)
	return nil
}

func (w *wal) close() error {
	if w.main != nil {
		w.main.Close()
	}
	return w.f.Close()
}
