package mta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"petrel/dnsbl"
)

// Reputation says what the DNS block and allow lists (junk.dnsbl,
// junk.dnswl) think of a client address, and what to do with a listed
// one; *dnsbl.Checker is one. It applies to port 25 only: users on
// submission have logged in.
type Reputation interface {
	Action() dnsbl.Action
	Check(ctx context.Context, ip net.IP) *dnsbl.Result
}

// reputationTimeout bounds the lists' answers for one client.
const reputationTimeout = 10 * time.Second

// reputation asks the lists about the client, once per session, and
// logs the verdict when a list names it.
func (s *session) reputation() *dnsbl.Result {
	rep := s.m.opts.Reputation
	if rep == nil || s.kind != kindMX || s.remoteIP == nil {
		return nil
	}
	if s.rep == nil {
		ctx, cancel := context.WithTimeout(context.Background(), reputationTimeout)
		defer cancel()
		s.rep = rep.Check(ctx, s.remoteIP)
	}
	return s.rep
}

// refusedHost is the reply to a listed host.
func refusedHost(ip net.IP, r *dnsbl.Result) *smtp.SMTPError {
	return smtpErr(554, smtp.EnhancedCode{5, 7, 1}, "Client host [%s] blocked using %s", ip, r.Blocking())
}

// repVerdict logs and counts what was done with a listed host.
func (m *MTA) repVerdict(id string, ip net.IP, verdict string, r *dnsbl.Result) {
	m.log.Warn("dnsbl verdict", "id", id, "client", ip.String(), "verdict", verdict, "lists", r.Summary())
	if f := m.opts.OnReputation; f != nil {
		f(verdict)
	}
}

// isPostmaster says rcpt's local part is postmaster (RFC 5321 4.5.1:
// always accepted, so that a listed host can still reach a person).
func isPostmaster(local string) bool { return strings.EqualFold(local, "postmaster") }

// reputationListener refuses listed hosts at connect (action
// refuse-connect): the greeting conn.go writes first is replaced by 554
// 5.7.1 naming the lists, and the connection closed. The lists are asked
// on that first write, in the connection's own goroutine, so a slow list
// never holds up Accept.
type reputationListener struct {
	net.Listener
	m *MTA
}

func (l reputationListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &greetConn{Conn: c, m: l.m}, nil
}

type greetConn struct {
	net.Conn
	m       *MTA
	once    sync.Once
	refused error
}

var errRefusedHost = errors.New("client host refused by a DNS block list")

func (c *greetConn) Write(p []byte) (int, error) {
	c.once.Do(func() {
		ta, ok := c.Conn.RemoteAddr().(*net.TCPAddr)
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), reputationTimeout)
		defer cancel()
		r := c.m.opts.Reputation.Check(ctx, ta.IP)
		if !r.Listed() {
			return
		}
		c.m.repVerdict("", ta.IP, "refused-connect", r)
		e := refusedHost(ta.IP, r)
		c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c.Conn, fmt.Sprintf("%d %d.%d.%d %s\r\n", e.Code, e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2], e.Message))
		c.Conn.Close()
		c.refused = errRefusedHost
	})
	if c.refused != nil {
		return 0, c.refused
	}
	return c.Conn.Write(p)
}

// Unwrap returns the underlying connection.
func (c *greetConn) Unwrap() net.Conn { return c.Conn }
