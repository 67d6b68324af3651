package admin

// Progress of import, export, reindex and store copy: throttled reports
// from the command (progressTo), carried over the control socket, and the
// bar the CLI draws on stderr.

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"petrel/control"
)

// Progress reports go out at most this often, besides the first, the last
// and each crossing of a multiple of plainEvery.
const (
	progressInterval = 100 * time.Millisecond
	plainEvery       = 1000
)

// progressTo returns the progress callback for a command writing to out, or
// nil if out cannot show progress. It passes on the first and last reports,
// each that crosses a multiple of plainEvery, and others at most every
// progressInterval: an export reports every message.
func progressTo(out io.Writer) func(done, total int) {
	sink, ok := out.(control.ProgressSink)
	if !ok {
		return nil
	}
	var last time.Time
	prev := -1
	return func(done, total int) {
		now := time.Now()
		if done == prev {
			return
		}
		if prev >= 0 && done < total && done/plainEvery == prev/plainEvery && now.Sub(last) < progressInterval {
			return
		}
		prev, last = done, now
		sink.Progress(done, total)
	}
}

// progressBar draws progress on the CLI's stderr: a bar redrawn in place
// with \r on a terminal, else a line each plainEvery messages (the command
// prints its summary on stdout at the end).
type progressBar struct {
	w     io.Writer
	verb  string // "import" or "export"
	tty   bool
	width int  // terminal columns
	prev  int  // done at the last report
	drawn bool // a bar is on the terminal's current line
}

func newProgressBar(stderr io.Writer, verb string) *progressBar {
	p := &progressBar{w: stderr, verb: verb, width: 80}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			p.width = w
		}
	}
	return p
}

func (p *progressBar) Progress(done, total int) {
	prev := p.prev
	p.prev = done
	if !p.tty {
		if done < total && done/plainEvery > prev/plainEvery {
			fmt.Fprintf(p.w, "%sed %d of %d messages\n", p.verb, done, total)
		}
		return
	}
	io.WriteString(p.w, "\r"+p.line(done, total))
	p.drawn = true
}

// line is the terminal's progress line, one column short of its width:
// "importing [=======>        ] 1200/5000  24%".
func (p *progressBar) line(done, total int) string {
	pct := 100
	if total > 0 {
		pct = done * 100 / total
	}
	head := p.verb + "ing "
	tail := fmt.Sprintf(" %*d/%d %3d%%", len(strconv.Itoa(total)), done, total, pct)
	n := min(p.width-1-len(head)-len(tail)-2, 50)
	if n < 10 {
		return strings.TrimSpace(head) + tail
	}
	fill := n * pct / 100
	bar := strings.Repeat("=", fill)
	if fill < n {
		bar += ">" + strings.Repeat(" ", n-fill-1)
	}
	return head + "[" + bar + "]" + tail
}

// end finishes the line of a drawn bar, so that what follows starts on a
// line of its own.
func (p *progressBar) end() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// progressOut is the CLI's stdout for an admin command: it draws progress
// reports on the bar and ends the bar's line before other output.
type progressOut struct {
	w   io.Writer
	bar *progressBar
}

func (o progressOut) Write(b []byte) (int, error) {
	o.bar.end()
	return o.w.Write(b)
}

func (o progressOut) Progress(done, total int) { o.bar.Progress(done, total) }
