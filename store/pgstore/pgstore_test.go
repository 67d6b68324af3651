package pgstore_test

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"petrel/internal/pgtest"
	"petrel/store/pgstore"
	"petrel/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func open(t testing.TB, dsn string) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), dsn, pgstore.Options{CheapPasswordHash: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dsns remembers each test store's database, for its peers.
type dsns map[storetest.Backend]string

// The PostgreSQL store keeps the same contract as bbolt, with peers as
// other nodes on the same database.
func TestConformance(t *testing.T) {
	where := dsns{}
	storetest.Run(t, storetest.Factory{
		New: func(t testing.TB) storetest.Backend {
			dsn := pgtest.DSN(t)
			s := open(t, dsn)
			where[s] = dsn
			return s
		},
		Peer: func(t testing.TB, b storetest.Backend) storetest.Backend {
			return open(t, where[b])
		},
		Reopen: func(t testing.TB, b storetest.Backend) storetest.Backend {
			b.Close()
			s := open(t, where[b])
			where[s] = where[b]
			return s
		},
	})
}
