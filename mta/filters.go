package mta

import (
	"context"
	"crypto/tls"
	"net"
	"strings"

	"github.com/emersion/go-smtp"

	"petrel/filter"
	"petrel/msgtext"
)

// Filters are the content filters of the [[filter]] entries (rspamd,
// clamav-milter…); *filter.Chain is one. Open begins their session for
// one SMTP connection (nil: none sees this port), which the connection
// consults live at each stage: connect (at the first command), HELO,
// MAIL, each RCPT, and the message before DATA is answered. They write
// nothing: every verdict comes before anything is stored.
type Filters interface {
	Open(ctx context.Context, env *filter.Envelope) *filter.Session
}

// filtered is what the filters made of a transaction: the message and
// envelope to deliver, or the reply that ends it.
type filtered struct {
	msg        []byte
	from       string
	local      []localRcpt
	remote     []string
	quarantine bool
	// reply, when set, is the filters' decision that ends the
	// transaction: a refusal, or a discard (250, delivered nowhere).
	reply *smtp.SMTPError
}

// runFilters hands the message to the filters of this connection, if
// any, as the end of the transaction they were told of stage by stage.
func (s *session) runFilters(ctx context.Context, id string, msg []byte) *filtered {
	out := &filtered{msg: msg, from: s.from, local: s.local, remote: s.remote}
	if s.fs == nil {
		return out
	}
	res := s.fs.Data(ctx, s.filterEnvelope(id), msg)
	switch res.Verdict {
	case filter.Reject, filter.TempFail:
		out.reply = &smtp.SMTPError{Code: res.Code, EnhancedCode: smtp.EnhancedCode(res.Enhanced), Message: res.Text}
		return out
	case filter.Discard:
		out.reply = queuedReply(id)
		return out
	}
	out.msg = msgtext.ToCRLF(res.Message)
	out.quarantine = res.Quarantine
	if res.From != nil {
		out.from = *res.From
	}
	if res.Rcpts != nil {
		out.local, out.remote = s.filteredRcpts(id, res.Rcpts)
		if len(out.local)+len(out.remote) == 0 {
			s.m.log.Info("filters removed every recipient: message delivered nowhere", "id", id)
			out.reply = queuedReply(id)
		}
	}
	return out
}

// filteredRcpts routes the recipients the filters left: those the client
// gave keep their routing, those a filter added are looked up as RCPT
// would (a filter is the admin's: it may add remote ones).
func (s *session) filteredRcpts(id string, rcpts []string) ([]localRcpt, []string) {
	var local []localRcpt
	var remote []string
next:
	for _, r := range rcpts {
		for _, lr := range s.local {
			if strings.EqualFold(lr.addr, r) {
				local = append(local, lr)
				continue next
			}
		}
		for _, a := range s.remote {
			if strings.EqualFold(a, r) {
				remote = append(remote, a)
				continue next
			}
		}
		lp, domain, err := splitAddress(r)
		if err != nil {
			s.m.log.Warn("filter added a bad recipient", "id", id, "rcpt", r, "err", err)
			continue
		}
		if domain != "" && s.m.opts.IsLocalDomain(domain) {
			lr, e := s.m.lookupLocal(r, strings.ToLower(lp+"@"+domain))
			if e != nil {
				s.m.log.Warn("filter added a recipient that goes nowhere", "id", id, "rcpt", r, "reply", e.Message)
				continue
			}
			local = append(local, lr)
			continue
		}
		if s.m.opts.Queue == nil {
			s.m.log.Warn("filter added a remote recipient, but there is no queue", "id", id, "rcpt", r)
			continue
		}
		remote = append(remote, r)
	}
	return local, remote
}

// filterEnvelope is what filters are told of the transaction.
func (s *session) filterEnvelope(id string) *filter.Envelope {
	env := &filter.Envelope{
		QueueID:    id,
		Port:       s.kind.String(),
		Hostname:   s.m.opts.Hostname,
		ClientIP:   s.remoteIP,
		ClientName: s.reverseName(),
		Helo:       s.conn.Hostname(),
		From:       s.from,
		AuthMech:   s.authMech,
	}
	if ta, ok := s.conn.Conn().RemoteAddr().(*net.TCPAddr); ok {
		env.ClientPort = ta.Port
	}
	if ta, ok := s.conn.Conn().LocalAddr().(*net.TCPAddr); ok {
		env.LocalIP = ta.IP
	}
	if s.account != nil {
		env.AuthUser = s.account.Address
	}
	if st, ok := s.conn.TLSConnectionState(); ok {
		// OpenSSL's names, as Sendmail and Postfix give them: "TLSv1.3".
		env.TLSVersion = strings.Replace(tls.VersionName(st.Version), "TLS ", "TLSv", 1)
		env.TLSCipher = tls.CipherSuiteName(st.CipherSuite)
		env.TLSBits = 128
		if strings.Contains(env.TLSCipher, "256") || strings.Contains(env.TLSCipher, "CHACHA20") {
			env.TLSBits = 256
		}
	}
	local := map[string]bool{}
	for _, lr := range s.local {
		env.Rcpts = append(env.Rcpts, lr.addr)
		local[strings.ToLower(lr.addr)] = true
	}
	env.Rcpts = append(env.Rcpts, s.remote...)
	env.LocalRcpt = func(r string) bool { return local[strings.ToLower(r)] }
	return env
}

// filterResult turns a filter's refusal at a stage into the reply, nil
// when the filters let it go on.
func filterReply(r *filter.Result) *smtp.SMTPError {
	if r == nil || r.Verdict != filter.Reject && r.Verdict != filter.TempFail {
		return nil
	}
	return &smtp.SMTPError{Code: r.Code, EnhancedCode: smtp.EnhancedCode(r.Enhanced), Message: r.Text}
}

// filterConnect tells the filters of the client, once per connection (at
// its first command); a refusal answers every command but QUIT, RSET,
// NOOP and HELP from then on, as Postfix does with a milter's
// connect-time reject.
func (s *session) filterConnect() *smtp.SMTPError {
	if s.fs == nil {
		return nil
	}
	return filterReply(s.fs.Connect(s.filterEnvelope("")))
}

// filterHelo tells the filters the HELO/EHLO name (set on the conn).
func (s *session) filterHelo() *smtp.SMTPError {
	if s.fs == nil {
		return nil
	}
	return filterReply(s.fs.Helo(s.filterEnvelope("")))
}

// filterMail tells the filters of the transaction MAIL begins.
func (s *session) filterMail() *smtp.SMTPError {
	if s.fs == nil {
		return nil
	}
	return filterReply(s.fs.Mail(s.filterEnvelope(s.txID)))
}

// filterRcpt asks the filters about one recipient the server took; local
// says it is delivered here. A refusal refuses that recipient only.
func (s *session) filterRcpt(to string, local bool) *smtp.SMTPError {
	if s.fs == nil {
		return nil
	}
	env := s.filterEnvelope(s.txID)
	env.LocalRcpt = func(string) bool { return local }
	return filterReply(s.fs.Rcpt(env, to))
}
