package mailio_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"petrel/internal/testenv"
	"petrel/mailio"
	"petrel/store/storetest"
)

// repeat is an endless (or n-byte) stream of b after head.
type repeat struct {
	head string
	b    byte
	n    int64 // < 0: endless

	chunk []byte
}

func (r *repeat) Read(p []byte) (int, error) {
	if r.head != "" {
		k := copy(p, r.head)
		r.head = r.head[k:]
		return k, nil
	}
	if r.n == 0 {
		return 0, io.EOF
	}
	if r.n > 0 && int64(len(p)) > r.n {
		p = p[:r.n]
	}
	if len(r.chunk) == 0 {
		r.chunk = bytes.Repeat([]byte{r.b}, 64<<10)
	}
	p = p[:min(len(p), len(r.chunk))]
	copy(p, r.chunk)
	if r.n > 0 {
		r.n -= int64(len(p))
	}
	return len(p), nil
}

// What is not mbox is refused at once, and a line without end costs
// bounded memory: before, the reader collected a line whole, so a file
// without newlines was read into memory (300 MB took 863 MB) and
// /dev/zero never ended. Memory is measured from the process (peak RSS).
func TestMboxBoundsLines(t *testing.T) {
	tests := []struct {
		name    string
		in      io.Reader
		wantErr error
		tooBig  int // messages skipped as too big
		kept    int // messages returned
	}{
		{name: "zero bytes without end", in: &repeat{n: -1}, wantErr: mailio.ErrNotMbox},
		{name: "no newline at all", in: &repeat{b: 'x', n: 300 << 20}, wantErr: mailio.ErrNotMbox},
		{name: "a From line without end", in: &repeat{head: "From ", b: 'x', n: 300 << 20}, wantErr: mailio.ErrNotMbox},
		{name: "a body line without end", in: &repeat{head: "From a@b Tue Mar 19 10:05:26 2024\nSubject: x\n\n", b: 'x', n: 300 << 20}, tooBig: 1},
		{name: "a long line, then a message", in: io.MultiReader(&repeat{head: "From a@b Tue Mar 19 10:05:26 2024\nSubject: x\n\n", b: 'x', n: 100 << 20},
			strings.NewReader("\n\nFrom c@d Tue Mar 19 10:05:27 2024\nSubject: y\n\nfine\n")), tooBig: 1, kept: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testenv.ResetPeakRSS(t, 0)
			before := testenv.RSS(t, 0)
			r := mailio.NewMboxReader(tt.in, mailio.MboxRD)
			var tooBig, kept int
			var err error
			for {
				var m *mailio.MboxMessage
				if m, err = r.Next(); err != nil {
					break
				}
				if m.TooBig {
					tooBig++
				} else {
					kept++
				}
			}
			if err == io.EOF {
				err = nil
			}
			if !errors.Is(err, tt.wantErr) || tooBig != tt.tooBig || kept != tt.kept {
				t.Errorf("got %v, %d too big, %d kept; want %v, %d, %d", err, tooBig, kept, tt.wantErr, tt.tooBig, tt.kept)
			}
			grew := testenv.PeakRSS(t, 0) - before
			t.Logf("peak RSS +%d MiB", grew>>20)
			// A message up to the limit is kept whole (with its buffer's
			// growth); the rest of the file costs nothing.
			limit := int64(3 * mailio.MaxMessageSize)
			if testenv.Race {
				limit *= 6
			}
			if grew > limit {
				t.Errorf("peak RSS grew by %d MiB, want under %d MiB", grew>>20, limit>>20)
			}
		})
	}
}

// `petrel import mbox /dev/zero` ends at once with ErrNotMbox.
func TestImportMboxDevZero(t *testing.T) {
	st := storetest.Open(t)
	acct := storetest.Account(t, st, "bob@example.com")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := mailio.ImportMbox(ctx, st, acct.ID, "/dev/zero", mailio.ImportOptions{})
	if !errors.Is(err, mailio.ErrNotMbox) {
		t.Errorf("import /dev/zero: %v, want ErrNotMbox", err)
	}
}
