package store

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

var codecMessages = map[string]string{
	"plain": "From: Bob <bob@example.org>\r\nTo: a@example.com, \"Carol C.\" <c@example.com>\r\nSubject: hi\r\n" +
		"Date: Mon, 02 Jan 2006 15:04:05 -0700\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n",
	"encoded, no date": "Subject: =?utf-8?q?caf=C3=A9?=\r\nFrom: =?iso-8859-1?q?Andr=E9?= <a@b.c>\r\nCc: d@e.f\r\nBcc: g@h.i\r\n" +
		"Reply-To: r@s.t\r\nSender: u@v.w\r\nIn-Reply-To: <p@q>\r\n\r\nx",
	"multipart": "Content-Type: multipart/mixed; boundary=b\r\nDate: Tue, 3 Jan 2006 01:02:03 +0000\r\n\r\npre\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\nContent-Language: en, fr\r\n\r\none\r\ntwo\r\n" +
		"--b\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"a.pdf\"; size=3\r\nContent-ID: <cid@x>\r\nContent-Description: a file\r\n" +
		"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\nContent-Location: http://x/a.pdf\r\n\r\nQUJD\r\n" +
		"--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nFrom: i@j.k\r\n\r\ninner body\r\n--b--\r\n",
	"zone of a day": "Date: Mon, 02 Jan 2006 15:04:05 +2400\r\nSubject: far east\r\n\r\nx",
	"no header":     "just text",
	"empty":         "",
}

// jsonOf is the comparison: the JSON the store used to write, which says
// everything a Part holds.
func jsonOf(t *testing.T, p *Part) string {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStructureCodecRoundTrip(t *testing.T) {
	for name, msg := range codecMessages {
		t.Run(name, func(t *testing.T) {
			p := ParseStructure([]byte(msg))
			enc := encodeStructure(p)
			for _, shift := range []int64{0, 123} {
				got, err := decodeStructure(enc, shift)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if g, w := jsonOf(t, got), jsonOf(t, p.shift(shift, true)); g != w {
					t.Errorf("shift %d:\n got %s\nwant %s", shift, g, w)
				}
			}
			js, _ := json.Marshal(p)
			if len(enc) >= len(js) {
				t.Errorf("binary %d bytes, JSON %d: no smaller", len(enc), len(js))
			}
		})
	}
}

func TestStructureCodecRejectsDamage(t *testing.T) {
	enc := encodeStructure(ParseStructure([]byte(codecMessages["multipart"])))
	for i := 0; i < len(enc); i++ {
		if _, err := decodeStructure(enc[:i], 0); !errors.Is(err, errStructure) {
			t.Fatalf("truncated to %d of %d bytes: err = %v, want errStructure", i, len(enc), err)
		}
	}
	if _, err := decodeStructure(append(enc, 0), 0); !errors.Is(err, errStructure) {
		t.Errorf("trailing byte: err = %v", err)
	}
	if _, err := decodeStructure([]byte{9, 0}, 0); !errors.Is(err, errStructure) {
		t.Errorf("unknown version: err = %v", err)
	}
}

// TestStructureJSONStillRead: a store written before the binary format
// keeps JSON structures; they are read as before.
func TestStructureJSONStillRead(t *testing.T) {
	s, acct := openWithAccount(t)
	ctx := context.Background()
	msg := codecMessages["multipart"]
	d, err := s.Deliver(ctx, &Delivery{Body: []byte(msg), Targets: []Target{{Account: acct.ID, Prefix: []byte("Return-Path: <x@y>\r\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Structure(d[0].Mailbox, d[0].UID)
	if err != nil {
		t.Fatal(err)
	}
	headerEnd := func() int64 {
		var got int64 = -1
		err := s.ReadHeaders(d[0].Mailbox, []UID{d[0].UID}, func(_ UID, _ *Content, bodyStart int64) error {
			got = bodyStart
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := headerEnd(); got != want.BodyStart {
		t.Errorf("ReadHeaders from the binary form: body at %d, structure says %d", got, want.BodyStart)
	}
	err = s.rawUpdate(func(tx *bolt.Tx) error {
		b := tx.Bucket(bBlobInfo)
		c := b.Cursor()
		k, v := c.First()
		if k == nil || v[0] != structV1 {
			t.Fatalf("stored structure %q is not binary", v)
		}
		js, err := json.Marshal(ParseStructure([]byte(msg)))
		if err != nil {
			return err
		}
		return b.Put(k, js)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Structure(d[0].Mailbox, d[0].UID)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := jsonOf(t, got), jsonOf(t, want); g != w {
		t.Errorf("from JSON:\n got %s\nwant %s", g, w)
	}
	if got := headerEnd(); got != want.BodyStart {
		t.Errorf("ReadHeaders from JSON: body at %d, want %d", got, want.BodyStart)
	}
	if got.BodyStart <= int64(len("Return-Path: <x@y>\r\n")) {
		t.Errorf("offsets not shifted past the prefix: body at %d", got.BodyStart)
	}
}

// BenchmarkDecodeStructure: what FETCH of ENVELOPE or BODYSTRUCTURE and
// SEARCH pay per message to read its stored structure, in the binary form
// and in the JSON written before it.
//
//	go test -run XXX -bench DecodeStructure -benchmem ./store/
func BenchmarkDecodeStructure(b *testing.B) {
	p := ParseStructure([]byte(codecMessages["multipart"]))
	js, err := json.Marshal(p)
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{{"binary", encodeStructure(p)}, {"json", js}} {
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(f.b)))
			for b.Loop() {
				if _, err := decodeStructure(f.b, 10); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestReindex: structures stored as JSON (or by an older parser) are
// rewritten in the binary form, with progress, and read the same.
func TestReindex(t *testing.T) {
	s, acct := openWithAccount(t)
	ctx := context.Background()
	const n = reindexBatch + 7
	var ds []Delivered
	for i := range n {
		msg := codecMessages["plain"]
		if i%2 == 1 {
			msg = codecMessages["multipart"]
		}
		d, err := s.Deliver(ctx, &Delivery{Body: []byte(msg), Targets: []Target{{Account: acct.ID}}})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d[0])
	}
	want := map[UID]string{}
	for _, d := range ds {
		p, err := s.Structure(d.Mailbox, d.UID)
		if err != nil {
			t.Fatal(err)
		}
		want[d.UID] = jsonOf(t, p)
	}
	// Make every stored structure JSON, as an older Petrel wrote it.
	err := s.rawUpdate(func(tx *bolt.Tx) error {
		blobs, infos := tx.Bucket(bBlobs), tx.Bucket(bBlobInfo)
		return blobs.ForEach(func(k, v []byte) error {
			js, err := json.Marshal(ParseStructure(v))
			if err != nil {
				return err
			}
			return infos.Put(k, js)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	var calls, last int
	got, err := s.Reindex(ctx, func(done, total int) {
		calls++
		last = done
		if total != n {
			t.Errorf("progress total %d, want %d", total, n)
		}
	})
	if err != nil || got != n {
		t.Fatalf("Reindex = %d, %v; want %d", got, err, n)
	}
	if calls != 2 || last != n {
		t.Errorf("progress called %d times, last with %d; want 2, %d", calls, last, n)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bBlobInfo).ForEach(func(k, v []byte) error {
			if v[0] != structV1 {
				t.Errorf("blob %x still %q after Reindex", k, v[:min(len(v), 20)])
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		p, err := s.Structure(d.Mailbox, d.UID)
		if err != nil {
			t.Fatal(err)
		}
		if g := jsonOf(t, p); g != want[d.UID] {
			t.Errorf("uid %d after Reindex:\n got %s\nwant %s", d.UID, g, want[d.UID])
		}
	}
	// A cancelled context stops it.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Reindex(cctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Reindex with a cancelled context: %v", err)
	}
}

// TestAppendManyStoresBinaryStructure: imported mail (AppendMany) is stored
// with the same binary structure as delivered mail, not the JSON that needs
// a reindex to reach FETCH's fast path.
func TestAppendManyStoresBinaryStructure(t *testing.T) {
	s, acct := openWithAccount(t)
	mb, err := s.MailboxByName(acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := s.AppendMany(context.Background(), mb.ID, []AppendItem{{Body: []byte(codecMessages["plain"])}, {Body: []byte(codecMessages["multipart"])}})
	if err != nil || len(ds) != 2 {
		t.Fatalf("AppendMany = %v, %v", ds, err)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bBlobInfo).ForEach(func(k, v []byte) error {
			if len(v) == 0 || v[0] != structV1 {
				t.Errorf("blob %x stored as %q, want the binary form", k, v[:min(len(v), 20)])
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"plain", "multipart"} {
		p, err := s.Structure(ds[i].Mailbox, ds[i].UID)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := jsonOf(t, p), jsonOf(t, ParseStructure([]byte(codecMessages[name]))); got != want {
			t.Errorf("%s: structure read back\n got %s\nwant %s", name, got, want)
		}
	}
}

// ReadEnvelopes gives the envelopes ReadContents' trees hold, in the order
// asked, missing messages skipped: for structures in the binary form, in
// JSON (an older Petrel's), and for a blob whose structure was lost.
func TestReadEnvelopes(t *testing.T) {
	s, acct := openWithAccount(t)
	ctx := context.Background()
	var uids []UID
	var mbx MailboxID
	names := slices.Sorted(maps.Keys(codecMessages))
	for i, name := range names {
		tg := Target{Account: acct.ID}
		if i%2 == 0 {
			tg.Prefix = []byte("Return-Path: <x@y>\r\n")
		}
		d, err := s.Deliver(ctx, &Delivery{Body: []byte(codecMessages[name]), Targets: []Target{tg}})
		if err != nil {
			t.Fatal(err)
		}
		mbx, uids = d[0].Mailbox, append(uids, d[0].UID)
	}
	check := func(what string) {
		t.Helper()
		var want []string
		err := s.ReadContents(mbx, uids, func(uid UID, c *Content, p *Part) error {
			want = append(want, jsonOf(t, &Part{Envelope: p.Envelope}))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		ask := append(slices.Clone(uids), uids[len(uids)-1]+100)
		err = s.ReadEnvelopes(mbx, ask, func(uid UID, env *Envelope) error {
			got = append(got, jsonOf(t, &Part{Envelope: env}))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: ReadEnvelopes gave\n%q\nReadContents' trees hold\n%q", what, got, want)
		}
	}
	check("binary")
	err := s.rawUpdate(func(tx *bolt.Tx) error {
		blobs, infos := tx.Bucket(bBlobs), tx.Bucket(bBlobInfo)
		i := 0
		return blobs.ForEach(func(k, v []byte) error {
			i++
			if i%2 == 0 {
				return infos.Delete(k)
			}
			js, err := json.Marshal(ParseStructure(v))
			if err != nil {
				return err
			}
			return infos.Put(k, js)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	check("JSON and lost")
	if err := s.ReadEnvelopes(9999, uids, func(UID, *Envelope) error { return nil }); !errors.Is(err, ErrNoMailbox) {
		t.Errorf("missing mailbox: %v", err)
	}
}
