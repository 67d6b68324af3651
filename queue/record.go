package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// State is where one recipient stands.
type State string

const (
	Pending   State = "pending"
	Delivered State = "delivered"
	Failed    State = "failed"
)

// Rcpt is one recipient of a queued message.
type Rcpt struct {
	Addr        string    `json:"addr"`
	State       State     `json:"state"`
	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next,omitzero"`
	LastReply   string    `json:"reply,omitempty"`  // last reply or error, for list and DSNs
	Status      string    `json:"status,omitempty"` // enhanced status code of LastReply, e.g. "5.1.1"
	RemoteMTA   string    `json:"mta,omitempty"`
	// Log is the recipient's delivery attempts, oldest first, the last
	// MaxAttemptLog of them (for the web mail's outbox).
	Log []Attempt `json:"log,omitempty"`
}

// Attempt is one delivery attempt to one recipient.
type Attempt struct {
	Time      time.Time `json:"t"`
	RemoteMTA string    `json:"mta,omitempty"`
	Reply     string    `json:"reply,omitempty"`
}

// MaxAttemptLog bounds Rcpt.Log.
const MaxAttemptLog = 10

// Item is a queued message without its bytes.
type Item struct {
	ID      string    `json:"id"`
	From    string    `json:"from"` // "" is the null sender (a DSN)
	Rcpts   []Rcpt    `json:"rcpts"`
	Arrived time.Time `json:"arrived"`
	// Attempts counts delivery attempts of any of its destinations.
	Attempts int    `json:"attempts,omitempty"`
	Warned   bool   `json:"warned,omitempty"` // a delay warning was sent
	Size     int    `json:"size"`
	LastErr  string `json:"lasterr,omitempty"`
	// Finished is when the last recipient was delivered or failed: the
	// message is then a retired entry, kept with its recipients' results
	// and attempt logs for Options.KeepFinished (for the web mail's
	// outbox, where a bounce links to it), never tried again.
	Finished time.Time `json:"finished,omitzero"`
}

// NextAttempt is the earliest next attempt of a pending recipient, zero if
// none is pending.
func (it *Item) NextAttempt() time.Time {
	var t time.Time
	for _, r := range it.Rcpts {
		if r.State == Pending && (t.IsZero() || r.NextAttempt.Before(t)) {
			t = r.NextAttempt
		}
	}
	return t
}

// done reports whether every recipient is finished.
func (it *Item) done() bool {
	for _, r := range it.Rcpts {
		if r.State == Pending {
			return false
		}
	}
	return true
}

// domainOf returns the lowercased domain of an address ("" without @).
func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(addr[i+1:])
}

// maxRcpts bounds a decoded record, as an SMTP server bounds RCPT.
const maxRcpts = 10000

func encodeItem(it *Item) ([]byte, error) {
	b, err := json.Marshal(it)
	if err != nil {
		return nil, fmt.Errorf("encode queue item %s: %w", it.ID, err)
	}
	return b, nil
}

// decodeItem parses and checks a stored record.
func decodeItem(b []byte) (*Item, error) {
	var it Item
	if err := json.Unmarshal(b, &it); err != nil {
		return nil, fmt.Errorf("decode queue item: %w", err)
	}
	if it.ID == "" {
		return nil, errors.New("decode queue item: no ID")
	}
	if len(it.Rcpts) == 0 || len(it.Rcpts) > maxRcpts {
		return nil, fmt.Errorf("decode queue item %s: %d recipients", it.ID, len(it.Rcpts))
	}
	for _, r := range it.Rcpts {
		switch r.State {
		case Pending, Delivered, Failed:
		default:
			return nil, fmt.Errorf("decode queue item %s: recipient %q in state %q", it.ID, r.Addr, r.State)
		}
	}
	return &it, nil
}
