package web

import (
	"encoding/xml"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Service is one client-facing mail service advertised to clients.
type Service struct {
	Type   string // "imap", "pop3" or "smtp"
	Port   int
	Socket string // "SSL" (implicit TLS) or "STARTTLS"
}

// DefaultServices are Petrel's standard ports. Implicit TLS comes first in
// each group, as RFC 8314 4.1 and 3.3 prefer it.
var DefaultServices = []Service{
	{"imap", 993, "SSL"},
	{"imap", 143, "STARTTLS"},
	{"pop3", 995, "SSL"},
	{"pop3", 110, "STARTTLS"},
	{"smtp", 465, "SSL"},
	{"smtp", 587, "STARTTLS"},
}

// ClientConfig is Thunderbird's autoconfig document, version 1.1
// (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat).
type ClientConfig struct {
	XMLName  xml.Name      `xml:"clientConfig"`
	Version  string        `xml:"version,attr"`
	Provider EmailProvider `xml:"emailProvider"`
}

// EmailProvider is the body of a ClientConfig.
type EmailProvider struct {
	ID               string         `xml:"id,attr"`
	Domains          []string       `xml:"domain"`
	DisplayName      string         `xml:"displayName"`
	DisplayShortName string         `xml:"displayShortName"`
	Incoming         []ServerConfig `xml:"incomingServer"`
	Outgoing         []ServerConfig `xml:"outgoingServer"`
}

// ServerConfig is one incomingServer or outgoingServer.
type ServerConfig struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`
	Authentication string `xml:"authentication"`
	Username       string `xml:"username"`
}

// autoconfig serves config-v1.1.xml. Thunderbird fetches it from
// autoconfig.<domain> with ?emailaddress=; an address of a domain that is
// not ours gets 404, so the client tries its next source instead of being
// sent to a server that will refuse the login.
func (h *handler) autoconfig(w http.ResponseWriter, r *http.Request) {
	domains := h.domains()
	if len(domains) == 0 || h.opts.Hostname == "" {
		http.Error(w, "no mail domains configured", http.StatusNotFound)
		return
	}
	if addr := r.URL.Query().Get("emailaddress"); addr != "" {
		if _, d, ok := strings.Cut(addr, "@"); !ok || !slices.Contains(domains, strings.ToLower(d)) {
			http.Error(w, "not a domain of this server", http.StatusNotFound)
			return
		}
	}
	cfg := ClientConfig{
		Version: "1.1",
		Provider: EmailProvider{
			ID:               domains[0],
			Domains:          domains,
			DisplayName:      domains[0] + " mail",
			DisplayShortName: domains[0],
		},
	}
	for _, s := range h.opts.Services {
		sc := ServerConfig{
			Type:           s.Type,
			Hostname:       h.opts.Hostname,
			Port:           s.Port,
			SocketType:     s.Socket,
			Authentication: "password-cleartext",
			Username:       "%EMAILADDRESS%",
		}
		if s.Type == "smtp" {
			cfg.Provider.Outgoing = append(cfg.Provider.Outgoing, sc)
		} else {
			cfg.Provider.Incoming = append(cfg.Provider.Incoming, sc)
		}
	}
	h.writeXML(w, cfg)
}

// domains returns the configured domains, lower-cased, without empties.
func (h *handler) domains() []string {
	var out []string
	for _, d := range h.opts.Domains() {
		d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
		if d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

func (h *handler) writeXML(w http.ResponseWriter, v any) {
	b, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		h.log.Error("encoding XML", "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(xml.Header)+len(b)+1))
	w.Write([]byte(xml.Header))
	w.Write(b)
	w.Write([]byte("\n"))
}
