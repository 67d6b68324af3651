package imap

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// appendTime writes what time's AppendFormat writes, for both of IMAP's
// layouts, across years, zones (whole, odd minutes, seconds, west and
// east, UTC, Local) and times of day.
func TestAppendTime(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("", 0), time.FixedZone("X", -7*3600),
		time.FixedZone("", 5*3600+45*60), time.FixedZone("", -(3*3600 + 30*60)), time.FixedZone("", -30),
		time.FixedZone("", 59), time.FixedZone("", 14*3600), time.FixedZone("", -12*3600-1)}
	years := []int{-1, 0, 1, 99, 100, 999, 1000, 1969, 1970, 2006, 2038, 9999, 10000, 123456}
	for i := range 20000 {
		year := years[i%len(years)]
		if i%3 == 0 {
			year = 1900 + r.IntN(300)
		}
		tm := time.Date(year, time.Month(1+r.IntN(12)), 1+r.IntN(31), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e9), zones[r.IntN(len(zones))])
		for _, layout := range []string{envelopeDateLayout, dateTimeLayout, time.RFC3339} {
			want := tm.AppendFormat(nil, layout)
			if got := appendTime(nil, tm, layout); !bytes.Equal(got, want) {
				t.Fatalf("%v in %q: got %q, want %q", tm, layout, got, want)
			}
		}
	}
}

// str writes a quoted string, escaping '"' and '\', or a literal when the
// string cannot be quoted (CR, LF, NUL, 8-bit without UTF-8, over 1 KiB).
func TestStr(t *testing.T) {
	for _, c := range []struct {
		in          string
		utf8        bool
		quoted, lit string
	}{
		{"", false, `""`, ""},
		{"plain", false, `"plain"`, ""},
		{`a"b\c`, false, `"a\"b\\c"`, ""},
		{`""\\`, false, `"\"\"\\\\"`, ""},
		{"caf\xc3\xa9", true, "\"caf\xc3\xa9\"", ""},
		{"caf\xc3\xa9", false, "", "{5}\r\ncaf\xc3\xa9"},
		{"a\r\nb", true, "", "{4}\r\na\r\nb"},
		{"nul\x00", true, "", "{4}\r\nnul\x00"},
		{string(bytes.Repeat([]byte{'x'}, 1024)), false, `"` + string(bytes.Repeat([]byte{'x'}, 1024)) + `"`, ""},
		{string(bytes.Repeat([]byte{'x'}, 1025)), false, "", "{1025}\r\n" + string(bytes.Repeat([]byte{'x'}, 1025))},
	} {
		var out bytes.Buffer
		w := bufio.NewWriterSize(&out, 16)
		(&enc{w: w, utf8: c.utf8}).str(c.in)
		w.Flush()
		want := c.quoted + c.lit
		if out.String() != want {
			t.Errorf("str(%.20q, utf8 %v) = %.40q, want %.40q", c.in, c.utf8, out.String(), want)
		}
	}
}

// Numbers and dates are formatted into the writer's buffer without an
// allocation, even when it is nearly full.
func TestFormatIntoFullBuffer(t *testing.T) {
	w := bufio.NewWriterSize(io.Discard, 64)
	e := &enc{w: w}
	filler := strings.Repeat("x", 61)
	tm := time.Date(2006, 1, 2, 15, 4, 5, 0, time.FixedZone("", -7*3600))
	allocs := testing.AllocsPerRun(100, func() {
		w.WriteString(filler)
		e.num(4000000000)
		w.WriteString(filler)
		e.num64(-9000000000000000000)
		w.WriteString(filler)
		e.date(tm)
		w.WriteString(filler)
		e.quotedTime(tm, envelopeDateLayout)
	})
	if allocs != 0 {
		t.Errorf("%v allocations formatting into a nearly full buffer, want 0", allocs)
	}
	var out bytes.Buffer
	w.Reset(&out)
	w.WriteString(filler)
	e.num(4000000000)
	e.date(tm)
	w.Flush()
	if want := filler + `4000000000"02-Jan-2006 15:04:05 -0700"`; out.String() != want {
		t.Errorf("wrote %q, want %q", out.String(), want)
	}
}
