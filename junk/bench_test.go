package junk

import (
	"bytes"
	"crypto/sha256"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"petrel/store"
	"petrel/store/storetest"
)

// message10K is a 10 KiB message of real mail: a ham message of the
// testdata sample, its body grown with the sample's text to 10 KiB.
func message10K(b testing.TB) []byte {
	ham := readMbox(b, filepath.Join("testdata", "ham.mbox"))
	spam := readMbox(b, filepath.Join("testdata", "spam.mbox"))
	msg := append([]byte(nil), ham[3]...)
	for i := 0; len(msg) < 10<<10; i++ {
		src := ham[i%len(ham)]
		if i%2 == 1 {
			src = spam[i%len(spam)]
		}
		if _, body, ok := bytes.Cut(src, []byte("\r\n\r\n")); ok {
			msg = append(msg, body[:min(len(body), 1024)]...)
		}
	}
	return msg[:10<<10]
}

// trainedStore is a store with one account trained on the corpus when it
// is there (all 3,896 messages), else on the testdata sample.
func trainedStore(b testing.TB) (*store.Store, *store.Account, string) {
	s := storetest.Open(b)
	a := storetest.Account(b, s, "ann@example.org")
	what := "testdata sample (90 messages)"
	files := []string{filepath.Join("testdata", "ham.mbox"), filepath.Join("testdata", "spam.mbox")}
	if dir := corpusDir(b); dirExists(dir) {
		files = []string{filepath.Join(dir, "easy-ham-1.mbox.gz"), filepath.Join(dir, "spam-2.mbox.gz")}
		what = "SpamAssassin corpus (3,896 messages)"
	}
	for _, f := range files {
		class := store.JunkHam
		if strings.Contains(filepath.Base(f), "spam") {
			class = store.JunkSpam
		}
		if _, err := TrainPath(ctx, s, a.ID, f, class, nil); err != nil {
			b.Fatal(err)
		}
	}
	return s, a, what
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation since start: on a machine
// shared with other work, wall time per op says more about the neighbours.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func dirExists(d string) bool {
	fi, err := os.Stat(d)
	return err == nil && fi.IsDir()
}

func BenchmarkTokenize10KiB(b *testing.B) {
	msg := message10K(b)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	var n int
	start := cpuTime()
	for b.Loop() {
		n = len(Tokens(bytes.NewReader(msg)))
	}
	reportCPU(b, start)
	b.ReportMetric(float64(n), "tokens")
}

// BenchmarkClassify10KiB is one delivery's verdict: tokenizing a 10 KiB
// message and scoring it against a store-held model trained on the corpus
// (or, without it, the testdata sample).
func BenchmarkClassify10KiB(b *testing.B) {
	s, a, what := trainedStore(b)
	b.Log("model trained on the", what)
	c, err := New(s, Options{MinTrained: 20, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	msg := message10K(b)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if v := c.Classify(ctx, "Q", bytes.NewReader(msg), []uint64{a.ID}); v[0].Model != "account" {
			b.Fatalf("verdict %+v", v[0])
		}
	}
	reportCPU(b, start)
}

// BenchmarkTrain is one training that changes the model (the 10 KiB
// message flipped between spam and ham: untrain one, train the other),
// committed durably, and one that changes nothing (the same again): their
// difference is the training's own cost, the rest is the commit's.
func BenchmarkTrain(b *testing.B) {
	s, a, _ := trainedStore(b)
	msg := message10K(b)
	toks := Tokens(bytes.NewReader(msg))
	id := sha256.Sum256(msg)
	b.Run("changes", func(b *testing.B) {
		class := store.JunkSpam
		start := cpuTime()
		defer reportCPU(b, start)
		for b.Loop() {
			if changed, err := s.JunkTrain(ctx, a.ID, id[:], toks, class); err != nil || !changed {
				b.Fatal(changed, err)
			}
			class = store.JunkSpam + store.JunkHam - class
		}
	})
	b.Run("unchanged", func(b *testing.B) {
		s.JunkTrain(ctx, a.ID, id[:], toks, store.JunkSpam)
		start := cpuTime()
		defer reportCPU(b, start)
		for b.Loop() {
			if changed, err := s.JunkTrain(ctx, a.ID, id[:], toks, store.JunkSpam); err != nil || changed {
				b.Fatal(changed, err)
			}
		}
	})
}

// BenchmarkTrainMove is training as users cause it: one IMAP MOVE of 100
// messages (10 KiB each) from INBOX into Junk, then back, each a store
// commit that trains every message (untraining the previous verdict on
// the way back), on a model trained on the corpus (or the sample). It
// reports the cost per message trained, split as it is paid:
//
//   - user: the MOVE's commit, which records each training as pending
//     (what the user waits for);
//   - worker: the junk worker applying them to the model afterwards
//     (tokenizing each message and one transaction per 256 messages);
//   - user-one: a MOVE of a single message, alone, and plain-one the same
//     between INBOX and Trash, which trains nothing: their difference is
//     what training adds to the user's wait, the rest is the commit's
//     fsync.
func BenchmarkTrainMove(b *testing.B) {
	path := filepath.Join(b.TempDir(), "mail.db")
	s, err := store.Open(path, store.Options{JunkTokens: Tokens, JunkNoWorker: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	a, err := s.CreateAccount(ctx, "ann@example.org", "x")
	if err != nil {
		b.Fatal(err)
	}
	files := []string{filepath.Join("testdata", "ham.mbox"), filepath.Join("testdata", "spam.mbox")}
	if dir := corpusDir(b); dirExists(dir) {
		files = []string{filepath.Join(dir, "easy-ham-1.mbox.gz"), filepath.Join(dir, "spam-2.mbox.gz")}
	}
	for _, f := range files {
		class := store.JunkHam
		if strings.Contains(filepath.Base(f), "spam") {
			class = store.JunkSpam
		}
		if _, err := TrainPath(ctx, s, a.ID, f, class, nil); err != nil {
			b.Fatal(err)
		}
	}
	inbox, _ := s.MailboxByName(a.ID, "INBOX")
	junkMbx, _ := s.MailboxByName(a.ID, "Junk")
	msg := message10K(b)
	const n = 100
	for i := range n {
		m := append([]byte("X-Seq: "+itoa(i)+"\r\n"), msg...)
		if _, err := s.Deliver(ctx, &store.Delivery{Body: m, Targets: []store.Target{{Account: a.ID}}}); err != nil {
			b.Fatal(err)
		}
	}
	from, to := inbox.ID, junkMbx.ID
	move := func(k int) {
		list, err := s.List(from)
		if err != nil || len(list) < k {
			b.Fatal(len(list), err)
		}
		uids := make([]store.UID, 0, k)
		for _, m := range list[:k] {
			uids = append(uids, m.UID)
		}
		if _, err := s.Move(ctx, from, uids, to); err != nil {
			b.Fatal(err)
		}
		if k == n {
			from, to = to, from
		}
	}
	apply := func(want int) {
		if k, err := s.JunkApplyPending(ctx); err != nil || k != want {
			b.Fatalf("applied %d, %v; want %d", k, err, want)
		}
	}
	b.Run("user", func(b *testing.B) {
		var wall, cpu time.Duration
		for b.Loop() {
			t0, c0 := time.Now(), cpuTime()
			move(n)
			wall, cpu = wall+time.Since(t0), cpu+cpuTime()-c0
			b.StopTimer()
			apply(n) // not counted: the worker's share
			b.StartTimer()
		}
		b.ReportMetric(float64(wall.Nanoseconds())/float64(b.N*n), "ns/msg")
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/msg")
	})
	b.Run("worker", func(b *testing.B) {
		var wall, cpu time.Duration
		for b.Loop() {
			b.StopTimer()
			move(n)
			b.StartTimer()
			t0, c0 := time.Now(), cpuTime()
			apply(n)
			wall += time.Since(t0)
			cpu += cpuTime() - c0
		}
		b.ReportMetric(float64(wall.Nanoseconds())/float64(b.N*n), "ns/msg")
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/msg")
	})
	b.Run("user-one", func(b *testing.B) {
		var wall, cpu time.Duration
		for b.Loop() {
			t0, c0 := time.Now(), cpuTime()
			move(1) // one message back and forth between the two
			wall, cpu = wall+time.Since(t0), cpu+cpuTime()-c0
			from, to = to, from
			b.StopTimer()
			apply(1)
			b.StartTimer()
		}
		b.ReportMetric(float64(wall.Nanoseconds())/float64(b.N), "ns/msg")
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
	})
	b.Run("plain-one", func(b *testing.B) {
		trash, _ := s.MailboxByName(a.ID, "Trash")
		from, to := from, trash.ID
		var wall, cpu time.Duration
		for b.Loop() {
			list, err := s.List(from)
			if err != nil || len(list) == 0 {
				b.Fatal(len(list), err)
			}
			t0, c0 := time.Now(), cpuTime()
			if _, err := s.Move(ctx, from, []store.UID{list[0].UID}, to); err != nil {
				b.Fatal(err)
			}
			wall, cpu = wall+time.Since(t0), cpu+cpuTime()-c0
			from, to = to, from
		}
		b.ReportMetric(float64(wall.Nanoseconds())/float64(b.N), "ns/msg")
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
		if k, _ := s.JunkPending(a.ID); k != 0 {
			b.Fatalf("%d trainings queued by moves that train nothing", k)
		}
	})
	if st, _ := s.JunkStatsOf(a.ID); st.Spam+st.Ham < n {
		b.Fatalf("model %+v", st)
	}
}

// BenchmarkCorpus is the k-fold measurement as a benchmark (run once in
// CI): 5 folds, each trained on 1,000 messages of the corpus and tested on
// the other 2,896; and the size of a store-held model trained on all of
// it. It needs the corpus (../shared/corpus next to the repository).
func BenchmarkCorpus(b *testing.B) {
	dir := corpusDir(b)
	if !dirExists(dir) {
		b.Skipf("no corpus at %s", dir)
	}
	all := loadCorpus(b)
	var r result
	for b.Loop() {
		r, _ = kfold(all, 5, 1000, DefaultParams, DefaultThreshold, 1)
	}
	b.ReportMetric(100*float64(r.fp)/float64(r.ham), "%ham-in-junk")
	b.ReportMetric(100*float64(r.spam-r.fn)/float64(r.spam), "%spam-caught")
	s, a, _ := trainedStore(b)
	st, err := ModelStats(ctx, s, a.ID, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Tokens), "model-tokens")
	b.ReportMetric(float64(st.Bytes), "model-bytes")
}
