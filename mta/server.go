package mta

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"runtime/debug"
	"sync"
	"time"
)

// server accepts the connections of the listeners of one kind and runs a
// conn (conn.go) for each, until shutdown.
type server struct {
	m    *MTA
	kind kind
	tls  *tls.Config // offered with STARTTLS; nil: not offered

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[*conn]bool // the connection: waiting for a command (idle)
	done      bool
	wg        sync.WaitGroup
}

func newServer(m *MTA, k kind) *server {
	return &server{m: m, kind: k, tls: noTickets(m.opts.TLSConfig), conns: map[*conn]bool{}}
}

// serve accepts connections on l until shutdown.
func (s *server) serve(l net.Listener) error {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.closing() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.m.log.Warn("smtp accept", "listener", s.kind.String(), "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := newConn(s, nc)
		s.mu.Lock()
		if s.done {
			s.mu.Unlock()
			nc.Close()
			continue
		}
		s.conns[c] = false
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
			defer func() {
				if r := recover(); r != nil {
					// A bug of ours must not take the server down: say so
					// to the client and log it.
					s.m.log.Error("smtp session panic", "listener", s.kind.String(), "panic", r, "stack", string(debug.Stack()))
					c.reply(421, [3]int{4, 3, 0}, "Internal server error, closing connection")
					c.flush()
					nc.Close()
				}
			}()
			c.serve()
		}()
	}
}

func (s *server) closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

// idle notes that c waits for a command (or no longer does); false when
// the server is shutting down, and c must not wait.
func (s *server) idle(c *conn, idle bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; ok {
		s.conns[c] = idle
	}
	return !(idle && s.done)
}

// shutdown closes the listeners, ends the sessions waiting for a command
// (421), lets those in the middle of one finish it, and when ctx ends
// closes what is left.
func (s *server) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.done = true
	for _, l := range s.listeners {
		l.Close()
	}
	for c, idle := range s.conns {
		if idle {
			// Its read fails now; it answers 421 4.3.2 (conn.readFailed).
			c.raw.SetReadDeadline(time.Now())
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.raw.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}
