package mta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// A message's data is held in a spool while it comes in: in memory up to
// Options.SpoolThreshold, on disk past it, in a temporary file that has no
// name (removed as soon as it is made, so a crash leaves nothing behind).
// The memory all sessions hold for their data together, in spools and in
// messages being checked and stored, is bounded by Options.MaxDataMemory,
// of which data still coming in has half at most: a spool that cannot have
// more memory goes to disk at once, and a message that must be read back
// whole waits for its memory (or gets 451).
// A client that stalls before its final dot thus holds at most the
// threshold in memory, whatever it sent.

// memBudget is the memory that sessions may hold for message data. Data
// still coming in may have half of it at most, so that clients that stall
// before their final dot never keep complete messages from being read
// back, checked and stored.
type memBudget struct {
	limit     int64
	mu        sync.Mutex
	used      int64
	receiving int64         // of used, what spools hold for data still coming in
	freed     chan struct{} // closed (and replaced) when memory is given back
}

func newMemBudget(limit int64) *memBudget {
	return &memBudget{limit: limit, freed: make(chan struct{})}
}

// tryTake takes n bytes for data coming in, if they are free.
func (b *memBudget) tryTake(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit || b.receiving+n > b.limit/2 {
		return false
	}
	b.used += n
	b.receiving += n
	return true
}

// take takes n bytes (at most the whole budget), waiting until they are
// free or ctx ends; it returns what it took.
func (b *memBudget) take(ctx context.Context, n int64) (int64, error) {
	n = min(n, b.limit)
	for {
		b.mu.Lock()
		if b.used+n <= b.limit {
			b.used += n
			b.mu.Unlock()
			return n, nil
		}
		freed := b.freed
		b.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// give returns n bytes, taken by tryTake if receiving.
func (b *memBudget) give(n int64, receiving bool) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	if receiving {
		b.receiving -= n
	}
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// spoolChunk is how much memory a spool asks the budget for at a time.
const spoolChunk = 16 << 10

// spool holds one message's data as it comes in (an io.Writer).
type spool struct {
	budget    *memBudget
	threshold int64
	dir       string
	inFlight  *atomic.Int64 // all sessions' data received and not yet done with

	mem  []byte
	held int64 // bytes taken from the budget for data coming in (tryTake)
	took int64 // bytes taken to read the message back whole (take)
	file *os.File
	n    int64
}

func (m *MTA) newSpool() *spool {
	return &spool{budget: m.budget, threshold: m.opts.SpoolThreshold, dir: m.opts.SpoolDir, inFlight: &m.inFlight}
}

func (s *spool) Write(p []byte) (int, error) {
	if s.file == nil {
		need := int64(len(s.mem) + len(p))
		if need <= s.threshold && s.reserve(need) {
			s.mem = append(s.mem, p...)
			s.count(len(p))
			return len(p), nil
		}
		if err := s.spill(); err != nil {
			return 0, err
		}
	}
	n, err := s.file.Write(p)
	s.count(n)
	if err != nil {
		return n, fmt.Errorf("spool message data: %w", err)
	}
	return n, nil
}

func (s *spool) count(n int) {
	s.n += int64(n)
	s.inFlight.Add(int64(n))
}

// reserve makes sure the spool's buffer has room for need bytes, taken
// from the budget; the buffer doubles (up to the threshold), so that data
// is copied a few times at most.
func (s *spool) reserve(need int64) bool {
	if need <= s.held {
		return true
	}
	size := min(max(need, 2*s.held, spoolChunk), s.threshold)
	if !s.budget.tryTake(size - s.held) {
		return false
	}
	s.held = size
	grown := make([]byte, len(s.mem), size)
	copy(grown, s.mem)
	s.mem = grown
	return true
}

// spill moves the data to a temporary file, and gives back its memory.
func (s *spool) spill() error {
	f, err := os.CreateTemp(s.dir, "petrel-data-*")
	if err != nil {
		return fmt.Errorf("spool message data: %w", err)
	}
	os.Remove(f.Name()) // nameless: nothing is left behind, whatever happens
	if _, err := f.Write(s.mem); err != nil {
		f.Close()
		return fmt.Errorf("spool message data: %w", err)
	}
	s.file = f
	s.mem = nil
	s.budget.give(s.held, true)
	s.held = 0
	return nil
}

// errBusy is the budget's refusal: the memory did not come free in time.
var errBusy = errors.New("no memory free for the message")

// bytes returns the whole message in memory, taking its size from the
// budget first (waiting for it until ctx ends). The bytes are the
// spool's until release.
func (s *spool) bytes(ctx context.Context) ([]byte, error) {
	if s.file == nil {
		return s.mem, nil
	}
	took, err := s.budget.take(ctx, s.n)
	if err != nil {
		return nil, errBusy
	}
	s.took = took
	msg := make([]byte, s.n)
	if _, err := s.file.ReadAt(msg, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read spooled message data: %w", err)
	}
	s.file.Close()
	s.file = nil
	s.mem = msg
	return msg, nil
}

// release gives back the spool's memory and file.
func (s *spool) release() {
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
	s.mem = nil
	s.budget.give(s.held, true)
	s.budget.give(s.took, false)
	s.held, s.took = 0, 0
	s.inFlight.Add(-s.n)
	s.n = 0
}
