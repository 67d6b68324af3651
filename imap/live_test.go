package imap_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"petrel/store"
)

// recorder collects a client's unilateral responses.
type recorder struct {
	mu       sync.Mutex
	exists   []uint32
	expunges []uint32
	flags    map[uint32][]imap.Flag
}

func (r *recorder) handler() *imapclient.UnilateralDataHandler {
	r.flags = make(map[uint32][]imap.Flag)
	return &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) {
			r.mu.Lock()
			r.expunges = append(r.expunges, seq)
			r.mu.Unlock()
		},
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				r.mu.Lock()
				r.exists = append(r.exists, *d.NumMessages)
				r.mu.Unlock()
			}
		},
		Fetch: func(msg *imapclient.FetchMessageData) {
			buf, err := msg.Collect()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.flags[buf.SeqNum] = buf.Flags
			r.mu.Unlock()
		},
	}
}

func (r *recorder) snapshot() (exists, expunges []uint32, flags map[uint32][]imap.Flag) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := make(map[uint32][]imap.Flag, len(r.flags))
	for k, v := range r.flags {
		f[k] = v
	}
	return slices.Clone(r.exists), slices.Clone(r.expunges), f
}

// TestTwoSessionsIdleAndDelivery: the laptop idles, the phone changes
// flags and expunges, SMTP delivers and POP3 deletes; the laptop sees it
// all during IDLE, the phone only on its next command and never its own
// STORE echoed.
func TestTwoSessionsIdleAndDelivery(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 4; i++ {
		e.deliver(t, simpleMsg("msg", "body"))
	}
	var laptopRec, phoneRec, thirdRec recorder
	laptop := e.client(t, laptopRec.handler())
	phone := e.client(t, phoneRec.handler())
	third := e.client(t, thirdRec.handler())
	mustSelect(t, laptop, "INBOX")
	mustSelect(t, phone, "INBOX")
	mustSelect(t, third, "INBOX")

	idle, err := laptop.Idle()
	if err != nil {
		t.Fatal(err)
	}

	// 1. Flag change from the phone.
	if _, err := phone.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "laptop FETCH FLAGS in IDLE", func() bool {
		_, _, f := laptopRec.snapshot()
		return slices.Contains(f[1], imap.FlagFlagged)
	})

	// 2. SMTP delivery in the middle.
	e.deliver(t, simpleMsg("new mail", "fresh"))
	waitFor(t, "laptop EXISTS 5 in IDLE", func() bool {
		ex, _, _ := laptopRec.snapshot()
		return slices.Contains(ex, 5)
	})

	// 3. The phone deletes message 2 and expunges.
	if _, err := phone.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if seqs, err := phone.Expunge().Collect(); err != nil || !slices.Equal(seqs, []uint32{2}) {
		t.Fatalf("phone EXPUNGE replies %v, %v; want [2]", seqs, err)
	}
	waitFor(t, "laptop EXPUNGE 2 in IDLE", func() bool {
		_, exp, _ := laptopRec.snapshot()
		return slices.Equal(exp, []uint32{2})
	})

	// 4. A POP3 session deletes what is now message 1 (UID 1).
	if _, err := e.st.Expunge(context.Background(), e.inbox(t), []store.UID{1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "laptop EXPUNGE 1 in IDLE", func() bool {
		_, exp, _ := laptopRec.snapshot()
		return slices.Equal(exp, []uint32{2, 1})
	})
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}

	// The phone never got its own flag change echoed as a unilateral FETCH.
	if err := phone.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	_, phoneExp, phoneFlags := phoneRec.snapshot()
	if len(phoneFlags) != 0 {
		t.Errorf("phone got unilateral FETCH for its own STORE: %v", phoneFlags)
	}
	if !slices.Equal(phoneExp, []uint32{1}) {
		t.Errorf("phone unilateral expunges %v, want [1] (POP3's, on NOOP)", phoneExp)
	}

	// The third session sent nothing meanwhile. A FETCH by sequence number
	// must not carry EXPUNGEs (RFC 9051 7.5.1); sequence numbers stay as it
	// knew them until a command that allows EXPUNGE.
	msgs, err := third.Fetch(imap.SeqSetNum(1, 2, 3, 4, 5), &imap.FetchOptions{UID: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if _, exp, _ := thirdRec.snapshot(); len(exp) != 0 {
		t.Errorf("EXPUNGE sent during FETCH: %v", exp)
	}
	for _, m := range msgs {
		if want := imap.UID(m.SeqNum); m.UID != want && m.SeqNum <= 4 {
			t.Errorf("during FETCH, seq %d is UID %d, want %d (the view the client knows)", m.SeqNum, m.UID, want)
		}
	}
	if err := third.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	ex, exp, _ := thirdRec.snapshot()
	if !slices.Equal(exp, []uint32{2, 1}) || !slices.Contains(ex, 5) {
		t.Errorf("third after NOOP: EXISTS %v EXPUNGE %v, want 5 then [2 1]", ex, exp)
	}

	// Everyone agrees with the store now.
	for name, c := range map[string]*imapclient.Client{"laptop": laptop, "phone": phone, "third": third} {
		msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var got []imap.UID
		for _, m := range msgs {
			got = append(got, m.UID)
		}
		if !slices.Equal(got, []imap.UID{3, 4, 5}) {
			t.Errorf("%s sees UIDs %v, want [3 4 5]", name, got)
		}
	}
}
