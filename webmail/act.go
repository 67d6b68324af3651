package webmail

import (
	"fmt"
	"net/http"
	"strconv"

	"petrel/store"
)

// specialMailbox returns the account's mailbox with that special use,
// making it (under name) if there is none.
func (s *Server) specialMailbox(r *http.Request, sess *session, use, name string) (*store.Mailbox, error) {
	mbs, err := s.st.Mailboxes(sess.acct)
	if err != nil {
		return nil, err
	}
	for _, m := range mbs {
		if m.SpecialUse == use {
			return &m, nil
		}
	}
	for _, m := range mbs {
		if m.Name == name {
			return &m, nil
		}
	}
	return s.st.CreateMailbox(r.Context(), sess.acct, name, use)
}

// act applies one action to the messages checked on a list or the one
// shown: mark read/unread, flag/unflag, move, delete (to Trash; from
// Trash, for good), archive, junk and not junk (moved to and from Junk
// with the $Junk and $NotJunk keywords, as IMAP clients do).
func (s *Server) act(w http.ResponseWriter, r *http.Request, sess *session) {
	m, err := s.mailbox(sess, r.PostFormValue("mbx"))
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	var uids []store.UID
	for _, v := range r.PostForm["uid"] {
		if uid, ok := parseUID(v); ok {
			uids = append(uids, uid)
		}
	}
	back := safeNext(r.PostFormValue("back"))
	if back == "/" {
		back = mailboxURL(m.ID)
	}
	if len(uids) == 0 {
		sess.setFlash("Select one or more messages first.")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	ctx := r.Context()
	flags := func(op store.FlagOp, f ...string) error {
		_, err := s.st.StoreFlags(ctx, m.ID, uids, op, f)
		return err
	}
	moveTo := func(dst *store.Mailbox, err error) error {
		if err != nil {
			return err
		}
		if dst.ID == m.ID {
			return nil
		}
		_, err = s.st.Move(ctx, m.ID, uids, dst.ID)
		back = mailboxURL(m.ID) // the message shown is gone from here
		return err
	}
	action := r.PostFormValue("action")
	n := len(uids)
	done := ""
	switch action {
	case "read":
		err, done = flags(store.FlagsAdd, store.FlagSeen), "Marked read."
	case "unread":
		err, done = flags(store.FlagsRemove, store.FlagSeen), "Marked unread."
		if len(uids) == 1 {
			back = mailboxURL(m.ID)
		}
	case "flag":
		err, done = flags(store.FlagsAdd, store.FlagFlagged), "Flagged."
	case "unflag":
		err, done = flags(store.FlagsRemove, store.FlagFlagged), "Flag removed."
	case "archive":
		err, done = moveTo(s.specialMailbox(r, sess, `\Archive`, "Archive")), fmt.Sprintf("%d archived.", n)
	case "junk":
		if err = flags(store.FlagsRemove, "$NotJunk"); err == nil {
			if err = flags(store.FlagsAdd, "$Junk"); err == nil {
				err = moveTo(s.specialMailbox(r, sess, `\Junk`, "Junk"))
			}
		}
		done = fmt.Sprintf("%d moved to Junk.", n)
	case "notjunk":
		if err = flags(store.FlagsRemove, "$Junk"); err == nil {
			if err = flags(store.FlagsAdd, "$NotJunk"); err == nil {
				inbox, e := s.st.MailboxByName(sess.acct, "INBOX")
				err = moveTo(inbox, e)
			}
		}
		done = fmt.Sprintf("%d moved to Inbox.", n)
	case "delete":
		if m.SpecialUse == `\Trash` {
			_, err = s.st.Expunge(ctx, m.ID, uids)
			back, done = mailboxURL(m.ID), fmt.Sprintf("%d deleted for good.", n)
		} else {
			err, done = moveTo(s.specialMailbox(r, sess, `\Trash`, "Trash")), fmt.Sprintf("%d moved to Trash.", n)
		}
	case "move":
		dst, e := s.mailbox(sess, r.PostFormValue("dest"))
		if e != nil {
			sess.setFlash("Choose a folder to move to.")
			http.Redirect(w, r, back, http.StatusSeeOther)
			return
		}
		err, done = moveTo(dst, nil), fmt.Sprintf("%d moved to %s.", n, dst.Name)
	default:
		http.Error(w, "unknown action "+strconv.Quote(action), http.StatusBadRequest)
		return
	}
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	sess.setFlash(done)
	http.Redirect(w, r, back, http.StatusSeeOther)
}
