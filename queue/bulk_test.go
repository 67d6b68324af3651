package queue_test

import (
	"context"
	"strings"
	"testing"

	"petrel/queue"
)

// EnqueueEach: each recipient gets its own bytes, in its own transaction,
// from the one envelope sender.
func TestEnqueueEach(t *testing.T) {
	t.Parallel()
	port, lns := listenAll(t, "127.0.0.2")
	p := serve(t, &peer{}, lns[0])
	e := newEnv(t, port, remoteZone(t))
	rcpts := []string{"a@remote.test", "b@remote.test", "c@remote.test"}
	var msgs [][]byte
	for _, r := range rcpts {
		msgs = append(msgs, []byte("List-Unsubscribe: <https://x/unsub?m="+r+">\r\n"+testMsg))
	}
	if _, err := e.q.EnqueueEach(context.Background(), "news-bounces@local.test", rcpts, msgs[:2]); err == nil {
		t.Error("EnqueueEach took 3 recipients for 2 messages")
	}
	ids, err := e.q.EnqueueEach(context.Background(), "news-bounces@local.test", rcpts, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 {
		t.Fatalf("%d IDs", len(ids))
	}
	for _, id := range ids {
		e.gone(id)
	}
	got := p.txns()
	if len(got) != 3 {
		t.Fatalf("%d transactions, want 3", len(got))
	}
	for _, tx := range got {
		if tx.From != "news-bounces@local.test" || len(tx.Rcpts) != 1 {
			t.Errorf("transaction from %s to %v", tx.From, tx.Rcpts)
			continue
		}
		if want := "m=" + tx.Rcpts[0] + ">"; !strings.Contains(string(tx.Data), want) {
			t.Errorf("the copy for %s lacks its own header %q:\n%s", tx.Rcpts[0], want, tx.Data)
		}
	}
}

// EnqueueDSN reports failures the caller found after accepting a message,
// in the queue's own DSN format, and sends nothing to the null sender.
func TestEnqueueDSN(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 25, remoteZone(t))
	failed := []queue.Rcpt{{Addr: "list@local.test", Status: "5.4.6", LastReply: "554 5.4.6 mail loop: the message already went through list@local.test"}}
	id, err := e.q.EnqueueDSN(context.Background(), "mta123", "alice@local.test", failed, []byte(testMsg))
	if err != nil || id == "" {
		t.Fatalf("EnqueueDSN: %q, %v", id, err)
	}
	e.gone(id)
	got := e.box.all()
	if len(got) != 1 {
		t.Fatalf("%d local messages, want the DSN", len(got))
	}
	dsn := string(got[0].data)
	if got[0].from != "" || got[0].rcpt != "alice@local.test" {
		t.Errorf("DSN from <%s> to <%s>", got[0].from, got[0].rcpt)
	}
	contains(t, "DSN", dsn, "multipart/report", "Final-Recipient: rfc822; list@local.test", "Action: failed", "Status: 5.4.6",
		"mail loop: the message already went through list@local.test", "(queue ID mta123)", "Subject: queue test")
	if id, err := e.q.EnqueueDSN(context.Background(), "mta124", "", failed, []byte(testMsg)); err != nil || id != "" {
		t.Errorf("DSN to the null sender: %q, %v", id, err)
	}
	if items, _ := e.q.List(); len(items) != 0 {
		t.Errorf("queue holds %d items after a DSN to the null sender", len(items))
	}
}
