package store

import (
	"strings"
)

// ParseAddressList reads an RFC 5322 address list (3.4) the tolerant way
// mail needs: comments anywhere are dropped (also inside an addr-spec:
// "<user (c)@ (c) example.org>"), obsolete route addresses
// ("<@route:user@example.org>", RFC 5322 4.4) keep their addr-spec, and a
// group ("team: a@b, c@d;") is returned as IMAP's ENVELOPE wants it (RFC
// 3501 7.4.2): a start marker {Mailbox: group name}, its members, an end
// marker {} (Host empty in both). Encoded words in display names are left
// as they are (the caller decodes). What cannot be read is skipped, never
// an error: a malformed entry does not hide the others.
func ParseAddressList(s string) []Address {
	p := addrParser{s: s}
	var out []Address
	for n := 0; n < 1000; n++ {
		p.skipCFWS()
		if p.done() {
			break
		}
		if p.peek() == ',' {
			p.i++
			continue
		}
		out = p.address(out)
	}
	return out
}

type addrParser struct {
	s string
	i int
}

func (p *addrParser) done() bool { return p.i >= len(p.s) }
func (p *addrParser) peek() byte { return p.s[p.i] }

// skipCFWS skips white space and (nested) comments.
func (p *addrParser) skipCFWS() {
	for !p.done() {
		switch c := p.peek(); {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			p.i++
		case c == '(':
			depth := 0
			for !p.done() {
				c := p.peek()
				p.i++
				if c == '\\' && !p.done() {
					p.i++
					continue
				}
				if c == '(' {
					depth++
				} else if c == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
		default:
			return
		}
	}
}

// phrase reads words and quoted strings up to one of stop (outside
// quotes and comments), dropping comments, joining words with a space.
func (p *addrParser) phrase(stop string) string {
	var words []string
	for {
		p.skipCFWS()
		if p.done() || strings.IndexByte(stop, p.peek()) >= 0 {
			return strings.Join(words, " ")
		}
		if p.peek() == '"' {
			words = append(words, p.quoted())
			continue
		}
		start := p.i
		for !p.done() {
			c := p.peek()
			if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '(' || c == '"' || strings.IndexByte(stop, c) >= 0 {
				break
			}
			p.i++
		}
		if p.i == start { // a character no rule takes
			p.i++
			continue
		}
		words = append(words, p.s[start:p.i])
	}
}

func (p *addrParser) quoted() string {
	p.i++ // the opening quote
	var b strings.Builder
	for !p.done() {
		c := p.peek()
		p.i++
		switch c {
		case '"':
			return b.String()
		case '\\':
			if !p.done() {
				b.WriteByte(p.peek())
				p.i++
			}
		case '\r', '\n':
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// address reads a mailbox or a group and appends it to out.
func (p *addrParser) address(out []Address) []Address {
	words := p.phrase(":<,;@")
	if p.done() {
		return appendAddrSpec(out, "", words)
	}
	switch p.peek() {
	case ':': // a group
		p.i++
		out = append(out, Address{Mailbox: words})
		for n := 0; n < 1000; n++ {
			p.skipCFWS()
			if p.done() {
				break
			}
			if c := p.peek(); c == ';' {
				p.i++
				break
			} else if c == ',' {
				p.i++
				continue
			}
			out = p.mailbox(out)
		}
		return append(out, Address{})
	case '<':
		return p.angle(out, words)
	case '@':
		p.i++
		host := p.phrase(",;")
		return appendAddrSpec(out, "", words+"@"+strings.ReplaceAll(host, " ", ""))
	}
	return appendAddrSpec(out, "", words)
}

// mailbox reads one mailbox (inside a group).
func (p *addrParser) mailbox(out []Address) []Address {
	words := p.phrase("<,;@")
	if !p.done() && p.peek() == '<' {
		return p.angle(out, words)
	}
	if !p.done() && p.peek() == '@' {
		p.i++
		host := p.phrase(",;")
		return appendAddrSpec(out, "", words+"@"+strings.ReplaceAll(host, " ", ""))
	}
	return appendAddrSpec(out, "", words)
}

// angle reads "<" [route ":"] addr-spec ">" after a display name.
func (p *addrParser) angle(out []Address, name string) []Address {
	p.i++ // "<"
	var spec strings.Builder
	for !p.done() {
		p.skipCFWS()
		if p.done() {
			break
		}
		c := p.peek()
		if c == '>' {
			p.i++
			break
		}
		if c == '"' {
			spec.WriteString(`"` + p.quoted() + `"`)
			continue
		}
		spec.WriteByte(c)
		p.i++
	}
	addr := spec.String()
	if strings.HasPrefix(addr, "@") { // obsolete route: "@a,@b:user@host"
		if i := strings.IndexByte(addr, ':'); i >= 0 {
			addr = addr[i+1:]
		}
	}
	return appendAddrSpec(out, name, addr)
}

func appendAddrSpec(out []Address, name, spec string) []Address {
	if spec == "" {
		return out
	}
	local, host := spec, ""
	if i := strings.LastIndexByte(spec, '@'); i >= 0 {
		local, host = spec[:i], spec[i+1:]
	}
	local = strings.Trim(local, `"`)
	if host == "" {
		// A bare word is a local mailbox; Host must not be empty, which
		// marks a group in ENVELOPE (Dovecot's placeholder).
		host = ".MISSING-HOST-NAME."
	}
	return append(out, Address{Name: name, Mailbox: local, Host: host})
}
