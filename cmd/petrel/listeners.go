package main

import (
	"context"
	"net"
	"sync"
	"time"

	"petrel/netlimit"
	"petrel/queue"
	"petrel/web"
)

// countConns reports each connection of l to the metrics while it is open.
func countConns(l net.Listener, m *web.Metrics, proto string) net.Listener {
	return &countingListener{Listener: l, m: m, proto: proto}
}

type countingListener struct {
	net.Listener
	m     *web.Metrics
	proto string
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, done: l.m.ConnOpened(l.proto)}, nil
}

type countedConn struct {
	net.Conn
	done func()
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(c.done)
	return c.Conn.Close()
}

// rejectIMAP and rejectPOP3 answer a connection refused by netlimit (too
// many at once, or too many new ones from one address), with the reason.
func rejectIMAP(c net.Conn, why error) { netlimit.Reject(c, "* BYE [UNAVAILABLE]", why) }

func rejectPOP3(c net.Conn, why error) { netlimit.Reject(c, "-ERR [SYS/TEMP]", why) }

// watchQueue keeps the queue gauges of /metrics current.
func watchQueue(ctx context.Context, q *queue.Queue, m *web.Metrics) {
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		if items, err := q.List(); err == nil {
			var oldest time.Duration
			if len(items) > 0 {
				oldest = time.Since(items[0].Arrived)
			}
			m.SetQueue(len(items), oldest)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
