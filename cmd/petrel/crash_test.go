package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"petrel/store"
)

// A petrel killed with SIGKILL while clients send loses no message it
// answered 250 for, and its store opens cleanly again.
func TestCrashLosesNothingAccepted(t *testing.T) {
	in := newInstance(t)
	in.petrel("pw\n", "user", "add", "--force", "bob@hamburger.edu")
	in.start()

	// The kill comes once enough messages were accepted for the test to
	// prove something, while 8 clients are still sending: it waits for that
	// event, not for a time a loaded machine may need more of.
	const enough = 20
	var mu sync.Mutex
	var accepted []string
	reached := make(chan struct{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tag := fmt.Sprintf("crash-%d-%d", g, i)
				if err := sendOne(in.smtpAddr, tag); err != nil {
					return // the server is gone
				}
				mu.Lock()
				accepted = append(accepted, tag)
				if len(accepted) == enough {
					close(reached)
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-reached:
	case <-time.After(2 * time.Minute):
		t.Fatalf("fewer than %d messages accepted in 2 minutes:\n%s", enough, in.stderr)
	}
	in.signal(syscall.SIGKILL)
	close(stop)
	wg.Wait()

	in.start() // recovers on the same files
	in.signal(syscall.SIGTERM)

	st, err := store.Open(filepath.Join(in.dir, "data", "mail.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, _ := st.AccountByAddress("bob@hamburger.edu")
	mb, _ := st.MailboxByName(a.ID, "INBOX")
	msgs, _ := st.List(mb.ID)
	have := map[string]bool{}
	re := regexp.MustCompile(`crash-\d+-\d+`)
	for _, m := range msgs {
		b, err := st.ReadMessage(mb.ID, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		have[re.FindString(string(b))] = true
	}
	lost := 0
	for _, tag := range accepted {
		if !have[tag] {
			lost++
			t.Errorf("message %s got 250 but is not in the mailbox", tag)
		}
	}
	t.Logf("%d messages accepted before SIGKILL, %d in the mailbox after restart, %d lost", len(accepted), len(msgs), lost)
}

// sendOne sends a message and returns nil only if DATA got 250.
func sendOne(addr, tag string) error { return sendTo(addr, "bob@hamburger.edu", tag) }

// sendTo sends a message to rcpt and returns nil only if DATA got 250.
func sendTo(addr, rcpt, tag string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail("alice@crepes.fr", nil); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Subject: %s\r\n\r\n%s\r\n", tag, strings.Repeat("x", 2000))
	return w.Close()
}
