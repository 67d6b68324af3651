package queue_test

import (
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"petrel/store"
	"petrel/store/storetest"
)

// storeDeliverer is how cmd/petrel wires queue.LocalDeliverer to the store:
// the DSN goes to the INBOX of the sender's account.
type storeDeliverer struct{ s *store.Store }

func (d storeDeliverer) DeliverLocal(ctx context.Context, from, rcpt string, msg []byte) error {
	acct, err := d.s.AccountByAddress(rcpt)
	if err != nil {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such local user"}
	}
	prefix := fmt.Sprintf("Return-Path: <%s>\r\nDelivered-To: %s\r\n", from, rcpt)
	_, err = d.s.Deliver(ctx, &store.Delivery{Body: msg, Targets: []store.Target{{Account: acct.ID, Prefix: []byte(prefix)}}})
	return err
}

// TestBounceInSendersInbox: a 550 from the peer puts a multipart/report
// with the original header in the sender's INBOX, parseable as MIME.
func TestBounceInSendersInbox(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t)
	alice := storetest.Account(t, st, "alice@local.test")
	port, lns := listenAll(t, "127.0.0.2")
	serve(t, &peer{rcpt: func(string) error { return smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "user unknown") }}, lns[0])
	e := newEnv(t, port, remoteZone(t))
	e.close() // reopen with the store as the local deliverer
	e.opts.Local = storeDeliverer{st}
	e.open()
	id := e.enqueue("alice@local.test", "bob@remote.test")
	e.gone(id)

	inbox := storetest.Inbox(t, st, alice)
	msgs, err := st.List(inbox.ID)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("INBOX has %d messages (%v), want the bounce", len(msgs), err)
	}
	raw, err := st.ReadMessage(inbox.ID, msgs[0].UID)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if rp := m.Header.Get("Return-Path"); rp != "<>" {
		t.Errorf("Return-Path %q, want <>", rp)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var types []string
	var parts []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		types = append(types, p.Header.Get("Content-Type"))
		parts = append(parts, string(b))
	}
	if len(types) != 3 || types[1] != "message/delivery-status" || types[2] != "text/rfc822-headers" {
		t.Fatalf("parts %q", types)
	}
	contains(t, "status part", parts[1], "Status: 5.1.1", "Final-Recipient: rfc822; bob@remote.test")
	contains(t, "headers part", parts[2], "Subject: queue test", "Message-ID: <q1@local.test>", "Received: from client.local.test")
}
