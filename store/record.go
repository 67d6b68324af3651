package store

import (
	"encoding/binary"
	"errors"
	"time"
)

// msgRecord is what the store keeps per message in a mailbox. It is encoded
// compactly by hand: FETCH 1:* (UID FLAGS) over 100,000 messages decodes
// every one of them.
type msgRecord struct {
	Blob   uint64
	Date   int64 // internal date, Unix nanoseconds
	Size   int64 // len(Prefix) + blob length
	ModSeq uint64
	Flags  []string
	Prefix []byte // per-copy header lines put before the blob (Received, Return-Path)
	// Saved is when the message was put in this mailbox (delivery, APPEND,
	// COPY, MOVE), Unix seconds; 0 for records made before it was kept
	// (IMAP SAVEDATE, RFC 8514). Encoded last, so older records decode.
	Saved int64
}

var errCorrupt = errors.New("corrupt message record")

func (r *msgRecord) encode() []byte {
	n := 6*binary.MaxVarintLen64 + len(r.Prefix)
	for _, f := range r.Flags {
		n += len(f) + binary.MaxVarintLen64
	}
	b := make([]byte, 0, n)
	b = binary.AppendUvarint(b, r.Blob)
	b = binary.AppendVarint(b, r.Date)
	b = binary.AppendVarint(b, r.Size)
	b = binary.AppendUvarint(b, r.ModSeq)
	b = binary.AppendUvarint(b, uint64(len(r.Flags)))
	for _, f := range r.Flags {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Prefix)))
	b = append(b, r.Prefix...)
	if r.Saved != 0 {
		b = binary.AppendVarint(b, r.Saved)
	}
	return b
}

// decodeRecord decodes b, copying everything out of it (b may be bbolt's).
// With noPrefix the prefix is skipped, which listing does not need.
func decodeRecord(b []byte, noPrefix bool) (msgRecord, error) {
	return decodeRecordIn(b, noPrefix, nil)
}

// flagSlab lends the Flags of many decoded records out of one array, so
// that reading a whole folder does not allocate per flagged message. Each
// record's Flags is capped at its length: appending to it copies. Its
// first array holds a flag per record expected (at least 4, at most
// flagSlabChunk), so a read of one message takes little; later ones grow
// to flagSlabChunk.
type flagSlab struct {
	free  []string
	chunk int // the size of the last array
}

const flagSlabChunk = 256

// newFlagSlab is a slab for about records records.
func newFlagSlab(records int) flagSlab {
	return flagSlab{chunk: min(max(records, 4), flagSlabChunk) / 2}
}

func (s *flagSlab) take(n int) []string {
	if n > cap(s.free) {
		s.chunk = min(max(2*s.chunk, 4), flagSlabChunk)
		s.free = make([]string, 0, max(n, s.chunk))
	}
	l := s.free[:0:n]
	s.free = s.free[n:n:cap(s.free)]
	return l
}

// decodeRecordIn is decodeRecord taking the Flags from slab, if not nil.
func decodeRecordIn(b []byte, noPrefix bool, slab *flagSlab) (msgRecord, error) {
	var r msgRecord
	var n int
	uv := func() uint64 {
		if n < 0 {
			return 0
		}
		v, k := binary.Uvarint(b[n:])
		if k <= 0 {
			n = -1
			return 0
		}
		n += k
		return v
	}
	sv := func() int64 {
		if n < 0 {
			return 0
		}
		v, k := binary.Varint(b[n:])
		if k <= 0 {
			n = -1
			return 0
		}
		n += k
		return v
	}
	r.Blob = uv()
	r.Date = sv()
	r.Size = sv()
	r.ModSeq = uv()
	nf := uv()
	if n < 0 || nf > uint64(len(b)) {
		return r, errCorrupt
	}
	if nf > 0 {
		if slab != nil {
			r.Flags = slab.take(int(nf))
		} else {
			r.Flags = make([]string, 0, nf)
		}
	}
	for i := uint64(0); i < nf; i++ {
		l := uv()
		if n < 0 || l > uint64(len(b)-n) {
			return r, errCorrupt
		}
		r.Flags = append(r.Flags, internFlag(b[n:n+int(l)]))
		n += int(l)
	}
	l := uv()
	if n < 0 || l > uint64(len(b)-n) {
		return r, errCorrupt
	}
	if !noPrefix && l > 0 {
		r.Prefix = append([]byte(nil), b[n:n+int(l)]...)
	}
	n += int(l)
	if n < len(b) {
		r.Saved = sv()
		if n < 0 {
			return r, errCorrupt
		}
	}
	return r, nil
}

// internFlag avoids an allocation for the common flags.
func internFlag(b []byte) string {
	switch string(b) {
	case FlagSeen:
		return FlagSeen
	case FlagAnswered:
		return FlagAnswered
	case FlagFlagged:
		return FlagFlagged
	case FlagDeleted:
		return FlagDeleted
	case FlagDraft:
		return FlagDraft
	case "$Junk":
		return "$Junk"
	case "$NotJunk":
		return "$NotJunk"
	}
	return string(b)
}

func (r *msgRecord) message(uid UID) Message {
	return Message{
		UID:          uid,
		Flags:        r.Flags,
		InternalDate: time.Unix(0, r.Date),
		Size:         r.Size,
		ModSeq:       r.ModSeq,
		Blob:         r.Blob,
		SaveDate:     savedTime(r.Saved),
	}
}

func savedTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}
