package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// steadyFolders are made in every account before the clock, so that LIST
// and STATUS see what a real account has.
var steadyFolders = []string{"Archive", "Drafts", "Sent", "Trash"}

// steady connects the clients, each logged in to its own account with
// INBOX selected (and steadyFolders made), says ready, and on "go" runs
// steadyIteration over and over for -seconds without logging out: the
// steady state of a mail client that stays connected.
func steady() error {
	msgs, err := loadMessages(*appendD)
	if err != nil {
		return err
	}
	switch *client {
	case "raw":
		return runSteady(setupRaw, func(c *rawClient, st *concState, r *rand.Rand) error {
			return steadyRawIteration(c, st, r, msgs)
		}, (*rawClient).close)
	case "imapclient":
		return runSteady(setupImapclient, func(c steadyImapclient, st *concState, r *rand.Rand) error {
			return steadyIteration(c.c, c.count, st, r, msgs)
		}, func(c steadyImapclient) { c.c.Logout().Wait(); c.c.Close() })
	}
	return fmt.Errorf("-client %q: want raw or imapclient", *client)
}

// runSteady sets up the -clients clients with setup (-login-parallel at a
// time), says ready, and on "go" has each run iterate over and over for
// -seconds, then closes it, and emits the result. An iteration's error
// ends its client (the first error is in st).
func runSteady[C any](setup func(i int) (C, error), iterate func(C, *concState, *rand.Rand) error, closeC func(C)) error {
	st := &concState{lats: map[string]*lat{}}
	cs := make([]C, *clients)
	sem := make(chan struct{}, *parallel)
	var wg sync.WaitGroup
	var setupErr atomic.Value
	t0 := time.Now()
	for i := range cs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := setup(i)
			if err != nil {
				setupErr.CompareAndSwap(nil, fmt.Sprintf("client %d (%s): %v", i, account(i), err))
				return
			}
			cs[i] = c
		}()
	}
	wg.Wait()
	if e, ok := setupErr.Load().(string); ok {
		return errors.New(e)
	}
	emit(map[string]any{"ready": true, "setup_seconds": time.Since(t0).Seconds()})
	if l, _ := readCmd(); l != "go" {
		return fmt.Errorf("expected go, got %q", l)
	}
	cpu0, rx0 := cpuNow(), received.Load()
	start := time.Now()
	deadline := start.Add(time.Duration(*seconds * float64(time.Second)))
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(*seed, uint64(2000+i)))
			for time.Now().Before(deadline) {
				if err := iterate(c, st, r); err != nil {
					return // the first error is in st
				}
				st.iterations.Add(1)
			}
			closeC(c)
		}()
	}
	wg.Wait()
	emit(st.result(time.Since(start), received.Load()-rx0, cpuNow()-cpu0))
	return nil
}

// steadyImapclient is a steady client on go-imap's imapclient.
type steadyImapclient struct {
	c     *imapclient.Client
	count *atomic.Int64 // messages in INBOX, from EXISTS and EXPUNGE
}

// setupImapclient logs client i in to its account, makes steadyFolders
// and selects INBOX.
func setupImapclient(i int) (steadyImapclient, error) {
	count := new(atomic.Int64)
	h := &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				count.Store(int64(*d.NumMessages))
			}
		},
		Expunge: func(uint32) { count.Add(-1) },
	}
	c, err := dial(i, h)
	if err != nil {
		return steadyImapclient{}, err
	}
	if err := c.Login(account(i), *pass).Wait(); err != nil {
		return steadyImapclient{}, err
	}
	for _, f := range steadyFolders {
		c.Create(f, nil).Wait() // it may exist
	}
	d, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		return steadyImapclient{}, err
	}
	if d.NumMessages == 0 {
		return steadyImapclient{}, errors.New("empty INBOX")
	}
	count.Store(int64(d.NumMessages))
	return steadyImapclient{c, count}, nil
}

// steadyIteration is one round of a connected client's work, in the
// proportions of a desktop client's sync and reading (13 commands): the
// folder list and another folder's counts; the flags of the whole
// mailbox and the envelopes of a page of 20 messages (the message list);
// three messages read (BODY.PEEK[]), two of them then marked \Seen
// (the third is read again later), one flagged or unflagged; one deleted (STORE +FLAGS.SILENT \Deleted, EXPUNGE) and one
// new one APPENDed, so that INBOX stays at its size.
func steadyIteration(c *imapclient.Client, count *atomic.Int64, st *concState, r *rand.Rand, msgs [][]byte) error {
	n := func() uint32 { return uint32(max(1, count.Load())) }
	seq := func() imap.SeqSet { return imap.SeqSetNum(1 + uint32(r.IntN(int(n())))) }
	ops := []struct {
		name string
		f    func() error
	}{
		{"LIST", func() error { _, err := c.List("", "*", nil).Collect(); return err }},
		{"STATUS", func() error {
			_, err := c.Status(steadyFolders[r.IntN(len(steadyFolders))], &imap.StatusOptions{NumMessages: true, NumUnseen: true, UIDNext: true, UIDValidity: true}).Wait()
			return err
		}},
		{"UID FETCH 1:* (FLAGS)", func() error {
			_, err := drain(c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}))
			return err
		}},
		{"FETCH 20 (ENVELOPE …)", func() error {
			from := 1 + uint32(r.IntN(int(max(1, n()-19))))
			set := imap.SeqSet{{Start: from, Stop: min(n(), from+19)}}
			_, err := drain(c.Fetch(set, &imap.FetchOptions{UID: true, Flags: true, Envelope: true, RFC822Size: true, InternalDate: true}))
			return err
		}},
	}
	for _, op := range ops {
		if err := st.timed(op.name, op.f); err != nil {
			return err
		}
	}
	for k := 0; k < 3; k++ { // read three messages: the body, then \Seen
		set := seq()
		if err := st.timed("FETCH n BODY.PEEK[]", func() error {
			_, err := drain(c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}))
			return err
		}); err != nil {
			return err
		}
		if k < 2 {
			if err := st.timed("STORE", func() error {
				_, err := drain(c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil))
				return err
			}); err != nil {
				return err
			}
		}
	}
	flag := &imap.StoreFlags{Op: []imap.StoreFlagsOp{imap.StoreFlagsAdd, imap.StoreFlagsDel}[r.IntN(2)], Flags: []imap.Flag{imap.FlagFlagged}}
	if err := st.timed("STORE", func() error { _, err := drain(c.Store(seq(), flag, nil)); return err }); err != nil {
		return err
	}
	del := seq()
	if err := st.timed("STORE", func() error {
		_, err := drain(c.Store(del, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil))
		return err
	}); err != nil {
		return err
	}
	if err := st.timed("EXPUNGE", func() error { _, err := c.Expunge().Collect(); return err }); err != nil {
		return err
	}
	return st.timed("APPEND", func() error {
		m := msgs[r.IntN(len(msgs))]
		cmd := c.Append("INBOX", int64(len(m)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
		if _, err := cmd.Write(m); err != nil {
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		_, err := cmd.Wait()
		return err
	})
}
