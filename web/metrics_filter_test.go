package web_test

import (
	"strings"
	"testing"

	"petrel/web"
)

func TestFilterMetrics(t *testing.T) {
	m := web.NewMetrics()
	f := m.FilterMetrics()
	srv := serve(t, web.Options{Gatherer: m.Registry()})
	f.FilterVerdict("inet:127.0.0.1:11332", "reject")
	f.FilterVerdict("inet:127.0.0.1:11332", "reject")
	f.DNSListResult("zen.spamhaus.org", "listed")
	f.ReputationVerdict("refused-rcpt")
	out := scrape(t, srv.URL)
	for _, want := range []string{
		`petrel_filter_verdicts_total{filter="inet:127.0.0.1:11332",verdict="reject"} 2`,
		`petrel_dnsbl_lookups_total{result="listed",zone="zen.spamhaus.org"} 1`,
		`petrel_dnsbl_verdicts_total{verdict="refused-rcpt"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in\n%s", want, out)
		}
	}
	var nilMetrics *web.FilterMetrics
	nilMetrics.FilterVerdict("x", "accept") // a nil one ignores calls
}
