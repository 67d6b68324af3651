package search

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"petrel/store"
)

// benchFolder is a store whose one mailbox holds n messages of about 2 kB.
func benchFolder(b *testing.B, n int) (*store.Store, store.MailboxID, []store.UID) {
	b.Helper()
	st, err := store.Open(filepath.Join(b.TempDir(), "mail.db"), store.Options{CheapPasswordHash: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	acct, err := st.CreateAccount(context.Background(), "ann@example.com", "secret")
	if err != nil {
		b.Fatal(err)
	}
	inbox, err := st.MailboxByName(acct.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	body := strings.Repeat("Some text of a message, as people write them, with a line of about seventy characters.\r\n", 20)
	for start := 0; start < n; start += 5000 {
		var items []store.AppendItem
		for i := start; i < min(start+5000, n); i++ {
			msg := fmt.Sprintf("From: Sender %d <s%d@example.org>\r\nTo: ann@example.com\r\nSubject: Message number %d\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\nMessage-ID: <%d@example.org>\r\n\r\n%s", i, i, i, i, body)
			items = append(items, store.AppendItem{Body: []byte(msg), Date: time.Unix(int64(1e9+i), 0)})
		}
		if _, err := st.AppendMany(context.Background(), inbox.ID, items); err != nil {
			b.Fatal(err)
		}
	}
	msgs, err := st.List(inbox.ID)
	if err != nil {
		b.Fatal(err)
	}
	uids := make([]store.UID, len(msgs))
	for i, m := range msgs {
		uids[i] = m.UID
	}
	return st, inbox.ID, uids
}

// Run over a 20,000-message folder: a header key (every top header read),
// a body key (every body decoded), flags only (metadata).
func BenchmarkRun20k(b *testing.B) {
	st, mbx, uids := benchFolder(b, 20000)
	for _, bc := range []struct {
		name string
		c    imap.SearchCriteria
	}{
		{"from", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "s12345@"}}}},
		{"body", imap.SearchCriteria{Body: []string{"nowhere-else"}}},
		{"flag", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				n := 0
				if err := Run(context.Background(), st, mbx, uids, &bc.c, Options{}, func(*Msg) bool { n++; return true }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
