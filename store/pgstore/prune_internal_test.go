package pgstore

import (
	"context"
	"testing"

	"petrel/internal/pgtest"
)

// Changes older than ChangesKept go; newer ones stay.
func TestPruneChanges(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.DSN(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.pool.Exec(ctx, `INSERT INTO changes (mailbox, modseq, kind, payload, at) VALUES
		(1, 2, 1, '{}', now() - interval '2 days'), (1, 3, 1, '{}', now() - interval '1 hour')`)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.pruneChanges(ctx, ChangesKept); err != nil {
		t.Fatal(err)
	}
	var left []int64
	rows, _ := s.pool.Query(ctx, "SELECT modseq FROM changes ORDER BY modseq")
	for rows.Next() {
		var m int64
		rows.Scan(&m)
		left = append(left, m)
	}
	if rows.Err() != nil || len(left) != 1 || left[0] != 3 {
		t.Fatalf("changes left: %v, %v", left, rows.Err())
	}
}
