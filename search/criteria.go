package search

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"petrel/store"
)

// Keys go-imap's SearchCriteria cannot hold, spelled as header keys no
// field can have (a leading NUL).
const (
	// ModSeqKey is RFC 7162's MODSEQ: the value is the lowest MODSEQ.
	ModSeqKey = "\x00MODSEQ"
	// EmailIDKey is RFC 8474's EMAILID: the value is the id.
	EmailIDKey = "\x00EMAILID"
	// SavedKey is RFC 8514's SAVEDSINCE, SAVEDBEFORE and SAVEDON: the
	// value is "since", "before" or "on", a space and the date.
	SavedKey = "\x00SAVED"
	// WithinKey is RFC 5032's OLDER and YOUNGER: the value is "<"
	// (younger) or ">" (older) and a number of seconds.
	WithinKey = "\x00WITHIN"
)

// IsSpecialKey: a key that is no header field (WithinKey, ModSeqKey,
// EmailIDKey).
func IsSpecialKey(k string) bool { return strings.HasPrefix(k, "\x00") }

// NeedsContent reports whether any key reads the message itself.
func NeedsContent(c *imap.SearchCriteria) bool {
	return AnyKey(c, func(c *imap.SearchCriteria) bool {
		return slices.ContainsFunc(c.Header, func(h imap.SearchCriteriaHeaderField) bool { return !IsSpecialKey(h.Key) }) ||
			len(c.Body) > 0 || len(c.Text) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero()
	})
}

// NeedsStructure reports whether any key needs more of a message than its
// top header (the body's text, or the sent date from the envelope).
func NeedsStructure(c *imap.SearchCriteria) bool {
	return AnyKey(c, func(c *imap.SearchCriteria) bool {
		return len(c.Body) > 0 || len(c.Text) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero()
	})
}

// AnyKey reports whether has holds for c or any criteria under its NOT
// and OR keys.
func AnyKey(c *imap.SearchCriteria, has func(*imap.SearchCriteria) bool) bool {
	if has(c) {
		return true
	}
	for i := range c.Not {
		if AnyKey(&c.Not[i], has) {
			return true
		}
	}
	for i := range c.Or {
		if AnyKey(&c.Or[i][0], has) || AnyKey(&c.Or[i][1], has) {
			return true
		}
	}
	return false
}

// Match evaluates the criteria (an AND of every key given) on one message.
// Sequence sets and UID sets must be static ("*" and "$" resolved by the
// caller); \Recent is no flag of the store's, the caller turns it into a
// UID set.
func Match(c *imap.SearchCriteria, m *Msg) bool {
	for _, set := range c.SeqNum {
		if !InSeqSet(set, m.Seq) {
			return false
		}
	}
	for _, set := range c.UID {
		if !InUIDSet(set, imap.UID(m.Meta.UID)) {
			return false
		}
	}
	if !c.Since.IsZero() || !c.Before.IsZero() {
		d := dateOnly(m.Meta.InternalDate.UTC())
		if !c.Since.IsZero() && d.Before(dateOnly(c.Since)) {
			return false
		}
		if !c.Before.IsZero() && !d.Before(dateOnly(c.Before)) {
			return false
		}
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		d := dateOnly(m.SentDate())
		if !c.SentSince.IsZero() && d.Before(dateOnly(c.SentSince)) {
			return false
		}
		if !c.SentBefore.IsZero() && !d.Before(dateOnly(c.SentBefore)) {
			return false
		}
	}
	for _, f := range c.Flag {
		if !m.Meta.Has(string(f)) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if m.Meta.Has(string(f)) {
			return false
		}
	}
	if c.Larger > 0 && m.Meta.Size <= c.Larger {
		return false
	}
	if c.Smaller > 0 && m.Meta.Size >= c.Smaller {
		return false
	}
	for _, h := range c.Header {
		switch h.Key {
		case WithinKey:
			if !within(h.Value, m.Meta.InternalDate) {
				return false
			}
			continue
		case ModSeqKey:
			if n, _ := strconv.ParseUint(h.Value, 10, 64); m.Meta.ModSeq < n {
				return false
			}
			continue
		case EmailIDKey:
			if "E"+strconv.FormatUint(m.Meta.Blob, 10) != h.Value {
				return false
			}
			continue
		case SavedKey:
			if !savedMatch(h.Value, m.Meta) {
				return false
			}
			continue
		}
		if !m.HeaderContains(h.Key, h.Value) {
			return false
		}
	}
	for _, b := range c.Body {
		if !m.BodyContains(b) {
			return false
		}
	}
	for _, t := range c.Text {
		if !m.HeaderContains("", t) && !m.BodyContains(t) {
			return false
		}
	}
	for i := range c.Not {
		if Match(&c.Not[i], m) {
			return false
		}
	}
	for i := range c.Or {
		if !Match(&c.Or[i][0], m) && !Match(&c.Or[i][1], m) {
			return false
		}
	}
	return true
}

// InSeqSet reports whether n is in a static sequence set.
func InSeqSet(set imap.SeqSet, n uint32) bool {
	for _, r := range set {
		lo, hi := min(r.Start, r.Stop), max(r.Start, r.Stop)
		if n >= lo && n <= hi {
			return true
		}
	}
	return false
}

// InUIDSet reports whether n is in a static UID set.
func InUIDSet(set imap.UIDSet, n imap.UID) bool {
	for _, r := range set {
		lo, hi := min(r.Start, r.Stop), max(r.Start, r.Stop)
		if n >= lo && n <= hi {
			return true
		}
	}
	return false
}

// dateOnly drops the time of day (RFC 9051 6.4.4: dates disregard time and
// timezone).
func dateOnly(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// within: whether a message that arrived at t is younger ("<n") or older
// (">n") than n seconds.
func within(v string, t time.Time) bool {
	if len(v) < 2 {
		return false
	}
	n, err := strconv.ParseInt(v[1:], 10, 64)
	if err != nil {
		return false
	}
	age := time.Since(t)
	if v[0] == '<' {
		return age <= time.Duration(n)*time.Second
	}
	return age >= time.Duration(n)*time.Second
}

// savedMatch: whether the message's save date (its internal date when it
// has none: stored before save dates were kept) is on, since or before
// the date, disregarding time and timezone as SINCE does.
func savedMatch(v string, m *store.Message) bool {
	op, ds, _ := strings.Cut(v, " ")
	day, err := time.Parse(time.DateOnly, ds)
	if err != nil {
		return false
	}
	t := m.SaveDate
	if t.IsZero() {
		t = m.InternalDate
	}
	d := dateOnly(t.UTC())
	switch op {
	case "since":
		return !d.Before(day)
	case "before":
		return d.Before(day)
	}
	return d.Equal(day)
}
