package store

import (
	"encoding/binary"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// The junk models most read are kept in memory as sorted arrays, so that
// scoring a message looks its ~600 tokens up by binary search instead of
// one B+tree descent each (about half a scoring's cost otherwise). A
// snapshot is tied to its model's generation ("g" in the model's bucket,
// bumped by every transaction that changes its tokens) and read only in a
// transaction that sees that generation, so it is never stale. A model
// gets a snapshot once it has been read twice at one generation (a model
// trained between every delivery is not worth one); at most
// junkCacheModels are kept, the least recently used dropped first: 16
// bytes a token, 1.6 MB at the default 100,000-token bound.
const junkCacheModels = 16

type junkCache struct {
	mu    sync.Mutex
	snaps map[uint64]*junkSnap // account ID -> its model's snapshot
	reads map[uint64]junkReads // account ID -> reads without a snapshot
	tick  uint64
}

type junkReads struct{ gen, n uint64 }

type junkSnap struct {
	gen    uint64
	used   uint64 // the cache's tick when last read (LRU)
	hashes []uint64
	counts []JunkCounts
}

func newJunkCache() *junkCache {
	return &junkCache{snaps: map[uint64]*junkSnap{}, reads: map[uint64]junkReads{}}
}

// get returns acct's snapshot at gen, or nil; build says a snapshot is
// worth making now.
func (c *junkCache) get(acct, gen uint64) (snap *junkSnap, build bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick++
	if s := c.snaps[acct]; s != nil && s.gen == gen {
		s.used = c.tick
		return s, false
	}
	r := c.reads[acct]
	if r.gen != gen {
		r = junkReads{gen: gen}
	}
	r.n++
	if r.n >= 2 {
		delete(c.reads, acct)
		return nil, true
	}
	if len(c.reads) > 4*junkCacheModels {
		clear(c.reads)
	}
	c.reads[acct] = r
	return nil, false
}

func (c *junkCache) put(acct uint64, s *junkSnap) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick++
	s.used = c.tick
	c.snaps[acct] = s
	for len(c.snaps) > junkCacheModels {
		var old uint64
		var oldest *junkSnap
		for a, s := range c.snaps {
			if oldest == nil || s.used < oldest.used {
				old, oldest = a, s
			}
		}
		delete(c.snaps, old)
	}
}

// snapshot reads a model's token bucket into a snapshot.
func junkSnapshot(tb *bolt.Bucket, gen uint64) *junkSnap {
	n := tb.Stats().KeyN
	s := &junkSnap{gen: gen, hashes: make([]uint64, 0, n), counts: make([]JunkCounts, 0, n)}
	tb.ForEach(func(k, v []byte) error {
		if len(k) == 8 {
			s.hashes = append(s.hashes, binary.BigEndian.Uint64(k))
			s.counts = append(s.counts, decodeJunkCounts(v))
		}
		return nil
	})
	return s
}

// lookup fills counts[i] for toks[i] from the snapshot.
func (s *junkSnap) lookup(toks []string, counts []JunkCounts) {
	for i, tok := range toks {
		if tok == "" {
			continue
		}
		if j, ok := slices.BinarySearch(s.hashes, tokenHash(tok)); ok {
			counts[i] = s.counts[j]
		}
	}
}

// junkGen is a model's generation (0 before its first change).
func junkGen(b *bolt.Bucket) uint64 {
	g, _ := binary.Uvarint(b.Get([]byte("g")))
	return g
}

// bumpJunkGen marks a model's tokens changed.
func bumpJunkGen(b *bolt.Bucket) error {
	return b.Put([]byte("g"), binary.AppendUvarint(nil, junkGen(b)+1))
}
