package imap

import (
	"strings"

	"github.com/emersion/go-imap/v2"
)

// respCodeCompressionActive: COMPRESS when compression is already on (RFC
// 4978 3).
const respCodeCompressionActive imap.ResponseCode = "COMPRESSIONACTIVE"

// cmdCompress: COMPRESS DEFLATE (RFC 4978). The tagged OK goes out
// uncompressed; from the octet after it both directions are raw DEFLATE
// (deflateConn). Input the client sent after the command is taken as
// compressed. A second COMPRESS gets NO [COMPRESSIONACTIVE], as Dovecot
// answers; an unknown mechanism BAD.
func (s *session) cmdCompress(c *cmd) error {
	if err := c.p.sp(); err != nil {
		return err
	}
	mech, err := c.p.atom()
	if err != nil {
		return err
	}
	if err := c.p.crlf(); err != nil {
		return err
	}
	if !strings.EqualFold(mech, "DEFLATE") {
		return bad("Unknown compression mechanism " + mech)
	}
	if s.compressed() {
		return no(respCodeCompressionActive, "DEFLATE is already active")
	}
	s.e.status(c.tag, &imap.StatusResponse{Type: imap.StatusResponseTypeOK, Text: "DEFLATE active"})
	if err := s.bw.Flush(); err != nil {
		return err
	}
	pending, _ := s.br.Peek(s.br.Buffered())
	dc := newDeflateConn(s.nc, pending, &s.srv.deflaters)
	s.br.Discard(len(pending))
	s.nc = dc
	s.log.Debug("COMPRESS DEFLATE on")
	return errReplied
}

// compressed: COMPRESS is on.
func (s *session) compressed() bool {
	_, ok := s.nc.(*deflateConn)
	return ok
}
