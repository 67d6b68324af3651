package store

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// diskFreelist reads the newer of bbolt's two meta pages from the file and
// returns its free-list page: noFreelist when the list is not on disk.
func diskFreelist(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pageSize := int(binary.LittleEndian.Uint32(b[16+8:])) // page header, magic, version
	var best, txid uint64
	for i := 0; i < 2; i++ {
		m := b[i*pageSize+16:] // past the page header
		if tx := binary.LittleEndian.Uint64(m[48:]); tx >= txid {
			txid, best = tx, binary.LittleEndian.Uint64(m[32:])
		}
	}
	return best
}

const noFreelist = ^uint64(0)

// TestFreelistWrittenAtClose: commits leave bbolt's free-page list off the
// disk (NoFreelistSync), Close writes it once so the next Open need not walk
// the file, and a store left without it (a crash) opens, finds its free
// pages and stays consistent.
func TestFreelistWrittenAtClose(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mail.db")
	s, in := openInbox(t, path, Options{CheapPasswordHash: true})
	for i := range 20 {
		if _, err := s.Append(ctx, in, []byte("Subject: x\r\n\r\n"+string(make([]byte, 9000+i))), nil, nowFunc()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Expunge(ctx, in, []UID{1, 2, 3, 4, 5}); err != nil { // frees pages
		t.Fatal(err)
	}
	if got := diskFreelist(t, path); got != noFreelist {
		t.Fatalf("while open, the meta page names free-list page %d: the list is written at every commit", got)
	}
	// A crash now: the file as it is, without its free list.
	crashed := filepath.Join(t.TempDir(), "crashed.db")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(crashed, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := diskFreelist(t, path); got == noFreelist {
		t.Fatal("after Close the free list is not on disk: the next Open walks the whole file")
	}
	for _, p := range []string{path, crashed} {
		s := mustOpen(t, p, Options{CheapPasswordHash: true})
		free := s.db.Stats().FreePageN
		if free == 0 {
			t.Errorf("%s: no free pages found after 5 messages were expunged", filepath.Base(p))
		}
		if _, err := s.Append(ctx, in, []byte("Subject: y\r\n\r\nagain\r\n"), nil, nowFunc()); err != nil {
			t.Fatal(err)
		}
		if err := checkConsistent(s); err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d free pages at open", filepath.Base(p), free)
	}
}
