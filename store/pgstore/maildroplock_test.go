package pgstore_test

import (
	"context"
	"testing"

	"petrel/internal/pgtest"
)

// TestLockMaildropAcrossNodes: a maildrop locked through one node is held
// on another sharing the database, other accounts are not, and release
// (or the holder's connection ending) frees it.
func TestLockMaildropAcrossNodes(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	relA, ok, err := a.LockMaildrop(ctx, 7)
	if err != nil || !ok {
		t.Fatalf("node A, account 7: ok=%v err=%v", ok, err)
	}
	if _, ok, err := b.LockMaildrop(ctx, 7); err != nil || ok {
		t.Fatalf("node B took account 7 while A holds it: ok=%v err=%v", ok, err)
	}
	if _, ok, err := a.LockMaildrop(ctx, 7); err != nil || ok {
		t.Fatalf("a second session on A took account 7: ok=%v err=%v", ok, err)
	}
	relB8, ok, err := b.LockMaildrop(ctx, 8)
	if err != nil || !ok {
		t.Fatalf("node B, account 8 (free): ok=%v err=%v", ok, err)
	}
	relB8()
	relA()
	relB, ok, err := b.LockMaildrop(ctx, 7)
	if err != nil || !ok {
		t.Fatalf("node B after A released account 7: ok=%v err=%v", ok, err)
	}
	relB()
}
