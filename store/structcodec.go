package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// The stored MIME structure (bucket blobinfo) is written in a compact
// binary form: FETCH ENVELOPE/BODYSTRUCTURE and SEARCH decode it for every
// message they touch, and encoding/json's reflection and validation cost
// more than the read itself. Structures written before this format are
// JSON (they start with '{') and are still read.
//
// Format: the byte structV1, then the top part. A part is:
//
//	varint HeaderStart, BodyStart, End, Lines
//	string Type, Subtype, ID, Description, Encoding, MD5, Disposition, Location
//	map Params, DispositionParams; list Language
//	byte 0 or 1, then the Envelope if 1
//	uvarint number of children, then each child part
//
// string: uvarint length and bytes; map: uvarint count and key, value
// strings, sorted by key; list: uvarint count and strings. An Envelope:
// time Date (uvarint length and time.MarshalBinary, length 0 for none),
// string Subject, address lists From, Sender, ReplyTo, To, Cc, Bcc (uvarint
// count, then Name, Mailbox, Host strings each), list InReplyTo, string
// MessageID.
const structV1 = 0x01

var errStructure = errors.New("malformed stored structure")

// encodeStructure encodes p in the binary form.
func encodeStructure(p *Part) []byte {
	b := make([]byte, 0, 256)
	b = append(b, structV1)
	return appendPart(b, p)
}

func appendPart(b []byte, p *Part) []byte {
	b = binary.AppendVarint(b, p.HeaderStart)
	b = binary.AppendVarint(b, p.BodyStart)
	b = binary.AppendVarint(b, p.End)
	b = binary.AppendVarint(b, p.Lines)
	for _, s := range [...]string{p.Type, p.Subtype, p.ID, p.Description, p.Encoding, p.MD5, p.Disposition, p.Location} {
		b = appendString(b, s)
	}
	b = appendMap(b, p.Params)
	b = appendMap(b, p.DispositionParams)
	b = appendList(b, p.Language)
	if e := p.Envelope; e != nil {
		b = append(b, 1)
		b = appendEnvelope(b, e)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(p.Parts)))
	for _, ch := range p.Parts {
		b = appendPart(b, ch)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendList(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = appendString(b, s)
	}
	return b
}

func appendMap(b []byte, m map[string]string) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b = appendString(b, k)
		b = appendString(b, m[k])
	}
	return b
}

func appendEnvelope(b []byte, e *Envelope) []byte {
	if e.Date.IsZero() {
		b = binary.AppendUvarint(b, 0)
	} else {
		t, err := sanitizeZone(e.Date).MarshalBinary()
		if err != nil { // a zone offset MarshalBinary cannot keep
			t, _ = e.Date.UTC().MarshalBinary()
		}
		b = binary.AppendUvarint(b, uint64(len(t)))
		b = append(b, t...)
	}
	b = appendString(b, e.Subject)
	for _, l := range [...][]Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		b = binary.AppendUvarint(b, uint64(len(l)))
		for _, a := range l {
			b = appendString(b, a.Name)
			b = appendString(b, a.Mailbox)
			b = appendString(b, a.Host)
		}
	}
	b = appendList(b, e.InReplyTo)
	return appendString(b, e.MessageID)
}

// decodeStructure decodes a stored structure, binary or JSON, adding shift
// to every offset but the top part's HeaderStart (see Part.shift).
func decodeStructure(info []byte, shift int64) (*Part, error) {
	if len(info) > 0 && info[0] == '{' {
		var p Part
		if err := json.Unmarshal(info, &p); err != nil {
			return nil, err
		}
		return p.shift(shift, true), nil
	}
	if len(info) == 0 || info[0] != structV1 {
		return nil, fmt.Errorf("%w: unknown format", errStructure)
	}
	d := structDecoder{b: info[1:], all: string(info[1:]), shift: shift}
	p := d.part(0)
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errStructure, len(d.b))
	}
	return p, nil
}

// decodeEnvelope decodes only the top part's envelope of a stored
// structure in the binary form, skipping the fields before it and leaving
// the parts after it unread; ok is false for any other form (JSON, none).
// The envelope's strings share one copy of its own bytes only.
func decodeEnvelope(info []byte) (env *Envelope, ok bool, err error) {
	if len(info) == 0 || info[0] != structV1 {
		return nil, false, nil
	}
	d := structDecoder{b: info[1:]}
	for range 4 { // HeaderStart, BodyStart, End, Lines
		d.varint()
	}
	for range 8 { // Type … Location
		d.bytes()
	}
	for range 2 { // Params, DispositionParams
		for range d.count(2) {
			d.bytes()
			d.bytes()
		}
	}
	for range d.count(1) { // Language
		d.bytes()
	}
	switch d.flag() {
	case 0:
		return nil, true, d.err
	case 1:
	default:
		d.fail("bad envelope marker")
	}
	if d.err != nil {
		return nil, true, d.err
	}
	start := len(info) - len(d.b)
	d.skipEnvelope()
	if d.err != nil {
		return nil, true, d.err
	}
	b := info[start : len(info)-len(d.b)]
	e := structDecoder{b: b, all: string(b)}
	// The envelope and room for its first addresses: one allocation.
	ea := new(struct {
		env   Envelope
		addrs [4]Address
	})
	e.envelope(&ea.env, ea.addrs[:0])
	return &ea.env, true, e.err
}

// skipEnvelope reads past an envelope as envelope decodes it.
func (d *structDecoder) skipEnvelope() {
	d.bytes() // Date
	d.bytes() // Subject
	for range 6 {
		for range d.count(3) {
			d.bytes()
			d.bytes()
			d.bytes()
		}
	}
	for range d.count(1) { // InReplyTo
		d.bytes()
	}
	d.bytes() // MessageID
}

// structDecoder reads the binary form; the first error sticks and every
// later read returns zero values.
type structDecoder struct {
	b     []byte
	all   string // the same bytes as a string: decoded strings share it (set it to read strings)
	shift int64
	parts int
	err   error
}

func (d *structDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errStructure, what)
	}
	d.b = nil
}

func (d *structDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length or count that cannot exceed what is left, each
// item taking at least min bytes.
func (d *structDecoder) count(min int) int {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad count")
		return 0
	}
	d.b = d.b[n:]
	if v > uint64(len(d.b)/min) {
		d.fail("count past the end")
		return 0
	}
	return int(v)
}

func (d *structDecoder) bytes() []byte {
	n := d.count(1)
	if d.err != nil {
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *structDecoder) string() string {
	b := d.bytes()
	if len(b) == 0 {
		return ""
	}
	end := len(d.all) - len(d.b) // b ends where d.b now starts
	return d.all[end-len(b) : end]
}

func (d *structDecoder) list() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = d.string()
	}
	return l
}

func (d *structDecoder) strmap() map[string]string {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.string()
		m[k] = d.string()
	}
	return m
}

func (d *structDecoder) flag() byte {
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *structDecoder) part(depth int) *Part {
	d.parts++
	if depth > maxPartDepth+1 || d.parts > maxParts+1 {
		d.fail("too many or too deep parts")
		return nil
	}
	var p *Part
	var env *Envelope // where the part's envelope goes, if it has one
	if depth == 0 {
		// The top part has an envelope: one allocation for both.
		pe := new(struct {
			p Part
			e Envelope
		})
		p, env = &pe.p, &pe.e
	} else {
		p = &Part{}
	}
	p.HeaderStart = d.varint()
	if depth > 0 {
		p.HeaderStart += d.shift
	}
	p.BodyStart = d.varint() + d.shift
	p.End = d.varint() + d.shift
	p.Lines = d.varint()
	p.Type, p.Subtype, p.ID, p.Description = d.string(), d.string(), d.string(), d.string()
	p.Encoding, p.MD5, p.Disposition, p.Location = d.string(), d.string(), d.string(), d.string()
	p.Params = d.strmap()
	p.DispositionParams = d.strmap()
	p.Language = d.list()
	switch d.flag() {
	case 0:
	case 1:
		if env == nil {
			env = &Envelope{}
		}
		d.envelope(env, nil)
		p.Envelope = env
	default:
		d.fail("bad envelope marker")
	}
	n := d.count(1)
	if n > 0 {
		p.Parts = make([]*Part, n)
		for i := range p.Parts {
			p.Parts[i] = d.part(depth + 1)
			if d.err != nil {
				return nil
			}
		}
	}
	if d.err != nil {
		return nil
	}
	return p
}

// envelope decodes an envelope into e, its address lists sharing one
// array: free's room first, if it has any.
func (d *structDecoder) envelope(e *Envelope, free []Address) {
	if t := d.bytes(); len(t) > 0 {
		// The encoder writes neither a zone of a day or more nor a year
		// past 9999 (JSON, and IMAP's date-time, have no room for them).
		if err := e.Date.UnmarshalBinary(t); err != nil || sanitizeZone(e.Date) != e.Date || e.Date.Year() < 0 || e.Date.Year() > 9999 {
			d.fail("bad date")
		}
	}
	e.Subject = d.string()
	for _, l := range [...]*[]Address{&e.From, &e.Sender, &e.ReplyTo, &e.To, &e.Cc, &e.Bcc} {
		n := d.count(3)
		if n == 0 {
			continue
		}
		if n > cap(free) {
			free = make([]Address, 0, max(n, 4))
		}
		*l, free = free[:n:n], free[n:n:cap(free)]
		for i := range *l {
			(*l)[i] = Address{Name: d.string(), Mailbox: d.string(), Host: d.string()}
		}
	}
	e.InReplyTo = d.list()
	e.MessageID = d.string()
}

// structureTx returns the stored structure of a message's blob, offsets
// shifted past its prefix; a blob without one (none is written so, but a
// damaged store may have lost it) is parsed again.
func structureTx(infos *bolt.Bucket, rec msgRecord, c *Content) (*Part, error) {
	return structureOf(infos.Get(be64(rec.Blob)), c)
}

// structureOf is structureTx for the blob's stored structure info, read
// already (nil if there is none).
func structureOf(info []byte, c *Content) (*Part, error) {
	shift := int64(len(c.Prefix))
	if info != nil {
		p, err := decodeStructure(info, shift)
		if err != nil {
			return nil, fmt.Errorf("structure: %w", err)
		}
		return p, nil
	}
	return ParseStructure(c.Body).shift(shift, true), nil
}

// structureBodyStart reads the top part's BodyStart (unshifted) from the
// front of a binary structure; ok is false for any other form.
func structureBodyStart(info []byte) (int64, bool) {
	if len(info) == 0 || info[0] != structV1 {
		return 0, false
	}
	d := structDecoder{b: info[1:]}
	d.varint() // HeaderStart
	start := d.varint()
	return start, d.err == nil
}

// reindexBatch is how many messages one Reindex write rewrites.
const reindexBatch = 200

// Reindex parses every stored message again with the current parser and
// rewrites its stored structure in the current form: after an upgrade, so
// that messages stored in an older form (JSON) or by an older parser are
// served like new ones. It runs beside a live server: each batch is read
// in its own read transaction and written in one short write. progress,
// if set, gets the messages done and the total after each batch. It
// returns how many messages it rewrote.
func (s *Store) Reindex(ctx context.Context, progress func(done, total int)) (int, error) {
	total := 0
	if err := s.view(func(t *bolt.Tx) error {
		total = t.Bucket(bBlobs).Stats().KeyN
		return nil
	}); err != nil {
		return 0, fmt.Errorf("reindex: %w", err)
	}
	type item struct{ key, info []byte }
	var after []byte
	done := 0
	for {
		if err := ctx.Err(); err != nil {
			return done, fmt.Errorf("reindex: %w", err)
		}
		var batch []item
		err := s.view(func(t *bolt.Tx) error {
			c := t.Bucket(bBlobs).Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(batch) < reindexBatch; k, v = c.Next() {
				batch = append(batch, item{key: bytes.Clone(k), info: encodeStructure(ParseStructure(v))})
			}
			return nil
		})
		if err != nil {
			return done, fmt.Errorf("reindex: %w", err)
		}
		if len(batch) == 0 {
			return done, nil
		}
		err = s.update(ctx, func(t *tx) error {
			blobs, infos := t.Bucket(bBlobs), t.Bucket(bBlobInfo)
			for _, it := range batch {
				if blobs.Get(it.key) == nil {
					continue // expunged meanwhile
				}
				if err := infos.Put(it.key, it.info); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return done, fmt.Errorf("reindex: %w", err)
		}
		done += len(batch)
		after = batch[len(batch)-1].key
		if progress != nil {
			progress(done, max(total, done))
		}
	}
}
