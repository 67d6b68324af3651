package mta

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"petrel/internal/testenv"
)

// The session from issue 2, as a person types it into telnet.
func TestTextbookSession(t *testing.T) {
	ts := newTestServer(t)
	d := dial(t, ts.smtpAddr)
	code, greet := d.read()
	if code != 220 || !strings.HasPrefix(greet, "mx.hamburger.edu ESMTP") {
		t.Fatalf("greeting %d %q", code, greet)
	}
	d.expect("HELO crepes.fr", 250)
	d.expect("MAIL FROM: <alice@crepes.fr>", 250)
	d.expect("RCPT TO: <bob@hamburger.edu>", 250)
	d.expect("DATA", 354)
	d.tp.PrintfLine("Do you like ketchup?")
	d.tp.PrintfLine("How about pickles?")
	code, msg := d.send(".")
	if code != 250 {
		t.Fatalf("end of data: %d %s", code, msg)
	}
	d.expect("QUIT", 221)

	_, msgs := inbox(t, ts.store, "bob@hamburger.edu")
	if len(msgs) != 1 {
		t.Fatalf("bob has %d messages", len(msgs))
	}
	got := string(msgs[0])
	want := regexp.MustCompile(`^Return-Path: <alice@crepes\.fr>\r\n` +
		`Delivered-To: bob@hamburger\.edu\r\n` +
		`Received: from crepes\.fr \(localhost \[127\.0\.0\.1\]\)\r\n` +
		// HELO, not EHLO: plain SMTP (RFC 3848).
		`\tby mx\.hamburger\.edu with SMTP id [a-z2-7]+\r\n` +
		`\tfor <bob@hamburger\.edu>; \w{3}, \d{2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\r\n` +
		// The typed lines are no header fields: they are the body, after
		// an empty line (issue 13.1).
		`\r\nDo you like ketchup\?\r\nHow about pickles\?\r\n$`)
	if !want.MatchString(got) {
		t.Errorf("stored message:\n%s", got)
	}
}

func TestEHLOExtensions(t *testing.T) {
	ts := newTestServer(t)
	d := dial(t, ts.smtpAddr)
	d.read()
	msg := d.expect("EHLO client.example", 250)
	for _, ext := range []string{"PIPELINING", "SIZE 52428800", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING", "STARTTLS"} {
		if !strings.Contains(msg, ext) {
			t.Errorf("EHLO lacks %s:\n%s", ext, msg)
		}
	}
	if strings.Contains(msg, "AUTH") {
		t.Errorf("port 25 offers AUTH:\n%s", msg)
	}
	d.startTLS(ts.clientTLS)
	d.expect("EHLO client.example", 250)
	d.expect("MAIL FROM:<x@crepes.fr>", 250)
	d.expect("RCPT TO:<bob@hamburger.edu>", 250)
	d.expect("DATA", 354)
	d.tp.PrintfLine("Subject: over TLS\r\n\r\nhi\r\n.")
	d.read()
	_, msgs := inbox(t, ts.store, "bob@hamburger.edu")
	if len(msgs) != 1 || !regexp.MustCompile(`with ESMTPS id \w+\r\n\t\(using TLS1\.[23] with cipher \w+\)`).Match(msgs[0]) {
		t.Errorf("Received over TLS:\n%s", msgs)
	}
}

func TestRefusals(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.MaxRecipients = 3; o.MaxMessageBytes = 1000 })
	cases := []struct {
		name  string
		lines []string // all but the last must get 2xx/3xx
		code  int
		ec    string
	}{
		{"unknown local user", []string{"MAIL FROM:<a@crepes.fr>", "RCPT TO:<nobody@hamburger.edu>"}, 550, "5.1.1"},
		{"relay", []string{"MAIL FROM:<a@crepes.fr>", "RCPT TO:<victim@gmail.com>"}, 554, "5.7.1"},
		{"relay from a local sender", []string{"MAIL FROM:<bob@hamburger.edu>", "RCPT TO:<victim@gmail.com>"}, 554, "5.7.1"},
		{"percent hack", []string{"MAIL FROM:<a@crepes.fr>", "RCPT TO:<victim%gmail.com@hamburger.edu>"}, 550, "5.1.1"},
		{"source route", []string{"MAIL FROM:<a@crepes.fr>", "RCPT TO:<@hamburger.edu:victim@gmail.com>"}, 554, "5.7.1"},
		{"quoted local part", []string{"MAIL FROM:<a@crepes.fr>", `RCPT TO:<"victim@gmail.com"@hamburger.edu>`}, 501, "5.1.3"},
		{"double at", []string{"MAIL FROM:<a@crepes.fr>", "RCPT TO:<victim@gmail.com@hamburger.edu>"}, 501, ""},
		{"bang path", []string{"MAIL FROM:<a@crepes.fr>", "RCPT TO:<gmail.com!victim@hamburger.edu>"}, 550, "5.1.1"},
		{"ip literal", []string{"MAIL FROM:<a@crepes.fr>", "RCPT TO:<victim@[192.0.2.1]>"}, 554, "5.7.1"},
		{"trailing dot remote", []string{"MAIL FROM:<a@crepes.fr>", "RCPT TO:<victim@gmail.com.>"}, 554, "5.7.1"},
		{"too many recipients", []string{"MAIL FROM:<a@crepes.fr>", "RCPT TO:<bob@hamburger.edu>", "RCPT TO:<bob@hamburger.edu>", "RCPT TO:<bob@hamburger.edu>", "RCPT TO:<bob@hamburger.edu>"}, 452, ""},
		{"declared size", []string{"MAIL FROM:<a@crepes.fr> SIZE=5000"}, 552, ""},
		{"rcpt before mail", []string{"RCPT TO:<bob@hamburger.edu>"}, 503, "5.5.1"},
		{"data before rcpt", []string{"MAIL FROM:<a@crepes.fr>", "DATA"}, 503, "5.5.1"},
		{"local part of 65 octets", []string{"MAIL FROM:<a@crepes.fr>", "RCPT TO:<" + strings.Repeat("b", 65) + "@hamburger.edu>"}, 501, "5.1.3"},
		{"local part of 400 octets", []string{"MAIL FROM:<a@crepes.fr>", "RCPT TO:<" + strings.Repeat("b", 400) + "@hamburger.edu>"}, 501, "5.1.3"},
		{"second MAIL", []string{"MAIL FROM:<a@crepes.fr>", "RCPT TO:<bob@hamburger.edu>", "MAIL FROM:<b@crepes.fr>"}, 503, "5.5.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := dial(t, ts.smtpAddr)
			d.read()
			d.expect("EHLO crepes.fr", 250)
			for i, l := range c.lines {
				code, msg := d.send(l)
				if i < len(c.lines)-1 {
					if code >= 400 {
						t.Fatalf("%q: %d %s", l, code, msg)
					}
					continue
				}
				if code != c.code || !strings.HasPrefix(msg, c.ec) {
					t.Errorf("%q: got %d %s, want %d %s", l, code, msg, c.code, c.ec)
				}
			}
		})
	}
	t.Run("null sender and trailing dot local", func(t *testing.T) {
		d := dial(t, ts.smtpAddr)
		d.read()
		d.expect("HELO crepes.fr", 250)
		d.expect("MAIL FROM:<>", 250)
		d.expect("RCPT TO:<bob@hamburger.edu.>", 250)
		d.expect("RCPT TO:<Bob+lists@Hamburger.EDU>", 250)
	})
	t.Run("message too big", func(t *testing.T) {
		d := dial(t, ts.smtpAddr)
		d.read()
		d.expect("HELO crepes.fr", 250)
		d.expect("MAIL FROM:<a@crepes.fr>", 250)
		d.expect("RCPT TO:<bob@hamburger.edu>", 250)
		d.expect("DATA", 354)
		for i := 0; i < 30; i++ {
			d.tp.PrintfLine("%s", strings.Repeat("x", 70))
		}
		code, _ := d.send(".")
		if code != 552 {
			t.Errorf("oversized DATA: %d, want 552", code)
		}
		d.expect("NOOP", 250) // the session goes on
	})
	t.Run("line too long", func(t *testing.T) {
		d := dial(t, ts.smtpAddr)
		d.read()
		code, _ := d.send("HELO " + strings.Repeat("a", 5000))
		if code != 500 {
			t.Errorf("long line: %d, want 500", code)
		}
	})
	if got := len(ts.queue.all()); got != 0 {
		t.Errorf("an unauthenticated client got %d messages queued", got)
	}
}

func TestTooManyErrorsCloses(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.MaxErrors = 3 })
	d := dial(t, ts.smtpAddr)
	d.read()
	d.expect("HELO crepes.fr", 250)
	d.expect("MAIL FROM:<a@crepes.fr>", 250)
	for i := 0; i < 3; i++ {
		d.expect("RCPT TO:<nobody@hamburger.edu>", 550)
	}
	d.expect("RCPT TO:<nobody@hamburger.edu>", 421)
	buf := make([]byte, 10)
	if _, err := d.conn.Read(buf); err == nil {
		t.Errorf("connection still open after too many errors")
	}
}

func TestLargeMessageByteExact(t *testing.T) {
	ts := newTestServer(t)
	// 10 MiB of base64 lines, with dots at line starts to exercise stuffing.
	raw := make([]byte, 15<<19)
	rand.Read(raw)
	var body bytes.Buffer
	body.WriteString("From: alice@crepes.fr\r\nSubject: big\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(raw)
	for i := 0; i < len(enc); i += 76 {
		if (i/76)%50 == 0 {
			body.WriteString(".")
		}
		body.WriteString(enc[i:min(i+76, len(enc))])
		body.WriteString("\r\n")
	}
	if body.Len() < 10<<20 {
		t.Fatalf("test message is only %d bytes", body.Len())
	}
	if err := sendPlain(t, ts.smtpAddr, "alice@crepes.fr", []string{"bob@hamburger.edu"}, bytes.NewReader(body.Bytes())); err != nil {
		t.Fatal(err)
	}
	_, msgs := inbox(t, ts.store, "bob@hamburger.edu")
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	i := bytes.Index(msgs[0], []byte("From: alice@crepes.fr"))
	if i < 0 || !bytes.Equal(msgs[0][i:], body.Bytes()) {
		t.Errorf("stored bytes differ from those sent (len %d vs %d)", len(msgs[0][max(i, 0):]), body.Len())
	}
}

func TestConcurrentDeliveries(t *testing.T) {
	ts := newTestServer(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Sprintf("Subject: n%d\r\n\r\nmessage %d\r\n", i, i)
			errs <- sendPlain(t, ts.smtpAddr, "alice@crepes.fr", []string{"bob@hamburger.edu", "alice@hamburger.edu"}, strings.NewReader(msg))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for _, who := range []string{"bob@hamburger.edu", "alice@hamburger.edu"} {
		mb, msgs := inbox(t, ts.store, who)
		if len(msgs) != 50 || mb.Messages != 50 {
			t.Errorf("%s has %d messages (%d counted), want 50", who, len(msgs), mb.Messages)
		}
		seen := map[string]bool{}
		for _, m := range msgs {
			seen[regexp.MustCompile(`message \d+`).FindString(string(m))] = true
		}
		if len(seen) != 50 {
			t.Errorf("%s: %d distinct messages", who, len(seen))
		}
	}
}

func TestSubmission(t *testing.T) {
	ts := newTestServer(t)
	t.Run("auth required", func(t *testing.T) {
		d := dial(t, ts.subAddr)
		d.read()
		d.expect("EHLO laptop", 250)
		msg := d.expect("MAIL FROM:<bob@hamburger.edu>", 530)
		if !strings.HasPrefix(msg, "5.7.0") {
			t.Errorf("530 without 5.7.0: %s", msg)
		}
	})
	send := func(t *testing.T, user, pass, from string, to []string, body string) error {
		c, err := smtp.DialStartTLS(ts.subAddr, ts.clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
			return err
		}
		return c.SendMail(from, to, strings.NewReader(body))
	}
	t.Run("wrong password", func(t *testing.T) {
		err := send(t, "bob@hamburger.edu", "nope", "bob@hamburger.edu", []string{"alice@hamburger.edu"}, "x\r\n")
		if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 535 {
			t.Errorf("wrong password: %v", err)
		}
	})
	t.Run("spoofed sender", func(t *testing.T) {
		err := send(t, "bob@hamburger.edu", "secret", "alice@hamburger.edu", []string{"x@example.net"}, "x\r\n")
		if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) {
			t.Errorf("spoofed MAIL FROM: %v", err)
		}
	})
	t.Run("local and remote", func(t *testing.T) {
		err := send(t, "bob@hamburger.edu", "secret", "bob@hamburger.edu",
			[]string{"alice@hamburger.edu", "friend@example.net"}, "Subject: hello\r\n\r\nHi!\r\n")
		if err != nil {
			t.Fatal(err)
		}
		q := ts.queue.all()
		if len(q) != 1 || q[0].from != "bob@hamburger.edu" || len(q[0].rcpts) != 1 || q[0].rcpts[0] != "friend@example.net" {
			t.Fatalf("queued %+v", q)
		}
		m := string(q[0].msg)
		for _, want := range []string{"with ESMTPSA id", "for <friend@example.net>", "\r\nDate: ", "\r\nMessage-ID: <", "@mx.hamburger.edu>", "Subject: hello\r\n\r\nHi!\r\n"} {
			if !strings.Contains(m, want) {
				t.Errorf("queued message lacks %q:\n%s", want, m)
			}
		}
		_, msgs := inbox(t, ts.store, "alice@hamburger.edu")
		if len(msgs) != 1 || !strings.Contains(string(msgs[0]), "Subject: hello") {
			t.Errorf("local copy: %q", msgs)
		}
	})
	t.Run("auth login", func(t *testing.T) {
		d := dial(t, ts.subAddr)
		d.read()
		d.expect("EHLO laptop", 250)
		d.expect("AUTH LOGIN", 334)
		d.expect(base64.StdEncoding.EncodeToString([]byte("bob@hamburger.edu")), 334)
		d.expect(base64.StdEncoding.EncodeToString([]byte("secret")), 235)
		d.expect("MAIL FROM:<bob@hamburger.edu>", 250)
	})
}

// With SaveSent, a submitted message is filed, \Seen, in the sender's Sent
// mailbox as it left (no Received, no Return-Path); without it, Sent stays
// empty, as most clients APPEND their own copy.
func TestSaveSent(t *testing.T) {
	for _, save := range []bool{true, false} {
		t.Run(fmt.Sprintf("save_sent=%v", save), func(t *testing.T) {
			ts := newTestServer(t, func(o *Options) { o.SaveSent = save })
			c, err := smtp.DialStartTLS(ts.subAddr, ts.clientTLS)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Auth(sasl.NewPlainClient("", "bob@hamburger.edu", "secret")); err != nil {
				t.Fatal(err)
			}
			err = c.SendMail("bob@hamburger.edu", []string{"alice@hamburger.edu", "friend@example.net"},
				strings.NewReader("Subject: keep a copy\r\n\r\nHi!\r\n"))
			if err != nil {
				t.Fatal(err)
			}
			_, metas, msgs := mailbox(t, ts.store, "bob@hamburger.edu", "Sent")
			if !save {
				if len(msgs) != 0 {
					t.Fatalf("save_sent off, yet Sent holds %d messages", len(msgs))
				}
				return
			}
			if len(msgs) != 1 {
				t.Fatalf("Sent holds %d messages, want 1", len(msgs))
			}
			m := string(msgs[0])
			for _, want := range []string{"Subject: keep a copy\r\n", "\r\nMessage-ID: <", "Hi!\r\n"} {
				if !strings.Contains(m, want) {
					t.Errorf("Sent copy lacks %q:\n%s", want, m)
				}
			}
			for _, not := range []string{"Received:", "Return-Path:", "Delivered-To:"} {
				if strings.Contains(m, not) {
					t.Errorf("Sent copy has %q:\n%s", not, m)
				}
			}
			if !metas[0].Has(`\Seen`) {
				t.Errorf("Sent copy flags %v, want \\Seen", metas[0].Flags)
			}
			if _, in := inbox(t, ts.store, "alice@hamburger.edu"); len(in) != 1 {
				t.Errorf("alice got %d messages, want 1", len(in))
			}
		})
	}
}

// From a non-loopback address, a plaintext connection is not offered AUTH
// and may not use it before STARTTLS.
func TestNoPlaintextAuthOverNetwork(t *testing.T) {
	ts := newTestServer(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ts.mta.ServeSubmission(testenv.RemoteListener(l))
	d := dial(t, l.Addr().String())
	d.read()
	msg := d.expect("EHLO laptop", 250)
	if strings.Contains(msg, "AUTH") {
		t.Errorf("AUTH offered in clear over the network:\n%s", msg)
	}
	code, _ := d.send("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00bob@hamburger.edu\x00secret")))
	if code != 538 {
		t.Errorf("plaintext AUTH over the network: %d, want 538", code)
	}
	d.startTLS(ts.clientTLS)
	msg = d.expect("EHLO laptop", 250)
	if !strings.Contains(msg, "AUTH PLAIN LOGIN") {
		t.Errorf("AUTH not offered after STARTTLS:\n%s", msg)
	}
	d.expect("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00bob@hamburger.edu\x00secret")), 235)
}

func TestLoopDetection(t *testing.T) {
	ts := newTestServer(t)
	var b strings.Builder
	for i := 0; i < 101; i++ {
		fmt.Fprintf(&b, "Received: from hop%d by hop%d; Wed, 25 Nov 2026 10:00:00 +0000\r\n", i, i+1)
	}
	b.WriteString("Subject: loop\r\n\r\nround and round\r\n")
	err := sendPlain(t, ts.smtpAddr, "a@crepes.fr", []string{"bob@hamburger.edu"}, strings.NewReader(b.String()))
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 554 || se.EnhancedCode != (smtp.EnhancedCode{5, 4, 6}) {
		t.Errorf("looping message: %v, want 554 5.4.6", err)
	}
}

func TestQueueFailureIsTemporary(t *testing.T) {
	ts := newTestServer(t)
	ts.queue.err = fmt.Errorf("disk full")
	c, err := smtp.DialStartTLS(ts.subAddr, ts.clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "bob@hamburger.edu", "secret")); err != nil {
		t.Fatal(err)
	}
	err = c.SendMail("bob@hamburger.edu", []string{"x@example.net"}, strings.NewReader("x\r\n"))
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 451 {
		t.Errorf("queue failure: %v, want 451", err)
	}
}

// The command timeout bounds the wait for each command; the data timeout
// bounds each read of the body, so a slow but steady body outlives the
// command timeout, and an idle client does not outlive it.
func TestTimeouts(t *testing.T) {
	ts := newTestServer(t, func(o *Options) {
		o.CommandTimeout = 400 * time.Millisecond
		o.DataTimeout = 3 * time.Second
	})
	t.Run("idle between commands", func(t *testing.T) {
		d := dial(t, ts.smtpAddr)
		d.read()
		d.expect("EHLO crepes.fr", 250)
		start := time.Now()
		buf := make([]byte, 512)
		for {
			if _, err := d.conn.Read(buf); err != nil {
				break // closed by the server
			}
		}
		// Under the data timeout (3 s): the command timeout closed it,
		// with 2 s to spare for a loaded machine.
		if el := time.Since(start); el > 2500*time.Millisecond {
			t.Errorf("idle client kept %v with a 400ms command timeout", el)
		}
	})
	t.Run("slow steady body", func(t *testing.T) {
		d := dial(t, ts.smtpAddr)
		d.read()
		d.expect("EHLO crepes.fr", 250)
		d.expect("MAIL FROM:<alice@crepes.fr>", 250)
		d.expect("RCPT TO:<bob@hamburger.edu>", 250)
		d.expect("DATA", 354)
		// 8 × 600ms: longer than the command timeout at every step and
		// than the data timeout in all, shorter than it at each step (a
		// 4 KiB chunk spans at most two steps: 1.2s, with 1.8s to spare
		// for a loaded machine).
		for i := range 8 {
			time.Sleep(600 * time.Millisecond)
			fmt.Fprintf(d.conn, "line %d of a slow message\r\n%s", i, strings.Repeat(strings.Repeat("x", 78)+"\r\n", dataChunk/80+1))
		}
		if code, msg := d.send("."); code != 250 {
			t.Fatalf("slow body: %d %s", code, msg)
		}
		_, msgs := inbox(t, ts.store, "bob@hamburger.edu")
		if len(msgs) != 1 || !strings.Contains(string(msgs[0]), "line 7 of a slow message") {
			t.Errorf("stored: %q", msgs)
		}
	})
}

// A body line over max_line_length is refused for good (not 451, which
// would have the client retry the same message for days).
func TestLongDataLine(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.MaxLineLength = 1000 })
	d := dial(t, ts.smtpAddr)
	d.read()
	d.expect("EHLO crepes.fr", 250)
	d.expect("MAIL FROM:<alice@crepes.fr>", 250)
	d.expect("RCPT TO:<bob@hamburger.edu>", 250)
	d.expect("DATA", 354)
	fmt.Fprintf(d.conn, "Subject: long\r\n\r\n%s\r\n.\r\n", strings.Repeat("y", 5000))
	if code, msg := d.read(); code != 500 || !strings.Contains(msg, "too long") {
		t.Fatalf("long line: %d %s", code, msg)
	}
	if _, msgs := inbox(t, ts.store, "bob@hamburger.edu"); len(msgs) != 0 {
		t.Errorf("stored %d messages", len(msgs))
	}
}

// OnDelivered is told the number of local copies and the size of the
// message once (the metric multiplies).
func TestDeliveredHook(t *testing.T) {
	var n int
	var size int64
	var mu sync.Mutex
	ts := newTestServer(t, func(o *Options) {
		o.OnDelivered = func(copies int, bytes int64) {
			mu.Lock()
			defer mu.Unlock()
			n, size = n+copies, size+bytes
		}
	})
	body := "Subject: two\r\n\r\nfor two\r\n"
	c, err := smtp.Dial(ts.smtpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("alice@crepes.fr", []string{"bob@hamburger.edu", "alice@hamburger.edu"}, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 2 || size != int64(len(body)) {
		t.Errorf("OnDelivered told %d copies, %d bytes; want 2 copies of %d bytes", n, size, len(body))
	}
}

// Every transaction has its log line and its count, also one that never
// reached DATA: refused recipients, an RSET, a refused sender.
func TestTransactionWithoutDataLogged(t *testing.T) {
	var mu sync.Mutex
	var results []string
	logs := &bytes.Buffer{}
	ts := newTestServer(t, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: logs}, nil))
		o.OnTransaction = func(r string) {
			mu.Lock()
			defer mu.Unlock()
			results = append(results, r)
		}
	})
	d := dial(t, ts.smtpAddr)
	d.read()
	d.expect("EHLO crepes.fr", 250)
	d.expect("MAIL FROM:<alice@crepes.fr>", 250)
	d.expect("RCPT TO:<nobody@hamburger.edu>", 550)
	d.expect("RCPT TO:<x@elsewhere.example>", 554)
	d.expect("RSET", 250)
	d.expect("MAIL FROM:<alice@crepes.fr>", 250)
	d.expect("RCPT TO:<bob@hamburger.edu>", 250)
	d.expect("QUIT", 221)
	waitUntil(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(results) == 2 })
	mu.Lock()
	defer mu.Unlock()
	if results[0] != "rejected" || results[1] != "aborted" {
		t.Errorf("results %q, want rejected then aborted", results)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var txns []string
	for _, l := range lines {
		if strings.Contains(l, `msg="smtp transaction"`) {
			txns = append(txns, l)
		}
	}
	if len(txns) != 2 {
		t.Fatalf("%d transaction lines, want 2:\n%s", len(txns), logs)
	}
	for _, want := range []string{"code=554", "refused=\"[nobody@hamburger.edu x@elsewhere.example]\"", "from=alice@crepes.fr"} {
		if !strings.Contains(txns[0], want) {
			t.Errorf("refused transaction's line lacks %s: %s", want, txns[0])
		}
	}
	if !strings.Contains(txns[1], "code=0") || !strings.Contains(txns[1], "ended without DATA") || !strings.Contains(txns[1], "rcpts=[bob@hamburger.edu]") {
		t.Errorf("aborted transaction's line: %s", txns[1])
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A second MAIL inside a transaction is out of sequence (503 5.5.1), and
// leaves the transaction as it was: its sender and recipients stand
// (issue 13.2).
func TestNestedMAIL(t *testing.T) {
	ts := newTestServer(t)
	d := dial(t, ts.smtpAddr)
	d.read()
	d.expect("EHLO crepes.fr", 250)
	d.expect("MAIL FROM:<alice@crepes.fr>", 250)
	d.expect("RCPT TO:<bob@hamburger.edu>", 250)
	if msg := d.expect("MAIL FROM:<mallory@crepes.fr>", 503); !strings.HasPrefix(msg, "5.5.1") {
		t.Errorf("nested MAIL: 503 %s, want 5.5.1", msg)
	}
	d.expect("DATA", 354)
	d.tp.PrintfLine("Subject: one\r\n\r\nx\r\n.")
	if code, msg := d.read(); code != 250 {
		t.Fatalf("DATA: %d %s", code, msg)
	}
	d.expect("MAIL FROM:<carol@crepes.fr>", 250) // a new transaction
	d.expect("RSET", 250)
	d.expect("MAIL FROM:<dave@crepes.fr>", 250) // after RSET
	_, msgs := inbox(t, ts.store, "bob@hamburger.edu")
	if len(msgs) != 1 || !strings.Contains(string(msgs[0]), "Return-Path: <alice@crepes.fr>") {
		t.Errorf("stored %q, want one message from alice", msgs)
	}
}
