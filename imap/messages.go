package imap

import (
	"fmt"

	"github.com/emersion/go-imap/v2"

	"petrel/store"
)

// store changes flags (RFC 9051 6.4.6). Other sessions hear of the change
// through the store's events; this one only through the FETCH replies
// written here (none with .SILENT).
func (s *session) store(byUID bool, numSet imap.NumSet, flags *imap.StoreFlags, unchangedSince uint64) error {
	v, err := s.writable()
	if err != nil {
		return err
	}
	uids := v.resolveUIDs(numSet) // the stores read it, never write it
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
	msgs, modified, err := s.srv.opts.Store.StoreFlagsIf(s.writeCtx(), v.m.id, uids, op, storeFlags(flags.Flags), unchangedSince)
	if err != nil {
		return clientError(err, "store")
	}
	s.contextChanged(uids)
	// RFC 7162 3.1.3: the messages left alone for their MODSEQ.
	var result error
	if len(modified) > 0 {
		var set string
		if byUID {
			set = numSetString(uidSet(modified))
		} else {
			var seqs []uint32
			for _, u := range modified {
				if n := v.seqOf(u); n > 0 {
					seqs = append(seqs, n)
				}
			}
			set = numSetString(seqSet(seqs))
		}
		result = ok(imap.ResponseCode("MODIFIED "+set), "Conditional STORE failed for some messages")
	}
	if flags.Silent {
		return result
	}
	w := &fetchWriter{s: s}
	for _, msg := range msgs {
		seq := v.seqOf(msg.UID)
		if seq == 0 {
			continue
		}
		s.announceKeywords(msg.Flags)
		rw := w.CreateMessage(seq)
		if byUID {
			rw.WriteUID(imap.UID(msg.UID))
		}
		rw.WriteFlags(msg.Flags, v.showRecent(msg.UID, s.rev2))
		if s.condstore {
			rw.WriteModSeq(msg.ModSeq)
		}
		rw.Close()
	}
	return result
}

// expunge removes \Deleted messages (all, or those of uids for UID
// EXPUNGE). The EXPUNGE replies come from the poll that follows the
// command; after CLOSE there is none, as RFC 9051 6.4.1 wants.
func (s *session) expunge(uids imap.NumSet) error {
	v := s.view
	var within []store.UID
	if uids != nil {
		within = v.uidsOf(v.resolve(uids))
		if len(within) == 0 {
			return nil
		}
	}
	_, err := s.srv.opts.Store.ExpungeDeleted(s.writeCtx(), v.m.id, within)
	return clientError(err, "expunge")
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

// copy copies messages; the store shares their bytes (COPYUID, RFC 4315).
func (s *session) copy(numSet imap.NumSet, dest string) error {
	v := s.view
	mb, err := s.destination(dest)
	if err != nil {
		return err
	}
	uids := v.uidsOf(v.resolve(numSet))
	if len(uids) == 0 {
		return nil
	}
	res, err := s.srv.opts.Store.Copy(s.writeCtx(), v.m.id, uids, mb.ID)
	if err != nil {
		s.noteOverQuota(err, "imap-copy")
		return clientError(err, "copy")
	}
	if d := copyData(res); d != nil {
		return ok(copyUIDCode(d), "COPY completed")
	}
	return nil
}

func copyUIDCode(d *imap.CopyData) imap.ResponseCode {
	return imap.ResponseCode(fmt.Sprintf("COPYUID %d %s %s", d.UIDValidity, d.SourceUIDs, d.DestUIDs))
}

// move moves messages in one transaction (RFC 6851), into the selected
// mailbox too (they get new UIDs, as Dovecot does). COPYUID comes in an
// untagged OK before the EXPUNGE replies, which come from the poll that
// follows.
func (s *session) move(numSet imap.NumSet, dest string) error {
	v, err := s.writable()
	if err != nil {
		return err
	}
	mb, err := s.destination(dest)
	if err != nil {
		return err
	}
	uids := v.uidsOf(v.resolve(numSet))
	if len(uids) == 0 {
		return nil
	}
	res, err := s.srv.opts.Store.Move(s.writeCtx(), v.m.id, uids, mb.ID)
	if err != nil {
		return clientError(err, "move")
	}
	if d := copyData(res); d != nil {
		s.e.raw("* OK [").raw(string(copyUIDCode(d))).raw("] Moved").crlf()
	}
	return nil
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
