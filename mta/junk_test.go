package mta

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"petrel/store"
)

// wordJunk judges by one word, as a stand-in for package junk.
type wordJunk struct {
	st    *store.Store
	mu    sync.Mutex
	calls []string // "id:accounts"
}

func (w *wordJunk) JunkVerdicts(ctx context.Context, id string, msg io.Reader, accts []uint64) []JunkVerdict {
	b, _ := io.ReadAll(msg)
	w.mu.Lock()
	w.calls = append(w.calls, fmt.Sprintf("%s:%v", id, accts))
	w.mu.Unlock()
	spam := strings.Contains(string(b), "VIAGRA")
	out := make([]JunkVerdict, len(accts))
	for i := range out {
		if strings.Contains(string(b), "X-Petrel-Junk") {
			out[i].Header = "X-Seen-Forged: yes\r\n" // must not happen: stripped before
		} else if spam {
			out[i] = JunkVerdict{Junk: true, Header: "X-Petrel-Junk: score=0.99; tokens=\"viagra\"\r\n"}
		} else {
			out[i] = JunkVerdict{Header: "X-Petrel-Junk: score=0.01; tokens=\"\"\r\n"}
		}
	}
	return out
}

func (w *wordJunk) Trust(ctx context.Context, acct uint64, addrs []string) error {
	return w.st.JunkTrust(ctx, acct, addrs)
}

func TestJunkFiling(t *testing.T) {
	wj := &wordJunk{}
	ts := newTestServer(t, func(o *Options) { o.Junk = wj })
	wj.st = ts.store
	// Alice has no Junk mailbox: it is made.
	alice, _ := ts.store.AccountByAddress("alice@hamburger.edu")
	if err := ts.store.DeleteMailbox(context.Background(), alice.ID, "Junk"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, body string
		mailbox    string
		header     string
	}{
		{"spam to Junk", "Subject: buy\r\n\r\nCheap VIAGRA\r\n", "Junk", "X-Petrel-Junk: score=0.99; tokens=\"viagra\"\r\n"},
		{"ham to INBOX", "Subject: lunch\r\n\r\nAt noon?\r\n", "INBOX", "X-Petrel-Junk: score=0.01"},
		{"a forged verdict is stripped", "X-Petrel-Junk: score=0.00; tokens=\"trust me\"\r\nSubject: hi\r\n\r\nCheap VIAGRA\r\n", "Junk", "X-Petrel-Junk: score=0.99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := sendPlain(t, ts.smtpAddr, "x@example.net", []string{"bob@hamburger.edu", "alice@hamburger.edu"}, strings.NewReader(tt.body)); err != nil {
				t.Fatal(err)
			}
			for _, who := range []string{"bob@hamburger.edu", "alice@hamburger.edu"} {
				mb, _, msgs := mailbox(t, ts.store, who, tt.mailbox)
				if len(msgs) == 0 {
					t.Fatalf("%s: nothing in %s", who, tt.mailbox)
				}
				got := string(msgs[len(msgs)-1])
				if !strings.Contains(got, tt.header) || strings.Count(got, "X-Petrel-Junk") != 1 || strings.Contains(got, "X-Seen-Forged") {
					t.Errorf("%s/%s: %q", who, tt.mailbox, got)
				}
				if tt.mailbox == "Junk" && mb.SpecialUse != `\Junk` {
					t.Errorf("%s: Junk mailbox %+v", who, mb)
				}
			}
		})
	}
	wj.mu.Lock()
	defer wj.mu.Unlock()
	if len(wj.calls) != 3 || !strings.HasSuffix(wj.calls[0], fmt.Sprintf(":[%d %d]", 1, alice.ID)) {
		t.Errorf("classifier calls %q: want one per message, for both accounts", wj.calls)
	}
}

// Without a classifier, nothing changes: no header is stripped or added.
func TestNoJunkFilter(t *testing.T) {
	ts := newTestServer(t)
	body := "X-Petrel-Junk: score=0.50\r\nSubject: x\r\n\r\nVIAGRA\r\n"
	if err := sendPlain(t, ts.smtpAddr, "x@example.net", []string{"bob@hamburger.edu"}, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if _, msgs := inbox(t, ts.store, "bob@hamburger.edu"); len(msgs) != 1 || !strings.HasSuffix(string(msgs[0]), body) {
		t.Errorf("INBOX %q", msgs)
	}
}

// Mail a user sends makes its recipients trusted senders of the user's
// account, with or without a Sent copy.
func TestJunkTrustsRecipients(t *testing.T) {
	for _, save := range []bool{true, false} {
		t.Run(fmt.Sprintf("save_sent=%v", save), func(t *testing.T) {
			wj := &wordJunk{}
			ts := newTestServer(t, func(o *Options) { o.Junk = wj; o.SaveSent = save })
			wj.st = ts.store
			c, err := smtp.DialStartTLS(ts.subAddr, ts.clientTLS)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Auth(sasl.NewPlainClient("", "bob@hamburger.edu", "secret")); err != nil {
				t.Fatal(err)
			}
			if err := c.SendMail("bob@hamburger.edu", []string{"Friend@Example.NET", "alice@hamburger.edu"}, strings.NewReader("Subject: hi\r\n\r\nHi!\r\n")); err != nil {
				t.Fatal(err)
			}
			bob, _ := ts.store.AccountByAddress("bob@hamburger.edu")
			for addr, want := range map[string]bool{"friend@example.net": true, "alice@hamburger.edu": true, "stranger@example.net": false} {
				if ok, err := ts.store.JunkTrusted(bob.ID, addr); err != nil || ok != want {
					t.Errorf("trusted(%s) = %v, %v; want %v", addr, ok, err, want)
				}
			}
		})
	}
}
