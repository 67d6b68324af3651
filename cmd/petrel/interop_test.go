package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"petrel/dnsmx/dnsmxtest"
	"petrel/internal/testenv"
)

// swaks, as a user's client, submits over STARTTLS with AUTH PLAIN; the
// queue relays to Postfix's smtp-sink, the receiving peer, found by MX.
func TestSwaksToSmtpSink(t *testing.T) {
	swaks := testenv.RequireTool(t, "swaks")
	sink := testenv.RequireTool(t, "smtp-sink")
	port := commonFreePort(t, "127.0.0.5")
	dns := dnsmxtest.Start(t,
		"sink.test. 300 IN MX 10 mx.sink.test.",
		"mx.sink.test. 300 IN A 127.0.0.5",
	)
	// smtp-sink drops root privileges to nobody, who cannot enter t.TempDir
	// (its parent is owner-only): the dump folder is made open to all.
	dump, err := os.MkdirTemp("", "petrel-sink-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dump) })
	if err := os.Chmod(dump, 0o777); err != nil {
		t.Fatal(err)
	}
	sinkCmd := exec.Command(sink, "-u", "nobody", "-d", filepath.Join(dump, "msg."), "127.0.0.5:"+port, "10")
	if err := sinkCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sinkCmd.Process.Kill(); sinkCmd.Wait() })

	a := newInstanceWith(t, instanceOpts{hostname: "mx.example.com", domain: "example.com",
		extra: fmt.Sprintf("[dns]\nresolver = %q\n[queue]\nport = %s\nretry = [\"1s\"]\n", dns.Addr, port)})
	a.petrel("alice-pw\n", "user", "add", "--force", "alice@example.com")
	if _, errOut, code := a.petrel("", "dkim", "keygen", "example.com", "--algo", "rsa"); code != 0 {
		t.Fatalf("dkim keygen: %s", errOut)
	}
	a.start()

	out, err := exec.Command(swaks, "--server", a.subAddr, "--tls", "--auth", "PLAIN",
		"--auth-user", "alice@example.com", "--auth-password", "alice-pw",
		"--from", "alice@example.com", "--to", "friend@sink.test",
		"--header", "Subject: swaks to the sink", "--body", "sent by swaks").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "<~  250 ") {
		t.Errorf("swaks saw no 250:\n%s", out)
	}
	var got string
	waitFor(t, 20*time.Second, "the message at smtp-sink", func() bool {
		files, _ := filepath.Glob(filepath.Join(dump, "msg.*"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if strings.Contains(string(b), "swaks to the sink") {
				got = string(b)
				return true
			}
		}
		return false
	})
	for _, want := range []string{"by mx.example.com with ESMTPSA", "DKIM-Signature: ", "a=rsa-sha256", "d=example.com", "sent by swaks"} {
		if !strings.Contains(got, want) {
			t.Errorf("message at the sink lacks %q:\n%s", want, got)
		}
	}
}
