package filter

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"petrel/internal/testenv"
)

// eicar is the anti-virus test file (www.eicar.org), 68 bytes.
const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// startClamAV runs clamd with a signature database the test writes (an
// MD5 hash signature of the EICAR file: freshclam cannot download one
// here) and clamav-milter in front of it, both configured in a temporary
// directory, clamav-milter on a loopback port or a unix socket. It
// returns the milter address.
func startClamAV(t *testing.T, unix bool) (string, *daemon) {
	t.Helper()
	clamd := testenv.RequireTool(t, "clamd")
	milterBin := testenv.RequireTool(t, "clamav-milter")
	// Unix socket paths are short (108 bytes): not under t.TempDir().
	dir, err := os.MkdirTemp("", "petrel-clam")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o755); err != nil {
		t.Fatal(err)
	}
	sig := fmt.Sprintf("%x:%d:Petrel-Test-EICAR\n", md5.Sum([]byte(eicar)), len(eicar))
	if err := os.WriteFile(filepath.Join(db, "petrel.hdb"), []byte(sig), 0o644); err != nil {
		t.Fatal(err)
	}
	clamdSock := filepath.Join(dir, "clamd.sock")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	clamdConf := write("clamd.conf", strings.Join([]string{
		"Foreground yes",
		"LocalSocket " + clamdSock,
		"DatabaseDirectory " + db,
		"LogFile " + filepath.Join(dir, "clamd.log"),
		"TemporaryDirectory " + dir,
		"SelfCheck 0",
	}, "\n")+"\n")
	milterSock, network, addr := "", "tcp", freePort(t)
	host, port, _ := strings.Cut(addr, ":")
	milterSock = "inet:" + port + "@" + host
	if unix {
		network, addr = "unix", filepath.Join(dir, "milter.sock")
		milterSock = "unix:" + addr
	}
	milterConf := write("clamav-milter.conf", strings.Join([]string{
		"Foreground yes",
		"MilterSocket " + milterSock,
		"ClamdSocket unix:" + clamdSock,
		"OnInfected Reject",
		"RejectMsg Virus found: %v",
		"AddHeader Replace",
		"LogFile " + filepath.Join(dir, "clamav-milter.log"),
		"TemporaryDirectory " + dir,
	}, "\n")+"\n")
	cd := startDaemon(t, clamd, "-c", clamdConf)
	cd.waitListening(t, "unix", clamdSock, 2*time.Minute, filepath.Join(dir, "clamd.log"))
	m := startDaemon(t, milterBin, "-c", milterConf)
	m.waitListening(t, network, addr, time.Minute, filepath.Join(dir, "clamav-milter.log"))
	if unix {
		return "unix:" + addr, m
	}
	return "inet:" + addr, m
}

// withAttachment is a multipart message with one attachment.
func withAttachment(name string, content []byte) string {
	return "From: a@example.org\r\nTo: b@example.com\r\nSubject: the file\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain\r\n\r\nHere it is.\r\n" +
		"--b1\r\nContent-Type: application/octet-stream; name=\"" + name + "\"\r\nContent-Disposition: attachment; filename=\"" + name + "\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString(content) + "\r\n--b1--\r\n"
}

// TestClamAV: EICAR in an attachment is refused with 5.7.1 and the virus
// name; a clean attachment passes; with the milter down, on_error decides.
func TestClamAV(t *testing.T) {
	for _, unix := range []bool{false, true} {
		addr, m := startClamAV(t, unix)
		c := newChain(t, Spec{Milter: addr, Timeout: time.Minute})
		ctx := context.Background()
		res := c.Check(ctx, testEnv(), []byte(withAttachment("eicar.com", []byte(eicar))))
		if res.Verdict != Reject || res.Code != 550 || res.Enhanced != [3]int{5, 7, 1} || !strings.Contains(res.Text, "Petrel-Test-EICAR") {
			t.Errorf("%s: EICAR: %v %d %v %q (%s)", addr, res.Verdict, res.Code, res.Enhanced, res.Text, res.Reason)
		}
		clean := withAttachment("notes.txt", []byte("just some notes\n"))
		res = c.Check(ctx, testEnv(), []byte(clean))
		if res.Verdict != Accept {
			t.Errorf("%s: clean attachment: %v %d %q (%s)", addr, res.Verdict, res.Code, res.Text, res.Reason)
		}
		if !strings.Contains(string(res.Message), "\r\nX-Virus-Scanned: clamav-milter ") || !strings.Contains(string(res.Message), "\r\nX-Virus-Status: Clean\r\n") {
			t.Errorf("%s: no X-Virus-Scanned/X-Virus-Status field (AddHeader Replace):\n%s", addr, res.Message)
		}
		// The milter is down: on_error decides.
		m.stop()
		for onErr, want := range map[string]Verdict{"tempfail": TempFail, "accept": Accept} {
			c := newChain(t, Spec{Milter: addr, OnError: onErr, Timeout: 5 * time.Second})
			res := c.Check(ctx, testEnv(), []byte(withAttachment("eicar.com", []byte(eicar))))
			if res.Verdict != want {
				t.Errorf("%s down, on_error=%s: %v %d %q", addr, onErr, res.Verdict, res.Code, res.Text)
			}
		}
	}
}
