package queue

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// envelope is what one SMTP transaction sends.
type envelope struct {
	from  string
	rcpts []string
	body  []byte
	utf8  bool // ask for SMTPUTF8 (the server offers it)
}

// exchange is what the server answered in one transaction. A nil error is
// a positive reply (250 to MAIL and RCPT, 354 to DATA, 250 after the
// body); an error that is not an *smtp.SMTPError means the connection
// failed there and nothing after it is known.
type exchange struct {
	mail      error
	rcpt      []error // one per recipient, in order, as far as known
	data      error   // the reply to DATA; nil also when DATA was not sent
	final     error   // the reply after the body
	finalText string  // its text, when positive
	broken    error   // why rcpt is shorter than the recipients
}

// stepwise runs the transaction one command at a time, with go-smtp's
// client: for servers that do not offer PIPELINING.
func stepwise(c *smtp.Client, env envelope) exchange {
	var x exchange
	if x.mail = c.Mail(env.from, &smtp.MailOptions{Size: int64(len(env.body)), UTF8: env.utf8}); x.mail != nil {
		return x
	}
	accepted := 0
	for _, r := range env.rcpts {
		err := c.Rcpt(r, nil)
		x.rcpt = append(x.rcpt, err)
		if err == nil {
			accepted++
			continue
		}
		if _, _, _, ok := smtpReply(err); !ok {
			return x
		}
	}
	if accepted == 0 {
		return x
	}
	w, err := c.Data()
	if err != nil {
		x.data = err
		return x
	}
	if _, err := w.Write(env.body); err != nil {
		x.final = err
		return x
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		x.final = err
		return x
	}
	x.finalText = resp.StatusText
	return x
}

// pipelined runs the transaction as RFC 2920 section 3.1 allows when the
// server offers PIPELINING: MAIL, every RCPT and DATA go out in one write,
// then the replies are read in order, and the body follows only if DATA
// got 354 and some recipient was accepted. One round trip instead of
// 2+len(rcpts). go-smtp's client sends one command at a time, so this part
// speaks on the connection under it (conn, after go-smtp's EHLO and AUTH,
// when no reply is pending and its reader holds nothing).
func pipelined(ctx context.Context, c *smtp.Client, conn net.Conn, env envelope, cmdTimeout, dataTimeout time.Duration) exchange {
	var x exchange
	for _, a := range append([]string{env.from}, env.rcpts...) {
		if strings.ContainsAny(a, "\r\n") {
			x.mail = fmt.Errorf("address %q has a line break", a)
			return x
		}
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var b strings.Builder
	fmt.Fprintf(&b, "MAIL FROM:<%s>", env.from)
	if ok, _ := c.Extension("8BITMIME"); ok {
		b.WriteString(" BODY=8BITMIME")
	}
	if ok, _ := c.Extension("SIZE"); ok {
		fmt.Fprintf(&b, " SIZE=%d", len(env.body))
	}
	if env.utf8 {
		b.WriteString(" SMTPUTF8")
	}
	b.WriteString("\r\n")
	for _, r := range env.rcpts {
		fmt.Fprintf(&b, "RCPT TO:<%s>\r\n", r)
	}
	b.WriteString("DATA\r\n")

	conn.SetDeadline(time.Now().Add(cmdTimeout))
	defer conn.SetDeadline(time.Time{})
	if _, err := conn.Write([]byte(b.String())); err != nil {
		x.mail = fmt.Errorf("send envelope: %w", err)
		return x
	}
	tp := textproto.NewReader(bufio.NewReader(conn))
	// read returns nil for a reply of the wanted class, an *smtp.SMTPError
	// for another reply, and any other error when there is no reply.
	read := func(class int, stage string) error {
		_, _, err := tp.ReadResponse(class)
		if err == nil {
			return nil
		}
		return replyErr(err, stage)
	}
	x.mail = read(2, "MAIL")
	if _, _, _, ok := smtpReply(x.mail); x.mail != nil && !ok {
		return x
	}
	accepted := 0
	for range env.rcpts {
		err := read(2, "RCPT")
		if _, _, _, ok := smtpReply(err); err != nil && !ok {
			x.broken = err
			return x
		}
		x.rcpt = append(x.rcpt, err)
		if err == nil {
			accepted++
		}
	}
	x.data = read(3, "DATA")
	if _, _, _, ok := smtpReply(x.data); x.data != nil && !ok {
		return x
	}
	if x.data != nil {
		return x // refused: no body to send
	}
	conn.SetDeadline(time.Now().Add(dataTimeout))
	bw := bufio.NewWriterSize(conn, 32<<10)
	dw := textproto.NewWriter(bw).DotWriter()
	if x.mail != nil || accepted == 0 {
		// RFC 2920 section 3.1: DATA was accepted although nothing can be
		// delivered; end the empty message, and let its reply be.
		dw.Close()
		bw.Flush()
		read(2, "end of data")
		if x.mail == nil {
			x.data = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "no valid recipients"}
		}
		return x
	}
	if _, err := dw.Write(env.body); err != nil {
		x.final = fmt.Errorf("send body: %w", err)
		return x
	}
	if err := dw.Close(); err != nil {
		x.final = fmt.Errorf("send body: %w", err)
		return x
	}
	if err := bw.Flush(); err != nil {
		x.final = fmt.Errorf("send body: %w", err)
		return x
	}
	_, msg, err := tp.ReadResponse(2)
	if err != nil {
		x.final = replyErr(err, "end of data")
		return x
	}
	x.finalText = msg
	return x
}
