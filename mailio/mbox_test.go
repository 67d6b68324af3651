package mailio_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"petrel/mailio"
)

func readAll(t *testing.T, in string, v mailio.Variant) []*mailio.MboxMessage {
	t.Helper()
	r := mailio.NewMboxReader(strings.NewReader(in), v)
	var out []*mailio.MboxMessage
	for {
		m, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, m)
	}
}

func TestMboxReader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		variant mailio.Variant
		bodies  []string
		senders []string
	}{
		{
			name:    "two messages",
			in:      "From a@example.org Tue Mar 19 10:05:26 2024\nSubject: one\n\nbody 1\n\nFrom b@example.org Wed Mar 20 11:00:00 2024\nSubject: two\n\nbody 2\n",
			bodies:  []string{"Subject: one\r\n\r\nbody 1\r\n", "Subject: two\r\n\r\nbody 2\r\n"},
			senders: []string{"a@example.org", "b@example.org"},
		},
		{
			name:   "mboxrd unescapes one level",
			in:     "From a Tue Mar 19 10:05:26 2024\nS: x\n\n>From here\n>>From there\n> From quoted\n\n",
			bodies: []string{"S: x\r\n\r\nFrom here\r\n>From there\r\n> From quoted\r\n"},
		},
		{
			name:    "mboxo keeps escapes",
			in:      "From a Tue Mar 19 10:05:26 2024\nS: x\n\n>From here\n\n",
			variant: mailio.MboxO,
			bodies:  []string{"S: x\r\n\r\n>From here\r\n"},
		},
		{
			name:   "From in prose after a blank line is not a separator",
			in:     "From a Tue Mar 19 10:05:26 2024\nS: x\n\nhello\n\nFrom my point of view, no.\n\n",
			bodies: []string{"S: x\r\n\r\nhello\r\n\r\nFrom my point of view, no.\r\n"},
		},
		{
			name:   "From line without a blank line before is body",
			in:     "From a Tue Mar 19 10:05:26 2024\nS: x\n\nline\nFrom b Tue Mar 19 10:05:26 2024\n",
			bodies: []string{"S: x\r\n\r\nline\r\nFrom b Tue Mar 19 10:05:26 2024\r\n"},
		},
		{
			name:   "CRLF file, no final newline",
			in:     "From a Tue Mar 19 10:05:26 2024\r\nS: x\r\n\r\nend",
			bodies: []string{"S: x\r\n\r\nend\r\n"},
		},
		{
			name:   "trailing blank lines kept but the separator's",
			in:     "From a Tue Mar 19 10:05:26 2024\nS: x\n\nbody\n\n\n\nFrom b Tue Mar 19 10:05:27 2024\nS: y\n\n",
			bodies: []string{"S: x\r\n\r\nbody\r\n\r\n\r\n", "S: y\r\n"},
		},
		{
			name:   "empty file",
			in:     "",
			bodies: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs := readAll(t, tt.in, tt.variant)
			if len(msgs) != len(tt.bodies) {
				t.Fatalf("%d messages, want %d", len(msgs), len(tt.bodies))
			}
			for i, m := range msgs {
				if string(m.Body) != tt.bodies[i] {
					t.Errorf("message %d: %q, want %q", i, m.Body, tt.bodies[i])
				}
				if tt.senders != nil && m.Sender != tt.senders[i] {
					t.Errorf("sender %q, want %q", m.Sender, tt.senders[i])
				}
			}
		})
	}
}

func TestMboxFromLineDates(t *testing.T) {
	want := time.Date(2024, 3, 19, 10, 5, 26, 0, time.UTC)
	for _, line := range []string{
		"From a@example.org Tue Mar 19 10:05:26 2024",
		"From 1797867046112296669@xxx Tue Mar 19 10:05:26 +0000 2024", // Gmail Takeout
		"From a@example.org  Tue Mar 19 10:05:26 2024",
	} {
		msgs := readAll(t, line+"\nS: x\n\n", mailio.MboxRD)
		if len(msgs) != 1 || !msgs[0].Date.Equal(want) {
			t.Errorf("%q: date %v, want %v", line, msgs[0].Date, want)
		}
	}
}

func TestMboxNotMbox(t *testing.T) {
	_, err := mailio.NewMboxReader(strings.NewReader("Subject: hi\n\nx\n"), mailio.MboxRD).Next()
	if !errors.Is(err, mailio.ErrNotMbox) {
		t.Errorf("err = %v, want ErrNotMbox", err)
	}
}

func TestMboxWriterRoundTrip(t *testing.T) {
	bodies := []string{
		"Subject: a\r\n\r\nFrom the start\r\n>From escaped\r\n\r\nFrom x Tue Mar 19 10:05:26 2024\r\n",
		"Subject: b\r\n\r\n\r\n\r\n",
		"Subject: c\r\n\r\nno blank at end\r\n",
	}
	var buf bytes.Buffer
	w := mailio.NewMboxWriter(&buf)
	for _, b := range bodies {
		if err := w.Write("s@example.org", time.Unix(1700000000, 0), []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	msgs := readAll(t, buf.String(), mailio.MboxRD)
	if len(msgs) != len(bodies) {
		t.Fatalf("%d messages, want %d:\n%s", len(msgs), len(bodies), buf.String())
	}
	for i, m := range msgs {
		if string(m.Body) != bodies[i] {
			t.Errorf("%d: %q, want %q", i, m.Body, bodies[i])
		}
		if m.Date.Unix() != 1700000000 {
			t.Errorf("%d: date %v", i, m.Date)
		}
	}
}
