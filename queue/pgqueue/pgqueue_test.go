package pgqueue_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"petrel/internal/pgtest"
	"petrel/queue/pgqueue"
	"petrel/store/pgstore"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var ctx = context.Background()

// leases opens the store (which migrates the schema) and returns n
// handles on its queue, as n nodes would have.
func leases(t *testing.T, n int) []*pgqueue.Leases {
	dsn := pgtest.DSN(t)
	var out []*pgqueue.Leases
	for range n {
		s, err := pgstore.Open(ctx, dsn, pgstore.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, pgqueue.New(s.Pool()))
	}
	return out
}

// Three nodes claiming at once never take one unit twice, never lease more
// than the per-domain limit of a domain, and between them deliver every
// unit.
func TestClaimAcrossNodes(t *testing.T) {
	nodes := leases(t, 3)
	const msgs, perDomain = 60, 2
	domains := []string{"a.example", "b.example", "c.example"}
	for i := range msgs {
		if err := nodes[0].Add(ctx, fmt.Sprintf("m%d", i), domains, time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	done := map[string]bool{}
	var wg sync.WaitGroup
	for n, l := range nodes {
		for w := range 3 {
			wg.Go(func() {
				owner := fmt.Sprintf("node%d/%d", n, w)
				for {
					us, err := l.Claim(ctx, owner, time.Minute, perDomain, 2)
					if err != nil {
						t.Error(err)
						return
					}
					if len(us) == 0 {
						if p, _ := l.Pending(ctx); p == 0 {
							return
						}
						time.Sleep(time.Millisecond) // others hold the rest
						continue
					}
					// The database's own count, at any moment, keeps
					// the limit.
					counts, err := l.Leased(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					for d, n := range counts {
						if n > perDomain {
							t.Errorf("%d units of %s leased at once (limit %d)", n, d, perDomain)
						}
					}
					mu.Lock()
					for _, u := range us {
						key := u.ID + "/" + u.Domain
						if done[key] {
							t.Errorf("%s claimed twice", key)
						}
						done[key] = true
					}
					mu.Unlock()
					for _, u := range us {
						if err := l.Done(ctx, u); err != nil {
							t.Error(err)
						}
					}
				}
			})
		}
	}
	wg.Wait()
	if len(done) != msgs*len(domains) {
		t.Fatalf("%d units done, want %d", len(done), msgs*len(domains))
	}
}

// A node that dies mid-delivery (stops renewing) loses the unit when its
// lease runs out; another node takes it, and the first can no longer
// finish or give it back.
func TestLeaseRunsOut(t *testing.T) {
	nodes := leases(t, 2)
	a, b := nodes[0], nodes[1]
	if err := a.Add(ctx, "m1", []string{"x.example"}, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	us, err := a.Claim(ctx, "A", 300*time.Millisecond, 10, 10)
	if err != nil || len(us) != 1 {
		t.Fatalf("claim: %v, %v", us, err)
	}
	if got, _ := b.Claim(ctx, "B", time.Minute, 10, 10); len(got) != 0 {
		t.Fatalf("B took a leased unit: %v", got)
	}
	held := us[0]
	if err := a.Renew(ctx, &held, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var got []pgqueue.Unit
	deadline := time.Now().Add(10 * time.Second)
	for len(got) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("B never took the unit whose lease ran out")
		}
		time.Sleep(20 * time.Millisecond) // the lease runs out by the database's clock
		got, err = b.Claim(ctx, "B", time.Minute, 10, 10)
		if err != nil {
			t.Fatal(err)
		}
	}
	if got[0].ID != "m1" || got[0].Owner != "B" {
		t.Fatalf("B took %+v", got[0])
	}
	for _, op := range []func() error{
		func() error { return a.Done(ctx, held) },
		func() error { return a.Retry(ctx, held, time.Now()) },
		func() error { return a.Renew(ctx, &held, time.Minute) },
	} {
		if err := op(); !errors.Is(err, pgqueue.ErrLeaseLost) {
			t.Fatalf("A after losing the lease: %v, want ErrLeaseLost", err)
		}
	}
	if err := b.Done(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.Pending(ctx); n != 0 {
		t.Fatalf("%d units left", n)
	}
}

// Retry gives a unit back for later: not claimable before its time, with
// its attempt counted.
func TestRetry(t *testing.T) {
	l := leases(t, 1)[0]
	if err := l.Add(ctx, "m1", []string{"x.example"}, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	us, _ := l.Claim(ctx, "A", time.Minute, 1, 1)
	if len(us) != 1 {
		t.Fatal("nothing claimed")
	}
	if err := l.Retry(ctx, us[0], time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Claim(ctx, "A", time.Minute, 1, 1); len(got) != 0 {
		t.Fatalf("claimed before its retry time: %v", got)
	}
	if err := l.Retry(ctx, us[0], time.Now()); !errors.Is(err, pgqueue.ErrLeaseLost) {
		t.Fatalf("retry of a unit given back: %v", err)
	}
	if err := l.Add(ctx, "m2", []string{"x.example"}, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	got, _ := l.Claim(ctx, "A", time.Minute, 1, 5)
	if len(got) != 1 || got[0].ID != "m2" || got[0].Attempts != 0 {
		t.Fatalf("claim = %+v", got)
	}
}
