package webmail

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"unicode"

	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/microcosm-cc/bluemonday"

	"petrel/msgtext"
	"petrel/mta"
	"petrel/store"
)

// composeForm is the compose page's fields, as posted to /send.
type composeForm struct {
	From, To, Cc, Bcc, Subject, Body string
	// References to stored messages, "mailbox/uid": the message replied
	// to, the one forwarded, the draft being edited.
	Reply, Forward, Draft string
	ForwardAttach         bool
}

type composeData struct {
	composeForm
	Froms    []string
	Error    string
	Title    string
	MaxBytes int64
	Kept     []attachment // the draft's attachments, kept unless unchecked
}

// ref is a stored message of the session named by a "mailbox/uid" field.
type ref struct {
	mbx *store.Mailbox
	uid store.UID
}

func (s *Server) parseRef(sess *session, v string) (*ref, error) {
	if v == "" {
		return nil, nil
	}
	mb, u, ok := strings.Cut(v, "/")
	if !ok {
		return nil, errNotFound
	}
	m, err := s.mailbox(sess, mb)
	if err != nil {
		return nil, err
	}
	uid, ok := parseUID(u)
	if !ok {
		return nil, errNotFound
	}
	return &ref{m, uid}, nil
}

func (r *ref) String() string {
	if r == nil {
		return ""
	}
	return strconv.FormatUint(uint64(r.mbx.ID), 10) + "/" + strconv.FormatUint(uint64(r.uid), 10)
}

// original is what compose needs of a stored message.
type original struct {
	env        store.Envelope
	header     textproto.Header
	text       string // its text, for quoting
	raw        []byte // the whole message, for forwarding as an attachment
	messageID  string
	references string
}

// original is the message a compose link names (reply, forward, draft):
// its reference, checked to be the user's, and its text.
func (s *Server) original(sess *session, v string) (*ref, *original, error) {
	rf, err := s.parseRef(sess, v)
	if err != nil {
		return nil, nil, err
	}
	o, err := s.readOriginal(rf, false)
	if err != nil {
		return nil, nil, err
	}
	return rf, o, nil
}

func (s *Server) readOriginal(rf *ref, withRaw bool) (*original, error) {
	o := &original{}
	err := s.st.ReadContent(rf.mbx.ID, rf.uid, func(c *store.Content, top *store.Part) error {
		if top.Envelope != nil {
			o.env = *top.Envelope
		}
		h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(c.Slice(0, top.BodyStart))))
		if err == nil {
			o.header = h
			o.messageID = strings.TrimSpace(h.Get("Message-Id"))
			o.references = strings.Join(strings.Fields(h.Get("References")), " ")
		}
		shown, _ := layout(top, false)
		for _, sec := range shown {
			p := partAt(top, sec)
			body, err := decodeBody(c, p, true)
			if err != nil {
				return err
			}
			if isText(p, "html") {
				body = bluemonday.StrictPolicy().SanitizeBytes(body)
			}
			o.text += string(body)
		}
		if withRaw {
			o.raw = c.Slice(0, c.Size())
		}
		return nil
	})
	return o, err
}

// fromChoices are the addresses the user may send as: its own, then its
// aliases.
func (s *Server) fromChoices(sess *session) []string {
	out := []string{sess.address}
	aliases, err := s.st.AliasesOf(sess.address)
	if err != nil {
		s.log.Warn("web mail: aliases", "user", sess.address, "err", err)
	}
	return append(out, aliases...)
}

func quote(text string) string {
	text = strings.ReplaceAll(strings.TrimRight(text, "\r\n "), "\r\n", "\n")
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ">") {
			lines[i] = ">" + l
		} else {
			lines[i] = "> " + l
		}
	}
	return strings.Join(lines, "\n")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// composePage shows the compose form: new, reply, reply all, forward
// (inline or as attachment), or a draft again.
func (s *Server) composePage(w http.ResponseWriter, r *http.Request, sess *session) {
	q := r.URL.Query()
	d := &composeData{Froms: s.fromChoices(sess), Title: "New message", MaxBytes: s.opts.MaxMessageBytes}
	d.From = sess.address
	d.To = q.Get("to")
	mine := map[string]bool{}
	for _, a := range d.Froms {
		mine[strings.ToLower(a)] = true
	}
	switch {
	case q.Get("reply") != "":
		rf, o, err := s.original(sess, q.Get("reply"))
		if err != nil {
			s.fail(w, r, sess, err)
			return
		}
		d.Title, d.Reply = "Reply", rf.String()
		to := o.env.ReplyTo
		if len(to) == 0 {
			to = o.env.From
		}
		d.To = formatAddresses(to)
		if q.Get("all") == "1" {
			d.Title = "Reply to all"
			seen := map[string]bool{}
			for _, a := range to {
				seen[strings.ToLower(plainAddress(a))] = true
			}
			var cc []store.Address
			for _, a := range append(slices.Clone(o.env.To), o.env.Cc...) {
				k := strings.ToLower(plainAddress(a))
				if !seen[k] && !mine[k] {
					seen[k] = true
					cc = append(cc, a)
				}
			}
			d.Cc = formatAddresses(cc)
		}
		// Answer from the address the message came to, when it is ours.
		for _, a := range append(slices.Clone(o.env.To), o.env.Cc...) {
			if k := strings.ToLower(plainAddress(a)); mine[k] {
				d.From = k
				break
			}
		}
		d.Subject = o.env.Subject
		if !hasPrefixFold(d.Subject, "re:") {
			d.Subject = "Re: " + d.Subject
		}
		who := formatAddresses(o.env.From)
		d.Body = "\n\nOn " + o.env.Date.Format("Mon, 2 Jan 2006 at 15:04") + ", " + who + " wrote:\n" + quote(o.text) + "\n"
	case q.Get("forward") != "":
		rf, o, err := s.original(sess, q.Get("forward"))
		if err != nil {
			s.fail(w, r, sess, err)
			return
		}
		d.Title, d.Forward = "Forward", rf.String()
		d.ForwardAttach = q.Get("as") == "attachment"
		d.Subject = o.env.Subject
		if !hasPrefixFold(d.Subject, "fwd:") {
			d.Subject = "Fwd: " + d.Subject
		}
		if !d.ForwardAttach {
			d.Body = "\n\n---------- Forwarded message ----------\nFrom: " + formatAddresses(o.env.From) +
				"\nDate: " + o.env.Date.Format("Mon, 2 Jan 2006 15:04:05 -0700") + "\nSubject: " + o.env.Subject +
				"\nTo: " + formatAddresses(o.env.To) + "\n\n" + o.text
		}
	case q.Get("draft") != "":
		rf, o, err := s.original(sess, q.Get("draft"))
		if err != nil {
			s.fail(w, r, sess, err)
			return
		}
		d.Title, d.Draft = "Draft", rf.String()
		d.To, d.Cc, d.Bcc, d.Subject = formatAddresses(o.env.To), formatAddresses(o.env.Cc), formatAddresses(o.env.Bcc), o.env.Subject
		if len(o.env.From) > 0 {
			d.From = plainAddress(o.env.From[0])
		}
		d.Body = o.text
		d.Reply = o.header.Get("X-Petrel-Reply")
		err = s.st.ReadContent(rf.mbx.ID, rf.uid, func(_ *store.Content, top *store.Part) error {
			_, d.Kept = layout(top, false)
			return nil
		})
		if err != nil {
			s.fail(w, r, sess, err)
			return
		}
	}
	s.render(w, r, http.StatusOK, "compose.html", page{Title: d.Title, Sess: sess, Data: d})
}

// oneLine makes a header value of what a user typed: no line break or
// other control character can start a new header field.
func oneLine(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s))
}

// parseAddresses parses a To, Cc or Bcc field as a user types it.
func parseAddresses(field, v string) ([]*mail.Address, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	if strings.ContainsAny(v, "\r\n") {
		return nil, fmt.Errorf("the %s field has a line break", field)
	}
	list, err := mail.ParseAddressList(strings.ReplaceAll(v, ";", ","))
	if err != nil {
		return nil, fmt.Errorf("the %s field is not a list of addresses (%v)", field, err)
	}
	return list, nil
}

// formError is a mistake in the form, shown on it.
type formError struct{ msg string }

func (e *formError) Error() string { return e.msg }

// build makes the message of a compose form, and its recipients.
// upload is one file to attach: uploaded with the form, or kept from the
// draft being edited.
type upload struct {
	name, ctype string
	open        func() (io.ReadCloser, error)
}

func uploads(fhs []*multipart.FileHeader) []upload {
	var out []upload
	for _, fh := range fhs {
		if fh.Size == 0 && fh.Filename == "" {
			continue
		}
		out = append(out, upload{name: fh.Filename, ctype: fh.Header.Get("Content-Type"), open: func() (io.ReadCloser, error) { return fh.Open() }})
	}
	return out
}

// keptAttachments are the attachments of a draft the form keeps (the
// "keep" fields name their sections).
func (s *Server) keptAttachments(rf *ref, keep []string) ([]upload, error) {
	if rf == nil || len(keep) == 0 {
		return nil, nil
	}
	var out []upload
	err := s.st.ReadContent(rf.mbx.ID, rf.uid, func(c *store.Content, top *store.Part) error {
		_, atts := layout(top, false)
		for _, a := range atts {
			if !slices.Contains(keep, a.Section) {
				continue
			}
			p := partAt(top, a.Section)
			var data []byte
			var err error
			if p.Type == "message" {
				data = c.Slice(p.BodyStart, p.Size())
			} else if data, err = decodeBody(c, p, false); err != nil {
				return err
			}
			out = append(out, upload{name: a.Name, ctype: a.Type, open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }})
		}
		return nil
	})
	return out, err
}

func (s *Server) build(f *composeForm, files []upload, reply, fwd *original, draft bool) ([]byte, []string, error) {
	var rcpts []string
	var hdr gomail.Header
	hdr.SetDate(s.opts.Now())
	if err := hdr.GenerateMessageIDWithHostname(s.opts.Hostname); err != nil {
		return nil, nil, err
	}
	hdr.SetAddressList("From", []*gomail.Address{{Address: f.From}})
	for _, fld := range []struct {
		name, v string
	}{{"To", f.To}, {"Cc", f.Cc}, {"Bcc", f.Bcc}} {
		list, err := parseAddresses(fld.name, fld.v)
		if err != nil {
			return nil, nil, &formError{err.Error()}
		}
		var as []*gomail.Address
		for _, a := range list {
			rcpts = append(rcpts, a.Address)
			as = append(as, &gomail.Address{Name: a.Name, Address: a.Address})
		}
		if len(as) > 0 && (fld.name != "Bcc" || draft) {
			hdr.SetAddressList(fld.name, as)
		}
	}
	hdr.SetSubject(oneLine(f.Subject))
	if reply != nil && reply.messageID != "" {
		hdr.Set("In-Reply-To", oneLine(reply.messageID))
		refs := strings.TrimSpace(reply.references + " " + reply.messageID)
		hdr.Set("References", oneLine(refs))
	}
	if draft && f.Reply != "" {
		hdr.Set("X-Petrel-Reply", oneLine(f.Reply))
	}
	body := string(msgtext.ToCRLF([]byte(f.Body)))
	if !strings.HasSuffix(body, "\r\n") {
		body += "\r\n"
	}
	var buf bytes.Buffer
	var th gomail.InlineHeader
	th.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	if len(files) == 0 && (fwd == nil || !f.ForwardAttach) {
		hdr.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		hdr.Set("Content-Transfer-Encoding", "quoted-printable")
		w, err := gomail.CreateSingleInlineWriter(&buf, hdr)
		if err != nil {
			return nil, nil, err
		}
		io.WriteString(w, body)
		if err := w.Close(); err != nil {
			return nil, nil, err
		}
		return buf.Bytes(), rcpts, nil
	}
	mw, err := gomail.CreateWriter(&buf, hdr)
	if err != nil {
		return nil, nil, err
	}
	tw, err := mw.CreateSingleInline(th)
	if err != nil {
		return nil, nil, err
	}
	io.WriteString(tw, body)
	tw.Close()
	for _, fh := range files {
		var ah gomail.AttachmentHeader
		ct := fh.ctype
		if ct == "" || strings.ContainsAny(ct, "\r\n") {
			ct = "application/octet-stream"
		}
		ah.Set("Content-Type", ct)
		ah.SetFilename(oneLine(fh.name))
		if strings.HasPrefix(ct, "message/") {
			ah.Set("Content-Transfer-Encoding", "8bit")
		}
		aw, err := mw.CreateAttachment(ah)
		if err != nil {
			return nil, nil, err
		}
		src, err := fh.open()
		if err != nil {
			return nil, nil, fmt.Errorf("attachment %s: %w", fh.name, err)
		}
		_, err = io.Copy(aw, src)
		src.Close()
		aw.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("attachment %s: %w", fh.name, err)
		}
	}
	if fwd != nil && f.ForwardAttach {
		var ah gomail.AttachmentHeader
		ah.Set("Content-Type", "message/rfc822")
		ah.Set("Content-Transfer-Encoding", "8bit")
		name := oneLine(fwd.env.Subject)
		if name == "" {
			name = "message"
		}
		ah.SetFilename(name + ".eml")
		aw, err := mw.CreateAttachment(ah)
		if err != nil {
			return nil, nil, err
		}
		aw.Write(fwd.raw)
		aw.Close()
	}
	if err := mw.Close(); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), rcpts, nil
}

// send takes the compose form (POST /send): with action=draft it files
// the message in Drafts; otherwise it goes down the submission path, and a
// refusal is shown on the form with its reason.
func (s *Server) send(w http.ResponseWriter, r *http.Request, sess *session) {
	f := &composeForm{
		From: strings.TrimSpace(r.PostFormValue("from")), To: r.PostFormValue("to"), Cc: r.PostFormValue("cc"),
		Bcc: r.PostFormValue("bcc"), Subject: r.PostFormValue("subject"), Body: r.PostFormValue("body"),
		Reply: r.PostFormValue("reply"), Forward: r.PostFormValue("forward"), Draft: r.PostFormValue("draft"),
		ForwardAttach: r.PostFormValue("forward_as") == "attachment",
	}
	d := &composeData{composeForm: *f, Froms: s.fromChoices(sess), Title: "New message", MaxBytes: s.opts.MaxMessageBytes}
	refuse := func(code int, msg string) {
		d.Error = msg
		s.render(w, r, code, "compose.html", page{Title: "New message", Sess: sess, Data: d})
	}
	if f.From == "" {
		f.From = sess.address
	}
	if !slices.Contains(d.Froms, strings.ToLower(f.From)) {
		refuse(http.StatusBadRequest, "You cannot send as "+f.From+"; choose one of your addresses.")
		return
	}
	var replyRef, fwdRef, draftRef *ref
	var err error
	if replyRef, err = s.parseRef(sess, f.Reply); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	if fwdRef, err = s.parseRef(sess, f.Forward); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	if draftRef, err = s.parseRef(sess, f.Draft); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	var reply, fwd *original
	if replyRef != nil {
		if reply, err = s.readOriginal(replyRef, false); err != nil {
			s.fail(w, r, sess, err)
			return
		}
	}
	if fwdRef != nil {
		if fwd, err = s.readOriginal(fwdRef, f.ForwardAttach); err != nil {
			s.fail(w, r, sess, err)
			return
		}
	}
	files, err := s.keptAttachments(draftRef, r.PostForm["keep"])
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	if r.MultipartForm != nil {
		files = append(files, uploads(r.MultipartForm.File["attachments"])...)
	}
	isDraft := r.PostFormValue("action") == "draft"
	// A refusal after the attachments came keeps them: the message is
	// saved in Drafts and the form shown again as that draft, its
	// attachments checked to be kept (a browser cannot fill a file field
	// again).
	refuseKeeping := func(code int, msg string) {
		if len(files) > 0 {
			if rf, kept, err := s.holdAttachments(r, sess, f, files, reply, draftRef); err != nil {
				s.log.Warn("web mail: keep the attachments of a refused message", "user", sess.address, "err", err)
			} else {
				d.Draft, d.Kept = rf.String(), kept
				msg += " Your attachments are kept: the message was saved in Drafts."
			}
		}
		refuse(code, msg)
	}
	msg, rcpts, err := s.build(f, files, reply, fwd, isDraft)
	var fe *formError
	if errors.As(err, &fe) {
		refuseKeeping(http.StatusBadRequest, "Not sent: "+fe.msg+".")
		return
	}
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	if int64(len(msg)) > s.opts.MaxMessageBytes {
		refuse(http.StatusRequestEntityTooLarge, fmt.Sprintf("Not sent: the message with its attachments is %s, more than the %s allowed.", humanSize(int64(len(msg))), humanSize(s.opts.MaxMessageBytes)))
		return
	}
	ctx := r.Context()
	if isDraft {
		drafts, err := s.specialMailbox(r, sess, `\Drafts`, "Drafts")
		if err == nil {
			_, err = s.st.Append(ctx, drafts.ID, msg, []string{store.FlagDraft, store.FlagSeen}, s.opts.Now())
		}
		if err == nil && draftRef != nil {
			_, err = s.st.Expunge(ctx, draftRef.mbx.ID, []store.UID{draftRef.uid})
		}
		if err != nil {
			s.fail(w, r, sess, err)
			return
		}
		sess.setFlash("Draft saved in " + drafts.Name + ".")
		http.Redirect(w, r, mailboxURL(drafts.ID), http.StatusSeeOther)
		return
	}
	if len(rcpts) == 0 {
		refuseKeeping(http.StatusBadRequest, "Not sent: give at least one recipient in To, Cc or Bcc.")
		return
	}
	acct, err := s.st.AccountByID(sess.acct)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	proto := "HTTP"
	if isHTTPS(r) {
		proto = "HTTPS"
	}
	_, err = s.opts.Sender.Submit(ctx, mta.Submission{Account: acct, From: strings.ToLower(f.From), Rcpts: rcpts, Message: msg,
		RemoteIP: net.ParseIP(clientIP(r)), Protocol: proto, TLS: r.TLS, SaveSent: true})
	var se *mta.SubmitError
	if errors.As(err, &se) {
		code := http.StatusBadRequest
		if se.Temporary() {
			code = http.StatusServiceUnavailable
		}
		refuseKeeping(code, fmt.Sprintf("Not sent: %s (%d %s).", se.Text, se.Code, se.Status))
		return
	}
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	if replyRef != nil {
		s.markAnswered(ctx, replyRef.mbx.ID, replyRef.uid)
	}
	if fwdRef != nil {
		s.st.StoreFlags(ctx, fwdRef.mbx.ID, []store.UID{fwdRef.uid}, store.FlagsAdd, []string{"$Forwarded"})
	}
	if draftRef != nil {
		if _, err := s.st.Expunge(ctx, draftRef.mbx.ID, []store.UID{draftRef.uid}); err != nil {
			s.log.Warn("web mail: remove sent draft", "user", sess.address, "err", err)
		}
	}
	sess.setFlash("Message sent.")
	back := "/"
	if replyRef != nil {
		back = mailboxURL(replyRef.mbx.ID)
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// holdAttachments saves a refused message with its attachments in Drafts
// (in place of the draft it was, if any) and returns the new draft and
// its attachments, for the form shown again. Addresses the refusal was
// about are left out of the draft (the form still shows them as typed);
// a message forwarded as an attachment is not saved with it (the form
// attaches it again).
func (s *Server) holdAttachments(r *http.Request, sess *session, f *composeForm, files []upload, reply *original, old *ref) (*ref, []attachment, error) {
	msg, _, err := s.build(f, files, reply, nil, true)
	var fe *formError
	if errors.As(err, &fe) {
		bare := *f
		bare.To, bare.Cc, bare.Bcc = "", "", ""
		msg, _, err = s.build(&bare, files, reply, nil, true)
	}
	if err != nil {
		return nil, nil, err
	}
	drafts, err := s.specialMailbox(r, sess, `\Drafts`, "Drafts")
	if err != nil {
		return nil, nil, err
	}
	ctx := r.Context()
	dl, err := s.st.Append(ctx, drafts.ID, msg, []string{store.FlagDraft, store.FlagSeen}, s.opts.Now())
	if err != nil {
		return nil, nil, err
	}
	if old != nil {
		if _, err := s.st.Expunge(ctx, old.mbx.ID, []store.UID{old.uid}); err != nil {
			s.log.Warn("web mail: remove the draft replaced", "user", sess.address, "err", err)
		}
	}
	rf := &ref{mbx: drafts, uid: dl.UID}
	var kept []attachment
	err = s.st.ReadContent(drafts.ID, dl.UID, func(_ *store.Content, top *store.Part) error {
		_, kept = layout(top, false)
		return nil
	})
	return rf, kept, err
}
