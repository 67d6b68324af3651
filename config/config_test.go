package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "petrel.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEmbeddedDefault(t *testing.T) {
	c, err := Load("", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen.SMTP != ":25" || c.Listen.IMAPS != ":993" || c.DataDir != "./petrel-data" {
		t.Errorf("defaults: %+v", c.Listen)
	}
	if !c.IsLocalDomain("localhost") || !c.IsLocalDomain(c.Hostname) {
		t.Errorf("default domains %v lack localhost or hostname %q", c.Domains, c.Hostname)
	}
	if c.SMTP.MaxMessageSize != 50<<20 || c.Queue.MaxAge.Duration != 120*time.Hour || len(c.Queue.Retry) != 7 {
		t.Errorf("limits: %+v %+v", c.SMTP, c.Queue)
	}
	dev, _ := Load("", nil, true)
	if dev.Listen != DevPorts {
		t.Errorf("--dev listeners %+v, want %+v", dev.Listen, DevPorts)
	}
}

func TestFileAndEnv(t *testing.T) {
	p := writeFile(t, `
hostname = "mx.example.com"
domains  = ["Example.com."]
data_dir = "/var/lib/petrel"
[listen]
smtp = ":25"
imap = "127.0.0.1:143"
[tls]
cert = "/etc/petrel/cert.pem"
key  = "/etc/petrel/key.pem"
[dns]
resolver = "127.0.0.1:53"
[smtp]
max_recipients = 10
`)
	c, err := Load(p, []string{"PETREL_DNS_RESOLVER=10.0.0.1:53", "PETREL_QUEUE_RETRY=1s, 2s", "HOME=/root"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "mx.example.com" || c.Domains[0] != "example.com" || c.DataDir != "/var/lib/petrel" {
		t.Errorf("file values: %+v", c)
	}
	if c.Listen.SMTP != ":25" || c.Listen.IMAP != "127.0.0.1:143" || c.Listen.POP3 != "" || c.Listen.HTTP != "" {
		t.Errorf("listeners not named in the file must be off: %+v", c.Listen)
	}
	if c.SMTP.MaxRecipients != 10 || c.SMTP.MaxMessageSize != 50<<20 {
		t.Errorf("limits: %+v", c.SMTP)
	}
	if c.DNS.Resolver != "10.0.0.1:53" || len(c.Queue.Retry) != 2 || c.Queue.Retry[1].Duration != 2*time.Second {
		t.Errorf("env overrides: %q %v", c.DNS.Resolver, c.Queue.Retry)
	}
	dev, err := Load(p, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if dev.Listen.SMTP != ":2525" || dev.Listen.IMAP != "127.0.0.1:1430" || dev.Listen.POP3 != "" {
		t.Errorf("--dev on a file: %+v", dev.Listen)
	}
}

func TestEnvOnly(t *testing.T) {
	c, err := Load("", []string{"PETREL_HOSTNAME=mx.example.org", "PETREL_DOMAINS=example.org, example.net", "PETREL_DATA_DIR=/data", "PETREL_LISTEN_HTTP=:80"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "mx.example.org" || len(c.Domains) != 2 || c.Domains[1] != "example.net" || c.DataDir != "/data" || c.Listen.HTTP != ":80" {
		t.Errorf("env config: %+v", c)
	}
}

func TestBadConfig(t *testing.T) {
	cases := []struct {
		name, file string
		env        []string
		want       string
	}{
		{"syntax", "hostname = \n", nil, "petrel.toml:1:"},
		{"unknown key", "hostname = \"a.b\"\n[smtp]\nmax_recipents = 5\n", nil, `petrel.toml:3: unknown key "smtp.max_recipents"`},
		{"wrong type", "[smtp]\nmax_recipients = \"ten\"\n", nil, "petrel.toml"},
		{"bad duration", "[smtp]\ncommand_timeout = \"5 minutes\"\n", nil, "is not a duration"},
		{"bad listen", "[listen]\nsmtp = \"25\"\n", nil, `listen.smtp = "25"`},
		{"bad hostname", "hostname = \"mx example\"\n", nil, "is not a valid host name"},
		{"half tls", "[tls]\ncert = \"/x.pem\"\n", nil, "set both cert and key"},
		{"zero limit", "[smtp]\nmax_recipients = 0\n", nil, "smtp.max_recipients = 0"},
		{"bad env", "", []string{"PETREL_SMTP_MAX_RECIPIENTS=many"}, "PETREL_SMTP_MAX_RECIPIENTS"},
		{"unknown env", "", []string{"PETREL_NOPE=1"}, "unknown setting"},
		{"log level", "[log]\nlevel = \"loud\"\n", nil, "log.level"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, c.file)
			_, err := Load(p, c.env, false)
			if err == nil {
				t.Fatalf("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
	if _, err := Load("/nonexistent/petrel.toml", nil, false); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("missing file: %v", err)
	}
}

func TestEnvVarsCoverEveryKey(t *testing.T) {
	vars := EnvVars()
	names := map[string]bool{}
	for _, v := range vars {
		names[v[0]] = true
	}
	for _, want := range []string{"PETREL_HOSTNAME", "PETREL_DOMAINS", "PETREL_DATA_DIR", "PETREL_LISTEN_SMTP", "PETREL_TLS_CERT", "PETREL_DNS_RESOLVER", "PETREL_QUEUE_RELAY_HOST"} {
		if !names[want] {
			t.Errorf("%s missing from EnvVars", want)
		}
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(Default())
	f.Add("hostname = \"mx.example.com\"\n[listen]\nsmtp=\":25\"\n")
	f.Add("[queue]\nretry = [\"1m\", 5]\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text string) {
		p := filepath.Join(dir, "fuzz.toml")
		os.WriteFile(p, []byte(text), 0o644)
		c, err := Load(p, nil, false)
		if err == nil && c.Validate() != nil {
			t.Errorf("Load accepted a config that does not validate")
		}
	})
}
