package junk

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
)

// html reduces an HTML part to its text, adding a token for each link's
// host (href, src) and for the markup spam favours (hidden text, images,
// forms). Script and style contents are skipped.
func (t *tokenizer) html(b []byte) []byte {
	var out bytes.Buffer
	z := html.NewTokenizer(bytes.NewReader(b))
	skip := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			return out.Bytes()
		case html.TextToken:
			if skip == 0 {
				out.Write(z.Text())
				out.WriteByte(' ')
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			switch tag {
			case "script", "style":
				skip++
			case "img", "form", "iframe", "object", "embed", "table", "font":
				t.add("html:" + tag)
			}
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				switch string(k) {
				case "href", "src", "action":
					t.url(strings.ToLower(strings.TrimSpace(string(v))))
				case "style":
					if s := strings.ToLower(string(v)); strings.Contains(s, "display:none") || strings.Contains(s, "visibility:hidden") {
						t.add("html:hidden")
					}
				}
			}
			out.WriteByte(' ')
		case html.EndTagToken:
			name, _ := z.TagName()
			if (string(name) == "script" || string(name) == "style") && skip > 0 {
				skip--
			}
			out.WriteByte(' ')
		}
	}
}
