package mta

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"
)

// The syntax of SMTP commands (RFC 5321 4.1) as the server loop (conn.go)
// reads them: a verb, a space, an argument; the paths of MAIL and RCPT
// and their ESMTP parameters (RFC 5321 4.1.2, RFC 1870, 6152, 6531, 4954).

// parseCommand splits a command line (without its CRLF) into its upper-case
// verb and its argument, with the spaces around the argument removed.
func parseCommand(line string) (verb, arg string) {
	verb, arg, _ = strings.Cut(line, " ")
	return strings.ToUpper(verb), strings.Trim(arg, " \t")
}

// cutPrefixFold is strings.CutPrefix, ignoring case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// parseHelo returns the domain (or address literal) of HELO or EHLO: its
// first word. RFC 5321 4.1.1.1 allows nothing else, but some clients add
// words after it, which are ignored.
func parseHelo(arg string) (string, error) {
	domain, _, _ := strings.Cut(arg, " ")
	if domain == "" {
		return "", errors.New("missing domain")
	}
	return domain, nil
}

// parseMailArg parses the argument of MAIL ("FROM:<path> params"): the
// reverse-path ("" for the null sender <>) and the parameters.
func parseMailArg(arg string) (from string, params []param, err error) {
	rest, ok := cutPrefixFold(arg, "FROM:")
	if !ok {
		return "", nil, errors.New("want MAIL FROM:<address>")
	}
	rest = strings.TrimLeft(rest, " ")
	if r, ok := strings.CutPrefix(rest, "<>"); ok {
		params, err = parseParams(r)
		return "", params, err
	}
	from, rest, err = parsePath(rest)
	if err != nil {
		return "", nil, err
	}
	params, err = parseParams(rest)
	return from, params, err
}

// parseRcptArg parses the argument of RCPT ("TO:<path> params"); the
// forward-path may be <Postmaster> without a domain (RFC 5321 4.1.1.3).
func parseRcptArg(arg string) (to string, params []param, err error) {
	rest, ok := cutPrefixFold(arg, "TO:")
	if !ok {
		return "", nil, errors.New("want RCPT TO:<address>")
	}
	rest = strings.TrimLeft(rest, " ")
	if r, ok := cutPrefixFold(rest, "<postmaster>"); ok {
		params, err = parseParams(r)
		return rest[1:11], params, err
	}
	to, rest, err = parsePath(rest)
	if err != nil {
		return "", nil, err
	}
	params, err = parseParams(rest)
	return to, params, err
}

// parsePath parses a path: an optional '<', an optional source route
// ("@relay,@relay:", dropped as RFC 5321 4.1.1.3 allows), the mailbox, the
// '>' that matches. It returns the mailbox and what follows the path.
func parsePath(s string) (mailbox, rest string, err error) {
	bracket := strings.HasPrefix(s, "<")
	if bracket {
		s = s[1:]
	}
	if strings.HasPrefix(s, "@") {
		i := strings.IndexByte(s, ':')
		if i < 0 {
			return "", "", errors.New("source route without ':'")
		}
		s = s[i+1:]
	}
	mailbox, s, err = parseMailbox(s)
	if err != nil {
		return "", "", err
	}
	if bracket {
		if !strings.HasPrefix(s, ">") {
			return "", "", errors.New("missing '>'")
		}
		s = s[1:]
	}
	if s != "" && s[0] != ' ' {
		return "", "", errors.New("junk after the address")
	}
	return mailbox, s, nil
}

// parseMailbox parses local-part@domain. The local part is a dot-string or
// a quoted string (kept with its quotes removed, as go-smtp's server did,
// so that splitAddress sees the same address); the domain runs to a space or '>'.
func parseMailbox(s string) (mailbox, rest string, err error) {
	var b strings.Builder
	if strings.HasPrefix(s, `"`) {
		i := 1
		for ; ; i++ {
			if i >= len(s) {
				return "", "", errors.New("unterminated quoted local part")
			}
			if s[i] == '\\' && i+1 < len(s) {
				i++
			} else if s[i] == '"' {
				break
			}
			b.WriteByte(s[i])
		}
		s = s[i+1:]
	} else {
		i := 0
		for ; i < len(s) && s[i] != '@'; i++ {
			switch s[i] {
			case '(', ')', '<', '>', '[', ']', ':', ';', '\\', ',', '"', ' ', '\t':
				return "", "", errors.New("bad character in the local part")
			}
		}
		b.WriteString(s[:i])
		s = s[i:]
	}
	if b.Len() == 0 {
		return "", "", errors.New("empty local part")
	}
	if !strings.HasPrefix(s, "@") {
		return "", "", errors.New("missing '@'")
	}
	i := 1
	for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '>' {
		i++
	}
	if i == 1 {
		return "", "", errors.New("empty domain")
	}
	if strings.Contains(s[1:i], "@") {
		return "", "", errors.New("more than one '@'")
	}
	b.WriteString(s[:i])
	return b.String(), s[i:], nil
}

// param is one ESMTP parameter of MAIL or RCPT: keyword (upper case) and
// value ("" when it has none).
type param struct{ key, value string }

// parseParams splits "KEY=value KEY" into parameters; a keyword given
// twice is an error.
func parseParams(s string) ([]param, error) {
	var out []param
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		k = strings.ToUpper(k)
		if k == "" {
			return nil, errBadParam(fmt.Sprintf("parameter %q has no keyword", f))
		}
		for _, p := range out {
			if p.key == k {
				return nil, errBadParam(fmt.Sprintf("parameter %s given twice", k))
			}
		}
		out = append(out, param{k, v})
	}
	return out, nil
}

// errBadParam is a parameter that is not keyword[=value], or given
// twice: 501 5.5.4.
type errBadParam string

func (e errBadParam) Error() string { return string(e) }

// errUnknownParam is a parameter of no extension this server offers: RFC
// 5321 4.1.1.11's 555.
type errUnknownParam string

func (e errUnknownParam) Error() string { return string(e) }

// mailOptions checks MAIL's parameters against the extensions offered.
func mailOptions(params []param) (*smtp.MailOptions, error) {
	opts := &smtp.MailOptions{}
	for _, p := range params {
		switch p.key {
		case "SIZE":
			n, err := strconv.ParseUint(p.value, 10, 63)
			if err != nil {
				return nil, fmt.Errorf("SIZE=%q is not a number", p.value)
			}
			opts.Size = int64(n)
		case "BODY":
			switch v := smtp.BodyType(strings.ToUpper(p.value)); v {
			case smtp.Body7Bit, smtp.Body8BitMIME:
				opts.Body = v
			case smtp.BodyBinaryMIME:
				return nil, errUnknownParam("BODY=BINARYMIME is not offered")
			default:
				return nil, fmt.Errorf("BODY=%q is neither 7BIT nor 8BITMIME", p.value)
			}
		case "SMTPUTF8":
			if p.value != "" {
				return nil, errors.New("SMTPUTF8 takes no value")
			}
			opts.UTF8 = true
		case "AUTH":
			// RFC 4954 5: the submitter's identity, xtext; "<>" for none.
			v, err := decodeXtext(p.value)
			if err != nil || v == "" {
				return nil, fmt.Errorf("AUTH=%q is not an xtext address", p.value)
			}
			if v == "<>" {
				v = ""
			} else if mb, rest, err := parseMailbox(v); err != nil || rest != "" {
				return nil, fmt.Errorf("AUTH=%q is not an address", p.value)
			} else {
				v = mb
			}
			opts.Auth = &v
		default:
			return nil, errUnknownParam(fmt.Sprintf("MAIL parameter %s is not offered", p.key))
		}
	}
	return opts, nil
}

// rcptOptions checks RCPT's parameters: this server offers none (DSN is
// not advertised).
func rcptOptions(params []param) (*smtp.RcptOptions, error) {
	for _, p := range params {
		return nil, errUnknownParam(fmt.Sprintf("RCPT parameter %s is not offered", p.key))
	}
	return &smtp.RcptOptions{}, nil
}

// decodeXtext decodes RFC 3461 4's xtext ("+2B" for '+').
func decodeXtext(s string) (string, error) {
	if !strings.Contains(s, "+") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '+' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errors.New("truncated xtext hexchar")
		}
		n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil || strings.ToUpper(s[i+1:i+3]) != s[i+1:i+3] {
			return "", errors.New("bad xtext hexchar")
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}
