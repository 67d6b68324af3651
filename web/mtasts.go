package web

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// MTASTSPolicy is the MTA-STS policy (RFC 8461 3.2) served at
// /.well-known/mta-sts.txt on mta-sts.<domain>.
type MTASTSPolicy struct {
	Mode   string        // "enforce", "testing" or "none"
	MX     []string      // host names or "*.example.com" patterns
	MaxAge time.Duration // at most 31557600s (RFC 8461 3.2); 0 means one week
}

// Validate says what is wrong with p, if anything.
func (p *MTASTSPolicy) Validate() error {
	switch p.Mode {
	case "enforce", "testing", "none":
	default:
		return fmt.Errorf("mta-sts: mode %q is not enforce, testing or none", p.Mode)
	}
	if p.Mode != "none" && len(p.MX) == 0 {
		return fmt.Errorf("mta-sts: mode %s needs at least one mx", p.Mode)
	}
	for _, mx := range p.MX {
		if mx == "" || strings.ContainsAny(mx, " \t\r\n") {
			return fmt.Errorf("mta-sts: bad mx %q", mx)
		}
	}
	if p.MaxAge < 0 || p.MaxAge > 31557600*time.Second {
		return fmt.Errorf("mta-sts: max_age %v out of range (0 to 31557600s)", p.MaxAge)
	}
	return nil
}

// String is the policy file's text, CRLF-terminated lines (RFC 8461 3.2).
func (p *MTASTSPolicy) String() string {
	var b strings.Builder
	b.WriteString("version: STSv1\r\n")
	fmt.Fprintf(&b, "mode: %s\r\n", p.Mode)
	for _, mx := range p.MX {
		fmt.Fprintf(&b, "mx: %s\r\n", mx)
	}
	age := p.MaxAge
	if age == 0 {
		age = 7 * 24 * time.Hour
	}
	fmt.Fprintf(&b, "max_age: %d\r\n", int64(age/time.Second))
	return b.String()
}

func (h *handler) mtaSTS(w http.ResponseWriter, r *http.Request) {
	p := h.opts.MTASTS
	if p == nil {
		http.NotFound(w, r)
		return
	}
	if err := p.Validate(); err != nil {
		h.log.Error("not serving MTA-STS policy", "error", err)
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprint(w, p.String())
}
