package msgauth_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"petrel/msgauth"
)

// testDNS is a real DNS server on 127.0.0.1 (UDP and TCP on one port)
// serving a zone the test fills in. Names in servfail get SERVFAIL; names in
// blackhole get no answer at all, so the client times out.
type testDNS struct {
	Addr    string
	queries atomic.Int64

	mu        sync.Mutex
	rrs       map[string][]dns.RR // by lower-case FQDN
	servfail  map[string]bool
	blackhole map[string]bool
}

func startDNS(t testing.TB) *testDNS {
	t.Helper()
	z := &testDNS{rrs: map[string][]dns.RR{}, servfail: map[string]bool{}, blackhole: map[string]bool{}}
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	// UDP and TCP must share the port, because the stub resolver retries a
	// truncated answer over TCP to the same address.
	for range 20 {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen udp: %v", err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatalf("listen tcp on the UDP port: %v", err)
	}
	z.Addr = pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: z}
	tcp := &dns.Server{Listener: ln, Handler: z}
	for _, s := range []*dns.Server{udp, tcp} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		udp.ShutdownContext(ctx)
		tcp.ShutdownContext(ctx)
	})
	return z
}

// Add adds records in zone-file syntax, e.g. `crepes.fr. TXT "v=spf1 -all"`.
func (z *testDNS) Add(t testing.TB, lines ...string) {
	t.Helper()
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil || rr == nil {
			t.Fatalf("bad test record %q: %v", l, err)
		}
		if rr.Header().Ttl == 0 {
			rr.Header().Ttl = 300
		}
		name := strings.ToLower(rr.Header().Name)
		z.rrs[name] = append(z.rrs[name], rr)
	}
}

// ServFail makes every query for name fail with SERVFAIL.
func (z *testDNS) ServFail(name string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.servfail[dns.Fqdn(strings.ToLower(name))] = true
}

// Blackhole makes every query for name go unanswered.
func (z *testDNS) Blackhole(name string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.blackhole[dns.Fqdn(strings.ToLower(name))] = true
}

func (z *testDNS) Queries() int64 { return z.queries.Load() }

func (z *testDNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	z.queries.Add(1)
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)

	z.mu.Lock()
	blackhole, servfail := z.blackhole[name], z.servfail[name]
	rrs, exists := z.rrs[name]
	for _, rr := range rrs {
		if rr.Header().Rrtype == q.Qtype {
			m.Answer = append(m.Answer, dns.Copy(rr))
		}
	}
	z.mu.Unlock()

	switch {
	case blackhole:
		return
	case servfail:
		m.Rcode = dns.RcodeServerFailure
	case !exists:
		m.Rcode = dns.RcodeNameError
	}
	size := dns.MinMsgSize
	if w.LocalAddr().Network() == "tcp" {
		size = dns.MaxMsgSize
	} else if opt := req.IsEdns0(); opt != nil {
		size = int(opt.UDPSize())
	}
	m.Truncate(size)
	w.WriteMsg(m)
}

// TestDNSServer checks the harness itself through NewNetResolver: answers,
// NXDOMAIN, SERVFAIL, and a TXT record too big for a 512-byte UDP answer.
func TestDNSServer(t *testing.T) {
	z := startDNS(t)
	long := strings.Repeat("a", 250)
	z.Add(t, `txt.example.com. TXT "hello"`, `big.example.com. TXT "`+long+`" "`+long+`" "`+long+`" "`+long+`" "`+long+`"`)
	z.ServFail("broken.example.com")
	r := msgauth.NewNetResolver(z.Addr)
	ctx := context.Background()

	got, err := r.LookupTXT(ctx, "txt.example.com")
	if err != nil || len(got) != 1 || got[0] != "hello" {
		t.Errorf("LookupTXT(txt) = %q, %v", got, err)
	}
	got, err = r.LookupTXT(ctx, "big.example.com")
	if err != nil || len(got) != 1 || len(got[0]) != 5*250 {
		t.Errorf("LookupTXT(big) = %d strings, %v; want one of %d bytes", len(got), err, 5*250)
	}
	_, err = r.LookupTXT(ctx, "nx.example.com")
	if de, ok := err.(*net.DNSError); !ok || !de.IsNotFound {
		t.Errorf("LookupTXT(nx) error = %#v, want NXDOMAIN", err)
	}
	_, err = r.LookupTXT(ctx, "broken.example.com")
	if de, ok := err.(*net.DNSError); !ok || !de.Temporary() {
		t.Errorf("LookupTXT(broken) error = %#v, want a temporary error", err)
	}
}
