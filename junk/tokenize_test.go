package junk

import (
	"slices"
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	tests := []struct {
		name    string
		msg     string
		want    []string
		notWant []string
	}{{
		name: "label fields are never read",
		msg: "From: Ann <ann@example.org>\r\nX-Spam-Status: Yes, score=12.0 hits=viagra\r\nX-Spam-Flag: YES\r\n" +
			"X-Petrel-Junk: score=0.99; tokens=\"cheapmeds\"\r\nSubject: lunch\r\n\r\nSee you at noon tomorrow.\r\n",
		want:    []string{"from:ann@example.org", "from:@example.org", "from:name:ann", "subject:lunch", "noon", "tomorrow"},
		notWant: []string{"yes", "viagra", "cheapmeds", "score", "x-spam-flag:yes"},
	}, {
		name: "html is text, links are hosts, scripts are skipped",
		msg: "Content-Type: text/html; charset=utf-8\r\n\r\n<html><body><p style=\"display:none\">hidden</p>" +
			"<a href=\"http://click.spammer.example.com/x?id=1\">Cheap PILLS</a><script>var tracker=1;</script>" +
			"<img src=\"https://img.host.test/a.gif\"></body></html>\r\n",
		want:    []string{"cheap", "pills", "hidden", "html:hidden", "url:click.spammer.example.com", "url:example.com", "url:img.host.test", "html:img", "ctype:text/html"},
		notWant: []string{"tracker", "href", "body", "<p"},
	}, {
		name: "base64 and quoted-printable parts are decoded, attachments named",
		msg: "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			"d29uZGVyZnVsIG9mZmVyIHRvZGF5\r\n--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
			"caf=E9 cr=E8me\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"invoice.EXE\"\r\n\r\nMZ\r\n--b--\r\n",
		want: []string{"wonderful", "offer", "today", "café", "crème", "filename:.exe", "ctype:application/octet-stream", "ctype:multipart/mixed", "charset:iso-8859-1"},
	}, {
		name: "encoded subject, long runs, e-mail addresses in text",
		msg:  "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\nWrite to sales@deals.example.net or see www.deals.example.net/now AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n",
		want: []string{"subject:grüße", "email:@deals.example.net", "url:www.deals.example.net", "url:example.net", "skip:a30", "write", "see"},
	}, {
		name: "received hosts and address prefixes",
		msg:  "Received: from mx.bad.example.com (unknown [192.0.2.77]) by mail.ours.test\r\n\r\nhi\r\n",
		want: []string{"received:example.com", "received:192.0.2", "received:ours.test"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Tokens(strings.NewReader(tt.msg))
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("missing %q in %q", w, got)
				}
			}
			for _, w := range tt.notWant {
				for _, g := range got {
					if strings.Contains(g, w) {
						t.Errorf("token %q has %q, which must not be read", g, w)
					}
				}
			}
			seen := map[string]bool{}
			for _, g := range got {
				if seen[g] {
					t.Errorf("token %q twice", g)
				}
				seen[g] = true
			}
		})
	}
}

func TestTokensBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("Subject: x\r\n\r\n")
	for i := 0; b.Len() < 4<<20; i++ {
		b.WriteString("word")
		b.WriteString(itoa(i))
		b.WriteString(" ")
	}
	got := Tokens(strings.NewReader(b.String()))
	if len(got) != MaxTokens {
		t.Errorf("%d tokens from a 4 MiB message of distinct words, want the bound %d", len(got), MaxTokens)
	}
	// Nested multiparts deeper than MaxDepth stop, they do not recurse on.
	var n strings.Builder
	for i := 0; i < 50; i++ {
		n.WriteString("Content-Type: multipart/mixed; boundary=b" + itoa(i) + "\r\n\r\n--b" + itoa(i) + "\r\n")
	}
	n.WriteString("Content-Type: text/plain\r\n\r\ndeepword\r\n")
	if got := Tokens(strings.NewReader(n.String())); slices.Contains(got, "deepword") {
		t.Errorf("text at depth 50 was read: %q", got)
	}
}

func FuzzTokens(f *testing.F) {
	for _, s := range []string{
		"Subject: hi\r\n\r\nbody\r\n",
		"Content-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\nContent-Type: text/html\r\n\r\n<a href=http://a.b/>x</a>\r\n--x--\r\n",
		"From: =?bogus?q?x?= <a@b>\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		toks := Tokens(strings.NewReader(string(msg)))
		if len(toks) > MaxTokens {
			t.Fatalf("%d tokens", len(toks))
		}
		seen := map[string]bool{}
		for _, tok := range toks {
			if tok == "" || seen[tok] {
				t.Fatalf("empty or repeated token %q", tok)
			}
			seen[tok] = true
			if labelField(strings.SplitN(tok, ":", 2)[0]) {
				t.Fatalf("token %q from a label field", tok)
			}
		}
	})
}
