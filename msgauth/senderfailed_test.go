package msgauth

import "testing"

func TestSenderFailed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spf   string
		dmarc []string
		want  bool
	}{
		{"all pass", "pass", []string{"pass"}, false},
		{"spf fail", "fail", []string{"pass"}, true},
		{"spf softfail", "softfail", nil, false},
		{"dmarc fail", "pass", []string{"pass", "fail"}, true},
		{"nothing known", "none", []string{"none"}, false},
	} {
		v := &Verdict{SPF: SPFOutcome{Result: tc.spf}}
		for _, r := range tc.dmarc {
			v.DMARC = append(v.DMARC, DMARCOutcome{Result: r})
		}
		if got := v.SenderFailed(); got != tc.want {
			t.Errorf("%s: SenderFailed = %v, want %v", tc.name, got, tc.want)
		}
	}
}
