package mta

import (
	"encoding/base64"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"petrel/store"
	"petrel/store/storetest"
)

// When more passwords wait to be checked than the store takes, AUTH is
// told to try later with 454 4.7.0, not failed: 8 at once against a pool
// of one worker and no queue.
func TestAuthShedWhenHashingBusy(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "mail.db"), store.Options{HashWorkers: 1, HashQueue: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	storetest.Account(t, st, "bob@hamburger.edu")
	ts := newTestServer(t, func(o *Options) { o.Store = st })
	const n = 8
	ds := make([]*dialog, n)
	for i := range ds {
		ds[i] = dial(t, ts.subAddr)
		ds[i].read()
		ds[i].expect("EHLO client.example", 250)
	}
	type reply struct {
		code int
		msg  string
	}
	replies := make([]reply, n)
	auth := "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00bob@hamburger.edu\x00wrong"))
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Go(func() {
			if err := d.tp.PrintfLine("%s", auth); err != nil {
				return
			}
			code, msg, _ := d.tp.ReadResponse(0)
			replies[i] = reply{code, msg}
		})
	}
	wg.Wait()
	shed := 0
	for _, r := range replies {
		switch {
		case r.code == 454 && strings.Contains(r.msg, "Too many logins being checked"):
			shed++
		case r.code == 535:
		default:
			t.Errorf("reply %d %s", r.code, r.msg)
		}
	}
	if shed == 0 {
		t.Errorf("no AUTH of %d at once was told to try later: %v", n, replies)
	}
}
