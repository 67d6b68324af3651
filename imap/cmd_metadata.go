package imap

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"

	"petrel/store"
)

// METADATA and METADATA-SERVER (RFC 5464): GETMETADATA and SETMETADATA on
// the server (mailbox "") and on mailboxes, kept by the store per account
// (store.Metadata). Petrel has no shared mailboxes, so "/shared/" entries
// are the account's too.

// metadataEntry reads an entry name and checks it (RFC 5464 3.2).
func metadataEntry(p *parser) (string, error) {
	n, err := p.astring()
	if err != nil {
		return "", err
	}
	l := strings.ToLower(n)
	root := l == "/private" || l == "/shared" // the two hierarchies, for DEPTH
	if !root && !strings.HasPrefix(l, "/private/") && !strings.HasPrefix(l, "/shared/") ||
		strings.HasSuffix(l, "/") || strings.Contains(l, "//") || strings.ContainsAny(l, "*%\x00\r\n") || len(l) > 1024 {
		return "", badSyntax("Invalid metadata entry name %q", n)
	}
	for _, r := range l {
		if r < 0x20 || r == 0x7f {
			return "", badSyntax("Invalid metadata entry name %q", n)
		}
	}
	return l, nil
}

// metadataMailbox resolves GETMETADATA's and SETMETADATA's mailbox: "" is
// the server (0).
func (s *session) metadataMailbox(name string) (store.MailboxID, error) {
	if name == "" {
		return 0, nil
	}
	mb, err := s.srv.opts.Store.MailboxByName(s.acct.ID, name)
	if err != nil {
		return 0, clientError(err, "metadata")
	}
	return mb.ID, nil
}

func (s *session) cmdGetMetadata(c *cmd) error {
	p := c.p
	if err := p.sp(); err != nil {
		return err
	}
	maxSize, depth := int64(-1), 0
	if b, err := p.peek(); err != nil {
		return err
	} else if b == '(' {
		err := p.list(false, func() error {
			a, err := p.atom()
			if err != nil {
				return err
			}
			if err := p.sp(); err != nil {
				return err
			}
			switch strings.ToUpper(a) {
			case "MAXSIZE":
				n, err := p.number()
				maxSize = int64(n)
				return err
			case "DEPTH":
				d, err := p.atom()
				if err != nil {
					return err
				}
				switch strings.ToLower(d) {
				case "0":
					depth = 0
				case "1":
					depth = 1
				case "infinity":
					depth = -1
				default:
					return badSyntax("DEPTH is 0, 1 or infinity")
				}
				return nil
			}
			return badSyntax("Unknown GETMETADATA option %q", a)
		})
		if err != nil {
			return err
		}
		if err := p.sp(); err != nil {
			return err
		}
	}
	name, err := p.mailbox()
	if err != nil {
		return err
	}
	if err := p.sp(); err != nil {
		return err
	}
	var names []string
	if b, err := p.peek(); err != nil {
		return err
	} else if b == '(' {
		err := p.list(false, func() error {
			n, err := metadataEntry(p)
			names = append(names, n)
			return err
		})
		if err != nil {
			return err
		}
	} else {
		n, err := metadataEntry(p)
		if err != nil {
			return err
		}
		names = append(names, n)
	}
	if err := p.crlf(); err != nil {
		return err
	}
	id, err := s.metadataMailbox(name)
	if err != nil {
		return err
	}
	entries, err := s.srv.opts.Store.Metadata(s.acct.ID, id, names, depth)
	if err != nil {
		return clientError(err, "getmetadata")
	}
	longest := 0
	e := &s.e
	written := 0
	for _, en := range entries {
		if maxSize >= 0 && int64(len(en.Value)) > maxSize {
			longest = max(longest, len(en.Value))
			continue
		}
		if written == 0 {
			e.raw("* METADATA ")
			if name == "" {
				e.raw(`""`)
			} else {
				e.mailbox(name)
			}
			e.raw(" (")
		} else {
			e.sp()
		}
		written++
		e.str(en.Name).sp()
		if bytes.IndexByte(en.Value, 0) >= 0 {
			e.literal8(en.Value)
		} else {
			e.str(string(en.Value))
		}
	}
	if written > 0 {
		e.raw(")").crlf()
	}
	if longest > 0 {
		return ok(imap.ResponseCode(fmt.Sprintf("METADATA LONGENTRIES %d", longest)), "GETMETADATA completed")
	}
	return nil
}

func (s *session) cmdSetMetadata(c *cmd) error {
	p := c.p
	name, err := p.spMailbox()
	if err != nil {
		return err
	}
	if err := p.sp(); err != nil {
		return err
	}
	var entries []store.MetadataEntry
	tooBig := false
	err = p.list(false, func() error {
		n, err := metadataEntry(p)
		if err != nil {
			return err
		}
		if n == "/private" || n == "/shared" {
			return badSyntax("%s is a hierarchy, not an entry", n)
		}
		if err := p.sp(); err != nil {
			return err
		}
		v, isNil, err := p.nstringOrNil()
		if err != nil {
			return err
		}
		var val []byte
		if !isNil {
			val = []byte(v)
			if len(val) > store.MaxMetadataValue {
				tooBig = true
			}
		}
		entries = append(entries, store.MetadataEntry{Name: n, Value: val})
		return nil
	})
	if err != nil {
		return err
	}
	if err := p.crlf(); err != nil {
		return err
	}
	if tooBig {
		return no(imap.ResponseCode(fmt.Sprintf("METADATA MAXSIZE %d", store.MaxMetadataValue)), "Value too big")
	}
	id, err := s.metadataMailbox(name)
	if err != nil {
		return err
	}
	err = s.srv.opts.Store.SetMetadata(s.ctx, s.acct.ID, id, entries)
	if errors.Is(err, store.ErrMetadataTooMany) {
		return no("METADATA TOOMANY", "Too many metadata entries")
	}
	if err == nil {
		s.srv.metadataChanged(s.acct.ID, name, entries) // NOTIFY (cmd_notify.go)
	}
	return clientError(err, "setmetadata")
}
