package msgauth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"petrel/msgauth"
)

// TestCache: the second identical message costs no DNS query; with the
// cache off it costs as many as the first.
func TestCache(t *testing.T) {
	tests := []struct {
		name     string
		ttl      time.Duration
		wantMore bool
	}{
		{"cached", 0, false},
		{"cache off", -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *msgauth.Options) { o.CacheTTL = tt.ttl })
			in := msgauthInput(badIP, "x.example", "alice@crepes.fr", simpleMessage("alice@crepes.fr"))
			before := e.dns.Queries()
			if _, err := e.v.Verify(t.Context(), in); err != nil {
				t.Fatal(err)
			}
			first := e.dns.Queries() - before
			if _, err := e.v.Verify(t.Context(), in); err != nil {
				t.Fatal(err)
			}
			second := e.dns.Queries() - before - first
			if first == 0 || (second > 0) != tt.wantMore {
				t.Errorf("queries: first message %d, second %d; want the second to ask again: %v", first, second, tt.wantMore)
			}
		})
	}
}

// TestLookupBudget: with a budget of one lookup, an SPF record that needs
// two (an include) ends in temperror instead of running on.
func TestLookupBudget(t *testing.T) {
	e := newEnv(t, func(o *msgauth.Options) { o.MaxLookups = 1 })
	v, err := e.v.Verify(t.Context(), msgauthInput(goodIP, "x.example", "a@spf-include.example", message("hi\n", "Subject: no From")))
	if err != nil {
		t.Fatal(err)
	}
	if v.SPF.Result != "temperror" || v.Lookups != 2 {
		t.Errorf("SPF %s after %d lookups, want temperror after 2 (1 allowed + 1 refused)", v.SPF.Result, v.Lookups)
	}
}

// TestTimeout: a DNS server that never answers costs the Timeout, not more,
// and the checks waiting for it report temperror.
func TestTimeout(t *testing.T) {
	e := newEnv(t, func(o *msgauth.Options) { o.Timeout = 300 * time.Millisecond })
	e.dns.Blackhole("slow.example")
	e.dns.Blackhole("_dmarc.slow.example")
	start := time.Now()
	v, err := e.v.Verify(t.Context(), msgauthInput(goodIP, "x.example", "a@slow.example", simpleMessage("a@slow.example")))
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed > 3*time.Second {
		t.Errorf("Verify took %v with a 300ms timeout", elapsed)
	}
	if v.SPF.Result != "temperror" || v.DMARC[0].Result != "temperror" || v.Action != msgauth.Accept {
		t.Errorf("SPF %s DMARC %s action %v, want temperror, temperror, accept", v.SPF.Result, v.DMARC[0].Result, v.Action)
	}
}

// TestCancelled: when the caller's context ends, Verify says so.
func TestCancelled(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := e.v.Verify(ctx, msgauthInput(goodIP, "x.example", "a@crepes.fr", simpleMessage("a@crepes.fr")))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with a cancelled context: %v, want context.Canceled", err)
	}
}
