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

// errBareLFReply refuses a message with a bare LF, at once: the client's
// lines do not end in CRLF, so the end of its data cannot be found safely
// (the session then ends: see session.Data).
var errBareLFReply = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 5, 2},
	Message: "Bare LF in the message: SMTP lines must end in CRLF (RFC 5321 2.3.8); closing connection"}

func slogLevel(n int) slog.Level { return slog.Level(n) }

// readMessage reads DATA (already dot-unstuffed by conn.go's dotReader) through
// dataFilter into w (a spool), as it comes. A message over max yields
// smtp.ErrDataTooLarge (552), one with a bare LF errBareLFReply.
func readMessage(r io.Reader, max int64, w io.Writer) error {
	f := newDataFilter(w)
	// The deadline reader hands out dataChunk at most: a larger buffer
	// would only cost memory.
	n, err := io.CopyBuffer(f, io.LimitReader(r, max+1), make([]byte, dataChunk))
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		if errors.Is(err, smtp.ErrDataTooLarge) {
			return smtp.ErrDataTooLarge
		}
		if errors.Is(err, errBareLF) {
			return errBareLFReply
		}
		if errors.Is(err, smtp.ErrTooLongLine) {
			// Permanent: the same message would fail again on every retry.
			return &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Line too long"}
		}
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			// The session ends here (timeout.go); say why, not the socket error.
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Timeout waiting for the message data, closing connection"}
		}
		return fmt.Errorf("read message: %w", err)
	}
	if n > max {
		return smtp.ErrDataTooLarge
	}
	return nil
}

// deadlineReader gives each dataChunk of the message body its own
// deadline: a client may take long over a large message, but not stall
// (RFC 5321 section 4.5.3.2 times each data block, not the message). The
// deadline is per chunk, not per network read, because the dotReader
// fills what it is given before it returns; the chunk is small enough
// that any live client sends one within the timeout.
//
// Over a timeoutConn, a read also returns what has come when the client
// has sent nothing more for dataPoll (a deadline that is not final), so
// that what it sent so far is looked at now: a bare LF is refused at once,
// not when the client's chunk is full or its time is up.
type deadlineReader struct {
	r       io.Reader
	conn    net.Conn
	timeout time.Duration

	chunkStart time.Time // when the chunk being read began
	got        int       // bytes of it read so far
}

const (
	dataChunk = 4 << 10
	dataPoll  = time.Second
)

func (d *deadlineReader) Read(p []byte) (int, error) {
	p = p[:min(len(p), dataChunk-d.got)]
	tc := baseConn(d.conn)
	if d.got == 0 {
		d.chunkStart = time.Now()
	}
	for {
		deadline, soft := d.chunkStart.Add(d.timeout), false
		if poll := time.Now().Add(dataPoll); tc != nil && poll.Before(deadline) {
			deadline, soft = poll, true
		}
		if tc != nil {
			tc.soft.Store(soft)
		}
		if err := d.conn.SetReadDeadline(deadline); err != nil {
			return 0, fmt.Errorf("set data deadline: %w", err)
		}
		n, err := d.r.Read(p)
		if tc != nil {
			tc.soft.Store(false)
		}
		if d.got += n; d.got >= dataChunk {
			d.got = 0
		}
		var ne net.Error
		if soft && err != nil && errors.As(err, &ne) && ne.Timeout() {
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
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
