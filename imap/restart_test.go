package imap_test

import (
	"context"
	"net"
	"path/filepath"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	pimap "petrel/imap"
	"petrel/store"
	"petrel/store/storetest"
)

// TestRestartPersistence: flags, UIDs, UIDVALIDITY and mailboxes survive
// closing the server and the store and opening them again.
func TestRestartPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.db")
	start := func() (*store.Store, *pimap.Server, string) {
		st, err := store.Open(path, store.Options{Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		srv := pimap.New(pimap.Options{Store: st, Logger: quietLogger()})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(l)
		return st, srv, l.Addr().String()
	}
	login := func(addr string) *imapclient.Client {
		c, err := imapclient.DialInsecure(addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login("user@example.org", "secret").Wait(); err != nil {
			t.Fatal(err)
		}
		return c
	}

	st, srv, addr := start()
	if _, err := st.CreateAccount(context.Background(), "user@example.org", "secret"); err != nil {
		t.Fatal(err)
	}
	c := login(addr)
	if err := c.Create("Projects/Petrel", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"a", "b", "c"} {
		appendMsg(t, c, "Projects/Petrel", simpleMsg(s, s), nil)
	}
	sel := mustSelect(t, c, "Projects/Petrel")
	if _, err := c.Store(imap.UIDSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagAnswered, "$Work"}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store(imap.UIDSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	c.Logout().Wait()
	c.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, srv, addr = start()
	defer func() {
		srv.Close()
		st.Close()
		storetest.Check(t, path)
	}()
	c = login(addr)
	defer c.Close()
	again := mustSelect(t, c, "Projects/Petrel")
	if again.UIDValidity != sel.UIDValidity || again.NumMessages != 2 || again.UIDNext != 4 {
		t.Errorf("after restart: UIDVALIDITY %d (was %d), %d messages, UIDNEXT %d", again.UIDValidity, sel.UIDValidity, again.NumMessages, again.UIDNext)
	}
	msgs, err := c.Fetch(imap.UIDSetNum(1, 2), &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs { // \Recent is the session's, not stored
		m.Flags = slices.DeleteFunc(m.Flags, func(f imap.Flag) bool { return f == `\Recent` })
	}
	if len(msgs) != 2 || len(msgs[0].Flags) != 0 || !slices.Contains(msgs[1].Flags, imap.FlagAnswered) || !slices.Contains(msgs[1].Flags, "$Work") {
		t.Errorf("flags after restart: %+v", msgs)
	}
	if u := appendMsg(t, c, "Projects/Petrel", simpleMsg("d", "d"), nil); u != 4 {
		t.Errorf("first APPEND after restart got UID %d, want 4 (3 was expunged, never reused)", u)
	}
}
