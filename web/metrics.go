package web

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds Petrel's Prometheus collectors, registered on a registry of
// their own (never the global one, so tests and several servers in one
// process do not collide). Every method is safe for concurrent use and
// cheap enough to call on every connection or commit; a nil *Metrics
// ignores every call, so hooks can be wired unconditionally.
type Metrics struct {
	reg *prometheus.Registry

	connections    *prometheus.CounterVec
	activeConns    *prometheus.GaugeVec
	smtpTx         *prometheus.CounterVec
	delivered      prometheus.Counter
	deliveredBytes prometheus.Counter
	queueStats     atomic.Pointer[func() (int, time.Time, error)]
	attempts       *prometheus.CounterVec
	authFailures   *prometheus.CounterVec
	authShed       prometheus.Counter
	commitSeconds  prometheus.Histogram
	commitWrites   prometheus.Histogram
	overQuota      *prometheus.CounterVec
}

// NewMetrics makes the collectors and registers them, with the Go runtime
// and process collectors, on a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "petrel_connections_total",
			Help: "Connections accepted, by protocol (smtp, submission, submissions, imap, imaps, pop3, pop3s).",
		}, []string{"protocol"}),
		activeConns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "petrel_connections_active",
			Help: "Connections open now, by protocol.",
		}, []string{"protocol"}),
		smtpTx: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "petrel_smtp_transactions_total",
			Help: "SMTP mail transactions, by result (accepted, rejected, tempfail, aborted).",
		}, []string{"result"}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "petrel_messages_delivered_total",
			Help: "Messages stored in a local mailbox (one per recipient mailbox).",
		}),
		deliveredBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "petrel_messages_delivered_bytes_total",
			Help: "Bytes of the messages counted by petrel_messages_delivered_total.",
		}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "petrel_delivery_attempts_total",
			Help: "Outbound delivery attempts, one per destination domain, by result (delivered, temporary, permanent).",
		}, []string{"result"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "petrel_auth_failures_total",
			Help: "Failed logins, by protocol.",
		}, []string{"protocol"}),
		authShed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "petrel_auth_shed_total",
			Help: "Logins told to try later because too many passwords were waiting to be checked (argon2id pool full).",
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "petrel_store_commit_seconds",
			Help: "Latency of store commits (one bbolt transaction and fsync).",
			// fsync ranges from ~50µs (NVMe, tmpfs) to ~100ms (busy disk).
			Buckets: prometheus.ExponentialBuckets(0.00005, 2.5, 12),
		}),
		commitWrites: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "petrel_store_commit_writes",
			Help:    "Writes grouped into one store commit.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		overQuota: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "petrel_quota_refusals_total",
			Help: "Messages refused for an account's quota, by where: smtp-rcpt, smtp-data, imap-append, imap-copy.",
		}, []string{"where"}),
	}
	m.reg.MustRegister(
		m.connections, m.activeConns, m.smtpTx, m.delivered, m.deliveredBytes,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "petrel_queue_messages",
			Help: "Messages waiting in the outbound queue.",
		}, func() float64 { n, _ := m.queue(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "petrel_queue_oldest_age_seconds",
			Help: "Age of the oldest message in the outbound queue (0 when empty).",
		}, func() float64 { _, age := m.queue(); return age.Seconds() }),
		m.attempts, m.authFailures, m.authShed,
		m.commitSeconds, m.commitWrites, m.overQuota,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry is the registry holding the collectors; pass it as
// Options.Gatherer, or register more collectors on it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ConnOpened counts a new connection of protocol and returns the func to
// call when it closes, which keeps petrel_connections_active right:
//
//	defer m.ConnOpened("imap")()
func (m *Metrics) ConnOpened(protocol string) (closed func()) {
	if m == nil {
		return func() {}
	}
	m.connections.WithLabelValues(protocol).Inc()
	g := m.activeConns.WithLabelValues(protocol)
	g.Inc()
	return g.Dec
}

// SMTPTransaction counts one SMTP transaction that ended with result
// (accepted, rejected, tempfail or aborted).
func (m *Metrics) SMTPTransaction(result string) {
	if m == nil {
		return
	}
	m.smtpTx.WithLabelValues(result).Inc()
}

// OverQuota counts a message (or recipient) refused for its account's
// quota: where is smtp-rcpt, smtp-data, imap-append or imap-copy.
func (m *Metrics) OverQuota(where string) {
	if m == nil {
		return
	}
	m.overQuota.WithLabelValues(where).Inc()
}

// Delivered counts a message of size bytes stored in n local mailboxes.
func (m *Metrics) Delivered(n int, size int64) {
	if m == nil || n <= 0 {
		return
	}
	m.delivered.Add(float64(n))
	m.deliveredBytes.Add(float64(int64(n) * size))
}

// ObserveQueue makes the queue gauges read stats at every scrape: the
// number of queued messages and the arrival of the oldest (zero when
// empty), so they are never stale.
func (m *Metrics) ObserveQueue(stats func() (size int, oldest time.Time, err error)) {
	if m == nil {
		return
	}
	m.queueStats.Store(&stats)
}

// queue is what ObserveQueue's stats say now: 0 before it is called and
// when stats fails.
func (m *Metrics) queue() (int, time.Duration) {
	f := m.queueStats.Load()
	if f == nil {
		return 0, 0
	}
	n, oldest, err := (*f)()
	if err != nil || n == 0 || oldest.IsZero() {
		return n, 0
	}
	return n, time.Since(oldest)
}

// DeliveryAttempt counts one outbound delivery attempt that ended with
// result (delivered, temporary or permanent). Its signature matches
// queue.Options.OnAttempt.
func (m *Metrics) DeliveryAttempt(result string) {
	if m == nil {
		return
	}
	m.attempts.WithLabelValues(result).Inc()
}

// AuthFailure counts a failed login on protocol.
func (m *Metrics) AuthFailure(protocol string) {
	if m == nil {
		return
	}
	m.authFailures.WithLabelValues(protocol).Inc()
}

// AuthShed counts a login told to try later, its password unchecked: the
// store's hashing pool was full. Its signature matches
// store.Options.OnAuthBusy.
func (m *Metrics) AuthShed() {
	if m == nil {
		return
	}
	m.authShed.Inc()
}

// StoreCommit records one store commit of n grouped writes that took d. Its
// signature matches store.Options.OnCommit.
func (m *Metrics) StoreCommit(d time.Duration, n int) {
	if m == nil {
		return
	}
	m.commitSeconds.Observe(d.Seconds())
	m.commitWrites.Observe(float64(n))
}
