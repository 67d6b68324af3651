package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ---------------------------------------------------------------- Petrel

type petrel struct {
	dir, conf, log string
	p              *proc
	smtp, sub, pop string // host:port of its listeners ("" = off)
	imap, http     string
}

type petrelOpts struct {
	smtp, sub, pop bool
	imap           bool
	http           bool   // its HTTP listener, for /metrics
	dataDir        string // "" = dir/data, made here; else an existing one (users and mail already in)
	queuePort      int
	users          map[string]string // address -> password
	importMaildir  map[string]string // address -> Maildir to import before start
}

// startPetrel writes a config for Petrel on ipPetrel, adds the users,
// imports Maildirs (offline, before serve) and starts `petrel serve`.
func (b *bench) startPetrel(name string, o petrelOpts) (*petrel, error) {
	s := &petrel{dir: filepath.Join(b.work, name)}
	os.MkdirAll(s.dir, 0o755)
	s.conf = filepath.Join(s.dir, "petrel.toml")
	s.log = filepath.Join(s.dir, "petrel.log")
	var listen strings.Builder
	if o.smtp {
		s.smtp = fmt.Sprintf("%s:%d", ipPetrel, freePort(ipPetrel))
		fmt.Fprintf(&listen, "smtp = %q\n", s.smtp)
	}
	if o.sub {
		s.sub = fmt.Sprintf("%s:%d", ipPetrel, freePort(ipPetrel))
		fmt.Fprintf(&listen, "submission = %q\n", s.sub)
	}
	if o.pop {
		s.pop = fmt.Sprintf("%s:%d", ipPetrel, freePort(ipPetrel))
		fmt.Fprintf(&listen, "pop3 = %q\n", s.pop)
	}
	if o.imap {
		s.imap = fmt.Sprintf("%s:%d", ipPetrel, freePort(ipPetrel))
		fmt.Fprintf(&listen, "imap = %q\n", s.imap)
	}
	if o.http {
		s.http = fmt.Sprintf("%s:%d", ipPetrel, freePort(ipPetrel))
		fmt.Fprintf(&listen, "http = %q\n", s.http)
	}
	dataDir := o.dataDir
	if dataDir == "" {
		dataDir = filepath.Join(s.dir, "data")
	}
	queuePort := o.queuePort
	if queuePort == 0 {
		queuePort = 25
	}
	conf := fmt.Sprintf(`# written by bench/cmd/benchrun
hostname = "petrel.bench"
domains = ["bench.test"]
data_dir = %q

[listen]
%s
[dns]
resolver = %q

[queue]
port = %d

[log]
level = "info"
`, dataDir, listen.String(), b.dnsAddr, queuePort)
	if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	for addr, pass := range o.users {
		cmd := petrelCmd(b.petrelBin, "user", "add", addr, "--force", "--config", s.conf)
		cmd.Stdin = strings.NewReader(pass + "\n")
		if _, err := run("petrel user add", s.log, time.Minute, cmd); err != nil {
			return nil, err
		}
	}
	for addr, md := range o.importMaildir {
		t0 := time.Now()
		cmd := petrelCmd(b.petrelBin, "import", "maildir", addr, md, "--config", s.conf)
		if _, err := run("petrel import maildir", s.log, 10*time.Minute, cmd); err != nil {
			return nil, err
		}
		b.logf("%s: imported %s into %s in %.1fs", name, md, addr, time.Since(t0).Seconds())
	}
	p, err := start("petrel serve", s.log, petrelCmd(b.petrelBin, "serve", "--config", s.conf))
	if err != nil {
		return nil, err
	}
	s.p = p
	for _, a := range []string{s.smtp, s.sub, s.pop, s.imap, s.http} {
		if a != "" {
			if err := waitListen(p, a, 30*time.Second, s.log); err != nil {
				p.stop(5 * time.Second)
				return nil, err
			}
		}
	}
	return s, nil
}

// petrelCmd runs petrel on its config file alone: PETREL_… variables of
// the caller's environment would override it.
func petrelCmd(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PETREL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd
}

func (s *petrel) stop() { s.p.stop(20 * time.Second) }

// ---------------------------------------------------------------- Postfix

type postfix struct {
	dir, log string
	smtpd    string
	p        *proc
}

// startPostfix runs a private Postfix instance: its own config, queue and
// data directories, smtpd on ipPeer, at Postfix's default durability
// (queue files are fsync'ed before 250). It runs master(8) in the
// foreground (-d), the process `postfix start` would start as a daemon,
// so that the harness owns its process group. extraMain is appended to
// main.cf.
func (b *bench) startPostfix(name, extraMain string) (*postfix, error) {
	pf, err := user.Lookup("postfix")
	if err != nil {
		return nil, fmt.Errorf("no postfix user: %w", err)
	}
	uid, _ := strconv.Atoi(pf.Uid)
	gid, _ := strconv.Atoi(pf.Gid)
	postdrop := gid
	if g, err := user.LookupGroup("postdrop"); err == nil {
		postdrop, _ = strconv.Atoi(g.Gid)
	}
	s := &postfix{dir: filepath.Join(b.work, name)}
	s.log = filepath.Join(s.dir, "maillog")
	mkdir := func(p string, mode os.FileMode, uid, gid int) {
		os.MkdirAll(p, mode)
		os.Chmod(p, mode)
		os.Chown(p, uid, gid)
	}
	mkdir(s.dir, 0o755, 0, 0)
	q := filepath.Join(s.dir, "queue")
	mkdir(q, 0o755, 0, 0)
	for _, d := range []string{"active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming", "saved", "trace", "private"} {
		mkdir(filepath.Join(q, d), 0o700, uid, 0)
	}
	mkdir(filepath.Join(q, "maildrop"), 0o730, uid, postdrop)
	mkdir(filepath.Join(q, "public"), 0o710, uid, postdrop)
	mkdir(filepath.Join(q, "pid"), 0o755, 0, 0)
	mkdir(filepath.Join(s.dir, "data"), 0o700, uid, gid)
	mkdir(filepath.Join(s.dir, "conf"), 0o755, 0, 0)
	s.smtpd = fmt.Sprintf("%s:%d", ipPeer, freePort(ipPeer))
	// POSTFIX_EXTRA (main.cf lines, "\n" for new lines) is for experiments,
	// such as in_flow_delay = 0; the table says when it was set.
	if x := os.Getenv("POSTFIX_EXTRA"); x != "" {
		extraMain += "# POSTFIX_EXTRA\n" + strings.ReplaceAll(x, `\n`, "\n") + "\n"
	}
	mainCF := fmt.Sprintf(`# written by bench/cmd/benchrun: a private instance, Postfix defaults otherwise
compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
mail_owner = postfix
setgid_group = postdrop
# Postfix accepts only addresses of an interface here (lo has 127.0.0.1);
# smtpd is bound to %[2]s in master.cf.
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = postfix.bench
mydomain = bench.test
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
biff = no
# No DNS at all: the system resolver is not on loopback, and the harness
# must not send traffic elsewhere. Reverse lookups of the (loopback) client
# would have been answered from /etc/hosts.
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
maillog_file_prefixes = %[1]s
maillog_file = %[1]s/maillog
%[3]s
`, s.dir, ipPeer, extraMain)
	masterCF := fmt.Sprintf(`%s inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`, s.smtpd)
	os.WriteFile(filepath.Join(s.dir, "conf", "main.cf"), []byte(mainCF), 0o644)
	os.WriteFile(filepath.Join(s.dir, "conf", "master.cf"), []byte(masterCF), 0o644)
	p, err := start("postfix master", filepath.Join(s.dir, "master.out"), exec.Command(b.postfixMaster, "-c", filepath.Join(s.dir, "conf"), "-d"))
	if err != nil {
		return nil, err
	}
	s.p = p
	if err := waitListen(p, s.smtpd, 30*time.Second, s.log); err != nil {
		p.stop(5 * time.Second)
		return nil, fmt.Errorf("%v\n%s", err, tail(filepath.Join(s.dir, "master.out"), 2000))
	}
	return s, nil
}

func (s *postfix) stop() { s.p.stop(20 * time.Second) }

// ---------------------------------------------------------------- Dovecot

type dovecot struct {
	dir, log string
	pop      string // host:port of POP3, or ""
	lmtp     string // host:port of LMTP, or ""
	imap     string // host:port of IMAP, or ""
	maildir  string // the user's Maildir
	p        *proc
}

// startDovecot runs Dovecot (as root, mail owned by uid 65534 as in
// pop3/dovecot_test.go) on ipPeer with one user, user@bench.test, whose
// Maildir is dir/Maildir, at Dovecot's default durability (mail_fsync =
// optimized). protocols: "pop3", "lmtp" or both.
func (b *bench) startDovecot(name, usr, pass string, pop, lmtp bool) (*dovecot, error) {
	s := &dovecot{dir: filepath.Join(b.work, name)}
	s.log = filepath.Join(s.dir, "dovecot.log")
	s.maildir = filepath.Join(s.dir, "Maildir")
	os.MkdirAll(s.dir, 0o755)
	os.Chmod(s.dir, 0o755)
	mailUID, mailGID := 65534, 65534
	for _, d := range []string{"Maildir", "Maildir/cur", "Maildir/new", "Maildir/tmp", "home"} {
		p := filepath.Join(s.dir, d)
		os.MkdirAll(p, 0o755)
		os.Chown(p, mailUID, mailGID)
	}
	os.WriteFile(filepath.Join(s.dir, "passwd"), []byte(usr+":{PLAIN}"+pass+"\n"), 0o644)
	var protocols []string
	var services strings.Builder
	if pop {
		protocols = append(protocols, "pop3")
		s.pop = fmt.Sprintf("%s:%d", ipPeer, freePort(ipPeer))
		fmt.Fprintf(&services, "service pop3-login {\n  inet_listener pop3 {\n    port = %s\n  }\n}\n", portOf(s.pop))
	}
	if lmtp {
		protocols = append(protocols, "lmtp")
		s.lmtp = fmt.Sprintf("%s:%d", ipPeer, freePort(ipPeer))
		fmt.Fprintf(&services, "service lmtp {\n  inet_listener lmtp {\n    address = %s\n    port = %s\n  }\n}\n", ipPeer, portOf(s.lmtp))
	}
	conf := fmt.Sprintf(`# written by bench/cmd/benchrun; Dovecot defaults otherwise (mail_fsync = optimized)
protocols = %[1]s
listen = %[2]s
base_dir = %[3]s/run
state_dir = %[3]s/state
log_path = %[3]s/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:%[3]s/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN %[3]s/passwd
}
userdb {
  driver = static
  args = uid=%[4]d gid=%[5]d home=%[3]s/home
}
%[6]s`, strings.Join(protocols, " "), ipPeer, s.dir, mailUID, mailGID, services.String())
	confPath := filepath.Join(s.dir, "dovecot.conf")
	os.WriteFile(confPath, []byte(conf), 0o644)
	p, err := start("dovecot", filepath.Join(s.dir, "dovecot.out"), exec.Command(b.dovecotBin, "-F", "-c", confPath))
	if err != nil {
		return nil, err
	}
	s.p = p
	for _, a := range []string{s.pop, s.lmtp} {
		if a != "" {
			if err := waitListen(p, a, 30*time.Second, s.log); err != nil {
				p.stop(5 * time.Second)
				return nil, fmt.Errorf("%v\n%s", err, tail(filepath.Join(s.dir, "dovecot.out"), 2000))
			}
		}
	}
	return s, nil
}

func (s *dovecot) stop() { s.p.stop(20 * time.Second) }

func portOf(hostport string) string {
	i := strings.LastIndexByte(hostport, ':')
	return hostport[i+1:]
}
