package pgstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"petrel/internal/pgtest"
	"petrel/store/pgstore"
)

// Nodes that start at once on a new database migrate it once, and a node
// refuses a schema newer than it knows.
func TestSchema(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := pgstore.Open(ctx, dsn, pgstore.Options{})
			errs[i] = err
			if err == nil {
				s.Close()
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v, rows int
	if err := conn.QueryRow(ctx, "SELECT max(version), count(*) FROM petrel_schema").Scan(&v, &rows); err != nil || v != pgstore.SchemaVersion || rows != 1 {
		t.Fatalf("schema version %d in %d rows, %v; want %d in 1", v, rows, err, pgstore.SchemaVersion)
	}
	if _, err := conn.Exec(ctx, "UPDATE petrel_schema SET version = version + 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.Open(ctx, dsn, pgstore.Options{}); !errors.Is(err, pgstore.ErrSchemaNewer) {
		t.Fatalf("open on a newer schema: %v, want ErrSchemaNewer", err)
	}
	if _, err := pgstore.Open(ctx, "postgres://%zz", pgstore.Options{}); err == nil {
		t.Fatal("bad DSN accepted")
	}
}

// A password changed through one node is checked anew by another that
// remembered the old one as right.
func TestPasswordChangeAcrossNodes(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	if _, err := a.CreateAccount(ctx, "bob@example.org", "old"); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time from the cache
		if _, err := b.Authenticate("bob@example.org", "old"); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.SetPassword(ctx, "bob@example.org", "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate("bob@example.org", "old"); err == nil {
		t.Fatal("old password still accepted by the other node")
	}
	if _, err := b.Authenticate("bob@example.org", "new"); err != nil {
		t.Fatal(err)
	}
}
