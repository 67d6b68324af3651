package webmail

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"petrel/search"
	"petrel/store"
)

// dangerous finds what must never leave the sanitizer: script elements,
// event handler attributes, script URLs, frames, forms, <base>, <meta>,
// <link>, <style>, SVG, CSS url() or expression().
var dangerous = regexp.MustCompile(`(?i)<\s*(script|iframe|frame|object|embed|form|base|meta|link|style|svg|math|input|button|textarea|select|isindex|template|noscript)\b|\son[a-z]+\s*=|javascript:|vbscript:|data:text|expression\s*\(|url\s*\(|srcdoc|formaction|xlink:href|\sbackground\s*=`)

func TestSanitizeCorpus(t *testing.T) {
	files, _ := filepath.Glob("testdata/hostile/*.eml")
	if len(files) == 0 {
		t.Fatal("no corpus")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msg := strings.ReplaceAll(string(raw), "\n", "\r\n")
		top := store.ParseStructure([]byte(msg))
		c := &store.Content{Body: []byte(msg)}
		walkParts(top, "", func(sec string, p *store.Part) {
			if !isText(p, "html") {
				return
			}
			body, err := decodeBody(c, p, true)
			if err != nil {
				t.Fatal(err)
			}
			for _, images := range []bool{false, true} {
				out, _ := sanitizeHTML(body, images)
				if m := dangerous.Find(out); m != nil {
					t.Errorf("%s part %s (images=%v): %q left in\n%s", f, sec, images, m, out)
				}
				if !images && strings.Contains(string(out), "CANARY") && regexp.MustCompile(`src="[^"]*CANARY`).Match(out) {
					t.Errorf("%s: remote image left in with images blocked:\n%s", f, out)
				}
			}
		})
	}
}

func TestLinkify(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"see https://a.example/x.", `see <a href="https://a.example/x" rel="noopener noreferrer" target="_blank">https://a.example/x</a>.`},
		{"<b>&", "&lt;b&gt;&amp;"},
		{`"https://a.example/?q=<script>"`, `&#34;<a href="https://a.example/?q=" rel="noopener noreferrer" target="_blank">https://a.example/?q=</a>&lt;script&gt;&#34;`},
		{"javascript:alert(1) ftp://x", "javascript:alert(1) ftp://x"},
		{"mail mailto:a@b.example", `mail <a href="mailto:a@b.example" rel="noopener noreferrer" target="_blank">mailto:a@b.example</a>`},
	} {
		if got := string(linkify(tc.in)); got != tc.want {
			t.Errorf("linkify(%q) =\n%s\nwant\n%s", tc.in, got, tc.want)
		}
	}
}

func TestLayout(t *testing.T) {
	msg := "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n--b\r\nContent-Type: multipart/related; boundary=c\r\n\r\n--c\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--c\r\nContent-Type: image/png\r\nContent-ID: <i>\r\n\r\nPNG\r\n--c--\r\n--b--\r\n--a\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\n\r\nPDF\r\n--a--\r\n"
	top := store.ParseStructure([]byte(msg))
	shown, atts := layout(top, true)
	if strings.Join(shown, ",") != "1.2.1" || len(atts) != 2 || atts[0].Section != "1.2.2" || atts[1].Name != "r.pdf" {
		t.Errorf("html: shown %v, attachments %+v", shown, atts)
	}
	shown, _ = layout(top, false)
	if strings.Join(shown, ",") != "1.1" {
		t.Errorf("text: shown %v", shown)
	}
}

func FuzzSanitizeHTML(f *testing.F) {
	files, _ := filepath.Glob("testdata/hostile/*.eml")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Add([]byte(`<a href="javascript:x">x</a><img src=http://x onerror=y>`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, _ := sanitizeHTML(in, false)
		z := html.NewTokenizer(strings.NewReader(string(out)))
		for {
			tt := z.Next()
			if tt == html.ErrorToken {
				break
			}
			if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
				continue
			}
			tok := z.Token()
			switch tok.Data {
			case "script", "iframe", "object", "embed", "form", "base", "meta", "link", "style", "svg":
				t.Fatalf("%s element left in: %q", tok.Data, out)
			}
			for _, a := range tok.Attr {
				v := strings.ToLower(strings.TrimSpace(a.Val))
				isURL := a.Key == "href" || a.Key == "src" || a.Key == "action" || a.Key == "cite" || a.Key == "background" || a.Key == "poster"
				if strings.HasPrefix(a.Key, "on") || (isURL && !strings.HasPrefix(v, "http") && !strings.HasPrefix(v, "mailto:") && !strings.HasPrefix(v, "data:image/") && v != "") ||
					(a.Key == "src" && (strings.HasPrefix(v, "http") || strings.HasPrefix(v, "//"))) {
					t.Fatalf("attribute %s=%q left in: %q", a.Key, a.Val, out)
				}
			}
		}
	})
}

func FuzzLinkify(f *testing.F) {
	f.Add("see https://a.example/x?y=<z>&w. and mailto:a@b")
	f.Fuzz(func(t *testing.T, in string) {
		out := string(linkify(in))
		z := html.NewTokenizer(strings.NewReader(out))
		for {
			tt := z.Next()
			if tt == html.ErrorToken {
				break
			}
			if tt == html.StartTagToken || tt == html.SelfClosingTagToken {
				tok := z.Token()
				if tok.Data != "a" || len(tok.Attr) != 3 {
					t.Fatalf("linkify made %v from %q: %s", tok, in, out)
				}
				if h := strings.ToLower(tok.Attr[0].Val); !strings.HasPrefix(h, "http://") && !strings.HasPrefix(h, "https://") && !strings.HasPrefix(h, "mailto:") {
					t.Fatalf("link to %q", h)
				}
			}
		}
	})
}

func FuzzParseQuery(f *testing.F) {
	f.Add(`from:alice "two words" since:2026-01-02 before:x body:`)
	f.Fuzz(func(t *testing.T, in string) {
		q := parseQuery(in)
		c := q.criteria()
		root := &store.Part{Type: "text", Subtype: "plain", Envelope: &store.Envelope{Subject: in}}
		m := &search.Msg{Meta: &store.Message{}, C: &store.Content{Body: []byte(in)}, Root: root}
		search.Match(c, m)
	})
}
