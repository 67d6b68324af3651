package mta

import (
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	milter "github.com/d--j/go-milter"

	"petrel/dnsbl"
	"petrel/dnsmx"
	"petrel/dnsmx/dnsmxtest"
	"petrel/filter"
)

// BenchmarkSMTPAcceptFiltered is BenchmarkSMTPAccept with one milter on
// loopback (go-milter's server, adding a header field to every message):
// the cost of a filter's round trips, without the filter's own work.
func BenchmarkSMTPAcceptFiltered(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	seen := &sync.Map{}
	srv := milter.NewServer(milter.WithMilter(func() milter.Milter { return &subjectMilter{seen: seen} }), milter.WithActions(milter.OptAddHeader))
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	chain, err := filter.New([]filter.Spec{{Milter: "inet:" + ln.Addr().String(), Timeout: 10 * time.Second}}, filter.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	benchSMTPAccept(b, func(o *Options) { o.Filters = chain })
}

// BenchmarkSMTPAcceptDNSBL is BenchmarkSMTPAccept with two block lists
// asked about every client (answers cached after the first).
func BenchmarkSMTPAcceptDNSBL(b *testing.B) {
	dns := dnsmxtest.Start(b)
	r, err := dnsmx.New(dns.Addr)
	if err != nil {
		b.Fatal(err)
	}
	c, err := dnsbl.New(dnsbl.Options{Block: []dnsbl.Zone{{Name: "bl1.test"}, {Name: "bl2.test"}}, Resolver: r})
	if err != nil {
		b.Fatal(err)
	}
	benchSMTPAccept(b, func(o *Options) { o.Reputation = c })
}
