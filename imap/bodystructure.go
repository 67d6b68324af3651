package imap

import (
	"strings"

	"github.com/emersion/go-imap/v2"

	"petrel/store"
)

// bodyStructure turns the store's MIME tree into BODYSTRUCTURE (RFC 9051
// 7.5.2). It always carries the extension data: go-imap drops it for BODY.
func bodyStructure(p *store.Part) imap.BodyStructure {
	if isMultipart(p) {
		mp := &imap.BodyStructureMultiPart{
			Subtype: p.Subtype,
			Extended: &imap.BodyStructureMultiPartExt{
				Params:      p.Params,
				Disposition: disposition(p),
				Language:    p.Language,
				Location:    p.Location,
			},
		}
		for _, c := range p.Parts {
			mp.Children = append(mp.Children, bodyStructure(c))
		}
		return mp
	}
	typ, sub := p.Type, p.Subtype
	if typ == "" || sub == "" {
		typ, sub = "text", "plain"
	}
	sp := &imap.BodyStructureSinglePart{
		Type:        typ,
		Subtype:     sub,
		Params:      p.Params,
		ID:          p.ID,
		Description: p.Description,
		Encoding:    strings.ToUpper(p.Encoding),
		Size:        uint32(min(p.Size(), 1<<32-1)),
		Extended: &imap.BodyStructureSinglePartExt{
			Disposition: disposition(p),
			Language:    p.Language,
			Location:    p.Location,
		},
	}
	switch {
	case isMessage(p):
		inner := p.Parts[0]
		sp.MessageRFC822 = &imap.BodyStructureMessageRFC822{
			Envelope:      envelope(inner.Envelope),
			BodyStructure: bodyStructure(inner),
			NumLines:      p.Lines,
		}
	case typ == "text":
		sp.Text = &imap.BodyStructureText{NumLines: p.Lines}
	}
	return sp
}

func disposition(p *store.Part) *imap.BodyStructureDisposition {
	if p.Disposition == "" {
		return nil
	}
	return &imap.BodyStructureDisposition{Value: p.Disposition, Params: p.DispositionParams}
}

func envelope(e *store.Envelope) *imap.Envelope {
	if e == nil {
		return &imap.Envelope{}
	}
	return &imap.Envelope{
		Date:      e.Date,
		Subject:   e.Subject,
		From:      addresses(e.From),
		Sender:    addresses(e.Sender),
		ReplyTo:   addresses(e.ReplyTo),
		To:        addresses(e.To),
		Cc:        addresses(e.Cc),
		Bcc:       addresses(e.Bcc),
		InReplyTo: e.InReplyTo,
		MessageID: e.MessageID,
	}
}

func addresses(l []store.Address) []imap.Address {
	if len(l) == 0 {
		return nil
	}
	out := make([]imap.Address, len(l))
	for i, a := range l {
		out[i] = imap.Address{Name: a.Name, Mailbox: a.Mailbox, Host: a.Host}
	}
	return out
}
