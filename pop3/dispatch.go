package pop3

import "fmt"

// dispatch runs one command in the session's state. A returned error ends
// the session; protocol errors are replies, not errors.
func (c *session) dispatch(cmd command) error {
	switch cmd.Name {
	case "CAPA":
		return c.cmdCapa(cmd)
	case "QUIT":
		return c.cmdQuit(cmd)
	case "NOOP":
		if c.state != stateTransaction {
			return c.wrongState(cmd)
		}
		if len(cmd.Args) != 0 {
			return c.reply("-ERR NOOP takes no arguments")
		}
		return c.reply("+OK")
	case "USER", "PASS", "AUTH", "STLS", "APOP":
		if c.state != stateAuthorization {
			return c.reply("-ERR already authenticated")
		}
		switch cmd.Name {
		case "USER":
			return c.cmdUser(cmd)
		case "PASS":
			return c.cmdPass(cmd)
		case "AUTH":
			return c.cmdAuth(cmd)
		case "STLS":
			return c.cmdStls(cmd)
		}
		return c.reply("-ERR APOP is not supported; use USER/PASS or AUTH PLAIN")
	case "STAT", "LIST", "UIDL", "RETR", "TOP", "DELE", "RSET":
		if c.state != stateTransaction {
			return c.wrongState(cmd)
		}
		switch cmd.Name {
		case "STAT":
			return c.cmdStat(cmd)
		case "LIST":
			return c.cmdList(cmd)
		case "UIDL":
			return c.cmdUidl(cmd)
		case "RETR":
			return c.cmdRetr(cmd)
		case "TOP":
			return c.cmdTop(cmd)
		case "DELE":
			return c.cmdDele(cmd)
		case "RSET":
			return c.cmdRset(cmd)
		}
	}
	return c.reply("-ERR unknown command %s", cmd.Name)
}

func (c *session) wrongState(cmd command) error {
	return c.reply("-ERR %s is not valid before login", cmd.Name)
}

// cmdCapa lists capabilities (RFC 2449 section 5). Login mechanisms are
// listed only where they may be used: after TLS or from loopback.
func (c *session) cmdCapa(cmd command) error {
	if len(cmd.Args) != 0 {
		return c.reply("-ERR CAPA takes no arguments")
	}
	caps := []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER"}
	if c.state == stateAuthorization {
		if c.plaintextAllowed() {
			caps = append(caps, "USER", "SASL PLAIN")
		}
		if c.srv.opts.TLSConfig != nil && !c.isTLS {
			caps = append(caps, "STLS")
		}
	}
	caps = append(caps, "IMPLEMENTATION Petrel")
	return c.multiline("Capability list follows", caps)
}

// cmdQuit ends the session; in TRANSACTION state it first enters UPDATE
// and removes the messages marked deleted (RFC 1939 section 6).
func (c *session) cmdQuit(cmd command) error {
	if len(cmd.Args) != 0 {
		return c.reply("-ERR QUIT takes no arguments")
	}
	if c.state != stateTransaction {
		c.reply("+OK %s POP3 server signing off", c.srv.opts.Hostname)
		return errQuit
	}
	c.state = stateUpdate
	// \Seen first: its writes must not race with the expunge.
	c.seen.close()
	c.seen = nil
	uids := c.drop.deletedUIDs()
	if len(uids) > 0 {
		gone, err := c.srv.opts.Store.Expunge(c.ctx, c.drop.mbx, uids)
		if err != nil {
			c.log.Error("pop3: update: expunge", "user", c.acct.Address, "err", err)
			c.reply("-ERR [SYS/TEMP] some deleted messages not removed")
			return errQuit
		}
		c.log.Info("pop3: update", "user", c.acct.Address, "expunged", len(gone))
	}
	n, _ := c.drop.stat()
	c.reply("+OK %s POP3 server signing off (%s left)", c.srv.opts.Hostname, plural(n, "message"))
	return errQuit
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
