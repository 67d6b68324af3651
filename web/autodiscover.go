package web

import (
	"encoding/xml"
	"errors"
	"net/http"
	"slices"
	"strings"
)

// Outlook's "POX" autodiscover (MS-OXDSCLI): the client POSTs a request
// naming the address, and gets the IMAP, POP3 and SMTP settings back.
const (
	autodiscoverRequestNS  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	autodiscoverResponseNS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	outlookResponseNS      = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
	maxAutodiscoverRequest = 16 << 10
)

// AutodiscoverRequest is the body Outlook POSTs.
type AutodiscoverRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request struct {
		EMailAddress             string `xml:"EMailAddress"`
		AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

// AutodiscoverResponse is the document served back.
type AutodiscoverResponse struct {
	XMLName  xml.Name        `xml:"Autodiscover"`
	XMLNS    string          `xml:"xmlns,attr"`
	Response OutlookResponse `xml:"Response"`
}

// OutlookResponse holds the account settings.
type OutlookResponse struct {
	XMLNS   string         `xml:"xmlns,attr"`
	Account OutlookAccount `xml:"Account"`
}

// OutlookAccount is the Account element.
type OutlookAccount struct {
	AccountType string            `xml:"AccountType"`
	Action      string            `xml:"Action"`
	Protocols   []OutlookProtocol `xml:"Protocol"`
}

// OutlookProtocol is one server. SSL "on" with no Encryption is implicit
// TLS; Encryption "TLS" is STARTTLS.
type OutlookProtocol struct {
	Type           string `xml:"Type"`
	Server         string `xml:"Server"`
	Port           int    `xml:"Port"`
	LoginName      string `xml:"LoginName"`
	DomainRequired string `xml:"DomainRequired"`
	SPA            string `xml:"SPA"`
	SSL            string `xml:"SSL"`
	Encryption     string `xml:"Encryption,omitempty"`
	AuthRequired   string `xml:"AuthRequired"`
}

func (h *handler) autodiscover(w http.ResponseWriter, r *http.Request) {
	var req AutodiscoverRequest
	body := http.MaxBytesReader(w, r.Body, maxAutodiscoverRequest)
	if err := xml.NewDecoder(body).Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "malformed autodiscover request", http.StatusBadRequest)
		return
	}
	addr := strings.TrimSpace(req.Request.EMailAddress)
	_, domain, ok := strings.Cut(addr, "@")
	if !ok || strings.ContainsAny(addr, " <>\r\n") {
		http.Error(w, "missing or bad EMailAddress", http.StatusBadRequest)
		return
	}
	if !slices.Contains(h.domains(), strings.ToLower(domain)) || h.opts.Hostname == "" {
		http.Error(w, "not a domain of this server", http.StatusNotFound)
		return
	}
	resp := AutodiscoverResponse{
		XMLNS: autodiscoverResponseNS,
		Response: OutlookResponse{
			XMLNS:   outlookResponseNS,
			Account: OutlookAccount{AccountType: "email", Action: "settings"},
		},
	}
	for _, s := range h.opts.Services {
		p := OutlookProtocol{
			Type:           strings.ToUpper(s.Type),
			Server:         h.opts.Hostname,
			Port:           s.Port,
			LoginName:      addr,
			DomainRequired: "off",
			SPA:            "off",
			SSL:            "on",
			AuthRequired:   "on",
		}
		if s.Socket == "STARTTLS" {
			p.Encryption = "TLS"
		}
		resp.Response.Account.Protocols = append(resp.Response.Account.Protocols, p)
	}
	h.writeXML(w, resp)
}
