package mailio_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"petrel/mailio"
	"petrel/store/storetest"
)

// A mailbox name longer than a file name may be (255 bytes) is written
// under a shortened folder name, and the export goes on with the other
// mailboxes. Before, it failed for the whole account (ENAMETOOLONG).
func TestExportLongMailboxName(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t)
	acct := storetest.Account(t, st, "bob@example.com")
	long := strings.Repeat("Très long nom.", 25) // 375 bytes, dots escaped as \2e
	deep := strings.Repeat("a", 100) + "/" + strings.Repeat("b", 100) + "/" + strings.Repeat("c", 100)
	date := time.Date(2024, 3, 19, 10, 5, 26, 0, time.UTC)
	for _, name := range []string{long, deep, "Short"} {
		m, err := st.CreateMailbox(ctx, acct.ID, name, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Append(ctx, m.ID, []byte("Subject: x\r\n\r\nbody\r\n"), nil, date); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	res, err := mailio.ExportMaildir(ctx, st, acct.ID, dir, mailio.ExportOptions{})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	if res.Messages != 3 {
		t.Errorf("%d messages exported, want 3", res.Messages)
	}
	slices.Sort(res.Shortened)
	if want := []string{long, deep}; !slices.Equal(res.Shortened, want) {
		t.Errorf("shortened %q, want %q", res.Shortened, want)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			if n := len(e.Name()); n > 255 {
				t.Errorf("folder name of %d bytes", n)
			}
			cur, err := os.ReadDir(filepath.Join(dir, e.Name(), "cur"))
			if err != nil {
				t.Error(err)
			}
			files += len(cur)
		}
	}
	if files != 3 {
		t.Errorf("%d message files in the folders, want 3", files)
	}
}

// folderName keeps names that fit, and cuts longer ones at a character
// and escape boundary, with a hash that keeps them apart.
func TestFolderName(t *testing.T) {
	tests := []struct {
		mailbox string
		want    string // "" means: shortened
	}{
		{"Sent", ".Sent"},
		{"a/b.c", ".a.b\\2ec"},
		{strings.Repeat("x", 254), "." + strings.Repeat("x", 254)},
		{strings.Repeat("x", 255), ""},
		{strings.Repeat("é", 200), ""},
		{strings.Repeat(".", 100), ""},
		{strings.Repeat("x", 252) + ".", ""},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got, short := mailio.FolderName(tt.mailbox)
		if tt.want != "" {
			if got != tt.want || short {
				t.Errorf("FolderName(%q) = %q, %v; want %q", tt.mailbox, got, short, tt.want)
			}
			continue
		}
		if !short || len(got) > 255 || !utf8.ValidString(got) {
			t.Errorf("FolderName(%.20q…) = %q (%d bytes), %v; want a valid name of at most 255 bytes, shortened", tt.mailbox, got, len(got), short)
		}
		body := got[:strings.LastIndexByte(got, '~')]
		if i := strings.LastIndexByte(body, '\\'); i >= 0 && i+3 > len(body) {
			t.Errorf("FolderName(%.20q…) cuts an escape: %q", tt.mailbox, got)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%q and %q both give %q", other, tt.mailbox, got)
		}
		seen[got] = tt.mailbox
	}
}
