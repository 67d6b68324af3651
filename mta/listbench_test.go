package mta

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"petrel/store"
)

// BenchmarkListExpand expands one 4 KiB post, sent over SMTP, to a list
// of 10,000 members who are all local accounts: each gets its own copy
// (with its own List-Unsubscribe) in one store commit. It reports the
// time per post, the process's CPU time (user+system) per post (the SMTP
// client's share of it is one 4 KiB message), and the time of the store's
// commit (its transaction, writes and fsync) per post.
//
//	go test ./mta -run '^$' -bench ListExpand -benchtime 5x
func BenchmarkListExpand(b *testing.B) {
	const members = 10000
	var commitMu sync.Mutex
	var commits time.Duration
	onCommit := func(d time.Duration, _ int) { commitMu.Lock(); commits += d; commitMu.Unlock() }
	st, err := store.Open(filepath.Join(b.TempDir(), "mail.db"), store.Options{CheapPasswordHash: true, OnCommit: onCommit})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	addrs := make([]string, members)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("member%05d@hamburger.edu", i)
	}
	var wg sync.WaitGroup
	work := make(chan string)
	for range 8 {
		wg.Go(func() {
			for a := range work {
				if _, err := st.CreateAccount(context.Background(), a, "pw"); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for _, a := range addrs {
		work <- a
	}
	close(work)
	wg.Wait()
	if _, err := st.CreateList(context.Background(), store.List{Address: "all@hamburger.edu", Post: store.PostAnyone}); err != nil {
		b.Fatal(err)
	}
	if _, err := st.AddMembers(context.Background(), "all@hamburger.edu", addrs); err != nil {
		b.Fatal(err)
	}
	m := New(Options{
		Hostname:       "mx.hamburger.edu",
		IsLocalDomain:  func(d string) bool { return d == "hamburger.edu" },
		Store:          st,
		Queue:          &fakeQueue{},
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		PlusSeparator:  "+",
		UnsubscribeURL: unsubURL,
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go m.ServeSMTP(l)
	defer m.Shutdown(context.Background())
	post := "From: Alice <alice@crepes.fr>\r\nTo: all@hamburger.edu\r\nSubject: news\r\nMessage-ID: <bench@crepes.fr>\r\n\r\n" +
		strings.Repeat(strings.Repeat("x", 62)+"\r\n", 64)
	post = post[:4096-2] + "\r\n"

	commitMu.Lock()
	commits = 0
	commitMu.Unlock()
	b.ResetTimer()
	var cpu time.Duration
	for b.Loop() {
		before := cpuTime()
		if err := sendPlain(b, l.Addr().String(), "alice@crepes.fr", []string{"all@hamburger.edu"}, strings.NewReader(post)); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - before
	}
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(members), "copies/op")
	commitMu.Lock()
	// The store's transaction, its writes and its fsync.
	b.ReportMetric(float64(commits.Milliseconds())/float64(b.N), "commit-ms/op")
	commitMu.Unlock()
	b.StopTimer()
	mb, _ := st.MailboxByName(mustAccount(b, st, addrs[members-1]).ID, "INBOX")
	if mb.Messages != uint32(b.N) {
		b.Errorf("the last member has %d messages, want %d", mb.Messages, b.N)
	}
}

func mustAccount(b *testing.B, st *store.Store, addr string) *store.Account {
	a, err := st.AccountByAddress(addr)
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
