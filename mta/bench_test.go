package mta

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// BenchmarkSMTPAccept is the inbound hot path end to end: 20 clients, one
// connection each, sending 4 KiB messages over loopback to port 25 for a
// local user; every 250 comes after the message is committed to disk.
// msgs/s is what smtp-source against Petrel measures in bench/.
func BenchmarkSMTPAccept(b *testing.B) { benchSMTPAccept(b) }

// benchSMTPAccept runs BenchmarkSMTPAccept's load against a server set up
// by tweak.
func benchSMTPAccept(b *testing.B, tweak ...func(*Options)) {
	ts := newTestServer(b, append([]func(*Options){func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) }}, tweak...)...)
	body := "From: alice@crepes.fr\r\nTo: bob@hamburger.edu\r\nSubject: bench\r\n\r\n" +
		strings.Repeat(strings.Repeat("x", 78)+"\r\n", 4096/80)
	benchAccept(b, ts, body)
}

// benchAccept sends b.N copies of body to bob over 20 connections and
// reports msgs/s.
func benchAccept(b *testing.B, ts *testServer, body string) {
	const clients = 20
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	cpu0 := processCPU()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := smtp.Dial(ts.smtpAddr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for next.Add(1) <= int64(b.N) {
				if err := c.SendMail("alice@crepes.fr", []string{"bob@hamburger.edu"}, strings.NewReader(body)); err != nil {
					errs <- err
					return
				}
			}
			c.Quit()
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	// CPU per message, server and the in-process clients together: on a
	// machine shared with other work it says more than the rate.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/msg")
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReceived renders one hop's Received header, with TLS.
func BenchmarkReceived(b *testing.B) {
	r := &received{helo: "crepes.fr", ip: net.ParseIP("192.0.2.7"), rdns: "mail.crepes.fr", by: "mx.hamburger.edu",
		id: "jqavafg4a3yc6fmy", esmtp: true, tlsState: &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256}}
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		if h := r.header("bob@hamburger.edu", now); len(h) == 0 {
			b.Fatal("empty header")
		}
	}
}
