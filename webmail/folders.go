package webmail

import (
	"errors"
	"net/http"
	"strings"

	"petrel/store"
)

func (s *Server) foldersPage(w http.ResponseWriter, r *http.Request, sess *session) {
	s.render(w, r, http.StatusOK, "folders.html", page{Title: "Folders", Sess: sess, Data: s.usage(sess)})
}

// folderAction creates, renames or deletes a folder. Names are mailbox
// names, checked by the store; they never name a file, and are looked up
// only among the session's own mailboxes.
func (s *Server) folderAction(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx := r.Context()
	var err error
	msg := ""
	switch r.PostFormValue("action") {
	case "create":
		name := strings.TrimSpace(r.PostFormValue("name"))
		if parent := r.PostFormValue("parent"); parent != "" {
			if pm, e := s.mailbox(sess, parent); e == nil {
				name = pm.Name + string(store.Separator) + name
			}
		}
		_, err = s.st.CreateMailbox(ctx, sess.acct, name, "")
		msg = "Folder " + name + " created."
	case "rename":
		var m *store.Mailbox
		if m, err = s.mailbox(sess, r.PostFormValue("mbx")); err == nil {
			name := strings.TrimSpace(r.PostFormValue("name"))
			err = s.st.RenameMailbox(ctx, sess.acct, m.Name, name)
			msg = "Folder " + m.Name + " renamed to " + name + "."
		}
	case "delete":
		var m *store.Mailbox
		if m, err = s.mailbox(sess, r.PostFormValue("mbx")); err == nil {
			if m.SpecialUse != "" {
				err = errors.New("special folders (Sent, Drafts, Trash, Junk, Archive) cannot be deleted")
			} else {
				err = s.st.DeleteMailbox(ctx, sess.acct, m.Name)
				msg = "Folder " + m.Name + " deleted."
			}
		}
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
		return
	}
	if err != nil {
		switch {
		case errors.Is(err, errNotFound), errors.Is(err, store.ErrNoMailbox):
			s.fail(w, r, sess, err)
			return
		case errors.Is(err, store.ErrBadName):
			msg = "That folder name is not allowed (no empty name, no leading or trailing /, no * or %)."
		case errors.Is(err, store.ErrMailboxExists):
			msg = "A folder of that name exists already."
		case errors.Is(err, store.ErrInboxProtected):
			msg = "The Inbox cannot be deleted."
		default:
			msg = "Could not change the folder: " + err.Error()
		}
		sess.setFlash(msg)
		s.render(w, r, http.StatusBadRequest, "folders.html", page{Title: "Folders", Sess: sess, Data: s.usage(sess)})
		return
	}
	sess.setFlash(msg)
	http.Redirect(w, r, "/folders", http.StatusSeeOther)
}
