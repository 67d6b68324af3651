package dnsguide_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// zoneServer is an authoritative DNS server on 127.0.0.1 (UDP and TCP)
// answering from zone-file lines, with names that answer SERVFAIL.
type zoneServer struct {
	mu       sync.Mutex
	rrs      []dns.RR
	servfail map[string]bool
}

func startZone(t *testing.T, zone string, servfail ...string) *net.Resolver {
	t.Helper()
	z := &zoneServer{servfail: map[string]bool{}}
	for _, n := range servfail {
		z.servfail[dns.CanonicalName(n)] = true
	}
	for _, line := range strings.Split(zone, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatalf("bad zone line %q: %v", line, err)
		}
		z.rrs = append(z.rrs, rr)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	udp := &dns.Server{PacketConn: pc, Handler: z}
	tcp := &dns.Server{Listener: ln, Handler: z}
	var wg sync.WaitGroup
	wg.Add(2)
	udp.NotifyStartedFunc, tcp.NotifyStartedFunc = wg.Done, wg.Done
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	wg.Wait()
	t.Cleanup(func() { udp.Shutdown(); tcp.Shutdown() })
	udpAddr, tcpAddr := pc.LocalAddr().String(), ln.Addr().String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			if strings.HasPrefix(network, "tcp") {
				return d.DialContext(ctx, "tcp", tcpAddr)
			}
			return d.DialContext(ctx, "udp", udpAddr)
		},
	}
}

func (z *zoneServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.servfail[name] {
		m.Rcode = dns.RcodeServerFailure
		w.WriteMsg(m)
		return
	}
	exists := false
	for hops := 0; hops < 8; hops++ {
		var cname string
		for _, rr := range z.rrs {
			h := rr.Header()
			if dns.CanonicalName(h.Name) != name {
				continue
			}
			exists = true
			if h.Rrtype == q.Qtype {
				m.Answer = append(m.Answer, rr)
			} else if c, ok := rr.(*dns.CNAME); ok {
				m.Answer = append(m.Answer, rr)
				cname = dns.CanonicalName(c.Target)
			}
		}
		if cname == "" || q.Qtype == dns.TypeCNAME {
			break
		}
		name = cname
	}
	if !exists {
		m.Rcode = dns.RcodeNameError
	}
	if _, isUDP := w.RemoteAddr().(*net.UDPAddr); isUDP {
		size := dns.MinMsgSize
		if o := req.IsEdns0(); o != nil {
			size = int(o.UDPSize())
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}
