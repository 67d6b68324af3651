package msgauth_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"petrel/msgauth"
)

// TestGenerateSignVerify is the round trip for each algorithm: make a key,
// publish exactly the line GenerateKey returned in the test DNS server,
// sign with LoadSigner, and verify through the Verifier.
func TestGenerateSignVerify(t *testing.T) {
	for _, algo := range []string{"ed25519", "rsa"} {
		t.Run(algo, func(t *testing.T) {
			dir := t.TempDir()
			rec, err := msgauth.GenerateKey(dir, "Round.Trip.Example.", "s2026", algo)
			if err != nil {
				t.Fatal(err)
			}
			wantPrefix := "s2026._domainkey.round.trip.example. IN TXT \"v=DKIM1; k=" + algo + "; p="
			if !strings.HasPrefix(rec, wantPrefix) || strings.Contains(rec, "\n") {
				t.Errorf("record = %q, want one line starting %q", rec, wantPrefix)
			}
			path := filepath.Join(dir, "s2026._domainkey.round.trip.example.pem")
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
			}

			s, err := msgauth.LoadSigner(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got, ok := s.DNSRecord("round.trip.example"); !ok || got != rec {
				t.Errorf("DNSRecord = %q, %v; want GenerateKey's %q", got, ok, rec)
			}
			if krs := s.KeyRecords("round.trip.example"); len(krs) != 1 || krs[0].Selector != "s2026" ||
				!strings.HasPrefix(krs[0].TXT, "v=DKIM1; k="+algo+"; p=") || strings.Contains(krs[0].TXT, `"`) {
				t.Errorf("KeyRecords = %+v", krs)
			}

			z := startDNS(t)
			z.Add(t, rec, `round.trip.example. TXT "v=spf1 -all"`, `_dmarc.round.trip.example. TXT "v=DMARC1; p=reject"`)
			v := msgauth.NewVerifier(msgauth.Options{Hostname: authserv, Resolver: msgauth.NewNetResolver(z.Addr)})

			msg := simpleMessage("news@round.trip.example")
			signed, err := s.Sign("round.trip.example", msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(signed, msg) || !bytes.HasPrefix(signed, []byte("DKIM-Signature: ")) {
				t.Fatalf("signed message is not signature + original:\n%s", signed)
			}
			got, err := v.Verify(t.Context(), msgauthInput(badIP, "x.example", "news@round.trip.example", signed))
			if err != nil {
				t.Fatal(err)
			}
			if len(got.DKIM) != 1 || got.DKIM[0].Result != "pass" || got.DMARC[0].Result != "pass" || got.Action != msgauth.Accept {
				t.Errorf("verify signed: DKIM %+v DMARC %+v action %v; want pass, pass, accept", got.DKIM, got.DMARC, got.Action)
			}
			if !strings.Contains(string(signed), "a="+map[string]string{"ed25519": "ed25519-sha256", "rsa": "rsa-sha256"}[algo]) {
				t.Errorf("signature does not use %s", algo)
			}
		})
	}
}

func TestGenerateKeyErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := msgauth.GenerateKey(dir, "example.org", "sel", "ed25519"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, domain, selector, algo string
	}{
		{"existing key not replaced", "example.org", "sel", "ed25519"},
		{"unknown algorithm", "example.org", "other", "dsa"},
		{"single-label domain", "localhost", "sel", "ed25519"},
		{"path in domain", "../etc/passwd", "sel", "ed25519"},
		{"path in selector", "example.org", "../../x", "ed25519"},
		{"empty selector", "example.org", "", "ed25519"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if rec, err := msgauth.GenerateKey(dir, tt.domain, tt.selector, tt.algo); err == nil {
				t.Errorf("GenerateKey(%q, %q, %q) = %q, want an error", tt.domain, tt.selector, tt.algo, rec)
			}
		})
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("key dir has %d entries after failures, want the 1 key", len(entries))
	}
}

func TestLoadSigner(t *testing.T) {
	t.Run("missing dir is an empty signer", func(t *testing.T) {
		s, err := msgauth.LoadSigner(filepath.Join(t.TempDir(), "none"))
		if err != nil {
			t.Fatal(err)
		}
		msg := simpleMessage("a@example.org")
		if got, err := s.Sign("example.org", msg); err != nil || !bytes.Equal(got, msg) {
			t.Errorf("Sign with no key changed the message or failed: %v", err)
		}
		if _, ok := s.DNSRecord("example.org"); ok {
			t.Error("DNSRecord reports a key that does not exist")
		}
	})
	t.Run("malformed key file is an error", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "sel._domainkey.example.org.pem"), []byte("not a key"), 0o600)
		if _, err := msgauth.LoadSigner(dir); err == nil {
			t.Error("LoadSigner accepted a malformed key file")
		}
	})
	t.Run("other files ignored", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "cert.pem"), []byte("not a key"), 0o600)
		os.WriteFile(filepath.Join(dir, "README"), []byte("hi"), 0o600)
		s, err := msgauth.LoadSigner(dir)
		if err != nil || len(s.Domains()) != 0 {
			t.Errorf("LoadSigner = %v, %v; want an empty signer", s.Domains(), err)
		}
	})
	t.Run("no From is an error", func(t *testing.T) {
		s, err := msgauth.LoadSigner(keyDir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Sign("example.com", message("hi\n", "Subject: no author")); err == nil {
			t.Error("Sign accepted a message without From")
		}
	})
}

// EnsureKeys makes an RSA and an Ed25519 key for each domain that lacks
// them (not for localhost), keeps what is there, and the Signer then signs
// with both: each signature verifies against its published record (issue
// 13, point 6). A second key of an algorithm the same month gets a free
// selector instead of "already exists".
func TestEnsureKeysSignsWithBoth(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	// An Ed25519 key made before, by `petrel dkim keygen`, under its own name.
	old, err := msgauth.GenerateKey(dir, "example.org", "s1", "ed25519")
	if err != nil {
		t.Fatal(err)
	}
	made, err := msgauth.EnsureKeys(dir, []string{"example.com", "localhost", "example.org"}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"petrel202612-rsa._domainkey.example.com. IN TXT \"v=DKIM1; k=rsa; p=",
		"petrel202612-ed25519._domainkey.example.com. IN TXT \"v=DKIM1; k=ed25519; p=",
		"petrel202612-rsa._domainkey.example.org. IN TXT \"v=DKIM1; k=rsa; p=",
	}
	if len(made) != len(want) {
		t.Fatalf("made %d keys, want %d:\n%s", len(made), len(want), strings.Join(made, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(made[i], want[i]) {
			t.Errorf("key %d: %q, want %q…", i, made[i], want[i])
		}
	}
	if again, err := msgauth.EnsureKeys(dir, []string{"example.com", "example.org"}, now.AddDate(0, 1, 0)); err != nil || len(again) != 0 {
		t.Errorf("second EnsureKeys made %q, %v; want nothing", again, err)
	}

	s, err := msgauth.LoadSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	z := startDNS(t)
	z.Add(t, append(made, old, `example.com. TXT "v=spf1 -all"`, `_dmarc.example.com. TXT "v=DMARC1; p=reject"`)...)
	v := msgauth.NewVerifier(msgauth.Options{Hostname: authserv, Resolver: msgauth.NewNetResolver(z.Addr)})
	for _, domain := range []string{"example.com", "example.org"} {
		krs := s.KeyRecords(domain)
		algos := map[string]bool{}
		for _, k := range krs {
			algos[k.Algorithm] = true
		}
		if len(krs) != 2 || !algos["rsa"] || !algos["ed25519"] {
			t.Errorf("%s: keys %+v, want one rsa and one ed25519", domain, krs)
		}
		signed, err := s.Sign(domain, simpleMessage("news@"+domain))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(string(signed), "DKIM-Signature:") != 2 || !strings.Contains(string(signed), "a=rsa-sha256") || !strings.Contains(string(signed), "a=ed25519-sha256") {
			t.Fatalf("%s: not signed with both keys:\n%s", domain, signed)
		}
		got, err := v.Verify(t.Context(), msgauthInput(badIP, "x.example", "news@"+domain, signed))
		if err != nil {
			t.Fatal(err)
		}
		if len(got.DKIM) != 2 || got.DKIM[0].Result != "pass" || got.DKIM[1].Result != "pass" {
			t.Errorf("%s: DKIM results %+v, want two passes", domain, got.DKIM)
		}
	}

	// `dkim keygen --algo rsa` with the default selector, twice in a month.
	sel, _, err := msgauth.NewKey(dir, "example.com", "rsa", now)
	if err != nil || sel != "petrel202612-rsa-2" {
		t.Errorf("NewKey with petrel202612-rsa taken: %q, %v; want petrel202612-rsa-2", sel, err)
	}
}
