package junk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"petrel/store"
	"petrel/store/storetest"
)

var ctx = context.Background()

// trainTestdata trains acct on the testdata sample, all but every third
// message (kept for testing), and returns those kept.
func trainTestdata(t testing.TB, s *store.Store, acct uint64) (ham, spam [][]byte) {
	t.Helper()
	for _, f := range []struct {
		name  string
		class store.JunkClass
		out   *[][]byte
	}{{"ham.mbox", store.JunkHam, &ham}, {"spam.mbox", store.JunkSpam, &spam}} {
		for i, msg := range readMbox(t, filepath.Join("testdata", f.name)) {
			if i%3 == 0 {
				*f.out = append(*f.out, msg)
				continue
			}
			id := sha256.Sum256(msg)
			if _, err := s.JunkTrain(ctx, acct, id[:], Tokens(bytes.NewReader(msg)), f.class); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ham, spam
}

func TestClassify(t *testing.T) {
	s := storetest.Open(t)
	ann := storetest.Account(t, s, "ann@example.org")
	bob := storetest.Account(t, s, "bob@example.org")
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	c, err := New(s, Options{MinTrained: 20, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ham, spam := trainTestdata(t, s, ann.ID)

	// Ann's model has learnt enough: the held-out ham stays in INBOX, most
	// held-out spam goes to Junk.
	var caught [][]byte
	for i, msg := range spam {
		if v := c.Classify(ctx, "S"+itoa(i), bytes.NewReader(msg), []uint64{ann.ID})[0]; v.Junk {
			caught = append(caught, msg)
		}
	}
	for i, msg := range ham {
		if v := c.Classify(ctx, "H"+itoa(i), bytes.NewReader(msg), []uint64{ann.ID})[0]; v.Junk || v.Verdict != "inbox" {
			t.Errorf("ham %d: %+v", i, v)
		}
	}
	if 5*len(caught) < 3*len(spam) {
		t.Fatalf("caught %d of %d spam", len(caught), len(spam))
	}
	// Bob's model has learnt nothing: no verdict.
	logs.Reset()
	vs := c.Classify(ctx, "Q1", bytes.NewReader(caught[0]), []uint64{ann.ID, bob.ID})
	if len(vs) != 2 {
		t.Fatalf("%d verdicts", len(vs))
	}
	if v := vs[0]; !v.Junk || v.Verdict != "junk" || v.Model != "account" || v.Score <= DefaultThreshold {
		t.Errorf("ann: %+v, want junk", v)
	}
	if h := vs[0].Header(); !strings.HasPrefix(h, "X-Petrel-Junk: score=") || !strings.Contains(h, `; tokens="`) || !strings.HasSuffix(h, "\"\r\n") || strings.Count(h, "\r\n") != 1 {
		t.Errorf("header %q", h)
	}
	if v := vs[1]; v.Junk || v.Verdict != "untrained" || v.Header() != "" {
		t.Errorf("bob: %+v, want no verdict from an untrained model", v)
	}
	if !strings.Contains(logs.String(), "queue_id=Q1 account=1 verdict=junk model=account score=") || !strings.Contains(logs.String(), "queue_id=Q1 account=2 verdict=untrained") {
		t.Errorf("log lines:\n%s", logs.String())
	}
	if n := testutil.ToFloat64(c.verdicts.WithLabelValues("junk", "account")); int(n) != len(caught)+1 {
		t.Errorf("junk verdicts counted %v, want %d", n, len(caught)+1)
	}
	if n := testutil.ToFloat64(c.verdicts.WithLabelValues("untrained", "none")); n != 1 {
		t.Errorf("untrained verdicts counted %v", n)
	}
	if n, err := testutil.GatherAndCount(reg, "petrel_junk_verdicts_total"); err != nil || n < 3 {
		t.Errorf("verdict series: %d, %v", n, err)
	}

	// A sender Ann wrote to is trusted, whatever the message says.
	from := caught[0]
	if _, err := s.Deliver(ctx, &store.Delivery{Body: []byte("Subject: hi\r\n\r\nx\r\n"), Targets: []store.Target{{Account: ann.ID, Mailbox: "Sent", Contacts: fromAddresses(Tokens(bytes.NewReader(from)))}}}); err != nil {
		t.Fatal(err)
	}
	if v := c.Classify(ctx, "Q3", bytes.NewReader(from), []uint64{ann.ID})[0]; v.Junk || v.Verdict != "trusted" || !strings.Contains(v.Header(), "trusted=yes") {
		t.Errorf("trusted sender: %+v", v)
	}
}

func TestClassifySharedModel(t *testing.T) {
	s := storetest.Open(t)
	bob := storetest.Account(t, s, "bob@example.org")
	_, spam := trainTestdata(t, s, store.SharedJunkModel)
	for _, tc := range []struct {
		shared bool
		want   string
	}{{false, "untrained"}, {true, "junk"}} {
		c, err := New(s, Options{MinTrained: 20, Shared: tc.shared, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if v := c.Classify(ctx, "Q", bytes.NewReader(spam[1]), []uint64{bob.ID})[0]; v.Verdict != tc.want {
			t.Errorf("shared_model=%v: %+v, want %s", tc.shared, v, tc.want)
		}
	}
}

func TestNewRejectsBadThreshold(t *testing.T) {
	for _, th := range []float64{-1, 1, 1.5} {
		if _, err := New(nil, Options{Threshold: th}); err == nil {
			t.Errorf("threshold %v accepted", th)
		}
	}
}

func TestTrainPath(t *testing.T) {
	s := storetest.Open(t)
	ann := storetest.Account(t, s, "ann@example.org")
	res, err := TrainPath(ctx, s, ann.ID, filepath.Join("testdata", "spam.mbox"), store.JunkSpam, nil)
	if err != nil || res.Messages != 40 || res.Trained != 40 {
		t.Fatalf("mbox: %+v, %v", res, err)
	}
	// The same messages again, from a Maildir with CRLF line ends: known.
	dir := t.TempDir()
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o700)
	}
	for i, msg := range readMbox(t, filepath.Join("testdata", "spam.mbox"))[:5] {
		os.WriteFile(filepath.Join(dir, "cur", "msg"+itoa(i)+":2,S"), msg, 0o600)
	}
	res, err = TrainPath(ctx, s, ann.ID, dir, store.JunkSpam, nil)
	if err != nil || res.Messages != 5 || res.Trained != 0 {
		t.Fatalf("maildir of messages trained already: %+v, %v", res, err)
	}
	res, err = TrainPath(ctx, s, ann.ID, dir, store.JunkHam, nil)
	if err != nil || res.Trained != 5 {
		t.Fatalf("maildir as ham: %+v, %v", res, err)
	}
	st, err := ModelStats(ctx, s, ann.ID, 0)
	if err != nil || st.Spam != 35 || st.Ham != 5 || st.Ready || st.Tokens == 0 || st.Bytes == 0 {
		t.Errorf("stats %+v, %v", st, err)
	}
	var out bytes.Buffer
	st.Write(&out, "ann@example.org")
	if !strings.Contains(out.String(), "35 spam and 5 ham") || !strings.Contains(out.String(), "verdicts: off") {
		t.Errorf("stats output:\n%s", out.String())
	}
	if _, err := TrainPath(ctx, s, ann.ID, filepath.Join("testdata", "nothing"), store.JunkSpam, nil); err == nil {
		t.Error("a missing path trained")
	}
	if _, err := TrainPath(ctx, s, ann.ID, "classify.go", store.JunkSpam, nil); err == nil || !strings.Contains(err.Error(), "mbox") {
		t.Errorf("a Go file as mbox: %v", err)
	}
}

// readSpy records whether anything read it.
type readSpy struct{ read bool }

func (r *readSpy) Read(p []byte) (int, error) {
	r.read = true
	return 0, io.EOF
}

// Until a model has learnt enough, verdicts cost no tokenizing: the
// message is not even read.
func TestClassifyUntrainedReadsNothing(t *testing.T) {
	s := storetest.Open(t)
	bob := storetest.Account(t, s, "bob@example.org")
	c, err := New(s, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	spy := &readSpy{}
	if v := c.Classify(ctx, "Q", spy, []uint64{bob.ID})[0]; v.Verdict != "untrained" || v.Junk {
		t.Errorf("verdict %+v", v)
	}
	if spy.read {
		t.Error("the message was read for an account that cannot judge")
	}
}
