package queue

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"strings"
	"time"

	"petrel/msgtext"
)

type dsnAction string

const (
	actionFailed  dsnAction = "failed"
	actionDelayed dsnAction = "delayed"
)

// dsnTx queues, in tx, a delivery status notification to it.From about
// rcpts, and returns the new item (nil when none is due: the null sender
// never gets one, RFC 5321 section 6.1, which also stops bounce loops).
func (q *Queue) dsnTx(tx recTx, it *Item, body []byte, rcpts []Rcpt, action dsnAction, now time.Time) (*Item, error) {
	if it.From == "" || len(rcpts) == 0 {
		return nil, nil
	}
	msg := makeDSN(q.opts.Hostname, it, body, rcpts, action, now)
	d := &Item{
		ID:      newID(now),
		From:    "",
		Arrived: now,
		Size:    len(msg),
		Rcpts:   []Rcpt{{Addr: it.From, State: Pending, NextAttempt: now}},
	}
	if err := tx.put(d, msg); err != nil {
		return nil, fmt.Errorf("queue dsn for %s: %w", it.ID, err)
	}
	return d, nil
}

// makeDSN writes an RFC 3464 report: a multipart/report (RFC 6522) with a
// human-readable part, the message/delivery-status part, and the original
// message's header (at most maxDSNHeader of it) as text/rfc822-headers.
func makeDSN(hostname string, it *Item, body []byte, rcpts []Rcpt, action dsnAction, now time.Time) []byte {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	subject := "Undelivered Mail Returned to Sender"
	if action == actionDelayed {
		subject = "Delayed Mail (still being retried)"
	}
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", "Mail Delivery System <MAILER-DAEMON@"+hostname+">")
	h("To", "<"+it.From+">")
	h("Subject", subject)
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", "<"+newID(now)+".dsn@"+hostname+">")
	h("Auto-Submitted", "auto-replied")
	h("MIME-Version", "1.0")
	h("Content-Type", `multipart/report; report-type=delivery-status; boundary="`+mw.Boundary()+`"`)
	b.WriteString("\r\n")

	text := textproto.MIMEHeader{"Content-Type": {"text/plain; charset=utf-8"}}
	w, _ := mw.CreatePart(text)
	var t strings.Builder
	fmt.Fprintf(&t, "This is the mail system at %s.\r\n\r\n", hostname)
	if action == actionDelayed {
		fmt.Fprintf(&t, "Your message (queue ID %s) could not be delivered yet to the\r\nrecipients below. The mail system will keep trying; you do not need\r\nto send it again.\r\n\r\n", it.ID)
	} else {
		fmt.Fprintf(&t, "Your message (queue ID %s) could not be delivered to the\r\nrecipients below. This is a permanent error.\r\n\r\n", it.ID)
	}
	for _, r := range rcpts {
		fmt.Fprintf(&t, "<%s>: %s\r\n", r.Addr, oneLine(r.LastReply))
	}
	w.Write([]byte(t.String()))

	w, _ = mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"message/delivery-status"}})
	var s strings.Builder
	fmt.Fprintf(&s, "Reporting-MTA: dns; %s\r\nX-Petrel-Queue-ID: %s\r\nArrival-Date: %s\r\n", hostname, it.ID, it.Arrived.Format(time.RFC1123Z))
	for _, r := range rcpts {
		status := r.Status
		if status == "" {
			status = "5.0.0"
			if action == actionDelayed {
				status = "4.0.0"
			}
		}
		fmt.Fprintf(&s, "\r\nFinal-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\n", r.Addr, action, status)
		if r.RemoteMTA != "" {
			fmt.Fprintf(&s, "Remote-MTA: dns; %s\r\n", r.RemoteMTA)
		}
		if r.LastReply != "" {
			fmt.Fprintf(&s, "Diagnostic-Code: smtp; %s\r\n", oneLine(r.LastReply))
		}
		fmt.Fprintf(&s, "Last-Attempt-Date: %s\r\n", now.Format(time.RFC1123Z))
	}
	w.Write([]byte(s.String()))

	w, _ = mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/rfc822-headers"}})
	w.Write(dsnHeader(body))
	mw.Close()
	return b.Bytes()
}

// maxDSNHeader bounds the original's header a DSN carries back: enough for
// every field a real message has, too little to make Petrel send a
// stranger's bulk (backscatter) for them.
const maxDSNHeader = 16 << 10

// dsnHeader is the header section of msg, cut after the last whole field
// that fits in maxDSNHeader; never the body.
func dsnHeader(msg []byte) []byte {
	h := msgtext.HeaderSection(msg)
	if len(h) <= maxDSNHeader {
		return h
	}
	end := 0
	for f := range msgtext.Fields(h) {
		if f.Start+len(f.Raw) > maxDSNHeader {
			break
		}
		end = f.Start + len(f.Raw)
	}
	if end == 0 {
		return nil
	}
	return h[:end]
}

// oneLine folds a multi-line reply onto one line for a DSN field.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
