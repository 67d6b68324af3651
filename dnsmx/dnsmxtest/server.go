// Package dnsmxtest runs a small authoritative DNS server on 127.0.0.1 for
// tests of the packages that look up mail servers: a zone written as
// zone-file lines, names that answer SERVFAIL, names that never answer, and
// a count of the questions asked.
package dnsmxtest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server is a DNS server started by Start and stopped when the test ends.
type Server struct {
	Addr string // host:port of the UDP (and TCP) listener

	mu       sync.Mutex
	rrs      []dns.RR
	servfail map[string]bool
	silent   map[string]bool
	queries  map[string]int // "name TYPE" -> count
}

// Start serves the records (zone-file syntax, e.g. "example.com. 300 IN MX
// 10 mx.example.com.") on UDP and TCP at 127.0.0.1.
func Start(t testing.TB, records ...string) *Server {
	t.Helper()
	s := &Server{servfail: map[string]bool{}, silent: map[string]bool{}, queries: map[string]int{}}
	for _, r := range records {
		s.Add(t, r)
	}
	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ln == nil; try++ {
		// The TCP port of the same number may be taken: try again.
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatalf("dnsmxtest: %v", err)
		}
		s.Addr = pc.LocalAddr().String()
		if ln, err = net.Listen("tcp", s.Addr); err != nil {
			pc.Close()
			if try == 20 {
				t.Fatalf("dnsmxtest: %v", err)
			}
		}
	}
	udp := &dns.Server{PacketConn: pc, Handler: s}
	tcp := &dns.Server{Listener: ln, Handler: s}
	var started sync.WaitGroup
	started.Add(2)
	udp.NotifyStartedFunc = started.Done
	tcp.NotifyStartedFunc = started.Done
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	started.Wait()
	t.Cleanup(func() {
		udp.Shutdown()
		tcp.Shutdown()
	})
	return s
}

// Add adds one record in zone-file syntax.
func (s *Server) Add(t testing.TB, record string) {
	t.Helper()
	rr, err := dns.NewRR(record)
	if err != nil {
		t.Fatalf("dnsmxtest: record %q: %v", record, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rrs = append(s.rrs, rr)
}

// Remove drops every record of name.
func (s *Server) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = dns.Fqdn(strings.ToLower(name))
	kept := s.rrs[:0]
	for _, rr := range s.rrs {
		if !strings.EqualFold(rr.Header().Name, name) {
			kept = append(kept, rr)
		}
	}
	s.rrs = kept
}

// ServFail makes every question about name answer SERVFAIL.
func (s *Server) ServFail(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.servfail[dns.Fqdn(strings.ToLower(name))] = true
}

// Silent makes every question about name go unanswered (a timeout).
func (s *Server) Silent(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silent[dns.Fqdn(strings.ToLower(name))] = true
}

// Queries returns how many times name was asked about with type qtype
// ("MX", "A"…).
func (s *Server) Queries(name, qtype string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[dns.Fqdn(strings.ToLower(name))+" "+qtype]
}

// ServeDNS answers from the records: the records of the asked name and
// type, or its CNAME (without following it, as an authoritative server
// outside the target's zone would), NODATA when the name has other
// records, NXDOMAIN otherwise.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	s.mu.Lock()
	s.queries[name+" "+dns.TypeToString[q.Qtype]]++
	silent, servfail := s.silent[name], s.servfail[name]
	var answer []dns.RR
	exists := false
	for _, rr := range s.rrs {
		h := rr.Header()
		if !strings.EqualFold(h.Name, name) {
			continue
		}
		exists = true
		if h.Rrtype == q.Qtype || h.Rrtype == dns.TypeCNAME {
			answer = append(answer, dns.Copy(rr))
		}
	}
	s.mu.Unlock()
	if silent {
		return
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	switch {
	case servfail:
		m.Rcode = dns.RcodeServerFailure
	case !exists:
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{soa(name)}
	case len(answer) == 0:
		m.Ns = []dns.RR{soa(name)}
	default:
		m.Answer = answer
	}
	w.WriteMsg(m)
}

func soa(name string) dns.RR {
	return &dns.SOA{
		Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
		Ns:  "ns.invalid.", Mbox: "hostmaster.invalid.", Serial: 1,
		Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 30,
	}
}

// ServFailClear undoes ServFail.
func (s *Server) ServFailClear(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.servfail, dns.Fqdn(strings.ToLower(name)))
}
