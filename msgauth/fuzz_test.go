package msgauth

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"petrel/msgtext"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
)

// FuzzStripAuthResults: the output is the input minus whole fields, keeps
// the body, is a fixed point, and holds no field with our authserv-id.
func FuzzStripAuthResults(f *testing.F) {
	f.Add([]byte("Authentication-Results: mx.petrel.test; spf=pass\r\nSubject: x\r\n\r\nbody\r\n"), "mx.petrel.test")
	f.Add([]byte("Authentication-Results: (c) \"mx.petrel.test\" 1;\r\n dkim=pass\nX: y\n\nA-R: z"), "mx.petrel.test")
	f.Add([]byte("Authentication-Results:mx.petrel.test"), "MX.petrel.test.")
	f.Add([]byte(" leading continuation\r\nAuthentication-Results: x; a=b\r\n"), "x")
	f.Fuzz(func(t *testing.T, msg []byte, id string) {
		out := StripAuthResults(msg, id)
		if len(out) > len(msg) {
			t.Fatalf("output longer than input")
		}
		if again := StripAuthResults(out, id); !bytes.Equal(again, out) {
			t.Fatalf("not a fixed point:\n%q\n%q", out, again)
		}
		inFields := scanHeader(msg)
		if !bytes.HasSuffix(out, msg[len(msgtext.HeaderSection(msg)):]) {
			t.Fatalf("body changed")
		}
		outFields := scanHeader(out)
		j := 0
		for _, of := range outFields {
			for j < len(inFields) && !bytes.Equal(msg[inFields[j].start:inFields[j].end], out[of.start:of.end]) {
				j++
			}
			if j == len(inFields) {
				t.Fatalf("output field %q is not an input field", out[of.start:of.end])
			}
			j++
			want := normID(id)
			if want != "" && of.is("Authentication-Results") && strings.EqualFold(strings.TrimRight(authservIDOf(of.value(out)), "."), want) {
				t.Fatalf("field with our id kept: %q", out[of.start:of.end])
			}
		}
	})
}

// FuzzFormatHeader: whatever the sender put in MAIL FROM, HELO, d= or the
// From domain, our header stays one well-formed field that authres parses
// back with our id, and StripAuthResults recognizes it as ours.
func FuzzFormatHeader(f *testing.F) {
	f.Add("mx.petrel.test", "alice@crepes.fr", "mail.crepes.fr", "crepes.fr", "body hash did not verify", "crepes.fr", uint8(0))
	f.Add("mx.petrel.test", "a\"b;c\r\nX-Injected: 1@x", "evil\r\n\r\nbody", "d=(x)", "\\\"", "é.example", uint8(3))
	f.Add("", "", "", "", "", "", uint8(255))
	f.Fuzz(func(t *testing.T, id, mailFrom, helo, dkimDomain, dkimErr, fromDomain string, sel uint8) {
		results := []string{"pass", "fail", "softfail", "none", "temperror", "permerror", "neutral"}
		res := results[int(sel)%len(results)]
		spf := SPFOutcome{Result: res, Identity: "mailfrom", Domain: helo, Sender: mailFrom}
		if sel&8 != 0 {
			spf.Identity = "helo"
		}
		var dkims []DKIMOutcome
		if sel&16 != 0 {
			dkims = append(dkims, DKIMOutcome{Result: res, Domain: dkimDomain, Identifier: "@" + dkimDomain, Err: errString(dkimErr)})
		}
		var dmarcs []DMARCOutcome
		if sel&32 != 0 {
			dmarcs = append(dmarcs, DMARCOutcome{Result: "fail", Domain: fromDomain, Policy: "reject", Applied: "quarantine"})
		}
		h := formatHeader(id, spf, dkims, dmarcs)

		if !strings.HasPrefix(h, "Authentication-Results: ") || !strings.HasSuffix(h, "\r\n") {
			t.Fatalf("not a field: %q", h)
		}
		body := strings.TrimSuffix(strings.TrimPrefix(h, "Authentication-Results: "), "\r\n")
		unfolded := strings.ReplaceAll(body, "\r\n\t", " ")
		for i := 0; i < len(unfolded); i++ {
			if c := unfolded[i]; c < 0x20 || c > 0x7e {
				t.Fatalf("byte %#x outside folding in %q", c, h)
			}
		}
		wantID := normID(id)
		if wantID == "" {
			wantID = "localhost"
		}
		gotID, parsed, err := authres.Parse(unfolded)
		if err != nil || gotID != wantID {
			t.Fatalf("authres.Parse(%q) = %q, %v; want id %q", unfolded, gotID, err, wantID)
		}
		if want := 1 + max(1, len(dkims)) + max(1, len(dmarcs)); len(parsed) != want {
			t.Fatalf("parsed %d results, want %d: %q", len(parsed), want, h)
		}
		if out := StripAuthResults([]byte(h+"\r\nbody"), wantID); string(out) != "\r\nbody" {
			t.Fatalf("StripAuthResults did not recognize our own header: %q", out)
		}
	})
}

type errString string

func (e errString) Error() string { return string(e) }

// FuzzAuthorDomains: any header gives at most maxAuthorDomains valid,
// distinct domains.
func FuzzAuthorDomains(f *testing.F) {
	f.Add([]byte("From: Alice <alice@crepes.fr>, bob@example.com\r\nFrom: =?utf-8?q?x?= <x@y.example>\r\n\r\n"))
	f.Add([]byte("From: \"a@b.example\" <c@d.example>>\r\n\r\n"))
	f.Add([]byte("from:@@@.\n\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		ds := authorDomains(msg)
		if len(ds) > maxAuthorDomains {
			t.Fatalf("%d domains", len(ds))
		}
		seen := map[string]bool{}
		for _, d := range ds {
			if n, ok := normalizeDomain(d); !ok || n != d || seen[d] {
				t.Fatalf("bad or repeated domain %q in %q", d, ds)
			}
			seen[d] = true
		}
	})
}

// mapResolver serves TXT records from a map and NXDOMAIN for the rest, with
// no network, so Verify can be fuzzed fast.
type mapResolver map[string][]string

func (m mapResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := m[strings.ToLower(strings.TrimSuffix(name, "."))]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}
func (m mapResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}
func (m mapResolver) LookupIPAddr(_ context.Context, name string) ([]net.IPAddr, error) {
	return []net.IPAddr{{IP: net.ParseIP("192.0.2.10")}}, nil
}
func (m mapResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
}

// FuzzVerify feeds hostile messages and envelopes to the whole Verify path
// (header scan, From parsing, DKIM parsing and verification, SPF macros):
// it must return a well-formed verdict, never panic or hang.
func FuzzVerify(f *testing.F) {
	dir := f.TempDir()
	rec, err := GenerateKey(dir, "example.com", "ed", "ed25519")
	if err != nil {
		f.Fatal(err)
	}
	s, err := LoadSigner(dir)
	if err != nil {
		f.Fatal(err)
	}
	key := strings.Join(strings.Split(strings.SplitN(rec, "TXT ", 2)[1], `" "`), "")
	res := mapResolver{
		"ed._domainkey.example.com": {strings.Trim(key, `"`)},
		"example.com":               {"v=spf1 a mx include:%{d}.%{i}.x.example exists:%{l}.%{h}.example ip4:192.0.2.10 -all"},
		"_dmarc.example.com":        {"v=DMARC1; p=reject; pct=50; sp=quarantine"},
	}
	v := NewVerifier(Options{Hostname: "mx.petrel.test", Resolver: res, Logger: slog.New(slog.DiscardHandler), CacheTTL: -1})
	msg := []byte("From: alice@example.com\r\nSubject: hi\r\n\r\nhello\r\n")
	signed, err := s.Sign("example.com", msg)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed, "alice@example.com", "mail.example.com")
	f.Add(msg, "", "example.com")
	f.Add([]byte("DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=ed; h=from; bh=; b=\r\nFrom: a@example.com\r\n\r\n"), "x@[1.2.3.4]", "")
	f.Fuzz(func(t *testing.T, msg []byte, mailFrom, helo string) {
		vd, err := v.Verify(context.Background(), Input{RemoteIP: net.ParseIP("198.51.100.7"), Helo: helo, MailFrom: mailFrom, Message: msg})
		if err != nil {
			t.Fatal(err)
		}
		if vd.Action < Accept || vd.Action > Reject || !strings.HasPrefix(vd.Header, "Authentication-Results: ") {
			t.Fatalf("bad verdict %+v", vd)
		}
		if strings.Count(vd.Header, "\n") != strings.Count(vd.Header, "\r\n\t")+1 {
			t.Fatalf("header has stray line breaks: %q", vd.Header)
		}
	})
}
