package pop3

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"petrel/store"
)

// chunkSize is how much of a message is copied out of the store per read
// transaction while RETR streams it.
const chunkSize = 64 << 10

// send streams message m as a multi-line reply headed "+OK first",
// through top if it is not nil. Each chunk is copied out of its own read
// transaction before it is written, so no transaction is open while the
// client reads. It reports whether the message was sent; a message that
// vanished before the first byte (expunged over IMAP) gets -ERR, one that
// fails later ends the session, as a half-sent reply cannot be taken back.
func (c *session) send(m *dropMsg, first string, top *topFilter) (bool, error) {
	if c.buf == nil {
		c.buf = make([]byte, chunkSize)
	}
	var off, total int64
	read := func() (int, error) {
		var n int
		err := c.srv.opts.Store.ReadRaw(c.drop.mbx, m.uid, func(ct *store.Content) error {
			total = ct.Size()
			n, _ = ct.ReadAt(c.buf, off) // io.EOF at the end is expected
			return nil
		})
		return n, err
	}
	n, err := read()
	if errors.Is(err, store.ErrNoMessage) {
		return false, c.reply("-ERR message was removed by another client")
	}
	if err != nil {
		c.log.Error("pop3: read message", "uid", m.uid, "err", err)
		return false, c.reply("-ERR [SYS/TEMP] cannot read message")
	}
	if err := c.reply("+OK %s", first); err != nil {
		return false, err
	}
	dw := &dotWriter{w: c.w.W}
	var out io.Writer = dw
	if top != nil {
		top.w = dw
		out = top
	}
	for {
		c.setWriteDeadline()
		if _, err := out.Write(c.buf[:n]); err != nil {
			return false, fmt.Errorf("send UID %d: %w", m.uid, err)
		}
		off += int64(n)
		if off >= total || n == 0 || (top != nil && top.done) {
			break
		}
		if n, err = read(); err != nil {
			return false, fmt.Errorf("read UID %d at offset %d: %w", m.uid, off, err)
		}
	}
	if err := dw.Close(); err != nil {
		return false, fmt.Errorf("send UID %d: %w", m.uid, err)
	}
	return true, nil
}

// topFilter passes a message's header, the blank line after it and the
// first body lines, then swallows the rest (TOP).
type topFilter struct {
	w    io.Writer
	body int // body lines still to pass

	inBody  bool
	lineLen int  // octets of the current line so far, LF excluded
	onlyCR  bool // the current line so far is "\r"
	done    bool
}

func (f *topFilter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && !f.done {
		if f.inBody && f.body == 0 {
			f.done = true
			break
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			f.note(p)
			_, err := f.w.Write(p)
			return n, err
		}
		f.note(p[:i])
		if _, err := f.w.Write(p[:i+1]); err != nil {
			return n, err
		}
		if f.inBody {
			f.body--
		} else if f.lineLen == 0 || f.onlyCR {
			f.inBody = true // the blank line ending the header
		}
		f.lineLen, f.onlyCR = 0, false
		p = p[i+1:]
	}
	if f.inBody && f.body == 0 {
		f.done = true
	}
	return n, nil
}

// note records part of the current line.
func (f *topFilter) note(b []byte) {
	if len(b) == 0 {
		return
	}
	f.onlyCR = f.lineLen == 0 && len(b) == 1 && b[0] == '\r'
	f.lineLen += len(b)
}
