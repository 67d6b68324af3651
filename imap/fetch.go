package imap

import (
	"errors"
	"html"
	"regexp"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"

	"petrel/search"
	"petrel/store"
)

// fetchBatch is how many messages' metadata one read transaction loads.
const fetchBatch = 2048

// fetched is what one message's FETCH reply needs from its content,
// copied out of the read transaction.
type fetched struct {
	env      *store.Envelope // the decoded structure's, which outlives the read
	bs       *store.Part
	sections [][]byte
	binary   [][]byte
	binSize  []uint32
	preview  string
	err      error
}

// fetch serves FETCH and UID FETCH. Metadata comes in batches; content,
// when asked for, in groups of messages bounded in count and bytes, each in
// one short read transaction, written to the network only after that
// transaction ends.
func (s *session) fetch(w *fetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	uids := s.view.resolveUIDs(numSet)
	if len(uids) == 0 {
		return nil
	}
	return s.fetchUIDs(w, uids, options)
}

// fetchUIDs is fetch for the given UIDs of the view, ascending.
func (s *session) fetchUIDs(w *fetchWriter, uids []store.UID, options *imap.FetchOptions) error {
	v := s.view
	st := s.srv.opts.Store

	// BODY[…] and BINARY[…] without .PEEK set \Seen (RFC 9051 6.4.5).
	markSeen := !v.readOnly &&
		(slices.ContainsFunc(options.BodySection, func(b *imap.FetchItemBodySection) bool { return !b.Peek }) ||
			slices.ContainsFunc(options.BinarySection, func(b *imap.FetchItemBinarySection) bool { return !b.Peek }))
	var seenNow map[store.UID]bool
	if markSeen {
		metas, err := st.Messages(v.m.id, uids)
		if err != nil {
			return clientError(err, "fetch")
		}
		var unseen []store.UID
		for _, m := range metas {
			if !m.Has(store.FlagSeen) {
				unseen = append(unseen, m.UID)
			}
		}
		if len(unseen) > 0 {
			if _, err := st.StoreFlags(s.writeCtx(), v.m.id, unseen, store.FlagsAdd, []string{store.FlagSeen}); err != nil {
				return clientError(err, "fetch: set \\Seen")
			}
			seenNow = make(map[store.UID]bool, len(unseen))
			for _, u := range unseen {
				seenNow[u] = true
			}
		}
	}

	needContent := w.preview || options.Envelope || options.BodyStructure != nil ||
		len(options.BodySection) > 0 || len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0

	write := func(metas []store.Message) error {
		if needContent {
			return s.fetchContent(w, v, metas, options, seenNow)
		}
		for i := range metas {
			if err := writeFetch(w, w.seqOf(metas[i].UID), &metas[i], options, &fetched{}, seenNow[metas[i].UID]); err != nil {
				return err
			}
		}
		return nil
	}
	if w.changedSince > 0 {
		// CHANGEDSINCE reads the store's MODSEQ index: its cost follows
		// what changed, not the size of the mailbox.
		changed, err := st.ChangedSince(v.m.id, w.changedSince)
		if err != nil {
			return clientError(err, "fetch")
		}
		changed = slices.DeleteFunc(changed, func(m store.Message) bool {
			_, ok := slices.BinarySearch(uids, m.UID)
			return !ok
		})
		return write(changed)
	}
	// The batches' metadata go in an array lent by the server's pool.
	bp, _ := s.srv.metaBufs.Get().(*[]store.Message)
	if bp == nil {
		bp = new([]store.Message)
	}
	used := 0
	defer func() {
		clear((*bp)[:used]) // keep no flags alive in the pool
		s.srv.metaBufs.Put(bp)
	}()
	// A FETCH of content that shows nothing of the metadata (UID
	// BODY.PEEK[]) does not read it: the content read skips the messages
	// gone, as the metadata read would.
	uidsOnly := needContent && seenNow == nil && metadataUnused(options, w)
	for start := 0; start < len(uids); start += fetchBatch {
		batch := uids[start:min(start+fetchBatch, len(uids))]
		var metas []store.Message
		var err error
		if uidsOnly {
			metas = (*bp)[:0]
			for _, u := range batch {
				metas = append(metas, store.Message{UID: u})
			}
		} else {
			metas, err = st.MessagesInto(*bp, v.m.id, batch)
		}
		*bp, used = metas[:0], max(used, len(metas))
		if err != nil {
			return clientError(err, "fetch")
		}
		if err := write(metas); err != nil {
			return err
		}
	}
	return nil
}

// metadataUnused: whether writeFetch writes nothing of a message but its
// UID and content for these options (no FLAGS, dates, size, MODSEQ or
// object IDs).
func metadataUnused(o *imap.FetchOptions, w *fetchWriter) bool {
	return !o.Flags && !o.InternalDate && !o.RFC822Size && !w.modseq && !w.emailID && !w.saveDate && w.changedSince == 0
}

// Content is read in groups of messages, one read transaction each, a
// group ending at contentGroup messages or contentGroupBytes of copied
// data; the group is written out after its transaction has ended.
const (
	contentGroup      = 256
	contentGroupBytes = 1 << 20
)

var errGroupFull = errors.New("content group full")

func (s *session) fetchContent(w *fetchWriter, v *view, metas []store.Message, options *imap.FetchOptions, seenNow map[store.UID]bool) error {
	st := s.srv.opts.Store
	read := st.ReadContents
	switch {
	case envelopeOnly(options) && !w.preview:
		read = readEnvelopes(st)
	case topSectionsOnly(options) && !w.preview:
		read = readTop(st)
	}
	n := min(contentGroup, len(metas))
	uids := make([]store.UID, 0, n)
	// got[i] is what was read of group[i], if it was (a message expunged
	// since is not).
	got := make([]struct {
		fetched
		ok bool
	}, n)
	for len(metas) > 0 {
		group := metas[:min(contentGroup, len(metas))]
		uids = uids[:0]
		for i := range group {
			uids = append(uids, group[i].UID)
		}
		clear(got)
		last := -1
		size := 0
		err := read(v.m.id, uids, func(uid store.UID, c *store.Content, root *store.Part) error {
			i, found := slices.BinarySearch(uids, uid)
			if !found {
				return nil
			}
			last = i
			f := &got[i].fetched
			*f = extract(c, root, options)
			got[i].ok = true
			if w.preview {
				f.preview = preview(c, root)
			}
			for _, b := range f.sections {
				size += len(b)
			}
			for _, b := range f.binary {
				size += len(b)
			}
			if f.err != nil {
				return f.err
			}
			if size > contentGroupBytes {
				return errGroupFull
			}
			return nil
		})
		consumed := len(group)
		if errors.Is(err, errGroupFull) {
			consumed = last + 1
		} else if err != nil {
			var ie *imap.Error
			if errors.As(err, &ie) {
				return err
			}
			return clientError(err, "fetch")
		}
		for i := range group[:consumed] {
			if !got[i].ok {
				continue // expunged since; the client hears of it later
			}
			if err := writeFetch(w, w.seqOf(group[i].UID), &group[i], options, &got[i].fetched, seenNow[group[i].UID]); err != nil {
				return err
			}
		}
		metas = metas[consumed:]
	}
	return nil
}

// topSectionsOnly: whether the FETCH asks only for sections of the whole
// message (BODY[], BODY[HEADER], BODY[HEADER.FIELDS …], BODY[TEXT]), which
// need no more of the stored structure than where the header ends.
func topSectionsOnly(o *imap.FetchOptions) bool {
	if o.Envelope || o.BodyStructure != nil || len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0 {
		return false
	}
	for _, sec := range o.BodySection {
		if len(sec.Part) > 0 || sec.Specifier == imap.PartSpecifierMIME {
			return false
		}
	}
	return true
}

// envelopeOnly: whether the only content the FETCH asks for is ENVELOPE.
func envelopeOnly(o *imap.FetchOptions) bool {
	return o.Envelope && o.BodyStructure == nil && len(o.BodySection) == 0 &&
		len(o.BinarySection) == 0 && len(o.BinarySectionSize) == 0
}

// readEnvelopes is ReadContents for envelopeOnly (store.ReadEnvelopes):
// the content it gives is nil, the root only the envelope.
func readEnvelopes(st Store) func(store.MailboxID, []store.UID, func(store.UID, *store.Content, *store.Part) error) error {
	return func(mbx store.MailboxID, uids []store.UID, fn func(store.UID, *store.Content, *store.Part) error) error {
		var root store.Part // extract keeps root.Envelope, not root
		return st.ReadEnvelopes(mbx, uids, func(uid store.UID, env *store.Envelope) error {
			root.Envelope = env
			return fn(uid, nil, &root)
		})
	}
}

// readTop is ReadContents for topSectionsOnly: the root it gives holds only
// the offsets of the whole message (store.ReadHeaders), not the decoded
// structure.
func readTop(st Store) func(store.MailboxID, []store.UID, func(store.UID, *store.Content, *store.Part) error) error {
	return func(mbx store.MailboxID, uids []store.UID, fn func(store.UID, *store.Content, *store.Part) error) error {
		var root store.Part // extract copies what it needs out of it
		return st.ReadHeaders(mbx, uids, func(uid store.UID, c *store.Content, bodyStart int64) error {
			root = store.Part{BodyStart: bodyStart, End: c.Size()}
			return fn(uid, c, &root)
		})
	}
}

// extract copies out of the transaction what the reply needs.
func extract(c *store.Content, root *store.Part, options *imap.FetchOptions) fetched {
	var f fetched
	if options.Envelope {
		f.env = root.Envelope
	}
	if options.BodyStructure != nil {
		f.bs = root
	}
	for _, sec := range options.BodySection {
		f.sections = append(f.sections, bodySection(c, root, sec))
	}
	for _, sec := range options.BinarySection {
		b, err := binarySection(c, root, sec.Part)
		if err != nil {
			f.err = err
			return f
		}
		f.binary = append(f.binary, partial(b, sec.Partial))
	}
	for _, sec := range options.BinarySectionSize {
		b, err := binarySection(c, root, sec.Part)
		if err != nil {
			f.err = err
			return f
		}
		f.binSize = append(f.binSize, uint32(min(len(b), 1<<32-1)))
	}
	return f
}

func writeFetch(w *fetchWriter, seq uint32, meta *store.Message, options *imap.FetchOptions, f *fetched, seenNow bool) error {
	if seq == 0 {
		return nil
	}
	showFlags := options.Flags || seenNow
	var flags []string
	if showFlags {
		flags = meta.Flags
		if seenNow && !meta.Has(store.FlagSeen) {
			flags = append(slices.Clone(flags), store.FlagSeen)
			slices.Sort(flags)
		}
		w.s.announceKeywords(flags)
	}
	rw := w.CreateMessage(seq)
	if options.UID {
		rw.WriteUID(imap.UID(meta.UID))
	}
	if showFlags {
		rw.WriteFlags(flags, w.showRecent(meta.UID))
	}
	if options.InternalDate {
		rw.WriteInternalDate(meta.InternalDate)
	}
	rw.WriteObjectIDs(meta)
	if w.modseq || w.s.condstore && showFlags {
		rw.WriteModSeq(meta.ModSeq)
	}
	if w.preview {
		rw.WritePreview(f.preview)
	}
	if options.RFC822Size {
		rw.WriteRFC822Size(meta.Size)
	}
	if options.Envelope {
		rw.WriteEnvelope(f.env)
	}
	if options.BodyStructure != nil {
		rw.WriteBodyStructure(f.bs)
	}
	for i, sec := range options.BodySection {
		rw.WriteBodySection(sec, f.sections[i])
	}
	for i, sec := range options.BinarySection {
		rw.WriteBinarySection(sec, f.binary[i])
	}
	for i, sec := range options.BinarySectionSize {
		rw.WriteBinarySize(sec.Part, int64(f.binSize[i]))
	}
	return rw.Close()
}

// previewLen is how much text PREVIEW gives (RFC 8970 3: at most 256
// characters; 200 is what most clients show).
const previewLen = 200

// preview is RFC 8970's preview of a message: the start of its first
// text/plain part (else text/html, tags removed), decoded, white space
// collapsed.
func preview(c *store.Content, root *store.Part) string {
	p := firstText(root, "plain", 0)
	if p == nil {
		p = firstText(root, "html", 0)
	}
	if p == nil {
		return ""
	}
	raw := c.Slice(p.BodyStart, min(p.Size(), 64<<10))
	dec, err := decodeCTE(raw, p.Encoding)
	if err != nil {
		dec = raw
	}
	text := search.ToUTF8(dec, p.Params["charset"])
	if p.Subtype == "html" {
		text = htmlTags.ReplaceAllString(text, " ")
		text = html.UnescapeString(text)
	}
	text = strings.Join(strings.Fields(text), " ")
	if r := []rune(text); len(r) > previewLen {
		text = string(r[:previewLen])
	}
	return text
}

var htmlTags = regexp.MustCompile(`(?s)<(style|script)[^>]*>.*?</(style|script)>|<[^>]*>`)

// firstText finds the first text/<sub> part, not an attachment.
func firstText(p *store.Part, sub string, depth int) *store.Part {
	if depth > 64 {
		return nil
	}
	switch {
	case isMultipart(p):
		for _, ch := range p.Parts {
			if t := firstText(ch, sub, depth+1); t != nil {
				return t
			}
		}
	case (p.Type == "text" || p.Type == "") && (p.Subtype == sub || p.Subtype == "" && sub == "plain") && !strings.EqualFold(p.Disposition, "attachment"):
		return p
	}
	return nil
}
