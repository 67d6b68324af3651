package filter

import (
	"bytes"
	"fmt"
	"petrel/msgtext"
	"slices"
	"strings"

	milter "github.com/d--j/go-milter"
)

// header is a message split into its header fields and body, for sending
// to a filter and applying its edits.
type header struct {
	fields []field
	body   []byte // after the blank line
}

// field is one header field as it was received: raw is "Name: value\r\n"
// with any continuation lines.
type field struct {
	name string
	raw  []byte
}

// value is the field's value as milters get it: everything after the
// colon, folding kept, without the last line end.
func (f field) value() string {
	_, v, _ := bytes.Cut(f.raw, []byte(":"))
	return strings.TrimRight(string(v), "\r\n")
}

// parseHeader splits msg into its fields (msgtext.Fields) and body. A
// line that is not a field (no colon, or blanks in the name) ends the
// header there, as the message parsers of mail clients do: it and what
// follows are body.
func parseHeader(msg []byte) *header {
	h := &header{}
	for f := range msgtext.Fields(msg) {
		if !fieldName(f.Name) || bytes.ContainsAny(f.Raw[:len(f.Raw)-len(f.Value)-1], " \t") {
			h.body = msg[f.Start:]
			return h
		}
		h.fields = append(h.fields, field{name: string(f.Name), raw: f.Raw})
	}
	h.body = msg[msgtext.BodyStart(msg):]
	return h
}

// fieldName reports whether name is a header field name (RFC 5322 ftext:
// printable US-ASCII but the colon); what starts with anything else is
// body, as for a filter it always was.
func fieldName(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// bytes writes the header and body back as a message.
func (h *header) bytes() []byte {
	n := len(h.body) + 2
	for _, f := range h.fields {
		n += len(f.raw)
	}
	out := make([]byte, 0, n)
	for _, f := range h.fields {
		out = append(out, f.raw...)
		if !bytes.HasSuffix(f.raw, []byte("\n")) {
			out = append(out, "\r\n"...)
		}
	}
	out = append(out, "\r\n"...)
	return append(out, h.body...)
}

// newField makes a field a filter added: "Name: value", the value's line
// breaks (milters fold with "\n" and a tab) made CRLF.
func newField(name, value string) (field, error) {
	if name == "" || strings.ContainsAny(name, ": \t\r\n") || strings.IndexFunc(name, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
		return field{}, fmt.Errorf("filter gave a bad header field name %q", name)
	}
	value = strings.ReplaceAll(value, "\r\n", "\n")
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte(':')
	if value != "" && value[0] != ' ' && value[0] != '\t' {
		b.WriteByte(' ')
	}
	for i, line := range strings.Split(value, "\n") {
		if i > 0 {
			b.WriteString("\r\n")
			if line == "" || (line[0] != ' ' && line[0] != '\t') {
				line = "\t" + line // a continuation must start with white space
			}
		}
		b.WriteString(line)
	}
	b.WriteString("\r\n")
	return field{name: name, raw: []byte(b.String())}, nil
}

// envelopeEdits are a filter's changes to the envelope.
type envelopeEdits struct {
	from  *string
	rcpts []string
}

// apply makes a filter's end-of-message modifications to h and env, in
// the order given, and returns the message (nil when the header and body
// are unchanged), the number of edits and the quarantine reason if the
// filter asked for one.
func apply(h *header, mods []milter.ModifyAction, env *envelopeEdits) ([]byte, int, *string, error) {
	changed := false
	var quarantine *string
	var newBody []byte
	replaced := false
	edits := 0
	for _, m := range mods {
		switch m.Type {
		case milter.ActionAddHeader:
			f, err := newField(m.HeaderName, m.HeaderValue)
			if err != nil {
				return nil, 0, nil, err
			}
			h.fields = append(h.fields, f)
		case milter.ActionInsertHeader:
			f, err := newField(m.HeaderName, m.HeaderValue)
			if err != nil {
				return nil, 0, nil, err
			}
			i := min(int(m.HeaderIndex), len(h.fields))
			h.fields = append(h.fields[:i], append([]field{f}, h.fields[i:]...)...)
		case milter.ActionChangeHeader:
			if err := h.change(int(m.HeaderIndex), m.HeaderName, m.HeaderValue); err != nil {
				return nil, 0, nil, err
			}
		case milter.ActionReplaceBody:
			// A long body comes in several chunks, in order.
			newBody = append(newBody, m.Body...)
			replaced = true
		case milter.ActionQuarantine:
			r := m.Reason
			quarantine = &r
		case milter.ActionAddRcpt:
			r, err := envAddress(m.Rcpt)
			if err != nil || r == "" {
				return nil, 0, nil, fmt.Errorf("filter added a bad recipient %q", m.Rcpt)
			}
			if !slices.ContainsFunc(env.rcpts, func(x string) bool { return strings.EqualFold(x, r) }) {
				env.rcpts = append(slices.Clip(env.rcpts), r)
			}
		case milter.ActionDelRcpt:
			r, _ := envAddress(m.Rcpt)
			env.rcpts = slices.DeleteFunc(slices.Clone(env.rcpts), func(x string) bool { return strings.EqualFold(x, r) })
		case milter.ActionChangeFrom:
			f, err := envAddress(m.From)
			if err != nil {
				return nil, 0, nil, fmt.Errorf("filter set a bad sender %q", m.From)
			}
			env.from = &f
		default:
			return nil, 0, nil, fmt.Errorf("filter sent a modification it was not offered: %s", m)
		}
		switch m.Type {
		case milter.ActionAddHeader, milter.ActionInsertHeader, milter.ActionChangeHeader, milter.ActionReplaceBody:
			changed = true
		}
		edits++
	}
	if replaced {
		h.body = newBody
	}
	if !changed {
		return nil, edits, quarantine, nil
	}
	return h.bytes(), edits, quarantine, nil
}

// envAddress takes the address out of a filter's "<addr>" (angle brackets
// optional); "<>" is the null sender. Control characters, spaces and
// over-long addresses are refused.
func envAddress(s string) (string, error) {
	a := strings.TrimSpace(s)
	if strings.HasPrefix(a, "<") && strings.HasSuffix(a, ">") {
		a = a[1 : len(a)-1]
	}
	if len(a) > 320 || strings.ContainsFunc(a, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '<' || r == '>' }) {
		return "", fmt.Errorf("bad address %q", s)
	}
	return a, nil
}

// change sets the index-th (1-based) field called name (any case) to
// value; an empty value deletes it. A field that is not there is added
// (as Sendmail does), unless it was to be deleted.
func (h *header) change(index int, name, value string) error {
	n := 0
	for i, f := range h.fields {
		if !strings.EqualFold(f.name, name) {
			continue
		}
		n++
		if n != max(index, 1) {
			continue
		}
		if value == "" {
			h.fields = append(h.fields[:i], h.fields[i+1:]...)
			return nil
		}
		nf, err := newField(f.name, value)
		if err != nil {
			return err
		}
		h.fields[i] = nf
		return nil
	}
	if value == "" {
		return nil
	}
	nf, err := newField(name, value)
	if err != nil {
		return err
	}
	h.fields = append(h.fields, nf)
	return nil
}
