package main

// A minimal IMAP client for the steady loop (-client raw): it writes each
// command and reads the responses to its tagged completion at the protocol
// level (lines, literals skipped by their count), checking the completion
// is OK and following EXISTS and EXPUNGE, without decoding what it skips.
// go-imap's imapclient, which decodes every FLAGS list, envelope and date,
// spent as much CPU per command as either server (0.17–0.18 ms), so on a
// 2-core machine it capped both servers' rates alike and the comparison
// measured the client; imaptest, Dovecot's own load client, is as lean.

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"time"
)

// rawClient is one connection, used by one goroutine.
type rawClient struct {
	conn  net.Conn
	r     *bufio.Reader
	w     *bufio.Writer
	tag   int
	count int // messages in the selected mailbox, from EXISTS and EXPUNGE
	line  []byte
}

func dialRaw(i int) (*rawClient, error) {
	d := net.Dialer{LocalAddr: srcAddr(i), Timeout: 30 * time.Second}
	conn, err := d.Dial("tcp", serverOf(i))
	if err != nil {
		return nil, err
	}
	c := &rawClient{conn: conn, r: bufio.NewReaderSize(countConn{conn, &received}, 64<<10), w: bufio.NewWriterSize(conn, 16<<10)}
	conn.SetDeadline(time.Now().Add(*maxTime))
	l, err := c.readLine()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if !bytes.HasPrefix(l, []byte("* OK")) {
		conn.Close()
		return nil, fmt.Errorf("greeting: %q", l)
	}
	return c, nil
}

// readLine reads one response line, with any literals it announces
// skipped (their octets counted in literals), and returns the text of its
// parts before each literal (enough to see tags and EXISTS).
func (c *rawClient) readLine() ([]byte, error) {
	c.line = c.line[:0]
	for {
		part, err := c.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			c.line = append(c.line, part...)
			continue
		}
		if err != nil {
			return nil, err
		}
		c.line = append(c.line, part...)
		// A literal: "{n}\r\n" (or "~{n}") at the end of the line.
		l := bytes.TrimRight(c.line, "\r\n")
		if len(l) == 0 || l[len(l)-1] != '}' {
			return bytes.TrimRight(c.line, "\r\n"), nil
		}
		open := bytes.LastIndexByte(l, '{')
		if open < 0 {
			return l, nil
		}
		n, err := strconv.ParseInt(string(bytes.TrimSuffix(l[open+1:len(l)-1], []byte("+"))), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad literal in %q", l)
		}
		k, err := io.CopyN(io.Discard, c.r, n)
		literals.Add(k)
		if err != nil {
			return nil, err
		}
		c.line = append(c.line[:open], ' ')
	}
}

// cmd sends "tag " + text and reads to its completion, failing unless OK.
// It returns the number of untagged FETCH responses.
func (c *rawClient) cmd(text string) (int, error) {
	c.tag++
	tag := "r" + strconv.Itoa(c.tag)
	c.w.WriteString(tag)
	c.w.WriteByte(' ')
	c.w.WriteString(text)
	c.w.WriteString("\r\n")
	if err := c.w.Flush(); err != nil {
		return 0, err
	}
	return c.complete(tag)
}

func (c *rawClient) complete(tag string) (int, error) {
	fetches := 0
	for {
		l, err := c.readLine()
		if err != nil {
			return fetches, err
		}
		if len(l) > 2 && l[0] == '*' && l[1] == ' ' {
			rest := l[2:]
			sp := bytes.IndexByte(rest, ' ')
			if sp > 0 {
				if n, err := strconv.Atoi(string(rest[:sp])); err == nil {
					switch {
					case bytes.HasPrefix(rest[sp+1:], []byte("EXISTS")):
						c.count = n
					case bytes.HasPrefix(rest[sp+1:], []byte("EXPUNGE")):
						c.count--
					case bytes.HasPrefix(rest[sp+1:], []byte("FETCH")):
						fetches++
					}
				}
			}
			continue
		}
		if len(l) > len(tag) && string(l[:len(tag)]) == tag && l[len(tag)] == ' ' {
			if bytes.HasPrefix(l[len(tag)+1:], []byte("OK")) {
				return fetches, nil
			}
			return fetches, fmt.Errorf("%s", l)
		}
		if len(l) > 0 && l[0] == '+' {
			return fetches, fmt.Errorf("unexpected continuation %q", l)
		}
	}
}

// appendMsg APPENDs m to mailbox with the given flags, with a synchronizing
// literal (the server's "+" is waited for, as by a client without LITERAL+).
func (c *rawClient) appendMsg(mailbox, flags string, m []byte) error {
	c.tag++
	tag := "r" + strconv.Itoa(c.tag)
	fmt.Fprintf(c.w, "%s APPEND %s (%s) {%d}\r\n", tag, mailbox, flags, len(m))
	if err := c.w.Flush(); err != nil {
		return err
	}
	l, err := c.readLine()
	if err != nil {
		return err
	}
	if len(l) == 0 || l[0] != '+' {
		return fmt.Errorf("APPEND: %q instead of a continuation", l)
	}
	c.w.Write(m)
	c.w.WriteString("\r\n")
	if err := c.w.Flush(); err != nil {
		return err
	}
	_, err = c.complete(tag)
	return err
}

func (c *rawClient) close() {
	c.cmd("LOGOUT")
	c.conn.Close()
}

// setupRaw is setupImapclient with rawClient.
func setupRaw(i int) (*rawClient, error) {
	c, err := dialRaw(i)
	if err != nil {
		return nil, err
	}
	if _, err := c.cmd("LOGIN " + quote(account(i)) + " " + quote(*pass)); err != nil {
		c.conn.Close()
		return nil, err
	}
	for _, f := range steadyFolders {
		c.cmd("CREATE " + f) // it may exist
	}
	if _, err := c.cmd("SELECT INBOX"); err != nil || c.count == 0 {
		c.conn.Close()
		return nil, cmp.Or(err, errors.New("empty INBOX"))
	}
	return c, nil
}

// steadyRawIteration is steadyIteration's round with rawClient.
func steadyRawIteration(c *rawClient, st *concState, r *rand.Rand, msgs [][]byte) error {
	n := func() int { return max(1, c.count) }
	seq := func() int { return 1 + r.IntN(n()) }
	fetch := func(text string, want int) func() error {
		return func() error {
			got, err := c.cmd(text)
			if err == nil && got < want {
				err = fmt.Errorf("%s: %d FETCH responses, want %d", text, got, want)
			}
			return err
		}
	}
	do := func(name, text string) error {
		return st.timed(name, func() error { _, err := c.cmd(text); return err })
	}
	if err := do("LIST", `LIST "" "*"`); err != nil {
		return err
	}
	if err := do("STATUS", "STATUS "+steadyFolders[r.IntN(len(steadyFolders))]+" (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)"); err != nil {
		return err
	}
	if err := st.timed("UID FETCH 1:* (FLAGS)", fetch("UID FETCH 1:* (UID FLAGS)", 1)); err != nil {
		return err
	}
	from := 1 + r.IntN(max(1, n()-19))
	to := min(n(), from+19)
	if err := st.timed("FETCH 20 (ENVELOPE …)", fetch(fmt.Sprintf("FETCH %d:%d (UID FLAGS ENVELOPE RFC822.SIZE INTERNALDATE)", from, to), to-from+1)); err != nil {
		return err
	}
	for k := 0; k < 3; k++ { // read three messages: the body, then \Seen
		set := seq()
		if err := st.timed("FETCH n BODY.PEEK[]", fetch(fmt.Sprintf("FETCH %d (UID BODY.PEEK[])", set), 1)); err != nil {
			return err
		}
		if k < 2 {
			if err := do("STORE", fmt.Sprintf(`STORE %d +FLAGS.SILENT (\Seen)`, set)); err != nil {
				return err
			}
		}
	}
	op := []string{"+", "-"}[r.IntN(2)]
	if err := do("STORE", fmt.Sprintf(`STORE %d %sFLAGS (\Flagged)`, seq(), op)); err != nil {
		return err
	}
	if err := do("STORE", fmt.Sprintf(`STORE %d +FLAGS.SILENT (\Deleted)`, seq())); err != nil {
		return err
	}
	if err := do("EXPUNGE", "EXPUNGE"); err != nil {
		return err
	}
	return st.timed("APPEND", func() error {
		return c.appendMsg("INBOX", `\Seen`, msgs[r.IntN(len(msgs))])
	})
}

// quote makes s an IMAP quoted string.
func quote(s string) string {
	return strconv.Quote(s)
}
