package admin

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// On a terminal the bar is redrawn in place; elsewhere a line is written
// each 1000 messages.
func TestImportProgressBar(t *testing.T) {
	var b bytes.Buffer
	p := &progressBar{w: &b, verb: "import", tty: true, width: 60}
	for _, d := range []int{0, 500, 1000, 1200} {
		p.Progress(d, 1200)
	}
	progressOut{w: &b, bar: p}.Write([]byte("imported 1200 messages\n"))
	got := b.String()
	lines := strings.Split(got, "\r")
	if len(lines) != 5 || lines[0] != "" {
		t.Fatalf("want four redraws, got %q", got)
	}
	if !strings.HasPrefix(lines[1], "importing [>") || !strings.Contains(lines[1], "0/1200   0%") {
		t.Errorf("first draw %q", lines[1])
	}
	if lines[4] != "importing ["+strings.Repeat("=", 32)+"] 1200/1200 100%\nimported 1200 messages\n" {
		t.Errorf("last draw and summary %q", lines[4])
	}
	for _, l := range lines[1:] {
		if n := len(strings.SplitN(l, "\n", 2)[0]); n >= 60 {
			t.Errorf("line of %d columns on a terminal of 60: %q", n, l)
		}
	}

	b.Reset()
	p = &progressBar{w: &b, verb: "export"}
	for d := 0; d <= 3500; d += 500 {
		p.Progress(d, 3500)
	}
	if want := "exported 1000 of 3500 messages\nexported 2000 of 3500 messages\nexported 3000 of 3500 messages\n"; b.String() != want {
		t.Errorf("plain progress %q, want %q", b.String(), want)
	}
}

type sinkLog struct{ calls []int }

func (s *sinkLog) Write(b []byte) (int, error) { return len(b), nil }
func (s *sinkLog) Progress(done, total int)    { s.calls = append(s.calls, done) }

// progressTo passes on the first and last report and each crossing of a
// thousand, but not each message of a fast export.
func TestImportProgressThrottle(t *testing.T) {
	var s sinkLog
	fn := progressTo(&s)
	for d := 0; d <= 5000; d++ {
		fn(d, 5000)
	}
	for _, want := range []int{0, 1000, 2000, 3000, 4000, 5000} {
		if !slices.Contains(s.calls, want) {
			t.Errorf("report %d not passed on: %v", want, s.calls)
		}
	}
	if len(s.calls) > 100 {
		t.Errorf("%d of 5001 reports passed on", len(s.calls))
	}
	if progressTo(&bytes.Buffer{}) != nil {
		t.Errorf("progress for an output that cannot show it")
	}
}
