package mta

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/emersion/go-smtp"

	"petrel/msgtext"
)

func slogLevel(n int) slog.Level { return slog.Level(n) }

// readMessage reads DATA (already dot-unstuffed by go-smtp) through
// dataFilter and turns bare LF line ends into CRLF, as stored messages and
// IMAP need. A message over max yields go-smtp's 552 error.
func readMessage(r io.Reader, max int64) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(16 << 10)
	f := newDataFilter(&buf)
	n, err := io.Copy(f, io.LimitReader(r, max+1))
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		if errors.Is(err, smtp.ErrDataTooLarge) {
			return nil, smtp.ErrDataTooLarge
		}
		if errors.Is(err, smtp.ErrTooLongLine) {
			// Permanent: the same message would fail again on every retry.
			return nil, &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Line too long"}
		}
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return nil, se
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			// The session ends here (timeout.go); say why, not the socket error.
			return nil, &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Timeout waiting for the message data, closing connection"}
		}
		return nil, fmt.Errorf("read message: %w", err)
	}
	if n > max {
		return nil, smtp.ErrDataTooLarge
	}
	return normalizeCRLF(buf.Bytes()), nil
}

// deadlineReader gives each dataChunk of the message body its own
// deadline: a client may take long over a large message, but not stall
// (RFC 5321 section 4.5.3.2 times each data block, not the message). The
// deadline is per chunk, not per network read, because go-smtp's reader
// fills what it is given before it returns; the chunk is small enough
// that any live client sends one within the timeout.
type deadlineReader struct {
	r       io.Reader
	conn    net.Conn
	timeout time.Duration
}

const dataChunk = 4 << 10

func (d *deadlineReader) Read(p []byte) (int, error) {
	if err := d.conn.SetReadDeadline(time.Now().Add(d.timeout)); err != nil {
		return 0, fmt.Errorf("set data deadline: %w", err)
	}
	return d.r.Read(p[:min(len(p), dataChunk)])
}

// normalizeCRLF makes every line end CRLF. It returns b itself when it
// already is (the common case).
func normalizeCRLF(b []byte) []byte {
	bare := 0
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			bare++
		}
	}
	if bare == 0 {
		return b
	}
	out := make([]byte, 0, len(b)+bare)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// hasField reports whether the header has a field of that name.
func hasField(h []byte, name string) bool {
	n := []byte(name + ":")
	for len(h) > 0 {
		line := h
		if i := bytes.IndexByte(h, '\n'); i >= 0 {
			line, h = h[:i+1], h[i+1:]
		} else {
			h = nil
		}
		if len(line) >= len(n) && bytes.EqualFold(line[:len(n)], n) {
			return true
		}
	}
	return false
}

// completeHeader adds the Date and Message-ID a submitting client left
// out (RFC 6409 8.2 and 8.3).
func completeHeader(msg []byte, hostname string, now time.Time) []byte {
	h := msgtext.HeaderSection(msg)
	var add []byte
	if !hasField(h, "Date") {
		add = append(add, "Date: "+now.Format(time.RFC1123Z)+"\r\n"...)
	}
	if !hasField(h, "Message-ID") {
		add = append(add, "Message-ID: <"+newID()+"@"+hostname+">\r\n"...)
	}
	if len(add) == 0 {
		return msg
	}
	if len(h) == 0 && !bytes.HasPrefix(msg, []byte("\r\n")) {
		// No header at all: the fields become the header.
		add = append(add, "\r\n"...)
	}
	return append(add, msg...)
}
