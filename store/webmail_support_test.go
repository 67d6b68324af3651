package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

func TestPage(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "mail.db"), Options{CheapPasswordHash: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	a, err := s.CreateAccount(ctx, "pager@example.com", "pw")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := s.MailboxByName(a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	var items []AppendItem
	for i := range 7 {
		items = append(items, AppendItem{Body: []byte(fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i)), Date: time.Unix(int64(i), 0)})
	}
	if _, err := s.AppendMany(ctx, inbox.ID, items); err != nil {
		t.Fatal(err)
	}
	// UIDs 1..7; drop 4 to make a hole.
	if _, err := s.Expunge(ctx, inbox.ID, []UID{4}); err != nil {
		t.Fatal(err)
	}
	uids := func(ms []Message) string {
		return fmt.Sprint(func() []UID {
			var u []UID
			for _, m := range ms {
				u = append(u, m.UID)
			}
			return u
		}())
	}
	for _, tc := range []struct {
		anchor UID
		n      int
		older  bool
		want   string
	}{
		{0, 3, true, "[7 6 5]"},
		{5, 3, true, "[3 2 1]"},
		{4, 2, true, "[3 2]"},
		{1, 3, true, "[]"},
		{99, 2, true, "[7 6]"},
		{1, 3, false, "[5 3 2]"},
		{3, 10, false, "[7 6 5]"},
		{7, 3, false, "[]"},
		{0, 0, true, "[]"},
	} {
		got, err := s.Page(inbox.ID, tc.anchor, tc.n, tc.older)
		if err != nil {
			t.Fatal(err)
		}
		if uids(got) != tc.want {
			t.Errorf("Page(%d, %d, %v) = %s, want %s", tc.anchor, tc.n, tc.older, uids(got), tc.want)
		}
	}
	if _, err := s.Page(9999, 0, 3, true); err != ErrNoMailbox {
		t.Errorf("missing mailbox: %v", err)
	}
}

func TestAliasesOf(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "mail.db"), Options{CheapPasswordHash: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for _, a := range []string{"ann@example.com", "bob@example.com"} {
		if _, err := s.CreateAccount(ctx, a, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	for addr, targets := range map[string][]string{
		"sales@example.com": {"ann@example.com", "bob@example.com"},
		"info@example.com":  {"sales@example.com"},
		"@example.com":      {"ann@example.com"},
		"ann2@example.com":  {"Ann@example.com"},
		"bobby@example.com": {"bob@example.com"},
	} {
		if _, err := s.SetAlias(ctx, addr, targets, ResolveOptions{}); err != nil {
			t.Fatal(addr, err)
		}
	}
	got, err := s.AliasesOf("ANN@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[ann2@example.com sales@example.com]" {
		t.Errorf("AliasesOf(ann) = %v", got)
	}
}
