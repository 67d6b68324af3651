package pop3

import "fmt"

// message resolves a message-number argument to a message that is not
// deleted, or says in a reply why not.
func (c *session) message(arg string) (*dropMsg, int, string) {
	n, ok := parseNumber(arg)
	if !ok {
		return nil, 0, fmt.Sprintf("-ERR invalid message number %q", arg)
	}
	if n < 1 || n > len(c.drop.msgs) {
		return nil, 0, fmt.Sprintf("-ERR no message %d (maildrop has %d)", n, len(c.drop.msgs))
	}
	m := &c.drop.msgs[n-1]
	if m.deleted {
		return nil, 0, fmt.Sprintf("-ERR message %d already deleted", n)
	}
	return m, n, ""
}

// cmdStat: RFC 1939 section 5, STAT.
func (c *session) cmdStat(cmd command) error {
	if len(cmd.Args) != 0 {
		return c.reply("-ERR STAT takes no arguments")
	}
	n, size := c.drop.stat()
	return c.reply("+OK %d %d", n, size)
}

// cmdList: RFC 1939 section 5, LIST [msg].
func (c *session) cmdList(cmd command) error {
	switch len(cmd.Args) {
	case 0:
		n, size := c.drop.stat()
		lines := make([]string, 0, n)
		for i, m := range c.drop.msgs {
			if !m.deleted {
				lines = append(lines, fmt.Sprintf("%d %d", i+1, m.size))
			}
		}
		return c.multiline(fmt.Sprintf("%s (%d octets)", plural(n, "message"), size), lines)
	case 1:
		m, n, bad := c.message(cmd.Args[0])
		if m == nil {
			return c.reply("%s", bad)
		}
		return c.reply("+OK %d %d", n, m.size)
	}
	return c.reply("-ERR usage: LIST [message]")
}

// cmdUidl: RFC 1939 section 7, UIDL [msg].
func (c *session) cmdUidl(cmd command) error {
	switch len(cmd.Args) {
	case 0:
		lines := make([]string, 0, len(c.drop.msgs))
		for i := range c.drop.msgs {
			if m := &c.drop.msgs[i]; !m.deleted {
				lines = append(lines, fmt.Sprintf("%d %s", i+1, c.drop.uidl(m)))
			}
		}
		return c.multiline("unique-id listing follows", lines)
	case 1:
		m, n, bad := c.message(cmd.Args[0])
		if m == nil {
			return c.reply("%s", bad)
		}
		return c.reply("+OK %d %s", n, c.drop.uidl(m))
	}
	return c.reply("-ERR usage: UIDL [message]")
}

// cmdDele marks a message; it is removed only in the UPDATE state.
func (c *session) cmdDele(cmd command) error {
	if len(cmd.Args) != 1 {
		return c.reply("-ERR usage: DELE message")
	}
	m, n, bad := c.message(cmd.Args[0])
	if m == nil {
		return c.reply("%s", bad)
	}
	m.deleted = true
	c.drop.deleted++
	return c.reply("+OK message %d deleted", n)
}

// cmdRset unmarks every deleted message.
func (c *session) cmdRset(cmd command) error {
	if len(cmd.Args) != 0 {
		return c.reply("-ERR RSET takes no arguments")
	}
	c.drop.reset()
	n, size := c.drop.stat()
	return c.reply("+OK maildrop has %s (%d octets)", plural(n, "message"), size)
}

// cmdRetr sends a whole message and marks it \Seen.
func (c *session) cmdRetr(cmd command) error {
	if len(cmd.Args) != 1 {
		return c.reply("-ERR usage: RETR message")
	}
	m, _, bad := c.message(cmd.Args[0])
	if m == nil {
		return c.reply("%s", bad)
	}
	sent, err := c.send(m, fmt.Sprintf("%d octets", m.size), nil)
	if err != nil || !sent {
		return err
	}
	c.seen.add(m.uid)
	return nil
}

// cmdTop sends a message's header and its first lines of body
// (RFC 1939 section 7, TOP msg n). It does not mark the message \Seen.
func (c *session) cmdTop(cmd command) error {
	if len(cmd.Args) != 2 {
		return c.reply("-ERR usage: TOP message lines")
	}
	m, _, bad := c.message(cmd.Args[0])
	if m == nil {
		return c.reply("%s", bad)
	}
	lines, ok := parseNumber(cmd.Args[1])
	if !ok {
		return c.reply("-ERR invalid line count %q", cmd.Args[1])
	}
	_, err := c.send(m, "top of message follows", &topFilter{body: lines})
	return err
}
