package imap

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"petrel/store"
)

// Store changes flags (RFC 9051 6.4.6). Other sessions hear of the change
// through the store's events; this one only through the FETCH replies
// written here (none with .SILENT).
func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, _ *imap.StoreOptions) error {
	s.touch()
	v, err := s.writable()
	if err != nil {
		return err
	}
	uids := v.uidsOf(v.resolve(numSet))
	if len(uids) == 0 {
		return nil
	}
	op := store.FlagsReplace
	switch flags.Op {
	case imap.StoreFlagsAdd:
		op = store.FlagsAdd
	case imap.StoreFlagsDel:
		op = store.FlagsRemove
	}
	msgs, err := s.srv.opts.Store.StoreFlags(s.writeCtx(), v.m.id, uids, op, storeFlags(flags.Flags))
	if err != nil {
		return clientError(err, "store")
	}
	if flags.Silent {
		return nil
	}
	_, byUID := numSet.(imap.UIDSet)
	for _, msg := range msgs {
		seq := v.seqOf(msg.UID)
		if seq == 0 {
			continue
		}
		rw := w.CreateMessage(seq)
		if byUID {
			rw.WriteUID(imap.UID(msg.UID))
		}
		rw.WriteFlags(imapFlags(msg.Flags))
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// Expunge removes \Deleted messages (all, or those of uids for UID
// EXPUNGE). The EXPUNGE replies come from the Poll that follows the
// command; after CLOSE there is none, as RFC 9051 6.4.1 wants.
//
// CLOSE on a mailbox opened with EXAMINE deselects it without expunging
// and succeeds (RFC 9051 6.4.1, RFC 3501 6.4.2); EXPUNGE there is refused.
func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	s.touch()
	if s.view != nil && s.view.readOnly && uids == nil && isCloseWriter(w) {
		return nil // CLOSE after EXAMINE
	}
	v, err := s.writable()
	if err != nil {
		return err
	}
	var within []store.UID
	if uids != nil {
		within = v.uidsOf(v.resolve(*uids))
		if len(within) == 0 {
			return nil
		}
	}
	_, err = s.srv.opts.Store.ExpungeDeleted(s.writeCtx(), v.m.id, within)
	return clientError(err, "expunge")
}

// isCloseWriter tells CLOSE from EXPUNGE: imapserver calls Expunge for
// both, and for CLOSE (which must send no EXPUNGE responses) with a zero
// ExpungeWriter, not bound to the connection. TestCloseExpungesUnselectDoesNot
// notices if a go-imap upgrade changes that.
func isCloseWriter(w *imapserver.ExpungeWriter) bool {
	return w == nil || *w == (imapserver.ExpungeWriter{})
}

func (s *session) destination(name string) (*store.Mailbox, error) {
	mb, err := s.srv.opts.Store.MailboxByName(s.acct.ID, name)
	if err != nil {
		err = clientError(err, "copy")
		if e, ok := err.(*imap.Error); ok && e.Code == imap.ResponseCodeNonExistent {
			e.Code = imap.ResponseCodeTryCreate
		}
		return nil, err
	}
	return mb, nil
}

// Copy copies messages; the store shares their bytes (COPYUID, RFC 4315).
func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	s.touch()
	v, err := s.selected()
	if err != nil {
		return nil, err
	}
	mb, err := s.destination(dest)
	if err != nil {
		return nil, err
	}
	uids := v.uidsOf(v.resolve(numSet))
	if len(uids) == 0 {
		return nil, nil
	}
	res, err := s.srv.opts.Store.Copy(s.writeCtx(), v.m.id, uids, mb.ID)
	if err != nil {
		return nil, clientError(err, "copy")
	}
	return copyData(res), nil
}

// Move moves messages in one transaction (RFC 6851). COPYUID is written
// here; the EXPUNGE replies come from the Poll that follows.
func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	s.touch()
	v, err := s.writable()
	if err != nil {
		return err
	}
	mb, err := s.destination(dest)
	if err != nil {
		return err
	}
	if mb.ID == v.m.id {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Source and destination are the same mailbox"}
	}
	uids := v.uidsOf(v.resolve(numSet))
	if len(uids) == 0 {
		return nil
	}
	res, err := s.srv.opts.Store.Move(s.writeCtx(), v.m.id, uids, mb.ID)
	if err != nil {
		return clientError(err, "move")
	}
	if len(res.Source) == 0 {
		return nil
	}
	return w.WriteCopyData(copyData(res))
}

func copyData(res *store.CopyResult) *imap.CopyData {
	if len(res.Source) == 0 {
		return nil
	}
	return &imap.CopyData{UIDValidity: res.UIDValidity, SourceUIDs: uidSet(res.Source), DestUIDs: uidSet(res.Dest)}
}

// uidSet builds a set from ascending UIDs, one range per run.
func uidSet(uids []store.UID) imap.UIDSet {
	var set imap.UIDSet
	for i := 0; i < len(uids); {
		j := i
		for j+1 < len(uids) && uids[j+1] == uids[j]+1 {
			j++
		}
		set = append(set, imap.UIDRange{Start: imap.UID(uids[i]), Stop: imap.UID(uids[j])})
		i = j + 1
	}
	return set
}

// seqSet builds a set from ascending sequence numbers.
func seqSet(nums []uint32) imap.SeqSet {
	var set imap.SeqSet
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		set = append(set, imap.SeqRange{Start: nums[i], Stop: nums[j]})
		i = j + 1
	}
	return set
}
