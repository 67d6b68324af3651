package webmail

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"petrel/store"
)

// benchStore makes a store with one account whose INBOX holds n messages
// of a realistic size (about 2 kB, some with an attachment).
func benchStore(b *testing.B, n int) (*store.Store, *store.Account, *store.Mailbox) {
	b.Helper()
	st, err := store.Open(filepath.Join(b.TempDir(), "mail.db"), store.Options{CheapPasswordHash: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	acct, err := st.CreateAccount(context.Background(), "ann@example.com", "secret")
	if err != nil {
		b.Fatal(err)
	}
	inbox, err := st.MailboxByName(acct.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	body := strings.Repeat("Some text of a message, as people write them, with a line of about seventy characters.\r\n", 20)
	for start := 0; start < n; start += 5000 {
		var items []store.AppendItem
		for i := start; i < min(start+5000, n); i++ {
			var msg string
			if i%10 == 0 {
				msg = fmt.Sprintf("From: Sender %d <s%d@example.org>\r\nTo: ann@example.com\r\nSubject: Message number %d\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\nMessage-ID: <%d@example.org>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n%s\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n", i, i, i, i, body)
			} else {
				msg = fmt.Sprintf("From: Sender %d <s%d@example.org>\r\nTo: ann@example.com\r\nSubject: Message number %d\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\nMessage-ID: <%d@example.org>\r\n\r\n%s", i, i, i, i, body)
			}
			if i%7 == 0 && i > 0 { // a reply, for the conversation view
				msg = fmt.Sprintf("In-Reply-To: <%d@example.org>\r\nReferences: <%d@example.org>\r\n", i-3, i-3) + msg
			}
			items = append(items, store.AppendItem{Body: []byte(msg), Date: time.Unix(int64(1e9+i), 0)})
		}
		if _, err := st.AppendMany(context.Background(), inbox.ID, items); err != nil {
			b.Fatal(err)
		}
	}
	return st, acct, inbox
}

func benchServer(b *testing.B, st *store.Store) *Server {
	return New(Options{Store: st, Sender: nil, Hostname: "mx.example.com", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

func benchGet(b *testing.B, s *Server, sess *session, path string) {
	b.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.RemoteAddr = "127.0.0.1:5000"
	req.AddCookie(&http.Cookie{Name: cookieHTTP, Value: sess.id})
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("GET %s: %d", path, w.Code)
	}
}

// Server time of the list page, a message page, searches and the
// conversation view, in a folder of 100,000 messages (one store for all:
// it takes a while to fill).
func BenchmarkPages100k(b *testing.B) {
	st, acct, inbox := benchStore(b, 100000)
	s := benchServer(b, st)
	sess, err := s.sessions.create(context.Background(), acct.ID, acct.Address)
	if err != nil {
		b.Fatal(err)
	}
	m := strconv.FormatUint(uint64(inbox.ID), 10)
	for _, bc := range []struct{ name, path string }{
		{"list-first", mailboxURL(inbox.ID)},
		{"list-deep", mailboxURL(inbox.ID) + "?before=50000"},
		{"message", messageURL(inbox.ID, 50001)},
		{"message-attachment", messageURL(inbox.ID, 50011)},
		// Searches by the server's SEARCH over the whole folder: a
		// sender's one message (the header of every message read), a
		// word of one body (every body decoded), a page of common matches.
		{"search-from-one", "/search?m=" + m + "&q=from:s12345@"},
		{"search-body-one", "/search?m=" + m + "&q=body:nowhere-else"},
		{"search-word-page", "/search?m=" + m + "&q=seventy"},
		// The conversation view, the folder's threads known (warm).
		{"conversations-first", mailboxURL(inbox.ID) + "?view=conversations"},
		{"conversations-deep", mailboxURL(inbox.ID) + "?view=conversations&before=50000"},
		// The sender search again, now served from the fields the
		// conversation view read.
		{"search-from-one-cached", "/search?m=" + m + "&q=from:s12345@"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			benchGet(b, s, sess, bc.path)
			b.ResetTimer()
			cpu := cpuTime()
			for b.Loop() {
				benchGet(b, s, sess, bc.path)
			}
			reportCPU(b, cpu)
		})
	}
	// The conversation view when the folder's threads are not known yet
	// (the first view after a start, or after the cache let the folder
	// go), and after one new message (only it is read).
	path := mailboxURL(inbox.ID) + "?view=conversations"
	b.Run("conversations-cold", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			s.threads = newThreadCache(threadCacheItems)
			benchGet(b, s, sess, path)
		}
		reportCPU(b, cpu)
	})
	b.Run("conversations-one-new", func(b *testing.B) {
		benchGet(b, s, sess, path)
		var cpu time.Duration
		for b.Loop() {
			b.StopTimer()
			if _, err := st.Append(context.Background(), inbox.ID, []byte("Subject: new\r\n\r\nx\r\n"), nil, time.Now()); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start := cpuTime()
			benchGet(b, s, sess, path)
			cpu += cpuTime() - start
		}
		b.ReportMetric(float64(cpu)/float64(b.N)/1e6, "cpu-ms/op")
	})
}

// Memory of one logged-in session with its live connection (SSE) open,
// measured on the server: n connections are opened with bare sockets (no
// client-side buffers or goroutines), and the growth of the heap and
// stacks, after a GC, is divided by n.
func BenchmarkSessionMemory(b *testing.B) {
	st, acct, _ := benchStore(b, 10)
	s := benchServer(b, st)
	srv := httptest.NewServer(s)
	defer srv.Close()
	const n = 200
	for b.Loop() {
		ids := make([]string, n)
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		conns := make([]net.Conn, 0, n)
		for i := range n {
			sess, err := s.sessions.create(context.Background(), acct.ID, acct.Address)
			if err != nil {
				b.Fatal(err)
			}
			ids[i] = sess.id
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			fmt.Fprintf(c, "GET /events HTTP/1.1\r\nHost: x\r\nCookie: %s=%s\r\n\r\n", cookieHTTP, ids[i])
			br := bufio.NewReader(c)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					b.Fatal(err)
				}
				if strings.HasPrefix(line, "retry:") {
					break
				}
			}
			conns = append(conns, c)
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		per := (float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)) / n
		b.ReportMetric(per, "B/session")
		for _, c := range conns {
			c.Close()
		}
		for _, id := range ids {
			s.sessions.remove(id)
		}
	}
}
