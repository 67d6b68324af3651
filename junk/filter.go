package junk

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"petrel/store"
)

// Model is what the classifier reads from the store.
type Model interface {
	JunkLookup(acct uint64, toks []string, counts []store.JunkCounts) (store.JunkStats, error)
	// JunkJudge is the account's own read: its trusted senders, its
	// model's totals and counts, in one read transaction.
	JunkJudge(acct uint64, senders, toks []string, counts []store.JunkCounts) (store.JunkStats, bool, error)
}

// Defaults of Options.
const (
	DefaultMinTrained = 50
	headerClues       = 5 // tokens named in X-Petrel-Junk
)

// Options configure a Classifier.
type Options struct {
	// Threshold: a message scoring above it is junk (default
	// DefaultThreshold; junk.threshold).
	Threshold float64
	// MinTrained is how many spam and how many ham messages a model must
	// have learnt before it gives verdicts (default DefaultMinTrained).
	MinTrained int
	// Shared lets the server-wide model (store.SharedJunkModel) judge for
	// accounts that have not learnt enough (junk.shared_model).
	Shared bool
	// Params of the combining (default DefaultParams).
	Params *Params
	// Logger gets one line per verdict; nil: slog.Default().
	Logger *slog.Logger
	// Registerer, if set, gets the verdict counter and timing histogram.
	Registerer prometheus.Registerer
}

// Classifier gives junk verdicts for deliveries to local accounts.
type Classifier struct {
	model    Model
	opts     Options
	params   Params
	log      *slog.Logger
	verdicts *prometheus.CounterVec
	seconds  prometheus.Histogram
}

// New returns a Classifier reading models from m.
func New(m Model, o Options) (*Classifier, error) {
	if o.Threshold == 0 {
		o.Threshold = DefaultThreshold
	}
	if o.Threshold <= 0 || o.Threshold >= 1 {
		return nil, fmt.Errorf("junk threshold %v: want a number between 0 and 1, e.g. 0.9", o.Threshold)
	}
	if o.MinTrained <= 0 {
		o.MinTrained = DefaultMinTrained
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	c := &Classifier{model: m, opts: o, params: DefaultParams, log: o.Logger,
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "petrel_junk_verdicts_total",
			Help: "Junk classifier verdicts on deliveries to local accounts, by verdict (junk, inbox, trusted, untrained, error) and model (account, shared, none).",
		}, []string{"verdict", "model"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "petrel_junk_classify_seconds",
			Help:    "Time to tokenize a message and score it for its local recipients.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2.5, 10),
		}),
	}
	if o.Params != nil {
		c.params = *o.Params
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(c.verdicts); err != nil {
			return nil, fmt.Errorf("junk metrics: %w", err)
		}
		if err := o.Registerer.Register(c.seconds); err != nil {
			return nil, fmt.Errorf("junk metrics: %w", err)
		}
	}
	return c, nil
}

// Verdict is the classifier's judgement of one message for one account.
type Verdict struct {
	Account uint64
	// Junk says to file the message in the account's Junk mailbox.
	Junk bool
	// Verdict is "junk", "inbox", "trusted" (the sender is someone the
	// user wrote to), "untrained" (no model has learnt enough) or "error".
	Verdict string
	// Model is "account", "shared" or "none".
	Model string
	Score float64
	Clues []Clue
}

// Header is the X-Petrel-Junk field (with CRLF) that says why, for the
// verdicts that have a score; "" otherwise.
func (v *Verdict) Header() string {
	if v.Model == "none" {
		return ""
	}
	var b strings.Builder
	b.WriteString("X-Petrel-Junk: score=")
	b.WriteString(strconv.FormatFloat(v.Score, 'f', 2, 64))
	if v.Verdict == "trusted" {
		b.WriteString("; trusted=yes")
	}
	b.WriteString(`; tokens="`)
	for i, c := range v.Clues {
		if i == headerClues {
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(headerSafe(c.Token))
	}
	b.WriteString("\"\r\n")
	return b.String()
}

// headerSafe keeps a token printable ASCII without quotes, for a header.
func headerSafe(tok string) string {
	if len(tok) > 40 {
		tok = tok[:40]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e || r == '"' || r == '\\' || r == ',' {
			return '?'
		}
		return r
	}, tok)
}

// Classify tokenizes msg once and judges it for each of accounts. queueID
// names the message in the log lines. A failure to read a model gives that
// account an "error" verdict (INBOX): the classifier never loses mail.
func (c *Classifier) Classify(ctx context.Context, queueID string, msg io.Reader, accounts []uint64) []Verdict {
	start := time.Now()
	ready := c.anyReady(accounts)
	var toks, senders []string
	if ready {
		// Not before a model can judge: untrained accounts (every
		// account of a new server) cost no tokenizing.
		toks = Tokens(msg)
		senders = fromAddresses(toks)
	}
	counts := make([]Counts, len(toks))
	out := make([]Verdict, 0, len(accounts))
	for _, acct := range accounts {
		v := Verdict{Account: acct, Verdict: "untrained", Model: "none"}
		if ready {
			v = c.judge(acct, toks, senders, counts)
		}
		c.verdicts.WithLabelValues(v.Verdict, v.Model).Inc()
		args := []any{"queue_id", queueID, "account", acct, "verdict", v.Verdict, "model", v.Model}
		if v.Model != "none" {
			args = append(args, "score", strconv.FormatFloat(v.Score, 'f', 3, 64))
		}
		c.log.InfoContext(ctx, "junk verdict", args...)
		out = append(out, v)
	}
	c.seconds.Observe(time.Since(start).Seconds())
	return out
}

// anyReady reports whether one of accounts' models (or the shared one, if
// it may judge) has learnt enough to give verdicts; an error reading one
// counts as yes, for judge to report it.
func (c *Classifier) anyReady(accounts []uint64) bool {
	if c.opts.Shared {
		accounts = append(accounts[:len(accounts):len(accounts)], store.SharedJunkModel)
	}
	for _, a := range accounts {
		st, err := c.model.JunkLookup(a, nil, nil)
		if err != nil || st.Spam >= uint64(c.opts.MinTrained) && st.Ham >= uint64(c.opts.MinTrained) {
			return true
		}
	}
	return false
}

func (c *Classifier) judge(acct uint64, toks, senders []string, counts []Counts) Verdict {
	v := Verdict{Account: acct, Verdict: "untrained", Model: "none"}
	st, trusted, err := c.model.JunkJudge(acct, senders, toks, counts)
	if err != nil {
		c.log.Error("junk: reading the model", "account", acct, "err", err)
		v.Verdict = "error"
		return v
	}
	if trusted {
		v.Verdict, v.Model = "trusted", "account"
		for _, s := range senders {
			v.Clues = append(v.Clues, Clue{Token: "from:" + s, Prob: 0})
		}
		return v
	}
	name := "account"
	if !c.ready(st) && c.opts.Shared {
		name = "shared"
		if st, err = c.model.JunkLookup(store.SharedJunkModel, toks, counts); err != nil {
			c.log.Error("junk: reading the model", "account", store.SharedJunkModel, "err", err)
			v.Verdict = "error"
			return v
		}
	}
	if !c.ready(st) {
		return v
	}
	score, clues := Score(c.params, toks, counts, uint32(min(st.Spam, 1<<32-1)), uint32(min(st.Ham, 1<<32-1)))
	v.Score, v.Clues, v.Model = score, clues, name
	v.Junk = score > c.opts.Threshold
	v.Verdict = "inbox"
	if v.Junk {
		v.Verdict = "junk"
	}
	return v
}

// ready says a model has learnt enough to judge.
func (c *Classifier) ready(st store.JunkStats) bool {
	return st.Spam >= uint64(c.opts.MinTrained) && st.Ham >= uint64(c.opts.MinTrained)
}

// fromAddresses picks the From field's addresses out of a message's
// tokens.
func fromAddresses(toks []string) []string {
	var out []string
	for _, t := range toks {
		if a, ok := strings.CutPrefix(t, "from:"); ok && strings.Contains(a, "@") && !strings.HasPrefix(a, "@") && !strings.HasPrefix(a, "name:") {
			out = append(out, a)
		}
	}
	return out
}
