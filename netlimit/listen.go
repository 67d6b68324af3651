package netlimit

import (
	"errors"
	"net"
	"sync"
	"syscall"
)

// Listen binds addr on TCP; a "localhost" host is bound on both loopback
// addresses, 127.0.0.1 and ::1 (::1 only where the machine has IPv6), so
// that a listener named so (`serve --dev`: config.DevHost) is reachable
// as localhost and from nowhere else.
func Listen(addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "localhost" {
		return net.Listen("tcp", addr)
	}
	l4, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return nil, err
	}
	l6, err := net.Listen("tcp", net.JoinHostPort("::1", port))
	if err != nil {
		if errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EAFNOSUPPORT) {
			return l4, nil // no IPv6 here
		}
		l4.Close()
		return nil, err
	}
	return mergeListeners(l4, l6), nil
}

// mergeListeners accepts from every one of lns as one listener; its Addr
// is the first's.
func mergeListeners(lns ...net.Listener) net.Listener {
	m := &mergedListener{lns: lns, conns: make(chan acceptResult), done: make(chan struct{})}
	for _, l := range lns {
		go m.acceptFrom(l)
	}
	return m
}

type mergedListener struct {
	lns   []net.Listener
	conns chan acceptResult
	done  chan struct{}
	once  sync.Once
}

type acceptResult struct {
	c   net.Conn
	err error
}

func (m *mergedListener) acceptFrom(l net.Listener) {
	for {
		c, err := l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		select {
		case m.conns <- acceptResult{c, err}:
		case <-m.done:
			if c != nil {
				c.Close()
			}
			return
		}
	}
}

func (m *mergedListener) Accept() (net.Conn, error) {
	select {
	case r := <-m.conns:
		return r.c, r.err
	case <-m.done:
		return nil, net.ErrClosed
	}
}

func (m *mergedListener) Close() error {
	var errs []error
	m.once.Do(func() {
		close(m.done)
		for _, l := range m.lns {
			errs = append(errs, l.Close())
		}
	})
	return errors.Join(errs...)
}

func (m *mergedListener) Addr() net.Addr { return m.lns[0].Addr() }
