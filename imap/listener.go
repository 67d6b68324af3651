package imap

import (
	"net"
	"sync"
)

// chanListener is a net.Listener fed by Server.Serve: it lets one accept
// loop hand each connection to the imapserver.Server whose policy fits it.
type chanListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	// ready is closed at the first Accept: imapserver.Server.Serve has
	// then registered the listener, so its Close will not race with it.
	ready     chan struct{}
	readyOnce sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{conns: make(chan net.Conn), done: make(chan struct{}), ready: make(chan struct{})}
}

// hand passes c to Accept; false if the listener is closed.
func (l *chanListener) hand(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	l.readyOnce.Do(func() { close(l.ready) })
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{} }
