package imap_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDialogues runs the IMAP transcripts in testdata/dialogue against a
// real listener. A transcript is a list of lines:
//
//	# comment
//	!deliver SUBJECT   deliver a message with that subject to INBOX
//	!message … !end    deliver the lines between ({{x80}} is that octet)
//	!quota BYTES MSGS  set the account's quota limits (0: none)
//	C: line            send line (and CRLF) on connection 0
//	S: pattern         the next line connection 0 receives must match
//	S: ...             skip received lines until the next S: line matches
//	C1: / S1:          the same on connection 1 (2, … as needed)
//
// Connections open at first use; their greeting is checked and consumed.
// In a pattern, {{n}} matches a number, {{=name}} too and keeps it for
// {{name}} in later C: lines, {{*}} matches any text, {{NUL}} and
// {{x80}} those octets (in C: lines, {{NUL}} sends a NUL); everything
// else is literal.
func TestDialogues(t *testing.T) {
	files, err := filepath.Glob("testdata/dialogue/*.imap")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".imap"), func(t *testing.T) {
			runDialogue(t, f)
		})
	}
}

var dialogueLine = regexp.MustCompile(`^([CS])(\d*): ?(.*)$`)

func runDialogue(t *testing.T, file string) {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	conns := map[string]*rawConn{}
	conn := func(id string) *rawConn {
		if conns[id] == nil {
			conns[id] = e.raw(t)
		}
		return conns[id]
	}
	skip := map[string]bool{}
	vars := map[string]string{} // captured by {{=name}}
	var msg []string            // inside !message
	inMsg := false
	for i, line := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		at := file + ":" + itoa(i+1)
		if inMsg {
			if line == "!end" {
				inMsg = false
				e.deliver(t, strings.ReplaceAll(strings.Join(msg, "\n")+"\n", "{{x80}}", "\x80"))
				msg = nil
			} else {
				msg = append(msg, line)
			}
			continue
		}
		if line == "!message" {
			inMsg = true
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if q, ok := strings.CutPrefix(line, "!quota "); ok {
			var bytes, msgs int64
			if _, err := fmt.Sscan(q, &bytes, &msgs); err != nil {
				t.Fatalf("%s: %v", at, err)
			}
			if err := e.st.SetQuota(t.Context(), e.acct.Address, bytes, msgs); err != nil {
				t.Fatalf("%s: %v", at, err)
			}
			continue
		}
		if subj, ok := strings.CutPrefix(line, "!deliver "); ok {
			e.deliver(t, simpleMsg(subj, "body of "+subj))
			continue
		}
		m := dialogueLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("%s: bad transcript line %q", at, line)
		}
		r := conn(m[2])
		if m[1] == "C" {
			line := strings.ReplaceAll(m[3], "{{NUL}}", "\x00")
			for k, v := range vars {
				line = strings.ReplaceAll(line, "{{"+k+"}}", v)
			}
			r.send(t, line)
			continue
		}
		if m[3] == "..." {
			skip[m[2]] = true
			continue
		}
		re := patternRegexp(m[3])
		for {
			got := r.dialogueLine(t, at)
			if sm := re.FindStringSubmatch(got); sm != nil {
				for i, name := range re.SubexpNames() {
					if name != "" {
						vars[name] = sm[i]
					}
				}
				break
			}
			if !skip[m[2]] {
				t.Fatalf("%s: got  %q\nwant %q", at, got, m[3])
			}
		}
		skip[m[2]] = false
	}
}

func (r *rawConn) dialogueLine(t *testing.T, at string) string {
	t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := r.br.ReadString('\n')
	if err != nil {
		t.Fatalf("%s: read: %v (after %q)", at, err, l)
	}
	l = strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r")
	return strings.NewReplacer("\x00", "{{NUL}}", "\x80", "{{x80}}").Replace(l)
}

func patternRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for p != "" {
		i := strings.Index(p, "{{")
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(p))
			break
		}
		b.WriteString(regexp.QuoteMeta(p[:i]))
		p = p[i:]
		switch {
		case strings.HasPrefix(p, "{{n}}"):
			b.WriteString(`\d+`)
			p = p[5:]
		case strings.HasPrefix(p, "{{*}}"):
			b.WriteString(`.*`)
			p = p[5:]
		case strings.HasPrefix(p, "{{=") && strings.Contains(p, "}}"):
			end := strings.Index(p, "}}")
			b.WriteString(`(?P<` + p[3:end] + `>\d+)`)
			p = p[end+2:]
		case strings.HasPrefix(p, "{{NUL}}"), strings.HasPrefix(p, "{{x80}}"):
			b.WriteString(regexp.QuoteMeta(p[:7])) // received octets are shown so
			p = p[7:]
		default:
			b.WriteString(regexp.QuoteMeta("{{"))
			p = p[2:]
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
