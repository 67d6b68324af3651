package pgstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"petrel/internal/pgtest"
	"petrel/store"
	"petrel/store/pgstore"
	"petrel/store/storetest"
)

// fillSource makes a bbolt store with n messages over two accounts: shared
// deliveries, flags, expunged gaps, a renamed mailbox, aliases.
func fillSource(t testing.TB, n int) *store.Store {
	ctx := context.Background()
	src := storetest.Open(t)
	bob := storetest.Account(t, src, "bob@example.org")
	al := storetest.Account(t, src, "alice@example.org")
	if _, err := src.CreateMailbox(ctx, bob.ID, "Projects/Old", ""); err != nil {
		t.Fatal(err)
	}
	if err := src.RenameMailbox(ctx, bob.ID, "Projects", "Work"); err != nil {
		t.Fatal(err)
	}
	date := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)
	// Eight writers, so that the store's group commit makes this quick.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				deliverSource(t, src, bob.ID, al.ID, i, date)
			}
		})
	}
	wg.Wait()
	in := storetest.Inbox(t, src, bob)
	var gone []store.UID
	for u := store.UID(2); int(u) <= n; u += 5 {
		gone = append(gone, u)
	}
	if _, err := src.Expunge(ctx, in.ID, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := src.StoreFlags(ctx, in.ID, []store.UID{1, 3, 4}, store.FlagsAdd, []string{store.FlagFlagged, store.FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.SetAlias(ctx, "team@example.org", []string{"bob@example.org", "alice@example.org"}, store.ResolveOptions{}); err != nil {
		t.Fatal(err)
	}
	fillExtras(t, src, bob.ID, al.ID, in.ID)
	return src
}

// fillExtras gives src what the copy carries besides mail: a list with
// members (one bouncing, one disabled), a subscription to a name that is
// no mailbox, METADATA, junk models (trained from outside, trusted
// senders, the shared model) and a stored message's training state.
func fillExtras(t testing.TB, src *store.Store, bob, al uint64, inbox store.MailboxID) {
	ctx := context.Background()
	if err := src.SetQuota(ctx, "bob@example.org", 50<<20, 10_000); err != nil {
		t.Fatal(err)
	}
	if _, err := src.CreateList(ctx, store.List{Address: "news@example.org", Post: store.PostAnyone, Archive: "https://example.org/news"}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.AddMembers(ctx, "news@example.org", []string{"x@elsewhere.net", "y@elsewhere.net", "z@elsewhere.net"}); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	src.RecordBounce(ctx, "news@example.org", "x@elsewhere.net", day, 3)
	for i := range 2 {
		src.RecordBounce(ctx, "news@example.org", "y@elsewhere.net", day.Add(time.Duration(i)*24*time.Hour), 2)
	}
	if err := src.SetSubscribed(ctx, bob, "Someday", true); err != nil {
		t.Fatal(err)
	}
	if err := src.SetMetadata(ctx, bob, 0, []store.MetadataEntry{{Name: "/private/comment", Value: []byte("server")}, {Name: "/shared/a/b", Value: []byte{0, 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := src.SetMetadata(ctx, bob, inbox, []store.MetadataEntry{{Name: "/private/color", Value: []byte("blue")}}); err != nil {
		t.Fatal(err)
	}
	for _, acct := range []uint64{bob, al, store.SharedJunkModel} {
		samples := []store.JunkSample{
			{ID: []byte{1, byte(acct)}, Tokens: []string{"cheap", "pills", "now"}, Class: store.JunkSpam},
			{ID: []byte{2, byte(acct)}, Tokens: []string{"lunch", "now"}, Class: store.JunkHam},
		}
		if _, err := src.JunkTrainMany(ctx, acct, samples); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.JunkTrust(ctx, bob, []string{"friend@example.net", "mum@example.net"}); err != nil {
		t.Fatal(err)
	}
	msgs, err := src.Messages(inbox, []store.UID{1})
	if err != nil || len(msgs) != 1 {
		t.Fatal(msgs, err)
	}
	if err := src.LoadJunkMsgs(ctx, []store.JunkMsgDump{{Blob: msgs[0].Blob, Account: bob, Class: store.JunkSpam}}); err != nil {
		t.Fatal(err)
	}
}

// sameExtras checks that dst holds src's lists and members, subscriptions,
// METADATA, expunged-UID histories and junk models.
func sameExtras(t testing.TB, src, dst storetest.Backend) {
	wl, _ := src.MailingLists()
	hl, err := dst.MailingLists()
	if err != nil || !slices.EqualFunc(wl, hl, func(a, b store.List) bool {
		return a.Address == b.Address && a.Post == b.Post && a.ReplyTo == b.ReplyTo && a.Archive == b.Archive && a.Created.Equal(b.Created) && slices.Equal(a.Moderators, b.Moderators)
	}) {
		t.Fatalf("lists %+v, want %+v (%v)", hl, wl, err)
	}
	for _, l := range wl {
		wm, _ := src.Members(l.Address)
		hm, err := dst.Members(l.Address)
		if err != nil || !slices.EqualFunc(wm, hm, func(a, b store.Member) bool {
			return a.Address == b.Address && a.Added.Equal(b.Added) && a.Disabled == b.Disabled && slices.Equal(a.BounceDays, b.BounceDays)
		}) {
			t.Fatalf("members of %s: %+v, want %+v (%v)", l.Address, hm, wm, err)
		}
	}
	accts, _ := src.Accounts()
	for _, a := range accts {
		ws, _ := src.Subscriptions(a.ID)
		hs, err := dst.Subscriptions(a.ID)
		if err != nil || !slices.Equal(ws, hs) {
			t.Fatalf("subscriptions of %s: %v, want %v (%v)", a.Address, hs, ws, err)
		}
		ms, _ := src.Mailboxes(a.ID)
		for _, mbx := range append([]store.MailboxID{0}, func() (ids []store.MailboxID) {
			for _, m := range ms {
				ids = append(ids, m.ID)
			}
			return ids
		}()...) {
			roots := []string{"/private", "/shared"}
			we, _ := src.Metadata(a.ID, mbx, roots, -1)
			he, err := dst.Metadata(a.ID, mbx, roots, -1)
			if err != nil || !slices.EqualFunc(we, he, func(x, y store.MetadataEntry) bool { return x.Name == y.Name && bytes.Equal(x.Value, y.Value) }) {
				t.Fatalf("metadata of %s mailbox %d: %+v, want %+v (%v)", a.Address, mbx, he, we, err)
			}
			if mbx == 0 {
				continue
			}
			wv, _ := src.Vanished(mbx, 0)
			hv, err := dst.Vanished(mbx, 0)
			if err != nil || !slices.Equal(wv, hv) {
				t.Fatalf("vanished of mailbox %d: %v, want %v (%v)", mbx, hv, wv, err)
			}
		}
	}
	toks := []string{"cheap", "pills", "now", "lunch", "never"}
	for _, a := range append(accts, store.Account{ID: store.SharedJunkModel}) {
		wc, hc := make([]store.JunkCounts, len(toks)), make([]store.JunkCounts, len(toks))
		ws, _ := src.JunkLookup(a.ID, toks, wc)
		hs, err := dst.JunkLookup(a.ID, toks, hc)
		if err != nil || ws != hs || !slices.Equal(wc, hc) {
			t.Fatalf("junk model %d: %+v %v, want %+v %v (%v)", a.ID, hs, hc, ws, wc, err)
		}
		for _, addr := range []string{"friend@example.net", "mum@example.net", "stranger@example.net"} {
			w, _ := src.JunkTrusted(a.ID, addr)
			h, err := dst.JunkTrusted(a.ID, addr)
			if err != nil || w != h {
				t.Fatalf("junk model %d trusts %s: %v, want %v (%v)", a.ID, addr, h, w, err)
			}
		}
	}
}

// sameStores checks that dst holds what src does (every account's password
// being "secret"): accounts (their
// passwords), mailboxes with UIDVALIDITY, UIDNEXT, MODSEQ and counts, every
// message's UID, flags, date, size, MODSEQ and bytes.
func sameStores(t testing.TB, src, dst storetest.Backend) (messages int) {
	accts, _ := src.Accounts()
	got, _ := dst.Accounts()
	if !slices.EqualFunc(accts, got, func(a, b store.Account) bool {
		return a.ID == b.ID && a.Address == b.Address && a.Created.Equal(b.Created)
	}) {
		t.Fatalf("accounts: %+v, want %+v", got, accts)
	}
	for _, a := range accts {
		if _, err := dst.Authenticate(a.Address, "secret"); err != nil {
			t.Fatalf("%s's password after the copy: %v", a.Address, err)
		}
		// Quota usage: counted by the copy's own writes (triggers on
		// PostgreSQL, addUsageTx on bbolt).
		wq, werr := src.Quota(a.ID)
		hq, herr := dst.Quota(a.ID)
		if werr != nil || herr != nil || wq.Storage != hq.Storage || wq.Messages != hq.Messages {
			t.Fatalf("quota usage of %s after the copy: %+v, %v; want %+v, %v", a.Address, hq, herr, wq, werr)
		}
		if wq.StorageLimit != hq.StorageLimit || wq.MessageLimit != hq.MessageLimit {
			t.Fatalf("quota limits of %s after the copy: %+v; want %+v", a.Address, hq, wq)
		}
		want, _ := src.Mailboxes(a.ID)
		have, _ := dst.Mailboxes(a.ID)
		if !slices.EqualFunc(want, have, func(x, y store.Mailbox) bool {
			return x == y || (x.Created.Equal(y.Created) && withCreated(x, y.Created) == y)
		}) {
			t.Fatalf("mailboxes of %s:\n got %+v\nwant %+v", a.Address, have, want)
		}
		for _, m := range want {
			wl, _ := src.List(m.ID)
			hl, err := dst.List(m.ID)
			if err != nil || len(wl) != len(hl) {
				t.Fatalf("mailbox %s: %d messages, want %d (%v)", m.Name, len(hl), len(wl), err)
			}
			for i := range wl {
				w, h := wl[i], hl[i]
				if w.UID != h.UID || !slices.Equal(w.Flags, h.Flags) || !w.InternalDate.Equal(h.InternalDate) || w.Size != h.Size || w.ModSeq != h.ModSeq {
					t.Fatalf("mailbox %s message %d: %+v, want %+v", m.Name, i, h, w)
				}
				wb, _ := src.ReadMessage(m.ID, w.UID)
				hb, err := dst.ReadMessage(m.ID, h.UID)
				if err != nil || !bytes.Equal(wb, hb) {
					t.Fatalf("mailbox %s UID %d: bytes differ (%v)", m.Name, w.UID, err)
				}
				ws, _ := src.Structure(m.ID, w.UID)
				hs, err := dst.Structure(m.ID, h.UID)
				if err != nil || ws.BodyStart != hs.BodyStart || ws.End != hs.End || ws.Envelope.Subject != hs.Envelope.Subject {
					t.Fatalf("mailbox %s UID %d: structure %+v, want %+v (%v)", m.Name, w.UID, hs, ws, err)
				}
				messages++
			}
		}
	}
	sameExtras(t, src, dst)
	return messages
}

func deliverSource(t testing.TB, src *store.Store, bob, al uint64, i int, date time.Time) {
	d := &store.Delivery{Body: fmt.Appendf(nil, "Subject: %d\r\n\r\n%s\r\n", i, bytes.Repeat([]byte{'a' + byte(i%26)}, i%500)), Date: date.Add(time.Duration(i) * time.Second)}
	d.Targets = []store.Target{{Account: bob, Prefix: fmt.Appendf(nil, "Received: by test %d\r\n", i)}}
	if i%3 == 0 {
		d.Targets = append(d.Targets, store.Target{Account: al, Mailbox: "Archive", Flags: []string{store.FlagSeen, "$label1"}})
	}
	if i%7 == 0 {
		d.Targets = append(d.Targets, store.Target{Account: bob, Mailbox: "Work/Old"})
	}
	if _, err := src.Deliver(context.Background(), d); err != nil {
		t.Error(err)
	}
}

func withCreated(m store.Mailbox, c time.Time) store.Mailbox { m.Created = c; return m }

func TestCopyFrom(t *testing.T) {
	ctx := context.Background()
	src := fillSource(t, 300)
	dsn := pgtest.DSN(t)
	dst := open(t, dsn)
	var calls int
	st, err := dst.CopyFrom(ctx, src, func(done, total int) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	n := sameStores(t, src, dst)
	if err := dst.VerifyUsage(); err != nil {
		t.Fatal(err)
	}
	if st.Messages != n || st.Skipped != 0 || st.Accounts != 2 || st.Aliases != 1 || st.Lists != 1 || st.JunkModels != 3 || calls == 0 {
		t.Fatalf("stats %+v (progress called %d times), compared %d messages", st, calls, n)
	}
	// Bytes shared in the source are shared in the copy.
	blobs := map[uint64]bool{}
	accts, _ := src.Accounts()
	for _, a := range accts {
		ms, _ := src.Mailboxes(a.ID)
		for _, m := range ms {
			src.DumpMessages(m.ID, 0, 0, func(d store.MessageDump) error { blobs[d.Blob] = true; return nil })
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var nblobs int
	conn.QueryRow(ctx, "SELECT count(*) FROM blobs").Scan(&nblobs)
	if nblobs != len(blobs) {
		t.Fatalf("%d blobs in PostgreSQL, %d in bbolt", nblobs, len(blobs))
	}
	if r, err := dst.ResolveAddress("team@example.org", store.ResolveOptions{}); err != nil || len(r.Accounts) != 2 {
		t.Fatalf("alias after the copy: %+v, %v", r, err)
	}

	// Again: nothing to do. After more mail: only that.
	st, err = dst.CopyFrom(ctx, src, nil)
	if err != nil || st.Messages != 0 || st.Skipped != n {
		t.Fatalf("second copy: %+v, %v", st, err)
	}
	bob, _ := src.AccountByAddress("bob@example.org")
	if _, err := src.Deliver(ctx, &store.Delivery{Body: []byte("Subject: late\r\n\r\nlate\r\n"), Targets: []store.Target{{Account: bob.ID}}}); err != nil {
		t.Fatal(err)
	}
	st, err = dst.CopyFrom(ctx, src, nil)
	if err != nil || st.Messages != 1 {
		t.Fatalf("copy after one more delivery: %+v, %v", st, err)
	}
	sameStores(t, src, dst)

	// The copy is a working store: new accounts, mailboxes and mail get
	// numbers of their own.
	carol, err := dst.CreateAccount(ctx, "carol@example.org", "secret")
	if err != nil {
		t.Fatal(err)
	}
	in, _ := dst.MailboxByName(bob.ID, "INBOX")
	d, err := dst.Deliver(ctx, &store.Delivery{Body: []byte("Subject: new\r\n\r\nnew\r\n"), Targets: []store.Target{{Account: bob.ID}, {Account: carol.ID}}})
	if err != nil || d[0].UID != in.UIDNext || d[0].UIDValidity != in.UIDValidity {
		t.Fatalf("delivery after the copy: %+v, %v (INBOX was %+v)", d, err, in)
	}
	cin, _ := dst.MailboxByName(carol.ID, "INBOX")
	if cin.UIDValidity <= in.UIDValidity {
		t.Logf("new UIDVALIDITY %d, copied %d", cin.UIDValidity, in.UIDValidity)
	}

	// And back into a new bbolt store: the same again, byte for byte.
	back := storetest.Open(t)
	st, err = dst.CopyTo(ctx, back, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := sameStores(t, dst, back); n != st.Messages {
		t.Fatalf("copied back %d messages, compared %d", st.Messages, n)
	}
	if st, err = dst.CopyTo(ctx, back, nil); err != nil || st.Messages != 0 {
		t.Fatalf("second copy back: %+v, %v", st, err)
	}
	// The junk models and training states came back exactly as they were.
	models, _ := src.JunkModels()
	for _, acct := range models {
		w, _ := src.DumpJunk(acct)
		h, err := back.DumpJunk(acct)
		if err != nil || h == nil || w.Stats != h.Stats || !slices.Equal(w.Tokens, h.Tokens) || !slices.Equal(w.Contacts, h.Contacts) ||
			!slices.EqualFunc(w.Samples, h.Samples, func(a, b store.JunkSampleDump) bool { return bytes.Equal(a.ID, b.ID) && a.Class == b.Class }) {
			t.Fatalf("junk model %d copied back: %+v, want %+v (%v)", acct, h, w, err)
		}
	}
	wj, _ := src.DumpJunkMsgs()
	if hj, err := back.DumpJunkMsgs(); err != nil || len(wj) != 1 || !slices.Equal(wj, hj) {
		t.Fatalf("training states copied back: %+v, want %+v (%v)", hj, wj, err)
	}
	backBob, _ := back.MailboxByName(bob.ID, "INBOX")
	nd, err := back.Deliver(ctx, &store.Delivery{Body: []byte("Subject: after\r\n\r\nx\r\n"), Targets: []store.Target{{Account: bob.ID}}})
	if err != nil || nd[0].UID != backBob.UIDNext {
		t.Fatalf("delivery into the copied-back store: %+v, %v (INBOX %+v)", nd, err, backBob)
	}
	fresh, err := back.CreateMailbox(ctx, bob.ID, "Fresh", "")
	if err != nil || fresh.UIDValidity <= backBob.UIDValidity {
		t.Fatalf("new mailbox after the copy back: %+v, %v", fresh, err)
	}

	// Another store cannot be copied over this one.
	other := storetest.Open(t)
	storetest.Account(t, other, "zed@example.org")
	if _, err := dst.CopyFrom(ctx, other, nil); !errors.Is(err, pgstore.ErrNotCopyTarget) {
		t.Fatalf("copy of another store: %v", err)
	}
}

// BenchmarkCopyFrom copies a bbolt store of 10,000 messages to PostgreSQL
// (fsync on) and back into a new bbolt store, and checks that every message
// came over byte for byte, with its UID and flags, both ways.
func BenchmarkCopyFrom(b *testing.B) {
	srv := durable(b)
	src := fillSource(b, 7850) // 7850 deliveries: about 10,000 stored messages once the expunged are gone
	b.ResetTimer()
	for range b.N {
		dst, err := pgstore.Open(context.Background(), srv.DSN(b), pgstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		st, err := dst.CopyFrom(context.Background(), src, nil)
		if err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		b.StopTimer()
		if n := sameStores(b, src, dst); n != st.Messages {
			b.Fatalf("compared %d, copied %d", n, st.Messages)
		}
		b.ReportMetric(float64(st.Messages), "messages")
		b.ReportMetric(float64(st.Messages)/el.Seconds(), "msgs/s")
		// And back: byte for byte what the source had.
		back := storetest.Open(b)
		start = time.Now()
		st, err = dst.CopyTo(context.Background(), back, nil)
		if err != nil {
			b.Fatal(err)
		}
		el = time.Since(start)
		if n := sameStores(b, src, back); n != st.Messages {
			b.Fatalf("compared %d, copied back %d", n, st.Messages)
		}
		b.ReportMetric(float64(st.Messages)/el.Seconds(), "back-msgs/s")
		dst.Close()
		b.StartTimer()
	}
}
