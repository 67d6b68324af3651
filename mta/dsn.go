package mta

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
)

// failedRecipients returns the recipients that a delivery status
// notification (RFC 3464: a multipart/report with a message/delivery-status
// part, as Petrel's queue and most servers send) reports with Action:
// failed, by their Final-Recipient. A message that is no such report has
// none.
func failedRecipients(msg []byte) []string {
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		return nil
	}
	var out []string
	walkReport(textproto.MIMEHeader(m.Header), m.Body, 0, &out)
	return out
}

func walkReport(h textproto.MIMEHeader, body io.Reader, depth int, out *[]string) {
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || depth > 3 {
		return
	}
	if strings.EqualFold(h.Get("Content-Transfer-Encoding"), "base64") {
		body = base64.NewDecoder(base64.StdEncoding, body) // it skips line ends
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				return
			}
			walkReport(p.Header, p, depth+1, out)
		}
	case mt == "message/delivery-status" || mt == "message/global-delivery-status":
		b, err := io.ReadAll(io.LimitReader(body, 1<<20))
		if err != nil {
			return
		}
		*out = append(*out, parseDeliveryStatus(b)...)
	}
}

// parseDeliveryStatus reads the per-recipient groups of a
// message/delivery-status body (RFC 3464 2.1): header-like fields in
// groups separated by blank lines, the first group about the message.
func parseDeliveryStatus(b []byte) []string {
	var out []string
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		h, err := r.ReadMIMEHeader()
		if len(h) > 0 && strings.EqualFold(strings.TrimSpace(h.Get("Action")), "failed") {
			rcpt := h.Get("Final-Recipient")
			if rcpt == "" {
				rcpt = h.Get("Original-Recipient")
			}
			if _, addr, ok := strings.Cut(rcpt, ";"); ok {
				addr = strings.ToLower(strings.Trim(strings.TrimSpace(addr), "<>"))
				if addr != "" {
					out = append(out, addr)
				}
			}
		}
		if err != nil {
			return out
		}
	}
}
