package store_test

import (
	"bytes"
	"errors"
	"hash/fnv"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"petrel/store"
	"petrel/store/storetest"
)

// wordTokens is a stand-in for package junk's tokenizer: the body's
// distinct words.
func wordTokens(r io.Reader) []string {
	b, _ := io.ReadAll(r)
	_, body, _ := bytes.Cut(b, []byte("\r\n\r\n"))
	seen := map[string]bool{}
	var out []string
	for _, w := range strings.Fields(string(body)) {
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

func openJunkStore(t *testing.T, opts store.Options) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mail.db")
	opts.JunkTokens = wordTokens
	s, err := store.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		storetest.Check(t, path)
	})
	return s, path
}

func mailbox(t *testing.T, s *store.Store, acct *store.Account, name string) *store.Mailbox {
	t.Helper()
	m, err := s.MailboxByName(acct.ID, name)
	if err != nil {
		t.Fatalf("mailbox %s: %v", name, err)
	}
	return m
}

// model returns acct's totals and the counts of toks, once the trainings
// pending are applied.
func model(t *testing.T, s *store.Store, acct uint64, toks ...string) (store.JunkStats, []store.JunkCounts) {
	t.Helper()
	if _, err := s.JunkApplyPending(ctx); err != nil {
		t.Fatal(err)
	}
	counts := make([]store.JunkCounts, len(toks))
	st, err := s.JunkLookup(acct, toks, counts)
	if err != nil {
		t.Fatal(err)
	}
	return st, counts
}

func TestJunkTrainOnMoveAndCopy(t *testing.T) {
	s, _ := openJunkStore(t, store.Options{})
	a := storetest.Account(t, s, "ann@example.org")
	inbox, junk, trash := mailbox(t, s, a, "INBOX"), mailbox(t, s, a, "Junk"), mailbox(t, s, a, "Trash")
	d := deliver(t, s, a, "Subject: x\r\n\r\ncheap pills now\r\n")

	steps := []struct {
		name       string
		do         func() (*store.CopyResult, error)
		spam, ham  uint64
		pillsCount store.JunkCounts
	}{
		{"copy into Junk trains spam", func() (*store.CopyResult, error) { return s.Copy(ctx, inbox.ID, []store.UID{d.UID}, junk.ID) }, 1, 0, store.JunkCounts{Spam: 1}},
		{"moving the original into Junk too: the same message, not trained twice", func() (*store.CopyResult, error) { return s.Move(ctx, inbox.ID, []store.UID{d.UID}, junk.ID) }, 1, 0, store.JunkCounts{Spam: 1}},
		{"out of Junk to INBOX: spam untrained, ham trained", func() (*store.CopyResult, error) { return s.Move(ctx, junk.ID, []store.UID{1}, inbox.ID) }, 0, 1, store.JunkCounts{Ham: 1}},
		{"out of Junk into Trash says nothing", func() (*store.CopyResult, error) { return s.Move(ctx, junk.ID, []store.UID{2}, trash.ID) }, 0, 1, store.JunkCounts{Ham: 1}},
	}
	for _, st := range steps {
		if _, err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		stats, counts := model(t, s, a.ID, "pills")
		if stats.Spam != st.spam || stats.Ham != st.ham || counts[0] != st.pillsCount {
			t.Errorf("%s: model %+v, pills %+v; want spam %d ham %d, pills %+v", st.name, stats, counts[0], st.spam, st.ham, st.pillsCount)
		}
	}
	// The last copies expunged: the message's training state goes with
	// them, what it taught the model stays.
	for _, mb := range []*store.Mailbox{inbox, trash} {
		if _, err := s.Expunge(ctx, mb.ID, nil); err != nil {
			t.Fatal(err)
		}
	}
	if stats, counts := model(t, s, a.ID, "pills"); stats.Ham != 1 || counts[0].Ham != 1 {
		t.Errorf("after expunge: %+v %+v", stats, counts)
	}
}

func TestJunkTrainOnFlags(t *testing.T) {
	s, _ := openJunkStore(t, store.Options{})
	a := storetest.Account(t, s, "ann@example.org")
	inbox := mailbox(t, s, a, "INBOX")
	d := deliver(t, s, a, "Subject: x\r\n\r\nwin money\r\n")
	steps := []struct {
		op        store.FlagOp
		flags     []string
		spam, ham uint64
	}{
		{store.FlagsAdd, []string{"$junk"}, 1, 0}, // keywords compare case-insensitively
		{store.FlagsAdd, []string{"$Junk", `\Seen`}, 1, 0},
		{store.FlagsReplace, []string{"$NotJunk"}, 0, 1},
		{store.FlagsRemove, []string{"$NotJunk"}, 0, 1},
		{store.FlagsAdd, []string{"$Junk", "$NotJunk"}, 0, 1}, // contradicts itself: nothing
	}
	for i, st := range steps {
		if _, err := s.StoreFlags(ctx, inbox.ID, []store.UID{d.UID}, st.op, st.flags); err != nil {
			t.Fatal(err)
		}
		if stats, _ := model(t, s, a.ID); stats.Spam != st.spam || stats.Ham != st.ham {
			t.Errorf("step %d (%v %v): model %+v, want spam %d ham %d", i, st.op, st.flags, stats, st.spam, st.ham)
		}
	}
}

// TestJunkTrainingIsDurable: a move's training is in the move's commit,
// as a pending record; a store closed (or killed) before the worker
// applied it applies it when it opens again, and exactly once.
func TestJunkTrainingIsDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.db")
	s, err := store.Open(path, store.Options{JunkTokens: wordTokens, JunkNoWorker: true})
	if err != nil {
		t.Fatal(err)
	}
	a := storetest.Account(t, s, "ann@example.org")
	d := deliver(t, s, a, "Subject: x\r\n\r\nlottery winner\r\n")
	inbox, junk := mailbox(t, s, a, "INBOX"), mailbox(t, s, a, "Junk")
	if _, err := s.Move(ctx, inbox.ID, []store.UID{d.UID}, junk.ID); err != nil {
		t.Fatal(err)
	}
	// Then expunged before the worker ran: the pending record keeps the
	// message's bytes until it is applied.
	if _, err := s.Expunge(ctx, junk.ID, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := s.JunkPending(a.ID); err != nil || n != 1 {
		t.Fatalf("pending after the move: %d, %v", n, err)
	}
	if st, _ := s.JunkStatsOf(a.ID); st.Spam != 0 {
		t.Fatalf("the move itself trained the model: %+v", st)
	}
	s.Close()

	applied := make(chan int, 10)
	s, err = store.Open(path, store.Options{JunkTokens: wordTokens, OnJunkApply: func(n int) { applied <- n }})
	if err != nil {
		t.Fatal(err)
	}
	if n := <-applied; n != 1 {
		t.Errorf("the worker applied %d trainings at start, want 1", n)
	}
	check := func(when string) {
		t.Helper()
		counts := make([]store.JunkCounts, 1)
		stats, err := s.JunkLookup(a.ID, []string{"lottery"}, counts)
		if err != nil || stats.Spam != 1 || counts[0].Spam != 1 {
			t.Errorf("%s: %+v %+v %v", when, stats, counts, err)
		}
		if n, err := s.JunkPending(^uint64(0)); err != nil || n != 0 {
			t.Errorf("%s: %d pending, %v", when, n, err)
		}
	}
	check("after the replay")
	s.Close()
	s, err = store.Open(path, store.Options{JunkTokens: wordTokens})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.JunkApplyPending(ctx); err != nil || n != 0 {
		t.Errorf("applied again: %d, %v", n, err)
	}
	check("after reopening once more")
	s.Close()
	storetest.Check(t, path)
}

// TestJunkPendingAppliedOnce: appliers racing each other (the worker
// and callers) apply each queued training once.
func TestJunkPendingAppliedOnce(t *testing.T) {
	s, _ := openJunkStore(t, store.Options{JunkNoWorker: true})
	a := storetest.Account(t, s, "ann@example.org")
	inbox, junk := mailbox(t, s, a, "INBOX"), mailbox(t, s, a, "Junk")
	const n = 300 // more than one batch
	var uids []store.UID
	for i := range n {
		uids = append(uids, deliver(t, s, a, "Subject: x\r\n\r\ncommon unique"+strconv.Itoa(i)+"\r\n").UID)
	}
	if _, err := s.Move(ctx, inbox.ID, uids, junk.ID); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var total [4]int
	for i := range total {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := s.JunkApplyPending(ctx)
			if err != nil {
				t.Error(err)
			}
			total[i] = k
		}()
	}
	wg.Wait()
	if sum := total[0] + total[1] + total[2] + total[3]; sum != n {
		t.Errorf("applied %v = %d trainings, want %d", total, sum, n)
	}
	stats, counts := model(t, s, a.ID, "common", "unique0", "unique299")
	if stats.Spam != n || counts[0].Spam != n || counts[1].Spam != 1 || counts[2].Spam != 1 {
		t.Errorf("model %+v %+v", stats, counts)
	}
	// Back out of Junk in one move: untrained and trained as ham in one batch.
	list, _ := s.List(junk.ID)
	var back []store.UID
	for _, m := range list {
		back = append(back, m.UID)
	}
	if _, err := s.Move(ctx, junk.ID, back, inbox.ID); err != nil {
		t.Fatal(err)
	}
	stats, counts = model(t, s, a.ID, "common", "unique7")
	if stats.Spam != 0 || stats.Ham != n || counts[0] != (store.JunkCounts{Ham: n}) || counts[1] != (store.JunkCounts{Ham: 1}) {
		t.Errorf("after moving back: %+v %+v", stats, counts)
	}
}

func TestJunkFailedMoveTrainsNothing(t *testing.T) {
	s, _ := openJunkStore(t, store.Options{})
	a := storetest.Account(t, s, "ann@example.org")
	d := deliver(t, s, a, "Subject: x\r\n\r\nlottery\r\n")
	if _, err := s.Move(ctx, mailbox(t, s, a, "INBOX").ID, []store.UID{d.UID}, 9999); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("move to a missing mailbox: %v", err)
	}
	if stats, _ := model(t, s, a.ID); stats.Spam != 0 {
		t.Errorf("a failed move trained: %+v", stats)
	}
}

func TestJunkModelBounded(t *testing.T) {
	s, _ := openJunkStore(t, store.Options{JunkMaxTokens: 100})
	a := storetest.Account(t, s, "ann@example.org")
	var common []string
	for i := 0; i < 10; i++ {
		common = append(common, "common"+strconv.Itoa(i))
	}
	for i := 0; i < 40; i++ {
		toks := append([]string{"rare" + strconv.Itoa(i), "rarer" + strconv.Itoa(i), "rarest" + strconv.Itoa(i)}, common...)
		if _, err := s.JunkTrain(ctx, a.ID, []byte(strconv.Itoa(i)), toks, store.JunkSpam); err != nil {
			t.Fatal(err)
		}
	}
	stats, counts := model(t, s, a.ID, append(common, "rare39")...)
	if stats.Tokens > 100 || stats.Spam != 40 {
		t.Errorf("model %+v, want at most 100 tokens and 40 spam", stats)
	}
	for i, c := range counts[:10] {
		if c.Spam != 40 {
			t.Errorf("%s: %+v: a token seen in every message was pruned", common[i], c)
		}
	}
	if size, err := s.JunkModelSize(a.ID); err != nil || size <= 0 || size > 64<<10 {
		t.Errorf("model size %d, %v", size, err)
	}
}

func TestJunkTrainFromOutside(t *testing.T) {
	s := storetest.Open(t) // no tokenizer: the CLI gives the tokens
	a := storetest.Account(t, s, "ann@example.org")
	id := []byte("hash-of-message")
	for i, tc := range []struct {
		class     store.JunkClass
		changed   bool
		spam, ham uint64
	}{{store.JunkSpam, true, 1, 0}, {store.JunkSpam, false, 1, 0}, {store.JunkHam, true, 0, 1}} {
		changed, err := s.JunkTrain(ctx, a.ID, id, []string{"hello"}, tc.class)
		if err != nil {
			t.Fatal(err)
		}
		stats, counts := model(t, s, a.ID, "hello")
		if changed != tc.changed || stats.Spam != tc.spam || stats.Ham != tc.ham || uint64(counts[0].Spam) != tc.spam {
			t.Errorf("step %d: changed %v, model %+v %+v", i, changed, stats, counts)
		}
	}
	// Many in one commit: the same message twice in a batch counts once.
	n, err := s.JunkTrainMany(ctx, a.ID, []store.JunkSample{
		{ID: []byte("m1"), Tokens: []string{"hello"}, Class: store.JunkSpam},
		{ID: []byte("m1"), Tokens: []string{"hello"}, Class: store.JunkSpam},
		{ID: []byte("m2"), Tokens: []string{"world"}, Class: store.JunkHam},
	})
	if stats, counts := model(t, s, a.ID, "hello", "world"); err != nil || n != 2 || stats.Spam != 1 || stats.Ham != 2 || counts[0].Spam != 1 || counts[1].Ham != 1 {
		t.Errorf("JunkTrainMany: %d, %v; model %+v %+v", n, err, stats, counts)
	}
	if _, err := s.JunkTrain(ctx, 999, id, nil, store.JunkSpam); !errors.Is(err, store.ErrNoAccount) {
		t.Errorf("training a missing account: %v", err)
	}
	if err := s.DeleteAccount(ctx, a.Address); err != nil {
		t.Fatal(err)
	}
	if stats, _ := model(t, s, a.ID); stats != (store.JunkStats{}) {
		t.Errorf("model left after the account was deleted: %+v", stats)
	}
}

func TestJunkSharedModel(t *testing.T) {
	s, _ := openJunkStore(t, store.Options{JunkShared: true})
	a := storetest.Account(t, s, "ann@example.org")
	b := storetest.Account(t, s, "bob@example.org")
	for _, acct := range []*store.Account{a, b} {
		d := deliver(t, s, acct, "Subject: x\r\n\r\nprize\r\n")
		if _, err := s.StoreFlags(ctx, mailbox(t, s, acct, "INBOX").ID, []store.UID{d.UID}, store.FlagsAdd, []string{"$Junk"}); err != nil {
			t.Fatal(err)
		}
	}
	if stats, counts := model(t, s, store.SharedJunkModel, "prize"); stats.Spam != 2 || counts[0].Spam != 2 {
		t.Errorf("shared model %+v %+v, want both users' spam", stats, counts)
	}
	if stats, _ := model(t, s, a.ID); stats.Spam != 1 {
		t.Errorf("ann's model %+v", stats)
	}
}

func TestDeliverToJunkAndContacts(t *testing.T) {
	s := storetest.Open(t)
	a := storetest.Account(t, s, "ann@example.org")
	if err := s.DeleteMailbox(ctx, a.ID, "Junk"); err != nil {
		t.Fatal(err)
	}
	res, err := s.Deliver(ctx, &store.Delivery{Body: []byte("Subject: x\r\n\r\nspam\r\n"), Targets: []store.Target{
		{Account: a.ID, Junk: true},
		{Account: a.ID, Mailbox: "Sent", Contacts: []string{"Bob@Example.NET"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	junk := mailbox(t, s, a, "Junk")
	if res[0].Mailbox != junk.ID || junk.SpecialUse != `\Junk` {
		t.Errorf("delivered to %d, Junk is %+v", res[0].Mailbox, junk)
	}
	for addr, want := range map[string]bool{"bob@example.net": true, "BOB@example.net": true, "eve@example.net": false} {
		if ok, err := s.JunkTrusted(a.ID, addr); err != nil || ok != want {
			t.Errorf("trusted(%s) = %v, %v", addr, ok, err)
		}
	}
}

// TestJunkCountsPerToken trains two messages sharing one token: each
// token keeps its own count (values written in one transaction must not
// share a buffer).
func TestJunkCountsPerToken(t *testing.T) {
	s := storetest.Open(t)
	a := storetest.Account(t, s, "ann@example.org")
	for i, toks := range [][]string{{"alpha"}, {"alpha", "beta", "gamma"}} {
		if _, err := s.JunkTrain(ctx, a.ID, []byte{byte(i)}, toks, store.JunkSpam); err != nil {
			t.Fatal(err)
		}
	}
	_, counts := model(t, s, a.ID, "alpha", "beta", "gamma", "delta")
	want := []store.JunkCounts{{Spam: 2}, {Spam: 1}, {Spam: 1}, {}}
	if !slices.Equal(counts, want) {
		t.Errorf("counts %+v, want %+v", counts, want)
	}
}

// TestJunkExactlyOnceUnderRetries flags messages $Junk concurrently with
// writes that fail: a group commit with a failed write is rolled back and
// its other writes retried alone, and each message must still be trained
// exactly once.
func TestJunkExactlyOnceUnderRetries(t *testing.T) {
	s, _ := openJunkStore(t, store.Options{})
	a := storetest.Account(t, s, "ann@example.org")
	inbox := mailbox(t, s, a, "INBOX")
	const n = 40
	var uids []store.UID
	for i := range n {
		uids = append(uids, deliver(t, s, a, "Subject: x\r\n\r\nshared unique"+strconv.Itoa(i)+"\r\n").UID)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := s.StoreFlags(ctx, inbox.ID, []store.UID{uids[i]}, store.FlagsAdd, []string{store.FlagJunk}); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if err := s.DeleteMailbox(ctx, a.ID, "Nothing"+strconv.Itoa(i)); !errors.Is(err, store.ErrNoMailbox) {
				t.Errorf("deleting a missing mailbox: %v", err)
			}
		}()
	}
	wg.Wait()
	stats, counts := model(t, s, a.ID, "shared", "unique0", "unique39")
	if stats.Spam != n || counts[0].Spam != n || counts[1].Spam != 1 || counts[2].Spam != 1 {
		t.Errorf("model %+v, counts %+v; want %d spam, each message once", stats, counts, n)
	}
}

// The token hash is FNV-1a: models written before stay readable.
func TestJunkTokenHashIsFNV(t *testing.T) {
	for _, tok := range []string{"", "a", "subject:viagra", "url:example.com", "ünïcode"} {
		h := fnv.New64a()
		h.Write([]byte(tok))
		if got := store.JunkTokenHash(tok); got != h.Sum64() {
			t.Errorf("%q: %x, want %x", tok, got, h.Sum64())
		}
	}
}

// TestJunkLookupSnapshot: a model read often is looked up from memory;
// training it (through the queue or from outside) is seen by the next
// lookup at once, never hidden by the snapshot.
func TestJunkLookupSnapshot(t *testing.T) {
	s, _ := openJunkStore(t, store.Options{JunkNoWorker: true})
	a := storetest.Account(t, s, "ann@example.org")
	inbox, junk := mailbox(t, s, a, "INBOX"), mailbox(t, s, a, "Junk")
	if _, err := s.JunkTrain(ctx, a.ID, []byte("1"), []string{"alpha", "beta"}, store.JunkSpam); err != nil {
		t.Fatal(err)
	}
	lookup := func(toks ...string) []store.JunkCounts {
		counts := make([]store.JunkCounts, len(toks))
		if _, err := s.JunkLookup(a.ID, toks, counts); err != nil {
			t.Fatal(err)
		}
		return counts
	}
	for i := range 4 { // the second read makes the snapshot, the others use it
		if c := lookup("alpha", "gamma", ""); !slices.Equal(c, []store.JunkCounts{{Spam: 1}, {}, {}}) {
			t.Fatalf("read %d: %+v", i, c)
		}
	}
	if _, err := s.JunkTrain(ctx, a.ID, []byte("2"), []string{"alpha", "gamma"}, store.JunkHam); err != nil {
		t.Fatal(err)
	}
	if c := lookup("alpha", "gamma"); !slices.Equal(c, []store.JunkCounts{{Spam: 1, Ham: 1}, {Ham: 1}}) {
		t.Errorf("after training from outside: %+v", c)
	}
	lookup("alpha")
	lookup("alpha")
	d := deliver(t, s, a, "Subject: x\r\n\r\ngamma delta\r\n")
	if _, err := s.Move(ctx, inbox.ID, []store.UID{d.UID}, junk.ID); err != nil {
		t.Fatal(err)
	}
	if c := lookup("gamma", "delta"); !slices.Equal(c, []store.JunkCounts{{Ham: 1}, {}}) {
		t.Errorf("before the worker ran: %+v", c)
	}
	if _, err := s.JunkApplyPending(ctx); err != nil {
		t.Fatal(err)
	}
	if c := lookup("gamma", "delta"); !slices.Equal(c, []store.JunkCounts{{Spam: 1, Ham: 1}, {Spam: 1}}) {
		t.Errorf("after the worker ran: %+v", c)
	}
}
