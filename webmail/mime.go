package webmail

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"html/template"
	"io"
	"mime/quotedprintable"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/emersion/go-message/charset"
	"github.com/microcosm-cc/bluemonday"

	"petrel/store"
)

// maxDecoded bounds what one part is decoded to for display.
const maxDecoded = 16 << 20

// walkParts calls fn for every leaf part (a message/rfc822 part is a
// leaf) with its IMAP section number ("1", "2.1", …).
func walkParts(p *store.Part, prefix string, fn func(sec string, q *store.Part)) {
	if p.Type != "multipart" {
		if prefix == "" {
			prefix = "1"
		}
		fn(prefix, p)
		return
	}
	for i, c := range p.Parts {
		sec := strconv.Itoa(i + 1)
		if prefix != "" {
			sec = prefix + "." + sec
		}
		if c.Type == "multipart" {
			walkParts(c, sec, fn)
		} else {
			fn(sec, c)
		}
	}
}

// partAt finds a leaf part by section number.
func partAt(top *store.Part, sec string) *store.Part {
	var found *store.Part
	walkParts(top, "", func(s string, q *store.Part) {
		if s == sec {
			found = q
		}
	})
	return found
}

func isText(p *store.Part, sub string) bool { return p.Type == "text" && p.Subtype == sub }

// isAttachment says whether a leaf part is an attachment rather than text
// to show: one marked so, one with a file name, or one not text/plain or
// text/html.
func isAttachment(p *store.Part) bool {
	if strings.EqualFold(p.Disposition, "attachment") {
		return true
	}
	if !isText(p, "plain") && !isText(p, "html") {
		return true
	}
	return false
}

// filename returns a part's file name, made safe to save: no directory,
// no control character, never empty.
func filename(p *store.Part, sec string) string {
	name := p.DispositionParams["filename"]
	if name == "" {
		name = p.Params["name"]
	}
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base(name)
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' || r == '/' {
			return '_'
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ".")
	if len(name) > 200 {
		name = name[:200]
	}
	if name == "" || name == "." {
		name = "part-" + sec
		if p.Type == "message" && p.Subtype == "rfc822" {
			name += ".eml"
		}
	}
	return name
}

// bodyPart is a part shown as the message's text.
type bodyPart struct {
	Section string
	HTML    bool
	Text    template.HTML // text/plain, escaped and with links
}

// attachment is a part listed for download.
type attachment struct {
	Section, Name, Type string
	Size                int64
}

// layout sorts the leaf parts of a message into what is shown (choosing
// one of each multipart/alternative) and what is listed as attachments.
func layout(top *store.Part, preferHTML bool) (shown []string, atts []attachment) {
	var walk func(p *store.Part, prefix string)
	leaf := func(p *store.Part, sec string) {
		if isAttachment(p) {
			atts = append(atts, attachment{Section: sec, Name: filename(p, sec), Type: p.Type + "/" + p.Subtype, Size: p.Size()})
		} else {
			shown = append(shown, sec)
		}
	}
	join := func(prefix string, i int) string {
		if prefix == "" {
			return strconv.Itoa(i + 1)
		}
		return prefix + "." + strconv.Itoa(i+1)
	}
	walk = func(p *store.Part, prefix string) {
		if p.Type != "multipart" {
			if prefix == "" {
				prefix = "1"
			}
			leaf(p, prefix)
			return
		}
		if p.Subtype == "alternative" && len(p.Parts) > 0 {
			best, score := -1, -1
			for i := len(p.Parts) - 1; i >= 0; i-- {
				c := p.Parts[i]
				sc := 0
				switch {
				case isText(c, "html") || (c.Type == "multipart" && c.Subtype == "related"):
					sc = 1
					if preferHTML {
						sc = 2
					}
				case isText(c, "plain"):
					sc = 2
					if preferHTML {
						sc = 1
					}
				case c.Type == "multipart":
					sc = 1
				}
				if sc > score {
					best, score = i, sc
				}
			}
			c := p.Parts[best]
			if c.Type == "multipart" {
				walk(c, join(prefix, best))
			} else {
				leaf(c, join(prefix, best))
			}
			return
		}
		for i, c := range p.Parts {
			walk(c, join(prefix, i))
		}
	}
	walk(top, "")
	return shown, atts
}

// decodeBody returns a leaf part's body, its transfer encoding undone and,
// for text, converted to UTF-8.
func decodeBody(c *store.Content, p *store.Part, text bool) ([]byte, error) {
	raw := c.Slice(p.BodyStart, min(p.Size(), maxDecoded*2))
	var r io.Reader = bytes.NewReader(raw)
	switch strings.ToLower(p.Encoding) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &base64Filter{r: r})
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	}
	if text {
		cs := strings.ToLower(p.Params["charset"])
		if cs != "" && cs != "utf-8" && cs != "us-ascii" && cs != "utf8" {
			if cr, err := charset.Reader(cs, r); err == nil {
				r = cr
			}
		}
	}
	out, err := io.ReadAll(io.LimitReader(r, maxDecoded))
	if err != nil && len(out) == 0 {
		return nil, fmt.Errorf("decode part: %w", err)
	}
	if text {
		out = bytes.ToValidUTF8(out, []byte("\uFFFD"))
	}
	return out, nil
}

// base64Filter drops what a base64 body may have besides the alphabet
// (spaces, stray characters) so that decoding goes on.
type base64Filter struct{ r io.Reader }

func (f *base64Filter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	j := 0
	for _, c := range p[:n] {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' {
			p[j] = c
			j++
		}
	}
	if j == 0 && err == nil && n > 0 {
		return f.Read(p)
	}
	return j, err
}

var linkRE = regexp.MustCompile(`(?i)\b(?:https?://|mailto:)[^\s<>"'\x60]+`)

// linkify escapes plain text for HTML and makes its http(s) and mailto
// URLs into links that open elsewhere and send no referrer.
func linkify(text string) template.HTML {
	var b strings.Builder
	b.Grow(len(text) + len(text)/8)
	last := 0
	for _, m := range linkRE.FindAllStringIndex(text, -1) {
		start, end := m[0], m[1]
		for end > start && strings.ContainsRune(".,;:!?)]}'", rune(text[end-1])) {
			end--
		}
		u := text[start:end]
		rest := strings.TrimPrefix(u[strings.IndexByte(u, ':')+1:], "//")
		if _, err := url.Parse(u); err != nil || rest == "" || !linkRE.MatchString(u) {
			continue
		}
		b.WriteString(html.EscapeString(text[last:start]))
		fmt.Fprintf(&b, `<a href="%s" rel="noopener noreferrer" target="_blank">%s</a>`, html.EscapeString(u), html.EscapeString(u))
		last = end
	}
	b.WriteString(html.EscapeString(text[last:]))
	return template.HTML(b.String())
}

// sanitizeHTML keeps the harmless part of a mail's HTML: no script in any
// form, no form, no frame, no <base>, <meta> or <link>, no style sheet
// (style attributes only with properties bluemonday checks), links that
// open elsewhere without referrer. Remote images are removed unless
// images is true; it returns how many were.
func sanitizeHTML(body []byte, images bool) ([]byte, int) {
	p := bluemonday.UGCPolicy()
	p.AllowRelativeURLs(false)
	p.AllowURLSchemes("http", "https", "mailto")
	p.AllowDataURIImages()
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	p.AllowElements("center", "font", "span", "div")
	p.AllowAttrs("color", "face", "size").OnElements("font")
	p.AllowAttrs("align", "valign", "bgcolor", "width", "height", "border", "cellpadding", "cellspacing").OnElements("table", "tr", "td", "th", "tbody", "thead", "div", "p", "img")
	p.AllowStyles("color", "background-color", "font-size", "font-weight", "font-style", "font-family", "text-align",
		"text-decoration", "line-height", "vertical-align", "width", "max-width", "height", "margin", "margin-top",
		"margin-bottom", "margin-left", "margin-right", "padding", "padding-top", "padding-bottom", "padding-left",
		"padding-right", "border", "border-collapse", "white-space").Globally()
	blocked := 0
	p.RewriteSrc(func(u *url.URL) {
		if u.Scheme == "data" {
			return
		}
		if !images || (u.Scheme != "http" && u.Scheme != "https") {
			blocked++
			*u = url.URL{}
		}
	})
	out := p.SanitizeBytes(body)
	return out, blocked
}
