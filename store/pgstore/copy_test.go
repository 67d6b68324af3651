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
	return src
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
	if st.Messages != n || st.Skipped != 0 || st.Accounts != 2 || st.Aliases != 1 || calls == 0 {
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
