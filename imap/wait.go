package imap

import (
	"bufio"
	"errors"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// A session waiting for its client in IDLE or under NOTIFY holds no
// buffers and one goroutine with a small stack: the command returns
// errAwait, and a new goroutine (serve) waits in a read of a few octets
// straight from the connection, then runs the rest of the command. What must be told
// meanwhile (a delivery, a flag change) pokes a wakeup, whose hook starts
// a short-lived goroutine (a burst) that writes the reports with a writer
// lent from the server's pool and ends. When input comes the session waits
// for a running burst to end and takes a reader and a writer from the
// pools again, the octets it read first in line.
//
// So an idle IDLE connection costs its session, its connection and one
// goroutine parked a few frames deep, not the 8 KiB of bufio buffers it
// uses while commands run, nor the stack they grew, nor a second goroutine
// (TestIdleConnectionMemory).

// waitReadSize is what the waiting read asks for: "DONE" CRLF or the
// start of the next command.
const waitReadSize = 64

// wakeup tells a session that it has something to report (a view's or a
// notifier's changes): poke, from any goroutine, marks it and calls the
// hook the waiting session set, if any.
type wakeup struct {
	pending atomic.Bool
	hook    atomic.Pointer[func()]
}

func (w *wakeup) poke() {
	w.pending.Store(true)
	if f := w.hook.Load(); f != nil {
		(*f)()
	}
}

// take reports whether the wakeup was poked since the last take.
func (w *wakeup) take() bool { return w.pending.Load() && w.pending.Swap(false) }

// waker is a wakeup and what to write when it is poked.
type waker struct {
	w      *wakeup
	report func() error
}

// errAwait: the command waits for input, as s.awaiting says (serve).
var errAwait = errors.New("awaiting input")

// awaiting is what a session waits for input with (its wakers) and what it
// does once input came, given the wait's error: the rest of the command,
// its reply included.
type awaiting struct {
	w1, w2 waker
	then   func(error) error
}

// waitState is the part of a session shared with its bursts while it
// waits, guarded by mu.
type waitState struct {
	hook    func() // s.wakeUp, made once
	mu      sync.Mutex
	waiting bool
	wakers  [2]waker
	burst   chan struct{} // closed when the running burst ends; nil: none
	again   bool          // poked while a burst ran
	err     error         // the first write error of a burst
}

// awaitInput returns once the client has sent something (at once if input
// is buffered), meanwhile writing each waker's report when it is poked,
// and returns the first error of either. Session goroutine only; s.br and
// s.bw are back when it returns.
func (s *session) awaitInput(w1, w2 waker) error {
	if err := s.bw.Flush(); err != nil {
		return err
	}
	if s.br.Buffered() > 0 {
		return nil
	}
	s.releaseBuffers()
	ws := &s.wait
	ws.mu.Lock()
	ws.waiting, ws.wakers, ws.err = true, [2]waker{w1, w2}, nil
	ws.mu.Unlock()
	poked := false
	for _, w := range ws.wakers {
		if w.w != nil {
			w.w.hook.Store(&ws.hook)
			poked = poked || w.w.pending.Load() // before the hook
		}
	}
	if poked {
		s.wakeUp()
	}
	buf := make([]byte, waitReadSize)
	n, err := s.nc.Read(buf)
	for _, w := range ws.wakers {
		if w.w != nil {
			w.w.hook.Store(nil)
		}
	}
	ws.mu.Lock()
	ws.waiting = false
	running := ws.burst
	ws.mu.Unlock()
	if running != nil {
		<-running
	}
	ws.mu.Lock()
	if ws.err != nil {
		err = ws.err // the burst cut the read short
	}
	ws.wakers = [2]waker{}
	ws.mu.Unlock()
	s.takeBuffers()
	if n > 0 {
		s.pre = buf[:n]
		s.br.Peek(1) // the reader takes them all (waitReadSize < its size)
	}
	return err
}

// wakeUp is the hook of a waiting session's wakeups: it starts a burst
// unless one runs (which then looks again). Any goroutine; it does not
// block.
func (s *session) wakeUp() {
	ws := &s.wait
	ws.mu.Lock()
	defer ws.mu.Unlock()
	switch {
	case !ws.waiting || ws.err != nil:
	case ws.burst != nil:
		ws.again = true
	default:
		ws.burst, ws.again = make(chan struct{}), false
		go s.runBurst(ws.burst)
	}
}

// runBurst writes the reports of the wakeups poked until none is, then
// closes done. On a write error it cuts the session's read short.
func (s *session) runBurst(done chan struct{}) {
	ws := &s.wait
	ws.mu.Lock()
	wakers := ws.wakers
	ws.mu.Unlock()
	for {
		var err error
		for _, w := range wakers {
			if err == nil && w.w != nil && w.w.take() {
				err = s.report(w.report)
			}
		}
		ws.mu.Lock()
		if err == nil && ws.again && ws.waiting {
			ws.again = false
			ws.mu.Unlock()
			continue
		}
		if err != nil {
			ws.err = err
			s.nc.SetReadDeadline(time.Now())
		}
		ws.burst = nil
		close(done)
		ws.mu.Unlock()
		return
	}
}

// report writes one report with a writer lent for it. A panic (a bug)
// ends the session, not the server, as one in a command does.
func (s *session) report(f func() error) (err error) {
	s.takeWriter()
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic in IMAP session", "panic", v, "stack", string(debug.Stack()))
			err = errors.New("imap: panic while reporting changes")
		}
		s.releaseWriter()
	}()
	if err := f(); err != nil {
		return err
	}
	return s.bw.Flush()
}

func (s *session) takeBuffers() {
	if br, ok := s.srv.readers.Get().(*bufio.Reader); ok {
		br.Reset(sessionIO{s})
		s.br = br
	} else {
		s.br = bufio.NewReaderSize(sessionIO{s}, 4096)
	}
	s.takeWriter()
}

func (s *session) takeWriter() {
	if bw, ok := s.srv.writers.Get().(*bufio.Writer); ok {
		bw.Reset(sessionIO{s})
		s.bw = bw
	} else {
		s.bw = bufio.NewWriterSize(sessionIO{s}, 4096)
	}
	s.e.w = s.bw
}

// releaseBuffers gives the reader and writer back; both must be empty.
func (s *session) releaseBuffers() {
	s.br.Reset(nil)
	s.srv.readers.Put(s.br)
	s.br = nil
	s.releaseWriter()
}

func (s *session) releaseWriter() {
	s.bw.Reset(nil)
	s.srv.writers.Put(s.bw)
	s.bw, s.e.w = nil, nil
}
