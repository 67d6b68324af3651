package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"petrel/internal/testenv"
)

// The first hour of a new user, from the README and docs/clients.md, so
// that it cannot regress (issue 13, the Proof): `petrel serve --dev` in an
// empty folder, the README's `user add` and `user list`, the textbook SMTP
// session exactly as the README shows it, then the message read by
// Python's imaplib and poplib, mbsync and fetchmail, each set up with the
// settings docs/clients.md gives (with --dev's ports, and its self-signed
// certificate trusted for "localhost").
func TestFirstHour(t *testing.T) {
	python := testenv.RequireTool(t, "python3")
	mbsync := testenv.RequireTool(t, "mbsync")
	fetchmail := testenv.RequireTool(t, "fetchmail")
	requireDevPorts(t)
	readme := readRepoFile(t, "README.md")
	clients := readRepoFile(t, "docs/clients.md")

	dir := t.TempDir()
	_, stop := runDev(t, dir)
	defer stop()
	cert := filepath.Join(dir, "petrel-data", "tls", "cert.pem")

	// echo 'a good password' | ./petrel user add bob@localhost
	m := regexp.MustCompile(`(?m)^echo '([^']+)' \| \./petrel user add (\S+)`).FindStringSubmatch(readme)
	if m == nil {
		t.Fatal("the README shows no `echo '…' | ./petrel user add …` line")
	}
	password, addr := m[1], m[2]
	if out, err := devCLI(dir, password+"\n", "user", "add", addr); err != nil || !strings.Contains(out, "added "+addr) {
		t.Fatalf("README's user add: %v\n%s", err, out)
	}
	if out, err := devCLI(dir, "", "user", "list"); err != nil || !strings.Contains(out, addr+" ") {
		t.Fatalf("README's user list: %v\n%s", err, out)
	}

	// Autoconfig names the ports this server listens on, --dev's here, as
	// docs/clients.md and quickstart.md say (issue 13, point 14).
	resp, err := http.Get("http://localhost:8080/mail/config-v1.1.xml?emailaddress=" + addr)
	if err != nil {
		t.Fatal(err)
	}
	xml, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, port := range []string{"9930", "1430", "9950", "1100", "4650", "5870"} {
		if !strings.Contains(string(xml), "<port>"+port+"</port>") {
			t.Errorf("autoconfig of serve --dev does not name port %s:\n%s", port, xml)
		}
	}

	// The textbook session, byte for byte.
	textbookSession(t, readme, "localhost:2525")

	// imaplib over IMAPS and poplib over STLS, verifying the certificate.
	cmd := exec.Command(python, "testdata/firsthour_clients.py", addr, password, cert, "9930", "1100")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	outJSON, err := cmd.Output()
	if err != nil {
		t.Fatalf("imaplib and poplib: %v\n%s", err, stderr.String())
	}
	var got struct {
		IMAPExists  int    `json:"imap_exists"`
		IMAPMessage string `json:"imap_message"`
		IMAPText    string `json:"imap_text"`
		POPCount    int    `json:"pop_count"`
		POPMessage  string `json:"pop_message"`
	}
	if err := json.Unmarshal(outJSON, &got); err != nil {
		t.Fatalf("script output %q: %v", outJSON, err)
	}
	decode := func(s string) string { b, _ := base64.StdEncoding.DecodeString(s); return string(b) }
	const body = "Do you like ketchup?\r\nHow about pickles?\r\n"
	if got.IMAPExists != 1 || got.POPCount != 1 {
		t.Errorf("INBOX holds %d messages over IMAP, %d over POP3; want the one sent", got.IMAPExists, got.POPCount)
	}
	for name, msg := range map[string]string{"imaplib": decode(got.IMAPMessage), "poplib": decode(got.POPMessage)} {
		if !strings.Contains(msg, "\r\nReceived: from crepes.fr ") || !strings.Contains(msg, body) {
			t.Errorf("%s fetched a message without the Received header or the two lines:\n%q", name, msg)
		}
		// The two lines are the body, after the header (issue 13, point 1).
		if !strings.HasSuffix(msg, "\r\n\r\n"+body) {
			t.Errorf("%s: the two lines are not the message's body, after a blank line:\n%q", name, msg)
		}
	}
	if text := decode(got.IMAPText); text != body {
		t.Errorf("imaplib: BODY[TEXT] is %q, want %q", text, body)
	}

	// mbsync, with the docs' mbsync stanza.
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".config"), 0o700)
	os.MkdirAll(filepath.Join(home, "Mail"), 0o700)
	copyFile(t, cert, filepath.Join(home, ".config", "petrel-cert.pem"))
	os.WriteFile(filepath.Join(home, ".petrel-password"), []byte(password+"\n"), 0o600)
	rc := docsBlock(t, clients, "## mbsync", "IMAPAccount petrel")
	rc = replaceAll(t, rc, "Host mx.example.com", "Host localhost", "Port 993", "Port 9930", "User you@example.com", "User "+addr)
	rcPath := filepath.Join(home, ".mbsyncrc")
	os.WriteFile(rcPath, []byte(rc), 0o600)
	mb := exec.Command(mbsync, "-c", rcPath, "-a")
	mb.Env = append(withoutPetrelVars(os.Environ()), "HOME="+home)
	if out, err := mb.CombinedOutput(); err != nil {
		t.Errorf("mbsync with the docs' settings: %v\n%s", err, out)
	} else if strings.Contains(string(out), "incomplete header") || strings.Contains(string(out), "Warning") {
		t.Errorf("mbsync warns:\n%s", out)
	}
	if n := maildirWith(t, filepath.Join(home, "Mail", "INBOX"), "How about pickles?"); n != 1 {
		t.Errorf("mbsync put %d copies of the message in ~/Mail/INBOX, want 1", n)
	}

	// fetchmail, with the docs' fetchmail stanza and its mda.
	home = t.TempDir()
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(home, "Mail", "INBOX", sub), 0o700)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	rc = docsBlock(t, clients, "## fetchmail", "poll mx.example.com")
	rc = replaceAll(t, rc, "poll mx.example.com", "poll localhost", "port 995", "port 9950",
		`user "you@example.com"`, `user "`+addr+`"`, `password "…"`, `password "`+password+`"`,
		`is "you" here`, `is "`+me.Username+`" here`,
		// "With the self-signed certificate, add sslcertfile … to the options"
		"options keep ssl sslcertck", `options keep ssl sslcertck sslcertfile "`+cert+`"`)
	rcPath = filepath.Join(home, ".fetchmailrc")
	os.WriteFile(rcPath, []byte("set no syslog\n"+rc), 0o600)
	fm := exec.Command(fetchmail, "-f", rcPath, "--nodetach", "--nosyslog", "--pidfile", filepath.Join(home, "pid"))
	fm.Env = append(withoutPetrelVars(os.Environ()), "HOME="+home, "FETCHMAILHOME="+home, "FETCHMAILUSER="+me.Username)
	if out, err := fm.CombinedOutput(); err != nil {
		t.Errorf("fetchmail with the docs' settings: %v\n%s", err, out)
	}
	if n := maildirWith(t, filepath.Join(home, "Mail", "INBOX"), "How about pickles?"); n != 1 {
		t.Errorf("fetchmail's mda put %d copies of the message in ~/Mail/INBOX, want 1", n)
	}
}

// devCLI runs a petrel command in dir with no config, as the README does
// next to a running `serve --dev`.
func devCLI(dir, stdin string, args ...string) (string, error) {
	cmd := exec.Command(petrelBin, args...)
	cmd.Dir = dir
	cmd.Env = withoutPetrelVars(os.Environ())
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// textbookSession speaks the README's SMTP session to addr: each "C:" line
// sent as it stands, with CRLF, and each reply compared with its "S:" line,
// where "yourhost" stands for the host name and "…" for anything.
func textbookSession(t *testing.T, readme, addr string) {
	t.Helper()
	i := strings.Index(readme, "\nS: 220 ")
	if i < 0 {
		t.Fatal("the README shows no SMTP session")
	}
	session := readme[i+1:]
	session = session[:strings.Index(session, "```")]
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	for _, line := range strings.Split(strings.TrimSpace(session), "\n") {
		switch {
		case strings.HasPrefix(line, "C: "):
			if _, err := c.Write([]byte(strings.TrimPrefix(line, "C: ") + "\r\n")); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(line, "S: "):
			want := regexp.QuoteMeta(strings.TrimPrefix(line, "S: "))
			want = strings.ReplaceAll(want, "yourhost", `\S+`)
			want = "^" + strings.ReplaceAll(want, "…", ".*") + "\r\n$"
			reply, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("waiting for %q: %v", line, err)
			}
			if !regexp.MustCompile(want).MatchString(reply) {
				t.Fatalf("the server answered %q where the README shows %q", reply, line)
			}
		default:
			t.Fatalf("README session line is neither C: nor S:: %q", line)
		}
	}
}

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// docsBlock is the first code block after the heading that begins with
// heading, whose text begins with start.
func docsBlock(t *testing.T, doc, heading, start string) string {
	t.Helper()
	i := strings.Index(doc, "\n"+heading)
	if i < 0 {
		t.Fatalf("no %q section", heading)
	}
	rest := doc[i:]
	j := strings.Index(rest, "```\n"+start)
	if j < 0 {
		t.Fatalf("section %q has no block beginning %q", heading, start)
	}
	block := rest[j+4:]
	return block[:strings.Index(block, "```")]
}

// replaceAll makes each old→new replacement in s; every old must be there,
// so that the test follows the docs or fails when they change.
func replaceAll(t *testing.T, s string, oldNew ...string) string {
	t.Helper()
	for i := 0; i < len(oldNew); i += 2 {
		if !strings.Contains(s, oldNew[i]) {
			t.Fatalf("the docs' stanza has no %q:\n%s", oldNew[i], s)
		}
		s = strings.ReplaceAll(s, oldNew[i], oldNew[i+1])
	}
	return s
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// maildirWith counts the messages of a Maildir (new and cur) containing
// text.
func maildirWith(t *testing.T, maildir, text string) int {
	t.Helper()
	n := 0
	for _, sub := range []string{"new", "cur"} {
		files, _ := filepath.Glob(filepath.Join(maildir, sub, "*"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), text) {
				n++
			}
		}
	}
	return n
}
