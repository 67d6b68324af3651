package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"petrel/internal/boltbackup"
)

// Bucket names. Keys are big-endian integers so cursors walk them in order.
var (
	bMeta       = []byte("meta")       // counters: "acct", "mbx", "blob", "uidvalidity"
	bAccounts   = []byte("accounts")   // address -> account record (JSON)
	bAcctIDs    = []byte("acctids")    // account ID -> address
	bMailboxes  = []byte("mailboxes")  // mailbox ID -> mailbox record (Mailbox.encode; JSON before it)
	bMbxNames   = []byte("mbxnames")   // account ID ++ name -> mailbox ID
	bMsgs       = []byte("msgs")       // mailbox ID -> bucket{ UID -> message record }
	bBlobs      = []byte("blobs")      // blob ID -> message bytes
	bBlobRefs   = []byte("blobrefs")   // blob ID -> reference count
	bBlobInfo   = []byte("blobinfo")   // blob ID -> parsed structure (structcodec.go; JSON before it)
	bAliases    = []byte("aliases")    // address or "@domain" -> alias record (JSON)
	bLists      = []byte("lists")      // list address -> list record (JSON)
	bMembers    = []byte("members")    // list address ++ 0 ++ member address -> member record (JSON)
	bSubs       = []byte("subs")       // account ID ++ name -> "": subscriptions of names that are no mailbox
	bVanished   = []byte("vanished")   // mailbox ID ++ MODSEQ ++ UID -> "": expunged UIDs (QRESYNC)
	bMetadata   = []byte("metadata")   // account ID ++ mailbox ID (0: server) ++ entry -> value (METADATA)
	bModSeqs    = []byte("modseqs")    // mailbox ID ++ MODSEQ ++ UID -> "": the MODSEQ index (modseqindex.go)
	bDeletedIdx = []byte("deletedidx") // mailbox ID ++ UID -> "": messages flagged \Deleted (deletedindex.go)
	// bJunk and bJunkMsgs: the junk models (junk.go); bJunkQueue: the
	// trainings pending (junkqueue.go)
)

var allBuckets = [][]byte{bMeta, bAccounts, bAcctIDs, bMailboxes, bMbxNames, bMsgs, bBlobs, bBlobRefs, bBlobInfo, bAliases, bLists, bMembers, bSubs, bVanished, bMetadata, bJunk, bJunkMsgs, bModSeqs, bDeletedIdx, bQuota, bJunkQueue}

// Options configure a Store.
type Options struct {
	// Logger receives the store's log lines; nil means slog.Default().
	Logger *slog.Logger
	// NoGroupCommit makes every write its own transaction and fsync. It
	// exists for benchmarks that measure what group commit buys.
	NoGroupCommit bool
	// MaxBatch bounds how many writes share one commit (default 256).
	MaxBatch int
	// Timeout for acquiring the file lock; another process holding the
	// file gets ErrLocked after it (default 1s).
	Timeout time.Duration
	// WALSize is how far the write-ahead log grows before a checkpoint
	// syncs the store file and starts it again (default 64 MiB).
	WALSize int64
	// OnCommit, if set, is told the duration and size of every commit
	// (for metrics). It runs on the goroutine that led the commit and
	// must not block.
	OnCommit func(d time.Duration, writes int)
	// CheapPasswordHash hashes new passwords with bcrypt at its lowest
	// cost instead of argon2id: thousands of times faster, and as much
	// weaker. It exists for tests and benchmarks that make thousands of
	// accounts; a server never sets it.
	CheapPasswordHash bool
	// HashWorkers bounds the password hashes Authenticate checks at once
	// (argon2id takes 19 MiB each); 0 means half the CPUs, at least one. HashQueue
	// bounds the checks that wait for a turn; past it Authenticate returns
	// ErrBusy at once. 0 means 16 per worker, negative none.
	HashWorkers int
	HashQueue   int
	// JunkTokens turns a message into the tokens its account's junk model
	// counts (package junk's Tokens). With it, a message moved or copied
	// into or out of Junk, or given $Junk or $NotJunk, is recorded for
	// training in the same commit, and the store's junk worker applies
	// the recorded trainings to the model in batches soon after
	// (junkqueue.go); nil trains nothing.
	JunkTokens func(io.Reader) []string
	// JunkShared trains the shared model (account SharedJunkModel) too.
	JunkShared bool
	// JunkMaxTokens bounds each model (default DefaultJunkMaxTokens).
	JunkMaxTokens int
	// JunkNoWorker leaves pending trainings to JunkApplyPending calls
	// (tests of the queue, and a crash's replay); by default a worker
	// applies them as they come.
	JunkNoWorker bool
	// OnJunkApply, if set, is called after each batch of pending
	// trainings is applied, with its size (for metrics).
	OnJunkApply func(n int)
	// OnAuthBusy, if set, is called each time Authenticate returns
	// ErrBusy (metrics).
	OnAuthBusy func()
}

// Store is an open mail store. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	wal  *wal // how commits become durable (wal.go)
	log  *slog.Logger
	opts Options
	hub  *hub
	wg   sync.WaitGroup // writes queued and not yet answered
	once sync.Once

	// qmu guards the queue of writes waiting for a commit and leading,
	// whether a writer is leading one (commit.go).
	qmu     sync.Mutex
	queue   []*writeReq
	leading bool

	// closeMu is held for reading by every enqueue and for writing by
	// Close, which sets closed (see enqueue).
	closeMu sync.RWMutex
	closed  bool

	auth *authCache
	hash *hashGate
	junk *junkTrainer

	// afterSnapshot, set only by tests, runs in Watch between the
	// snapshot and the start of delivery (the window Watch must cover).
	afterSnapshot func()
	// The junk worker (junkqueue.go): woken by junkKick, stopped by
	// closing junkStop; junkApplyMu makes one applier at a time.
	junkKick    chan struct{}
	junkStop    chan struct{}
	junkWG      sync.WaitGroup
	junkApplyMu sync.Mutex
	junkCache   *junkCache // the models most read, in memory (junkcache.go)
}

// ErrLocked is returned by Open when another process has the file open.
var ErrLocked = fmt.Errorf("store file is in use by another process")

// Open opens (creating if needed) the store at path.
func Open(path string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// The log first: it holds the lock that keeps a second process out,
	// and what it holds must be in the file before bbolt reads it.
	w, err := openWAL(path, opts.Timeout, opts.WALSize, opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         opts.Timeout,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: 1 << 30, // readers never block a writer that grows the file below 1 GiB
		// The list of free pages is not written at every commit: it was a
		// third of a commit's page writes (a store of 75 MiB had 4,300
		// free pages, 34 KiB of list sorted and written every time) and
		// 5 % of the CPU of IMAP's steady state. Close writes it once
		// (closeFreelist), so the next Open reads it; after a crash Open
		// finds the free pages by walking the file instead (bbolt's own
		// recovery: slower, as correct). Every commit is still fsync'd
		// before it returns.
		NoFreelistSync: true,
	})
	if err != nil {
		w.close()
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open store %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := buildModSeqIndex(tx); err != nil {
			return err
		}
		if err := buildDeletedIndex(tx); err != nil {
			return err
		}
		meta := tx.Bucket(bMeta)
		if meta.Get([]byte("uidvalidity")) == nil {
			// Start UIDVALIDITY from the clock so that a store made anew
			// (after a lost disk, say) does not repeat old values.
			if err := meta.Put([]byte("uidvalidity"), be64(uint64(time.Now().Unix()))); err != nil {
				return err
			}
		}
		return initQuotaTx(tx)
	})
	if err == nil {
		err = w.attach(db)
	}
	if err != nil {
		db.Close()
		w.close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{
		db:   db,
		wal:  w,
		log:  opts.Logger,
		opts: opts,
		hub:  newHub(),
		auth: newAuthCache(),
		hash: newHashGate(opts.HashWorkers, opts.HashQueue),
		junk: newJunkTrainer(&opts),

		junkKick:  make(chan struct{}, 1),
		junkCache: newJunkCache(),
		junkStop:  make(chan struct{}),
	}
	if s.junk != nil && !opts.JunkNoWorker {
		// Replays what a crash left pending, then waits for commits.
		s.junkWG.Add(1)
		go s.junkWorker()
	}
	return s, nil
}

// Close waits for the writes already queued to be committed and closes the
// file. Writes that begin after Close has begun fail with
// ErrClosed; none is left waiting.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		// The worker first: it writes through the committer.
		close(s.junkStop)
		s.junkWG.Wait()
		s.closeMu.Lock()
		s.closed = true
		s.closeMu.Unlock()
		s.wg.Wait()
		if failed := s.wal.err(); failed != nil {
			// bbolt's state in memory is ahead of the file's: no last
			// commit on it. The next Open replays the log.
			err = errors.Join(failed, s.db.Close(), s.wal.close())
			return
		}
		// The log's last checkpoint, then bbolt syncs its own last
		// commit.
		err = errors.Join(s.wal.detach(s.db), s.closeFreelist(), s.db.Close(), s.wal.close())
	})
	return err
}

// closeFreelist writes the list of free pages in one last, empty, commit,
// so that the next Open reads it instead of walking the whole file (on a
// cold cache, seconds per GiB). Writers are done: nothing else commits.
func (s *Store) closeFreelist() error {
	s.db.NoFreelistSync = false
	if err := s.db.Update(func(*bolt.Tx) error { return nil }); err != nil {
		return fmt.Errorf("close store: write the free page list: %w", err)
	}
	return nil
}

// Err says why the store takes no more writes, or nil: its write-ahead
// log could not be written or synced (a failing disk; see wal.go), and
// only a restart, which replays the log, makes it writable again.
// Readiness checks report it.
func (s *Store) Err() error { return s.wal.err() }

// Path is the file the store lives in.
func (s *Store) Path() string { return s.db.Path() }

// Backup writes a consistent snapshot of the whole store to w while the store
// stays in use (one long read transaction).
func (s *Store) Backup(ctx context.Context, w interface{ Write([]byte) (int, error) }) (int64, error) {
	return s.BackupSized(ctx, func(int64) (io.Writer, error) { return w, nil })
}

// BackupSized is Backup for writers that must know the size first (an
// archive entry): begin is called once, inside the read transaction, with
// the snapshot's exact size, and returns where to write it.
func (s *Store) BackupSized(ctx context.Context, begin func(size int64) (io.Writer, error)) (int64, error) {
	return boltbackup.Sized(ctx, s.db, begin)
}

var nowFunc = time.Now

func (s *Store) observeCommit(d time.Duration, n int) {
	if s.opts.OnCommit != nil {
		s.opts.OnCommit(d, n)
	}
}

func be64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func be32(v uint32) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, v)
	return b
}

// nextID increments and returns the named counter in the meta bucket.
func nextID(tx *bolt.Tx, name string) uint64 {
	meta := tx.Bucket(bMeta)
	var v uint64
	if b := meta.Get([]byte(name)); b != nil {
		v = binary.BigEndian.Uint64(b)
	}
	v++
	meta.Put([]byte(name), be64(v))
	return v
}
