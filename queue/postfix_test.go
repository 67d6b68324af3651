package queue_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"petrel/dnsmx/dnsmxtest"
	"petrel/internal/testenv"
	"petrel/tlsconf"
)

// postfixMaster is /usr/lib/postfix/sbin/master, found via the postfix
// command's package.
func postfixMaster(t *testing.T) string {
	testenv.RequireTool(t, "postfix")
	p := testenv.RequireTool(t, "master") // /usr/lib/postfix/sbin on Debian
	if !strings.Contains(p, "postfix") {
		testenv.Unavailable(t, "%s is not Postfix's master", p)
	}
	return p
}

// startPostfix runs a private Postfix instance (master -d, in the
// foreground) on ip:port that accepts mail for remote.test into one
// Maildir, with STARTTLS on a self-signed certificate, refusing
// nobody@remote.test. It returns the Maildir's new/ directory.
func startPostfix(t *testing.T, ip string, port int) string {
	master := postfixMaster(t)
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "Postfix needs root to start")
	}
	pf, err := user.Lookup("postfix")
	if err != nil {
		testenv.Unavailable(t, "no postfix user: %v", err)
	}
	uid, _ := strconv.Atoi(pf.Uid)
	gid, _ := strconv.Atoi(pf.Gid)
	dir := t.TempDir()
	// Postfix's daemons run as the postfix user and must reach their
	// directories.
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	mkdir := func(p string, mode os.FileMode, uid, gid int) {
		if err := os.MkdirAll(p, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		os.Chown(p, uid, gid)
	}
	postdrop := gid
	if g, err := user.LookupGroup("postdrop"); err == nil {
		postdrop, _ = strconv.Atoi(g.Gid)
	}
	q := filepath.Join(dir, "queue")
	mkdir(q, 0o755, 0, 0)
	for _, d := range []string{"active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming", "saved", "trace", "private"} {
		mkdir(filepath.Join(q, d), 0o700, uid, 0)
	}
	mkdir(filepath.Join(q, "maildrop"), 0o730, uid, postdrop)
	mkdir(filepath.Join(q, "public"), 0o710, uid, postdrop)
	mkdir(filepath.Join(q, "pid"), 0o755, 0, 0)
	mkdir(filepath.Join(dir, "data"), 0o700, uid, gid)
	mkdir(filepath.Join(dir, "mail"), 0o755, uid, gid)
	mkdir(filepath.Join(dir, "conf"), 0o755, 0, 0)
	cert, key, err := tlsconf.SelfSigned("mx.remote.test")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "conf", "cert.pem"), cert, 0o644)
	os.WriteFile(filepath.Join(dir, "conf", "key.pem"), key, 0o600)
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.remote.test
mydestination =
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = remote.test
virtual_mailbox_base = %[1]s/mail
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:%[2]d
virtual_gid_maps = static:%[3]d
smtpd_peername_lookup = no
smtpd_recipient_restrictions = check_recipient_access inline:{nobody@remote.test=REJECT}, permit_mynetworks, reject
smtpd_tls_cert_file = %[1]s/conf/cert.pem
smtpd_tls_key_file = %[1]s/conf/key.pem
smtpd_tls_security_level = may
smtpd_tls_received_header = yes
smtputf8_enable = yes
maillog_file_prefixes = /tmp, %[1]s
maillog_file = %[1]s/maillog
`, dir, uid, gid)
	masterCF := fmt.Sprintf(`%s:%d inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
proxymap  unix  -       -       n       -       -       proxymap
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
`, ip, port)
	os.WriteFile(filepath.Join(dir, "conf", "main.cf"), []byte(mainCF), 0o644)
	os.WriteFile(filepath.Join(dir, "conf", "master.cf"), []byte(masterCF), 0o644)

	cmd := exec.Command(master, "-c", filepath.Join(dir, "conf"), "-d")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "maillog"))
			t.Logf("Postfix log:\n%s", b)
		}
	})
	waitFor(t, "Postfix to listen", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return filepath.Join(dir, "mail", "inbox", "new")
}

// TestPostfixPeer delivers to a real Postfix over STARTTLS: the accepted
// recipient's copy lands in Postfix's Maildir with our bytes and Postfix's
// Received header saying TLS, and the recipient Postfix refuses bounces.
func TestPostfixPeer(t *testing.T) {
	t.Parallel()
	port := freePort(t, "127.0.0.4")
	maildir := startPostfix(t, "127.0.0.4", port)
	e := newEnv(t, port, dnsmxtest.Start(t, "remote.test. 60 IN MX 10 mx.remote.test.", "mx.remote.test. 60 IN A 127.0.0.4"))
	id := e.enqueue("alice@local.test", "bob@remote.test", "nobody@remote.test")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("queue log:\n%s", e.log)
		}
	})
	e.gone(id)
	e.logged("id="+id, "tls=unverified", "delivered=1", "failed=1")

	var files []string
	waitFor(t, "Postfix's Maildir delivery", 10*time.Second, func() bool {
		files, _ = filepath.Glob(filepath.Join(maildir, "*"))
		return len(files) == 1
	})
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(string(b), "\r\n", "\n")
	contains(t, "delivered message", got, "Return-Path: <alice@local.test>", "Delivered-To: bob@remote.test",
		"from petrel.test", "using TLS", "Subject: queue test", "Hello over the queue.")
	dsns := e.box.all()
	if len(dsns) != 1 {
		t.Fatalf("%d DSNs, want 1 for nobody@", len(dsns))
	}
	contains(t, "DSN", string(dsns[0].data), "Final-Recipient: rfc822; nobody@remote.test", "Status: 5.7.1", "Remote-MTA: dns; mx.remote.test")
}
