package msgauth

import "testing"

// NoForward: only a DMARC failure under a published p=reject keeps a
// message from being forwarded, whatever pct sampling applied.
func TestNoForward(t *testing.T) {
	for _, tc := range []struct {
		dmarc []DMARCOutcome
		want  bool
	}{
		{nil, false},
		{[]DMARCOutcome{{Result: "pass", Policy: "reject"}}, false},
		{[]DMARCOutcome{{Result: "fail", Policy: "quarantine"}}, false},
		{[]DMARCOutcome{{Result: "fail", Policy: "none"}}, false},
		{[]DMARCOutcome{{Result: "fail", Policy: "reject", Applied: "none"}}, true},
		{[]DMARCOutcome{{Result: "pass", Policy: "none"}, {Result: "fail", Policy: "reject"}}, true},
	} {
		if got := (&Verdict{DMARC: tc.dmarc}).NoForward(); got != tc.want {
			t.Errorf("%+v: NoForward = %v, want %v", tc.dmarc, got, tc.want)
		}
	}
}
