package mta

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// received holds what one hop's Received header says (RFC 5321 4.4).
type received struct {
	helo     string
	ip       net.IP
	rdns     string
	by       string
	id       string
	esmtp    bool
	auth     bool
	tlsState *tls.ConnectionState
	// with, when set, is the protocol keyword itself (the web mail's
	// "HTTPS" hop), in place of the one made from esmtp, TLS and auth.
	with string
}

// header renders the Received header field, folded, with CRLF:
//
//	Received: from crepes.fr (localhost [127.0.0.1])
//		by mx.example.com with ESMTPS id abc123
//		(using TLS1.3 with cipher TLS_AES_128_GCM_SHA256)
//		for <bob@hamburger.edu>; Wed, 25 Nov 2026 10:00:00 +0000
//
// The protocol keyword follows RFC 3848: SMTP after HELO, ESMTP after
// EHLO, plus S with TLS and A with authentication.
func (r *received) header(rcpt string, now time.Time) []byte {
	var b strings.Builder
	b.Grow(256)
	helo := sanitize(r.helo)
	if helo == "" {
		helo = "unknown"
	}
	ip := "unknown"
	if r.ip != nil {
		ip = r.ip.String()
		if r.ip.To4() == nil {
			ip = "IPv6:" + ip
		}
	}
	rdns := sanitize(r.rdns)
	if rdns == "" {
		rdns = "unknown"
	}
	fmt.Fprintf(&b, "Received: from %s (%s [%s])\r\n\tby %s with %s id %s", helo, rdns, ip, r.by, r.protocol(), r.id)
	if r.tlsState != nil {
		fmt.Fprintf(&b, "\r\n\t(using %s with cipher %s)",
			strings.ReplaceAll(tls.VersionName(r.tlsState.Version), " ", ""), tls.CipherSuiteName(r.tlsState.CipherSuite))
	}
	if rcpt != "" {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", sanitize(rcpt))
	}
	fmt.Fprintf(&b, "; %s\r\n", now.Format(time.RFC1123Z))
	return []byte(b.String())
}

func (r *received) protocol() string {
	if r.with != "" {
		return r.with
	}
	if !r.esmtp && r.tlsState == nil && !r.auth {
		return "SMTP" // HELO, and no extension used
	}
	p := "ESMTP" // RFC 3848 has no SMTPS or SMTPA: TLS and AUTH are extensions
	if r.tlsState != nil {
		p += "S"
	}
	if r.auth {
		p += "A"
	}
	return p
}

// sanitize keeps client-chosen text (HELO, addresses) from breaking the
// header: no line breaks or other controls, no parentheses or other
// structure, no invalid UTF-8, and at most 255 bytes, so that the longest
// line of the header stays under RFC 5322's 998.
func sanitize(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				r = '_' // an invalid byte
			}
		}
		switch {
		case unicode.IsControl(r), r == '(', r == ')', r == ';', r == '<', r == '>', r == '[', r == ']':
			r = '_'
		}
		if b.Len()+utf8.RuneLen(r) > 255 {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
