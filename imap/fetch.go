package imap

import (
	"errors"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"petrel/store"
)

// fetchBatch is how many messages' metadata one read transaction loads.
const fetchBatch = 2048

// fetched is what one message's FETCH reply needs from its content,
// copied out of the read transaction.
type fetched struct {
	env      *imap.Envelope
	bs       imap.BodyStructure
	sections [][]byte
	binary   [][]byte
	binSize  []uint32
	err      error
}

// Fetch serves FETCH and UID FETCH. Metadata comes in batches; content,
// when asked for, one message at a time in its own short read transaction,
// and is written to the network only after that transaction ends.
func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	s.touch()
	v, err := s.selected()
	if err != nil {
		return err
	}
	idx := v.resolve(numSet)
	if len(idx) == 0 {
		return nil
	}
	uids := v.uidsOf(idx)
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

	needContent := options.Envelope || options.BodyStructure != nil ||
		len(options.BodySection) > 0 || len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0

	for start := 0; start < len(uids); start += fetchBatch {
		batch := uids[start:min(start+fetchBatch, len(uids))]
		metas, err := st.Messages(v.m.id, batch)
		if err != nil {
			return clientError(err, "fetch")
		}
		for i := range metas {
			meta := &metas[i]
			var f fetched
			if needContent {
				f = readFetched(st, v.m.id, meta.UID, options)
				if errors.Is(f.err, store.ErrNoMessage) {
					continue // expunged since; the client hears of it later
				}
				if f.err != nil {
					return f.err
				}
			}
			if err := writeFetch(w, v.seqOf(meta.UID), meta, options, &f, seenNow[meta.UID]); err != nil {
				return err
			}
		}
	}
	return nil
}

func readFetched(st *store.Store, mbx store.MailboxID, uid store.UID, options *imap.FetchOptions) fetched {
	var f fetched
	err := st.ReadContent(mbx, uid, func(c *store.Content, root *store.Part) error {
		if options.Envelope {
			f.env = envelope(root.Envelope)
		}
		if options.BodyStructure != nil {
			f.bs = bodyStructure(root)
		}
		for _, sec := range options.BodySection {
			f.sections = append(f.sections, bodySection(c, root, sec))
		}
		for _, sec := range options.BinarySection {
			b, err := binarySection(c, root, sec.Part)
			if err != nil {
				return err
			}
			f.binary = append(f.binary, partial(b, sec.Partial))
		}
		for _, sec := range options.BinarySectionSize {
			b, err := binarySection(c, root, sec.Part)
			if err != nil {
				return err
			}
			f.binSize = append(f.binSize, uint32(min(len(b), 1<<32-1)))
		}
		return nil
	})
	if err != nil {
		var ie *imap.Error
		if !errors.As(err, &ie) && !errors.Is(err, store.ErrNoMessage) {
			err = clientError(err, "fetch")
		}
		f.err = err
	}
	return f
}

func writeFetch(w *imapserver.FetchWriter, seq uint32, meta *store.Message, options *imap.FetchOptions, f *fetched, seenNow bool) error {
	if seq == 0 {
		return nil
	}
	rw := w.CreateMessage(seq)
	if options.UID {
		rw.WriteUID(imap.UID(meta.UID))
	}
	if options.Flags || seenNow {
		flags := meta.Flags
		if seenNow && !meta.Has(store.FlagSeen) {
			flags = append(slices.Clone(flags), store.FlagSeen)
			slices.Sort(flags)
		}
		rw.WriteFlags(imapFlags(flags))
	}
	if options.InternalDate {
		rw.WriteInternalDate(meta.InternalDate)
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
		wc := rw.WriteBodySection(sec, int64(len(f.sections[i])))
		if _, err := wc.Write(f.sections[i]); err != nil {
			wc.Close()
			rw.Close()
			return err
		}
		if err := wc.Close(); err != nil {
			rw.Close()
			return err
		}
	}
	for i, sec := range options.BinarySection {
		wc := rw.WriteBinarySection(sec, int64(len(f.binary[i])))
		if _, err := wc.Write(f.binary[i]); err != nil {
			wc.Close()
			rw.Close()
			return err
		}
		if err := wc.Close(); err != nil {
			rw.Close()
			return err
		}
	}
	for i, sec := range options.BinarySectionSize {
		rw.WriteBinarySectionSize(sec, f.binSize[i])
	}
	return rw.Close()
}
