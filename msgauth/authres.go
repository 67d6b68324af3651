package msgauth

import (
	"strings"

	"github.com/emersion/go-msgauth/authres"
)

// maxPropLen bounds each value we put in the header; they come from the
// sender (MAIL FROM, HELO, d=) and only need to identify, not reproduce.
const maxPropLen = 200

// formatHeader returns our Authentication-Results field (RFC 8601), folded
// one result per line, ending in CRLF.
//
// Every value that came from the network is cleaned first (cleanValue):
// authres.Format quotes but does not escape, so a CR, LF or quote from a
// hostile HELO or d= tag would otherwise break out of the field.
func formatHeader(authservID string, spf SPFOutcome, dkims []DKIMOutcome, dmarcs []DMARCOutcome) string {
	id := normID(authservID)
	if id == "" {
		id = "localhost"
	}
	var results []authres.Result

	s := &authres.SPFResult{Value: authres.ResultValue(spf.Result)}
	if spf.Identity == "helo" {
		s.Helo = cleanToken(spf.Domain)
	} else {
		s.From = cleanToken(spf.Sender)
	}
	results = append(results, s)

	if len(dkims) == 0 {
		results = append(results, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, k := range dkims {
		r := &authres.DKIMResult{Value: authres.ResultValue(k.Result), Domain: cleanToken(k.Domain), Identifier: cleanToken(k.Identifier)}
		if k.Err != nil {
			r.Reason = cleanValue(k.Err.Error())
		}
		results = append(results, r)
	}

	if len(dmarcs) == 0 {
		results = append(results, &authres.DMARCResult{Value: authres.ResultNone})
	}
	for _, d := range dmarcs {
		r := &authres.DMARCResult{Value: authres.ResultValue(d.Result), From: cleanToken(d.Domain)}
		switch {
		case d.Result == "fail":
			r.Reason = cleanValue("p=" + d.Policy + " applied=" + d.Applied)
		case d.Result == "temperror" && d.Policy != "":
			r.Reason = cleanValue("p=" + d.Policy)
		}
		results = append(results, r)
	}

	var b strings.Builder
	b.WriteString("Authentication-Results: ")
	b.WriteString(id)
	for _, r := range results {
		one := authres.Format(id, []authres.Result{r})
		b.WriteString(";\r\n\t")
		b.WriteString(strings.TrimSpace(strings.TrimPrefix(one, id+";")))
	}
	b.WriteString("\r\n")
	return b.String()
}

// normID is the form of an authserv-id we write and compare: a clean token
// without trailing dots.
func normID(s string) string {
	return strings.TrimRight(cleanToken(s), ".")
}

// cleanToken is cleanValue without white space, for the authserv-id and
// property values (domains and addresses), which never contain any.
func cleanToken(s string) string {
	return strings.Join(strings.Fields(cleanValue(s)), "")
}

// cleanValue keeps the printable ASCII of s except the characters that
// could end a value, a result or a comment in the field (quote, backslash,
// semicolon, parentheses), and bounds its length.
func cleanValue(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < maxPropLen; i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || strings.IndexByte(`"\;()`, c) >= 0 {
			continue
		}
		b.WriteByte(c)
	}
	return strings.TrimSpace(b.String())
}
