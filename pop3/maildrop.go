package pop3

import (
	"errors"
	"fmt"

	"petrel/store"
)

// maildrop is a session's fixed view of the INBOX (RFC 1939 section 4:
// numbers and sizes do not change while the session lasts).
type maildrop struct {
	mbx         store.MailboxID
	uidValidity uint32
	msgs        []dropMsg // msgs[i] is message number i+1
	deleted     int       // how many msgs are marked deleted
}

type dropMsg struct {
	uid     store.UID
	size    int64 // octets as RETR sends them (octets.go)
	deleted bool
}

// openMaildrop reads the INBOX of acct and measures every message. Each
// message is measured in its own short read transaction, so a large
// maildrop never holds one open for long.
func openMaildrop(st Store, acct uint64) (*maildrop, error) {
	mbx, err := st.MailboxByName(acct, "INBOX")
	if err != nil {
		return nil, fmt.Errorf("open maildrop of account %d: %w", acct, err)
	}
	list, err := st.List(mbx.ID)
	if err != nil {
		return nil, fmt.Errorf("open maildrop %d: %w", mbx.ID, err)
	}
	d := &maildrop{mbx: mbx.ID, uidValidity: mbx.UIDValidity, msgs: make([]dropMsg, 0, len(list))}
	for _, m := range list {
		var size int64
		err := st.ReadRaw(mbx.ID, m.UID, func(c *store.Content) error {
			size = octets(c.Prefix, c.Body)
			return nil
		})
		if errors.Is(err, store.ErrNoMessage) {
			continue // expunged by IMAP since List: not part of this view
		}
		if err != nil {
			return nil, fmt.Errorf("open maildrop %d: measure UID %d: %w", mbx.ID, m.UID, err)
		}
		d.msgs = append(d.msgs, dropMsg{uid: m.UID, size: size})
	}
	return d, nil
}

// stat returns the number and total size of the messages not deleted.
func (d *maildrop) stat() (n int, size int64) {
	for _, m := range d.msgs {
		if !m.deleted {
			n++
			size += m.size
		}
	}
	return n, size
}

// uidl is the unique-id of a message (RFC 1939 section 7): the mailbox's
// UIDVALIDITY and the message's UID, which together are never reused.
func (d *maildrop) uidl(m *dropMsg) string {
	return fmt.Sprintf("%08x%08x", d.uidValidity, uint32(m.uid))
}

// deletedUIDs returns the UIDs marked for deletion.
func (d *maildrop) deletedUIDs() []store.UID {
	var out []store.UID
	for _, m := range d.msgs {
		if m.deleted {
			out = append(out, m.uid)
		}
	}
	return out
}

// reset unmarks every deleted message (RSET).
func (d *maildrop) reset() {
	for i := range d.msgs {
		d.msgs[i].deleted = false
	}
	d.deleted = 0
}
