// Command benchdns is the benchmark's DNS server: for N in 1..-domains it
// answers MX dN.test -> 10 mx.dN.test and A mx.dN.test -> 127.0.1.N, and
// NXDOMAIN for every other name (SPF, DKIM, PTR lookups end fast). It
// serves UDP and TCP on one loopback address and stops on SIGINT/SIGTERM
// or after -max-time.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

func main() {
	addr := flag.String("addr", "127.0.0.4:5353", "loopback host:port to serve on (UDP and TCP)")
	domains := flag.Int("domains", 20, "number of destination domains d1.test … dN.test")
	maxTime := flag.Duration("max-time", 2*time.Hour, "exit after this long in any case")
	flag.Parse()

	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("benchdns: %q is not a loopback host:port", *addr)
	}
	zone := map[string][]dns.RR{}
	for n := 1; n <= *domains; n++ {
		d := fmt.Sprintf("d%d.test.", n)
		mx := "mx." + d
		zone[strings.ToLower(d)+"/MX"] = []dns.RR{&dns.MX{Hdr: hdr(d, dns.TypeMX), Preference: 10, Mx: mx}}
		zone[mx+"/A"] = []dns.RR{&dns.A{Hdr: hdr(mx, dns.TypeA), A: net.IPv4(127, 0, 1, byte(n))}}
		zone[mx+"/AAAA"] = nil // the name exists, without AAAA: NODATA
		zone[d+"/A"] = nil
		zone[d+"/AAAA"] = nil
	}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		if len(r.Question) == 1 {
			q := r.Question[0]
			name := strings.ToLower(q.Name)
			if rrs, ok := zone[name+"/"+dns.TypeToString[q.Qtype]]; ok {
				m.Answer = rrs
			} else if exists(zone, name) {
				// NODATA
			} else {
				m.Rcode = dns.RcodeNameError
			}
		}
		w.WriteMsg(m)
	})
	errc := make(chan error, 2)
	for _, netw := range []string{"udp", "tcp"} {
		s := &dns.Server{Addr: *addr, Net: netw, Handler: handler}
		go func() { errc <- s.ListenAndServe() }()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-errc:
		log.Fatalf("benchdns: %v", err)
	case <-sig:
	case <-time.After(*maxTime):
		log.Printf("benchdns: -max-time %v reached", *maxTime)
	}
}

func hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: 3600}
}

func exists(zone map[string][]dns.RR, name string) bool {
	for _, t := range []string{"MX", "A", "AAAA"} {
		if _, ok := zone[name+"/"+t]; ok {
			return true
		}
	}
	return false
}
