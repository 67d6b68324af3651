package imap_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"petrel/store"
)

// BenchmarkSteadyReads times, one command per op, the read commands of
// BenchmarkSteady's loop (bench/run.sh imap-steady) on an INBOX of 300
// messages, a third of them \Seen and some \Flagged, from one logged-in
// client that reads the replies into a reused buffer: allocs/op and B/op
// are the server's (the client allocates nothing per op), ns/op the
// round trip.
//
//	go test -run XXX -bench SteadyReads -benchmem ./imap/
func BenchmarkSteadyReads(b *testing.B) {
	e := newEnv(b)
	inbox := e.inbox(b)
	for i := range 300 {
		body := fmt.Sprintf("From: Sender %d <s%d@example.net>\r\nTo: user@example.org\r\nSubject: Message number %d\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <%d@example.net>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello, this is message %d.\r\nIt has a couple of lines of text.\r\n", i%97, i%97, i, i, i)
		d, err := e.st.Deliver(context.Background(), &store.Delivery{Body: []byte(body), Targets: []store.Target{{Account: e.acct.ID}}})
		if err != nil {
			b.Fatal(err)
		}
		var flags []string
		if i%3 == 0 {
			flags = append(flags, store.FlagSeen)
		}
		if i%10 == 0 {
			flags = append(flags, store.FlagFlagged)
		}
		if flags != nil {
			if _, err := e.st.StoreFlags(context.Background(), inbox, []store.UID{d[0].UID}, store.FlagsAdd, flags); err != nil {
				b.Fatal(err)
			}
		}
	}
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	r := &benchConn{c: c, br: bufio.NewReaderSize(c, 64<<10)}
	if _, err := r.br.ReadSlice('\n'); err != nil {
		b.Fatal(err)
	}
	for _, cmd := range []string{`LOGIN user@example.org secret`, `SELECT INBOX`} {
		if _, err := r.do(cmd); err != nil {
			b.Fatalf("%s: %v", cmd, err)
		}
	}
	for _, bc := range []struct {
		name, cmd string
		lines     int // untagged lines expected at least
	}{
		{"UIDFetchFlags300", `UID FETCH 1:* (UID FLAGS)`, 300},
		{"FetchEnvelope20", `FETCH 101:120 (UID FLAGS ENVELOPE RFC822.SIZE INTERNALDATE)`, 20},
		{"FetchBodyPeek", `FETCH 150 (UID BODY.PEEK[])`, 1},
		{"List", `LIST "" "*"`, 5},
		{"Status", `STATUS Archive (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)`, 1},
		{"Noop", `NOOP`, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				n, err := r.do(bc.cmd)
				if err != nil {
					b.Fatal(err)
				}
				if n < bc.lines {
					b.Fatalf("%s: %d untagged lines, want %d", bc.cmd, n, bc.lines)
				}
			}
		})
	}
}

// benchConn is a client that allocates nothing per command.
type benchConn struct {
	c   net.Conn
	br  *bufio.Reader
	n   int
	tag []byte
	out []byte
}

// do sends cmd and reads up to its tagged OK, skipping literals; it
// returns how many untagged lines came.
func (r *benchConn) do(cmd string) (int, error) {
	r.n++
	r.tag = append(strconv.AppendInt(append(r.tag[:0], 'b'), int64(r.n), 10), ' ')
	r.out = append(append(append(r.out[:0], r.tag...), cmd...), "\r\n"...)
	r.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.c.Write(r.out); err != nil {
		return 0, err
	}
	lines := 0
	for {
		l, err := r.br.ReadSlice('\n')
		if err != nil {
			return lines, err
		}
		if bytes.HasPrefix(l, r.tag) {
			if !bytes.HasPrefix(l[len(r.tag):], []byte("OK")) {
				return lines, fmt.Errorf("%s: %s", cmd, l)
			}
			return lines, nil
		}
		if l[0] == '*' {
			lines++
		}
		// A line ending in {n} is followed by n octets.
		for len(l) >= 3 && l[len(l)-3] == '}' {
			i := bytes.LastIndexByte(l, '{')
			n, err := strconv.Atoi(string(l[i+1 : len(l)-3]))
			if i < 0 || err != nil {
				return lines, fmt.Errorf("bad literal in %q", l)
			}
			if _, err := r.br.Discard(n); err != nil {
				return lines, err
			}
			if l, err = r.br.ReadSlice('\n'); err != nil {
				return lines, err
			}
		}
	}
}
