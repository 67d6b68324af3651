package mailio_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"petrel/mailio"
)

// FuzzMboxReader reads arbitrary input as mbox. It must never panic or
// hang, every message must come out with CRLF line ends, and writing the
// messages back as mboxrd and reading them again must give the same
// bodies.
func FuzzMboxReader(f *testing.F) {
	f.Add("From a Tue Mar 19 10:05:26 2024\nSubject: x\nStatus: RO\nX-Gmail-Labels: Inbox,\"a,b\",Starred\n\n>From y\n\nFrom b Tue Mar 19 10:05:27 2024\n\n")
	f.Add("From \n\n\nFrom  1:00 \r\n")
	f.Add("From x Mon Jan  2 15:04:05 2006\r\nX-Status: AFTD\r\nX-Keywords: $Junk, (bad)\r\n \r\n")
	f.Fuzz(func(t *testing.T, in string) {
		var msgs []*mailio.MboxMessage
		r := mailio.NewMboxReader(strings.NewReader(in), mailio.MboxRD)
		for {
			m, err := r.Next()
			if err != nil {
				if err != io.EOF && len(msgs) > 0 {
					t.Fatalf("error after %d messages: %v", len(msgs), err)
				}
				break
			}
			if len(msgs) > len(in) {
				t.Fatalf("more messages than bytes")
			}
			if len(m.Body) > 0 && !bytes.HasSuffix(m.Body, []byte("\r\n")) {
				t.Errorf("body does not end in CRLF: %q", m.Body)
			}
			if bytes.Count(m.Body, []byte("\n")) != bytes.Count(m.Body, []byte("\r\n")) {
				t.Errorf("bare LF in %q", m.Body)
			}
			for _, fl := range mailio.FlagsOf(m.Body) {
				if fl == "" || strings.ContainsAny(fl, " ()") {
					t.Errorf("bad flag %q", fl)
				}
			}
			msgs = append(msgs, m)
		}
		var buf bytes.Buffer
		w := mailio.NewMboxWriter(&buf)
		for _, m := range msgs {
			if bytes.Contains(bytes.ReplaceAll(m.Body, []byte("\r\n"), nil), []byte("\r")) {
				return // a bare CR before LF is ambiguous in an LF mbox file
			}
			w.Write(m.Sender, time.Unix(0, 0), m.Body)
		}
		w.Flush()
		again := mailio.NewMboxReader(&buf, mailio.MboxRD)
		for i, m := range msgs {
			m2, err := again.Next()
			if err != nil {
				t.Fatalf("re-reading message %d: %v\n%q", i, err, buf.String())
			}
			if !bytes.Equal(m.Body, m2.Body) {
				t.Fatalf("message %d changed: %q -> %q", i, m.Body, m2.Body)
			}
		}
		if _, err := again.Next(); err != io.EOF {
			t.Errorf("extra message after re-reading: %v", err)
		}
	})
}

// FuzzMaildirNames parses arbitrary Maildir file names, dovecot-keywords
// and dovecot-uidlist contents, and folder names.
func FuzzMaildirNames(f *testing.F) {
	f.Add("1700000000.M1P2.host,S=10,W=12:2,FRSab", "0 $Junk\n1 NonJunk\n", "3 V1 N3\n1 :1700000000.M1P2.host,S=10\n2 W12 :x\n", "Work.2024")
	f.Add("x!2,S", "99 x\nbad\n", "1 1 a\n", `a\2eb\`)
	f.Fuzz(func(t *testing.T, name, keywords, uidlist, folder string) {
		for _, fl := range mailio.FlagsOfMaildir(name, []byte(keywords)) {
			if fl == "" || strings.ContainsAny(fl, " ()") {
				t.Errorf("bad flag %q", fl)
			}
		}
		for base, uid := range mailio.ParseUIDList([]byte(uidlist)) {
			if uid == 0 || base == "" {
				t.Errorf("uidlist entry %q=%d", base, uid)
			}
		}
		if got := mailio.UnescapeFolder(mailio.EscapeFolder(folder)); got != folder {
			t.Errorf("folder %q -> %q", folder, got)
		}
		if strings.ContainsAny(mailio.EscapeFolder(folder), "./") {
			t.Errorf("escaped folder %q holds a separator", mailio.EscapeFolder(folder))
		}
	})
}
