// Command benchinject submits -n messages of -size bytes over -sessions
// parallel SMTP sessions, each kept open for all its messages, to one
// loopback server, optionally after AUTH PLAIN. Message i goes to
// u<i>@d<i%domains+1>.test. It prints one JSON line: messages, errors and
// the seconds from the first connection (with -ready: from the line read on
// stdin once every session is set up) to the last 250 reply.
//
// smtp-source cannot authenticate; Petrel's submission port requires it,
// so the outbound scenario injects with this into Petrel and Postfix alike.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func main() {
	addr := flag.String("addr", "", "loopback host:port of the SMTP server")
	n := flag.Int("n", 5000, "messages")
	sessions := flag.Int("sessions", 20, "parallel SMTP sessions")
	size := flag.Int("size", 4096, "message size in bytes, headers included")
	domains := flag.Int("domains", 20, "destination domains d1.test … dN.test")
	rcptAll := flag.String("rcpt", "", "if set, every message goes to this address instead")
	from := flag.String("from", "sender@src.test", "envelope and From: sender")
	user := flag.String("user", "", "AUTH PLAIN user (none if empty)")
	pass := flag.String("pass", "", "AUTH PLAIN password")
	helo := flag.String("helo", "inject.bench", "EHLO name")
	maxTime := flag.Duration("max-time", 10*time.Minute, "give up after this long")
	ready := flag.Bool("ready", false, "connect, EHLO and AUTH every session, print \"ready\" and wait for a line on stdin before sending: the timing starts there")
	flag.Parse()

	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("benchinject: -addr %q is not a loopback host:port", *addr)
	}
	deadline := time.Now().Add(*maxTime)
	var next atomic.Int64
	var sent, failed atomic.Int64
	var firstErr error
	var mu sync.Mutex
	setErr := func(err error) {
		failed.Add(1)
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	start := time.Now()
	var wg, setup sync.WaitGroup
	goSignal := make(chan struct{})
	for s := 0; s < *sessions; s++ {
		wg.Add(1)
		setup.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial(*addr, *helo, *user, *pass, deadline)
			setup.Done()
			if err != nil {
				setErr(err)
				return
			}
			defer c.Close()
			<-goSignal
			for {
				i := int(next.Add(1)) - 1
				if i >= *n {
					break
				}
				to := *rcptAll
				if to == "" {
					to = fmt.Sprintf("u%d@d%d.test", i, i%*domains+1)
				}
				if err := c.SendMail(*from, []string{to}, bytes.NewReader(message(i, *from, to, *size))); err != nil {
					setErr(fmt.Errorf("message %d: %w", i, err))
					return
				}
				sent.Add(1)
			}
			c.Quit()
		}()
	}
	setup.Wait()
	if *ready {
		fmt.Println("ready")
		bufio.NewReader(os.Stdin).ReadString('\n')
		start = time.Now()
	}
	close(goSignal)
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	out := map[string]any{"messages": sent.Load(), "errors": failed.Load(), "seconds": elapsed}
	if firstErr != nil {
		out["first_error"] = firstErr.Error()
	}
	json.NewEncoder(os.Stdout).Encode(out)
	if failed.Load() > 0 || sent.Load() != int64(*n) {
		os.Exit(1)
	}
}

// dial opens one session: EHLO, and AUTH PLAIN if user is set.
func dial(addr, helo, user, pass string, deadline time.Time) (*smtp.Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(deadline)
	c := smtp.NewClient(conn)
	if err := c.Hello(helo); err != nil {
		c.Close()
		return nil, err
	}
	if user != "" {
		if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
			c.Close()
			return nil, fmt.Errorf("auth: %w", err)
		}
	}
	return c, nil
}

// message is a size-byte message with the usual headers and lines of 76
// characters.
func message(i int, from, to string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: bench %d\r\nMessage-ID: <%d.%d@inject.bench>\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
		from, to, i, i, time.Now().UnixNano(), time.Now().Format(time.RFC1123Z))
	line := strings.Repeat("abcdefghijklmnopqrstuvwxyz0123456789", 3)[:76] + "\r\n"
	for b.Len()+len(line) <= size {
		b.WriteString(line)
	}
	if r := size - b.Len(); r > 2 {
		b.WriteString(strings.Repeat("x", r-2) + "\r\n")
	}
	return b.Bytes()
}
