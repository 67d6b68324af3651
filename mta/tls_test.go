package mta

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// No SMTP listener hands out TLS session tickets (issue 13.7): a client
// that keeps them never resumes a session, after STARTTLS on 25 and 587,
// or on 465 with implicit TLS.
func TestNoTLSSessionTickets(t *testing.T) {
	ts := newTestServer(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ts.mta.ServeSubmissionTLS(l, ts.mta.opts.TLSConfig)
	implicit := l.Addr().String()

	for _, tc := range []struct {
		name, addr string
		starttls   bool
	}{{"smtp", ts.smtpAddr, true}, {"submission", ts.subAddr, true}, {"submissions", implicit, false}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
				cfg := ts.clientTLS.Clone()
				cfg.MinVersion, cfg.MaxVersion = version, version
				cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
				for i := range 2 {
					var d *dialog
					if tc.starttls {
						d = dial(t, tc.addr)
						d.read()
						d.expect("EHLO client.example", 250)
						d.startTLS(cfg)
					} else {
						dl := &tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
						ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
						c, err := dl.DialContext(ctx, "tcp", tc.addr)
						cancel()
						if err != nil {
							t.Fatal(err)
						}
						d = dialConn(t, c)
						d.read()
					}
					// A reply read after the handshake: TLS 1.3 tickets come then.
					d.expect("EHLO client.example", 250)
					if st := d.conn.(*tls.Conn).ConnectionState(); st.DidResume {
						t.Errorf("%s: connection %d resumed a TLS session", tls.VersionName(version), i+1)
					}
					d.expect("QUIT", 221)
				}
			}
		})
	}
}
