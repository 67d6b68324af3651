package queue_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// scripted is a hand-driven SMTP server that checks how the client sends
// its envelope. With pipelining it offers PIPELINING and answers nothing
// until DATA has arrived: a client that waits for the reply to MAIL never
// gets one (RFC 2920 section 3.1 is what makes the queue deliver here).
// Without, it answers each command as it comes and notes any command sent
// before the previous reply.
type scripted struct {
	pipelining bool
	refuse     map[string]string // RCPT address -> reply

	mu        sync.Mutex
	commands  []string
	body      string
	sentAhead bool // a command arrived with another behind it, unasked
}

func (s *scripted) serve(t *testing.T, ln net.Listener) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.conn(c)
		}
	}()
}

func (s *scripted) conn(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	say := func(lines ...string) { fmt.Fprint(c, strings.Join(lines, "\r\n")+"\r\n") }
	say("220 scripted.test ESMTP")
	var pending []string // replies held back until DATA (pipelining)
	reply := func(line string) {
		if s.pipelining {
			pending = append(pending, line)
		} else {
			say(line)
		}
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.Fields(cmd + " x")[0])
		s.mu.Lock()
		s.commands = append(s.commands, cmd)
		if !s.pipelining && r.Buffered() > 0 && verb != "QUIT" {
			s.sentAhead = true
		}
		s.mu.Unlock()
		switch verb {
		case "EHLO":
			ext := []string{"250-scripted.test", "250-8BITMIME", "250-SIZE 10000000"}
			if s.pipelining {
				ext = append(ext, "250-PIPELINING")
			}
			say(append(ext, "250 ENHANCEDSTATUSCODES")...)
		case "MAIL":
			reply("250 2.1.0 ok")
		case "RCPT":
			addr := strings.TrimSuffix(strings.TrimPrefix(cmd[len("RCPT TO:"):], "<"), ">")
			if r, ok := s.refuse[addr]; ok {
				reply(r)
			} else {
				reply("250 2.1.5 ok")
			}
		case "DATA":
			reply("354 go ahead")
			if len(pending) > 0 {
				say(pending...)
				pending = nil
			}
			var body strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				body.WriteString(strings.TrimPrefix(l, "."))
			}
			s.mu.Lock()
			s.body = body.String()
			s.mu.Unlock()
			say("250 2.0.0 queued as SCRIPTED1")
		case "QUIT":
			say("221 2.0.0 bye")
			return
		default:
			say("502 5.5.1 not here")
		}
	}
}

// TestPipelining: to a server that offers PIPELINING the envelope goes in
// one flight, and each recipient still gets its own answer; to one that
// does not, one command at a time.
func TestPipelining(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		t.Run(fmt.Sprintf("pipelining=%v", pipelining), func(t *testing.T) {
			t.Parallel()
			port, lns := listenAll(t, "127.0.0.2")
			s := &scripted{pipelining: pipelining, refuse: map[string]string{"nobody@remote.test": "550 5.1.1 no such user"}}
			s.serve(t, lns[0])
			e := newEnv(t, port, remoteZone(t))
			id := e.enqueue("alice@local.test", "bob@remote.test", "nobody@remote.test", "carol@remote.test")
			e.gone(id)

			s.mu.Lock()
			defer s.mu.Unlock()
			var verbs []string
			for _, c := range s.commands {
				v := strings.Fields(c)[0]
				if v == "EHLO" && len(verbs) > 0 {
					continue // go-smtp says EHLO again after the queue's own
				}
				verbs = append(verbs, v)
			}
			if got, want := strings.Join(verbs, " "), "EHLO MAIL RCPT RCPT RCPT DATA QUIT"; got != want {
				t.Errorf("commands %q, want %q", got, want)
			}
			if !strings.Contains(s.body, "Hello over the queue.") {
				t.Errorf("body at the server: %q", s.body)
			}
			if s.sentAhead {
				t.Errorf("a command was sent before the reply to the previous one, to a server without PIPELINING")
			}
			// The refused recipient bounces to the sender, the others not.
			var bounces []string
			for _, m := range e.box.all() {
				bounces = append(bounces, string(m.data))
			}
			if len(bounces) != 1 || !strings.Contains(bounces[0], "nobody@remote.test") || !strings.Contains(bounces[0], "5.1.1") ||
				strings.Contains(bounces[0], "Final-Recipient: rfc822; bob@remote.test") {
				t.Errorf("bounces: %q", bounces)
			}
		})
	}
}
