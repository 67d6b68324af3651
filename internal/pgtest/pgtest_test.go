package pgtest

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// Two tests get two databases of one server: a table made in one is not in
// the other.
func TestFreshDatabasePerTest(t *testing.T) {
	ctx := context.Background()
	a, b := DSN(t), DSN(t)
	if a == b {
		t.Fatalf("same DSN twice: %s", a)
	}
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	if _, err := ca.Exec(ctx, "CREATE TABLE x (v int)"); err != nil {
		t.Fatal(err)
	}
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	var n int
	if err := cb.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'x'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("table of one test's database seen in another's")
	}
	var user string
	if err := ca.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil || user != "petrel" {
		t.Fatalf("current_user = %q, %v", user, err)
	}
}

// A server of its own stops, and its folder goes, when asked.
func TestStartStop(t *testing.T) {
	Shared(t) // skips (fails under CI) where PostgreSQL is missing
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Fatalf("folder %s left behind: %v", s.dir, err)
	}
	select {
	case <-s.done:
	default:
		t.Fatal("postgres still running after Stop")
	}
}
