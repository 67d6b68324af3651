package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"petrel/junk"
	"petrel/mailio"
	"petrel/store"
)

// The junk classifier end to end: an account trained with `petrel junk
// train`, a spam delivered over SMTP lands in Junk with its X-Petrel-Junk,
// the verdict is logged and counted, and moving the message out of Junk
// over IMAP, then flagging it $Junk, trains the model (as `petrel junk
// stats` shows, through the running server).
func TestJunkEndToEnd(t *testing.T) {
	in := newInstanceWith(t, instanceOpts{imapAddr: freePort(t), extra: "[junk]\nmin_trained = 20\n"})
	in.ok("bob's long password\n", "user", "add", "bob@hamburger.edu")
	testdata := filepath.Join("..", "..", "junk", "testdata")
	out := in.ok("", "junk", "train", "bob@hamburger.edu", "--spam", filepath.Join(testdata, "spam.mbox"))
	if !strings.Contains(out, "trained bob@hamburger.edu on 40 spam messages") {
		t.Errorf("junk train --spam: %q", out)
	}
	in.ok("", "junk", "train", "--ham", "bob@hamburger.edu", filepath.Join(testdata, "ham.mbox"))
	if out := in.ok("", "junk", "stats", "bob@hamburger.edu"); !strings.Contains(out, "trained on 40 spam and 50 ham messages") || !strings.Contains(out, "verdicts: on") {
		t.Errorf("junk stats: %q", out)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"junk", "train", "bob@hamburger.edu", filepath.Join(testdata, "spam.mbox")}, "needs one of --spam or --ham"},
		{[]string{"junk", "train", "bob@hamburger.edu", "--spam", "--ham", filepath.Join(testdata, "spam.mbox")}, "needs one of --spam or --ham"},
		{[]string{"junk", "stats", "bob@hamburger.edu", "--spam"}, "--spam and --ham are for petrel junk train"},
		{[]string{"junk", "stats", "nobody@hamburger.edu"}, "there is no account nobody@hamburger.edu"},
	} {
		if _, errOut, code := in.petrel("", bad.args...); code == 0 || !strings.Contains(errOut, bad.want) {
			t.Errorf("petrel %v: exit %d, %q; want %q", bad.args, code, errOut, bad.want)
		}
	}

	in.start()
	f, err := os.Open(filepath.Join(testdata, "spam.mbox"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	spam, err := mailio.NewMboxReader(f, mailio.MboxRD).Next()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := smtp.Dial(in.smtpAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.SendMail("spammer@example.net", []string{"bob@hamburger.edu"}, bytes.NewReader(spam.Body)); err != nil {
		t.Fatal(err)
	}
	sc.Quit()

	c, err := imapclient.DialInsecure(in.imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("bob@hamburger.edu", "bob's long password").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("Junk", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Peek: true}}}).Collect()
	if err != nil || len(msgs) != 1 || len(msgs[0].BodySection) != 1 {
		t.Fatalf("Junk: %v, %v", msgs, err)
	}
	if h := string(msgs[0].BodySection[0].Bytes); !strings.Contains(h, "X-Petrel-Junk: score=") || !strings.Contains(h, `tokens="`) {
		t.Errorf("the message in Junk has no X-Petrel-Junk:\n%s", h)
	}
	if log := in.stderr.String(); !strings.Contains(log, `msg="junk verdict"`) || !strings.Contains(log, "verdict=junk model=account") || !strings.Contains(log, "queue_id=") {
		t.Errorf("no verdict log line:\n%s", log)
	}
	resp, err := http.Get("http://" + in.httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `petrel_junk_verdicts_total{model="account",verdict="junk"} 1`) {
		t.Errorf("/metrics has no junk verdict:\n%s", metrics)
	}

	// Out of Junk: ham. Then $Junk: spam again (the ham untrained).
	if _, err := c.Move(imap.SeqSetNum(1), "INBOX").Wait(); err != nil {
		t.Fatal(err)
	}
	if out := in.ok("", "junk", "stats", "bob@hamburger.edu"); !strings.Contains(out, "40 spam and 51 ham") {
		t.Errorf("after moving out of Junk: %q", out)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagJunk}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the $Junk flag to train", func() bool {
		return strings.Contains(in.ok("", "junk", "stats", "bob@hamburger.edu"), "41 spam and 50 ham")
	})
}

// A petrel killed with SIGKILL while a client moves mail into and out of
// Junk keeps a model in which every message counts at most once, as spam
// or as ham, and whose totals match: training and move commit together.
func TestJunkCrashKeepsModelConsistent(t *testing.T) {
	in := newInstanceWith(t, instanceOpts{imapAddr: freePort(t)})
	in.ok("bob's long password\n", "user", "add", "bob@hamburger.edu")
	in.start()
	const n = 30
	for i := range n {
		if err := sendOne(in.smtpAddr, "uniqtok"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := imapclient.DialInsecure(in.imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("bob@hamburger.edu", "bob's long password").Wait(); err != nil {
		t.Fatal(err)
	}
	// Kill it a third of the way back out of Junk: after a whole round
	// into Junk (spam) and some messages moved out again (ham).
	midway := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		from, to := "INBOX", "Junk"
		for r := 0; ; r++ {
			if _, err := c.Select(from, nil).Wait(); err != nil {
				return
			}
			for i := 1; i <= n; i++ { // one message per MOVE: many commits
				if _, err := c.Move(imap.SeqSetNum(1), to).Wait(); err != nil {
					return
				}
				if r == 1 && i == n/3 {
					close(midway)
				}
			}
			from, to = to, from
		}
	}()
	<-midway
	in.signal(syscall.SIGKILL)
	<-done

	// The moves' trainings the worker had not applied are replayed now.
	st, err := store.Open(filepath.Join(in.dir, "data", "mail.db"), store.Options{JunkTokens: junk.Tokens, JunkNoWorker: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	replayed, err := st.JunkApplyPending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d trainings were pending at the kill", replayed)
	a, _ := st.AccountByAddress("bob@hamburger.edu")
	toks := make([]string, n)
	for i := range toks {
		toks[i] = "subject:uniqtok" + strconv.Itoa(i) // sendOne puts the tag in the Subject
	}
	counts := make([]store.JunkCounts, n)
	stats, err := st.JunkLookup(a.ID, toks, counts)
	if err != nil {
		t.Fatal(err)
	}
	var spam, ham uint64
	for i, c := range counts {
		if c.Spam+c.Ham != 1 {
			t.Errorf("message %d counts %+v: want it trained exactly once", i, c)
		}
		spam += uint64(c.Spam)
		ham += uint64(c.Ham)
	}
	if stats.Spam != spam || stats.Ham != ham {
		t.Errorf("model totals %+v, but its messages count %d spam and %d ham", stats, spam, ham)
	}
	if ham < n/3 {
		t.Errorf("%d messages trained as ham, but %d moves out of Junk had their OK before the kill", ham, n/3)
	}
	t.Logf("after SIGKILL: %d spam, %d ham", spam, ham)
}
