package imap_test

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"petrel/internal/testenv"
)

// TestPythonImaplibThunderbirdSession runs testdata/thunderbird_session.py:
// CAPABILITY, STARTTLS, LOGIN, LIST, SELECT, UID FETCH 1:* (FLAGS), header
// BODY.PEEK, and IDLE during which the test delivers a message.
func TestPythonImaplibThunderbirdSession(t *testing.T) {
	python := testenv.RequireTool(t, "python3")
	e := newEnv(t)
	// The env's server certificate is what the script must trust: export it.
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	must(t, os.WriteFile(caFile, exportCert(t, e), 0o600))

	c := e.client(t, nil)
	appendMsg(t, c, "INBOX", simpleMsg("first", "1"), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
	appendMsg(t, c, "INBOX", simpleMsg("second", "2"), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagFlagged, "$Label1"}})

	host, port, _ := net.SplitHostPort(e.addr)
	cmd := exec.Command(python, "testdata/thunderbird_session.py", host, port, "user@example.org", "secret", caFile)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	done := make(chan error, 1)
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		done <- cmd.Wait()
	}()
	select {
	case l := <-lines:
		if l != "IDLING" {
			t.Fatalf("script said %q before IDLE; stderr:\n%s", l, stderr.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("script did not reach IDLE; stderr:\n%s", stderr.String())
	}
	e.deliver(t, simpleMsg("arrived during IDLE", "3"))
	var last string
	for l := range lines {
		last = l
	}
	if err := <-done; err != nil {
		t.Fatalf("script: %v\n%s", err, stderr.String())
	}
	var out struct {
		CapsBeforeTLS []string            `json:"caps_before_tls"`
		Caps          []string            `json:"caps"`
		List          []string            `json:"list"`
		Exists        int                 `json:"exists"`
		Flags         map[string][]string `json:"flags"`
		Subjects      []string            `json:"subjects"`
		ExistsInIdle  int                 `json:"exists_in_idle"`
		NewSubject    string              `json:"new_subject"`
	}
	if err := json.Unmarshal([]byte(last), &out); err != nil {
		t.Fatalf("summary %q: %v", last, err)
	}
	if !slices.Contains(out.CapsBeforeTLS, "STARTTLS") || !slices.Contains(out.Caps, "IDLE") || !slices.Contains(out.Caps, "IMAP4rev1") {
		t.Errorf("capabilities: before TLS %v, after login %v", out.CapsBeforeTLS, out.Caps)
	}
	if len(out.List) != 6 || !strings.Contains(strings.Join(out.List, "\n"), `(\HasNoChildren \Sent) "/" "Sent"`) {
		t.Errorf("LIST: %q", out.List)
	}
	if out.Exists != 2 || len(out.Flags) != 2 || !slices.Equal(out.Flags["1"], []string{`\Seen`, `\Recent`}) || !slices.Equal(out.Flags["2"], []string{"$Label1", `\Flagged`, `\Recent`}) {
		t.Errorf("SELECT EXISTS %d, flags %v", out.Exists, out.Flags)
	}
	if !slices.Equal(out.Subjects, []string{"first", "second"}) {
		t.Errorf("subjects %q", out.Subjects)
	}
	if out.ExistsInIdle != 3 || out.NewSubject != "Subject: arrived during IDLE" {
		t.Errorf("IDLE: EXISTS %d, new message %q", out.ExistsInIdle, out.NewSubject)
	}
	// BODY.PEEK did not set \Seen.
	msgs, err := e.st.List(e.inbox(t))
	must(t, err)
	if msgs[1].Has(`\Seen`) {
		t.Errorf("BODY.PEEK set \\Seen on %s", strconv.Itoa(int(msgs[1].UID)))
	}
}
