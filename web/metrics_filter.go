package web

import "github.com/prometheus/client_golang/prometheus"

// FilterMetrics counts the verdicts of the spam and virus defences that
// run before a message is accepted: the content filters ([[filter]]) and
// the DNS block and allow lists (junk.dnsbl, junk.dnswl). A nil
// *FilterMetrics ignores every call.
type FilterMetrics struct {
	filter     *prometheus.CounterVec
	lookups    *prometheus.CounterVec
	reputation *prometheus.CounterVec
}

// FilterMetrics makes the collectors and registers them on m's registry;
// call it once.
func (m *Metrics) FilterMetrics() *FilterMetrics {
	if m == nil {
		return nil
	}
	f := &FilterMetrics{
		filter: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "petrel_filter_verdicts_total",
			Help: "Content filter verdicts, by filter (its milter address) and verdict (accept, reject, tempfail, discard, quarantine, error).",
		}, []string{"filter", "verdict"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "petrel_dnsbl_lookups_total",
			Help: "DNS list lookups of client addresses, by zone and result (listed, not_listed, error).",
		}, []string{"zone", "result"}),
		reputation: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "petrel_dnsbl_verdicts_total",
			Help: "What was done with hosts the DNS block lists list, by verdict (refused-connect, refused-rcpt, junk).",
		}, []string{"verdict"}),
	}
	m.reg.MustRegister(f.filter, f.lookups, f.reputation)
	return f
}

// FilterVerdict counts one filter's verdict on one message.
func (f *FilterMetrics) FilterVerdict(filter, verdict string) {
	if f != nil {
		f.filter.WithLabelValues(filter, verdict).Inc()
	}
}

// DNSListResult counts one lookup of a client address in zone.
func (f *FilterMetrics) DNSListResult(zone, result string) {
	if f != nil {
		f.lookups.WithLabelValues(zone, result).Inc()
	}
}

// ReputationVerdict counts what was done with a listed host.
func (f *FilterMetrics) ReputationVerdict(verdict string) {
	if f != nil {
		f.reputation.WithLabelValues(verdict).Inc()
	}
}
