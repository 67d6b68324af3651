package netlimit

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
)

// Backoff bounds of a Steady listener's retries, as net/http's: 5 ms
// doubling to 1 s.
const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = time.Second
)

// SteadyListener is a listener whose Accept does not give up on a failure
// that passes (no file descriptors left, EMFILE or ENFILE; no buffers; a
// timeout): it logs it, waits (5 ms doubling to 1 s, as net/http does) and
// tries again, so that a server running out of descriptors serves again
// once some are freed. Err says whether it is accepting now (for a
// readiness check). It is the one accept loop with back-off every
// listener goes through (SMTP, IMAP, POP3, HTTP).
type SteadyListener struct {
	net.Listener
	log *slog.Logger

	mu      sync.Mutex
	failing error     // the last failure, nil once an Accept succeeds
	since   time.Time // when it began failing
	stopped error     // a failure Accept gave up on
}

// Steady wraps l; log (nil: slog.Default()) receives each failure. A
// listener that already is a *SteadyListener is returned as it is.
func Steady(l net.Listener, log *slog.Logger) *SteadyListener {
	if s, ok := l.(*SteadyListener); ok {
		return s
	}
	if log == nil {
		log = slog.Default()
	}
	return &SteadyListener{Listener: l, log: log}
}

// Accept returns the next connection, retrying the failures that pass.
// It returns an error only once the listener is closed or fails for good.
func (l *SteadyListener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			if delay > 0 {
				l.mu.Lock()
				l.failing = nil
				l.mu.Unlock()
				l.log.Info("accepting again", "addr", l.Addr().String())
			}
			return c, nil
		}
		if errors.Is(err, net.ErrClosed) || !Temporary(err) {
			if !errors.Is(err, net.ErrClosed) {
				l.mu.Lock()
				l.stopped = err
				l.mu.Unlock()
			}
			return nil, err
		}
		delay = min(max(2*delay, minBackoff), maxBackoff)
		l.mu.Lock()
		if l.failing == nil {
			l.since = time.Now()
		}
		l.failing = err
		l.mu.Unlock()
		l.log.Warn("accept failed, retrying", "addr", l.Addr().String(), "delay", delay, "err", err)
		time.Sleep(delay)
	}
}

// Err is nil while the listener accepts; otherwise why it does not (a
// failure being retried, or the one it gave up on).
func (l *SteadyListener) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.stopped != nil:
		return fmt.Errorf("%s stopped accepting: %w", l.Addr(), l.stopped)
	case l.failing != nil:
		return fmt.Errorf("%s not accepting since %s: %w", l.Addr(), l.since.Format(time.RFC3339), l.failing)
	}
	return nil
}

// Temporary says whether an Accept error may pass: descriptors or buffers
// running out, an aborted connection, an interrupted call, a timeout.
func Temporary(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR, syscall.EAGAIN, syscall.EPROTO, syscall.EPERM} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Reject writes a protocol's "too busy, try again later" reply on c: its
// prefix ("421" for SMTP, "* BYE [UNAVAILABLE]" for IMAP,
// "-ERR [SYS/TEMP]" for POP3), then why, capitalised. It gives up after 5
// seconds of a client that does not read.
func Reject(c net.Conn, prefix string, why error) {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	s := why.Error()
	if s != "" && 'a' <= s[0] && s[0] <= 'z' {
		s = string(s[0]-'a'+'A') + s[1:]
	}
	io.WriteString(c, prefix+" "+s+", try again later\r\n")
}
