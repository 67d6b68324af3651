package mailio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// Variant is an mbox dialect (see RFC 4155 and the mbox(5) man page).
type Variant int

const (
	// MboxRD escapes every body line matching ^>*From  with one more '>',
	// so reading removes one. Gmail Takeout, mutt and Thunderbird's
	// "mboxrd" exports use it; it is the default because it is the only
	// variant that round-trips.
	MboxRD Variant = iota
	// MboxO escapes only "From " at the start of a body line, so a reader
	// cannot tell an escaped line from a quoted one: lines are kept as they
	// are.
	MboxO
)

// MaxMessageSize is the largest message the mbox reader returns; bigger
// ones are skipped (MboxMessage.TooBig) rather than read into memory.
const MaxMessageSize = 64 << 20

// MboxMessage is one message read from an mbox file.
type MboxMessage struct {
	// Sender is the envelope sender of the From_ line.
	Sender string
	// Date is the From_ line's date (when the message arrived), zero if it
	// does not parse.
	Date time.Time
	// Body is the message with CRLF line ends and the mbox escaping undone.
	Body []byte
	// TooBig is set, and Body nil, for a message over MaxMessageSize.
	TooBig bool
	// Line is the line number of the From_ line, for error messages.
	Line int
}

// ErrNotMbox is returned when a file does not begin with a From_ line (a
// line of at most 4096 bytes, with its line end).
var ErrNotMbox = errors.New("not an mbox file (it does not begin with a \"From \" line)")

// MboxReader reads the messages of an mbox file one at a time.
type MboxReader struct {
	r       *bufio.Reader
	variant Variant
	next    []byte // a From_ line read ahead, or nil
	line    int
	started bool
	max     int
}

// NewMboxReader reads mbox data from r.
func NewMboxReader(r io.Reader, v Variant) *MboxReader {
	return &MboxReader{r: bufio.NewReaderSize(r, 64<<10), variant: v, max: MaxMessageSize}
}

// fromTime matches the time of day every From_ line writer puts in the
// date ("Tue Mar 19 10:05:26 2024"): it tells a separator from a body line
// that happens to begin with "From " after a blank line in mboxo files.
var fromTime = regexp.MustCompile(`\s\d{1,2}:\d\d(:\d\d)?(\s|$)`)

func isFromLine(l []byte) bool {
	return bytes.HasPrefix(l, []byte("From ")) && fromTime.Match(trimEOL(l))
}

func trimEOL(l []byte) []byte {
	l = bytes.TrimSuffix(l, []byte("\n"))
	return bytes.TrimSuffix(l, []byte("\r"))
}

// maxFromLine bounds a From_ line: longer, a file's first line shows it is
// not an mbox file.
const maxFromLine = 4096

// readFirstLine returns the file's first line, which must be a From_ line:
// decided on its first bytes and its length, so that what is not an mbox
// file (no line ends, /dev/zero) is refused before much of it is read.
func (m *MboxReader) readFirstLine() ([]byte, error) {
	head, err := m.r.Peek(len("From "))
	if len(head) == 0 && err == io.EOF {
		return nil, io.EOF
	}
	if !bytes.Equal(head, []byte("From ")) {
		return nil, ErrNotMbox
	}
	l, err := m.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(l) > maxFromLine || (err == nil) != bytes.HasSuffix(l, []byte("\n")) {
		return nil, fmt.Errorf("%w: its first line is over %d bytes or has no line end", ErrNotMbox, maxFromLine)
	}
	if err != nil {
		return nil, fmt.Errorf("mbox: %w", err)
	}
	m.line++
	return bytes.Clone(l), nil
}

// Next returns the next message, or io.EOF after the last one.
func (m *MboxReader) Next() (*MboxMessage, error) {
	if !m.started {
		m.started = true
		l, err := m.readFirstLine()
		if err != nil {
			return nil, err
		}
		m.next = l
	}
	if m.next == nil {
		return nil, io.EOF
	}
	msg := &MboxMessage{Line: m.line}
	msg.Sender, msg.Date = parseFromLine(string(trimEOL(m.next)))
	m.next = nil
	var body bytes.Buffer
	blank := false // the previous line was empty
	pendingBlank := false
	for {
		l, err := m.r.ReadSlice('\n')
		if len(l) == 0 && err == io.EOF {
			break
		}
		long := errors.Is(err, bufio.ErrBufferFull) // l is the line's first part
		if err != nil && err != io.EOF && !long {
			return nil, fmt.Errorf("mbox line %d: %w", m.line+1, err)
		}
		m.line++
		if blank && !long && isFromLine(l) {
			m.next = bytes.Clone(l)
			break
		}
		content := l
		if !long {
			content = trimEOL(l)
		}
		// The empty line before a From_ line belongs to the mbox, not the
		// message: hold each empty line back until the next line shows it
		// was not the last.
		if pendingBlank {
			m.write(&body, nil, true, msg)
			pendingBlank = false
		}
		blank = len(content) == 0
		if blank {
			pendingBlank = true
			continue
		}
		if m.variant == MboxRD && isEscapedFrom(content) {
			content = content[1:]
		}
		m.write(&body, content, !long, msg)
		// The rest of a line longer than the read buffer goes to the body
		// as it is read, or nowhere once the message is too big: a line
		// without end costs no more than the message limit.
		for long {
			l, err = m.r.ReadSlice('\n')
			long = errors.Is(err, bufio.ErrBufferFull)
			if err != nil && err != io.EOF && !long {
				return nil, fmt.Errorf("mbox line %d: %w", m.line, err)
			}
			if !long {
				if bytes.Equal(l, []byte("\n")) && bytes.HasSuffix(body.Bytes(), []byte("\r")) {
					body.Truncate(body.Len() - 1) // "\r\n" split between reads
				}
				l = trimEOL(l)
			}
			m.write(&body, l, !long, msg)
		}
	}
	if !msg.TooBig {
		msg.Body = bytes.Clone(body.Bytes())
	}
	return msg, nil
}

// write adds part of a line to the message, and its CRLF line end if eol:
// nothing once the message is over the limit, when it is marked too big.
func (m *MboxReader) write(b *bytes.Buffer, part []byte, eol bool, msg *MboxMessage) {
	if msg.TooBig {
		return
	}
	if b.Len()+len(part)+2 > m.max {
		msg.TooBig = true
		*b = bytes.Buffer{}
		return
	}
	b.Write(part)
	if eol {
		b.WriteString("\r\n")
	}
}

// isEscapedFrom reports whether l is ">From ", ">>From "… (mboxrd).
func isEscapedFrom(l []byte) bool {
	i := 0
	for i < len(l) && l[i] == '>' {
		i++
	}
	return i > 0 && bytes.HasPrefix(l[i:], []byte("From "))
}

var fromLayouts = []string{
	"Mon Jan _2 15:04:05 2006",
	"Mon Jan _2 15:04:05 -0700 2006", // Gmail Takeout
	"Mon Jan _2 15:04:05 MST 2006",
	"Mon Jan _2 15:04 2006",
	"Mon, _2 Jan 2006 15:04:05 -0700",
}

// parseFromLine splits "From sender date" (RFC 4155 appendix A).
func parseFromLine(l string) (string, time.Time) {
	rest := strings.TrimPrefix(l, "From ")
	sender, date, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
	date = strings.Join(strings.Fields(date), " ")
	for _, layout := range fromLayouts {
		if t, err := time.Parse(strings.ReplaceAll(layout, "_2", "2"), date); err == nil {
			return sender, t
		}
	}
	return sender, time.Time{}
}

// MboxWriter writes messages as mboxrd.
type MboxWriter struct {
	w *bufio.Writer
}

// NewMboxWriter writes mboxrd to w; call Flush at the end.
func NewMboxWriter(w io.Writer) *MboxWriter { return &MboxWriter{w: bufio.NewWriter(w)} }

// Write adds one message (any line ends) with its envelope sender and date.
func (w *MboxWriter) Write(sender string, date time.Time, body []byte) error {
	if sender == "" || strings.ContainsAny(sender, " \t\r\n") {
		sender = "MAILER-DAEMON"
	}
	if date.IsZero() {
		date = time.Unix(0, 0)
	}
	fmt.Fprintf(w.w, "From %s %s\n", sender, date.UTC().Format("Mon Jan _2 15:04:05 2006"))
	body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	for len(body) > 0 {
		line, rest, _ := bytes.Cut(body, []byte("\n"))
		body = rest
		if isEscapedFrom(line) || bytes.HasPrefix(line, []byte("From ")) {
			w.w.WriteByte('>')
		}
		w.w.Write(line)
		w.w.WriteByte('\n')
	}
	_, err := w.w.WriteString("\n")
	return err
}

// Flush writes out what is buffered.
func (w *MboxWriter) Flush() error { return w.w.Flush() }
