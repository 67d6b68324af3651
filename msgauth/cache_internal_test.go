package msgauth

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

// countingResolver answers every TXT query with the name, NXDOMAIN for
// names starting "nx", SERVFAIL for names starting "sf", and counts calls.
type countingResolver struct{ calls int }

func (r *countingResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	r.calls++
	switch {
	case len(name) > 2 && name[:2] == "nx":
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	case len(name) > 2 && name[:2] == "sf":
		return nil, &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
	}
	return []string{name}, nil
}
func (r *countingResolver) LookupMX(context.Context, string) ([]*net.MX, error) { return nil, nil }
func (r *countingResolver) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) {
	return nil, nil
}
func (r *countingResolver) LookupAddr(context.Context, string) ([]string, error) { return nil, nil }

func TestCacheTTLAndErrors(t *testing.T) {
	next := &countingResolver{}
	c := newCache(next, time.Minute, 100)
	now := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	ctx := context.Background()

	tests := []struct {
		name      string
		query     string
		advance   time.Duration
		wantCalls int
		wantErr   bool
	}{
		{"miss", "a.example", 0, 1, false},
		{"hit", "A.Example.", 0, 1, false},
		{"still fresh", "a.example", 59 * time.Second, 1, false},
		{"expired", "a.example", 2 * time.Second, 2, false},
		{"nxdomain miss", "nx.example", 0, 3, true},
		{"nxdomain cached", "nx.example", 0, 3, true},
		{"servfail not cached 1", "sf.example", 0, 4, true},
		{"servfail not cached 2", "sf.example", 0, 5, true},
	}
	for _, tt := range tests {
		now = now.Add(tt.advance)
		got, err := c.LookupTXT(ctx, tt.query)
		if next.calls != tt.wantCalls || (err != nil) != tt.wantErr {
			t.Errorf("%s: calls %d err %v, want calls %d err %v", tt.name, next.calls, err, tt.wantCalls, tt.wantErr)
		}
		if err == nil && len(got) != 1 {
			t.Errorf("%s: got %q", tt.name, got)
		}
		if _, ok := err.(*net.DNSError); err != nil && !ok {
			t.Errorf("%s: error %T is not a bare *net.DNSError", tt.name, err)
		}
	}
}

func TestCacheBounded(t *testing.T) {
	c := newCache(&countingResolver{}, time.Hour, 100)
	for i := range 1000 {
		c.LookupTXT(context.Background(), fmt.Sprintf("n%d.example", i))
	}
	if n := len(c.m); n > 100 {
		t.Errorf("cache holds %d entries, bound is 100", n)
	}
}

func TestCacheCopies(t *testing.T) {
	c := newCache(&countingResolver{}, time.Hour, 100)
	got, _ := c.LookupTXT(context.Background(), "a.example")
	got[0] = "changed"
	again, _ := c.LookupTXT(context.Background(), "a.example")
	if again[0] != "a.example" {
		t.Errorf("a caller changed the cached answer: %q", again)
	}
}
