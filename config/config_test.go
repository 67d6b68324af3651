package config

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
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
	want := DevPorts
	want.HTTPS = "" // off by default, so off with --dev too
	if dev.Listen != want {
		t.Errorf("--dev listeners %+v, want %+v", dev.Listen, want)
	}
	withHTTPS, err := Load("", []string{"PETREL_LISTEN_HTTPS=:443"}, true)
	if err != nil || withHTTPS.Listen.HTTPS != DevPorts.HTTPS {
		t.Errorf("--dev with listen.https set: %v %+v, want https on %s", err, withHTTPS.Listen, DevPorts.HTTPS)
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
	// A listener without a host binds loopback only under --dev; one
	// with a host keeps it (issue 13, point 9).
	if dev.Listen.SMTP != "localhost:2525" || dev.Listen.IMAP != "127.0.0.1:1430" || dev.Listen.POP3 != "" {
		t.Errorf("--dev on a file: %+v", dev.Listen)
	}
	def, err := Load("", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range def.Listeners() {
		if l.Addr != "" && !strings.HasPrefix(l.Addr, "localhost:") {
			t.Errorf("--dev on the default config: listen.%s = %q, want localhost only", l.Name, l.Addr)
		}
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

func TestACMEConfig(t *testing.T) {
	p := writeFile(t, "hostname = \"mx.example.com\"\n[tls]\nacme = true\nacme_email = \"postmaster@example.com\"\n")
	c, err := Load(p, []string{"PETREL_TLS_ACME_CA=/etc/petrel/ca.pem"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if !c.TLS.ACME || c.TLS.ACMEDirectory != "https://acme-v02.api.letsencrypt.org/directory" ||
		c.TLS.ACMEEmail != "postmaster@example.com" || c.TLS.ACMECA != "/etc/petrel/ca.pem" {
		t.Errorf("tls: %+v", c.TLS)
	}
}

func TestRateExempt(t *testing.T) {
	p := writeFile(t, "[smtp]\nconnection_rate_exempt = [\"192.0.2.7\", \"198.51.100.9/24\", \"::1\", \"::ffff:10.1.2.3\"]\n")
	c, err := Load(p, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range c.SMTP.RateExempt() {
		got = append(got, p.String())
	}
	want := []string{"192.0.2.7/32", "198.51.100.0/24", "::1/128", "10.1.2.3/32"}
	if !slices.Equal(got, want) {
		t.Errorf("RateExempt() = %v, want %v", got, want)
	}
	def, err := Load("", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(def.SMTP.RateExempt()); n != 2 {
		t.Errorf("default exemptions: %v", def.SMTP.RateExempt())
	}
}

// A refused file or value names where it was set: the file and line of
// the key, or the PETREL_ variable that set it.
func TestBadConfig(t *testing.T) {
	cases := []struct {
		name, file string
		env        []string
		want       string
	}{
		{"syntax", "hostname = \n", nil, "petrel.toml:1:"},
		{"unknown key", "hostname = \"a.b\"\n[smtp]\nmax_recipents = 5\n", nil, `petrel.toml:3: unknown key "smtp.max_recipents"`},
		{"unknown table", "hostname = \"a.b\"\n\n[smtpp]\nmax_recipients = 5\n", nil, `petrel.toml:3: unknown key "smtpp"`},
		{"wrong type", "[smtp]\nmax_recipients = \"ten\"\n", nil, `petrel.toml:2: smtp.max_recipients: incompatible types`},
		{"bad duration", "[smtp]\ncommand_timeout = \"5 minutes\"\n", nil, `petrel.toml:2: "5 minutes" is not a duration`},
		{"bad listen", "hostname = \"mx.example.com\"\n[listen]\nsmtp = \"25\"\n", nil, `petrel.toml:3: listen.smtp = "25": want`},
		{"bad port", "[listen]\nsmtp = \":25\"\nimap = \":99999\"\n", nil, `petrel.toml:3: listen.imap = ":99999": "99999" is not a port number`},
		{"bad hostname", "\n# the name\nhostname = \"mx example\"\n", nil, `petrel.toml:3: hostname "mx example" is not a valid host name`},
		{"bad domain", "hostname = \"mx.example.com\"\ndomains = [\n  \"example.com\",\n  \"bad domain\",\n]\n", nil, `petrel.toml:2: domains: "bad domain" is not a valid domain`},
		{"empty data_dir", "hostname = \"mx.example.com\"\ndata_dir = ''\n", nil, "petrel.toml:2: data_dir is empty"},
		{"postmaster elsewhere", "hostname = \"mx.example.com\"\ndomains = [\"example.com\"]\npostmaster = \"me@gmail.com\"\n", nil, `petrel.toml:3: postmaster = "me@gmail.com" is not in a local domain (example.com)`},
		{"postmaster no address", "hostname = \"mx.example.com\"\ndomains = [\"example.com\"]\npostmaster = \"bob\"\n", nil, `petrel.toml:3: postmaster = "bob" is not an email address (set postmaster = "you@example.com"`},
		{"half tls", "[tls]\n\ncert = \"/x.pem\"\n", nil, "petrel.toml:3: tls: set both cert and key"},
		{"half tls, key only", "[tls]\nkey = \"/x.pem\"\n", nil, "petrel.toml:2: tls: set both cert and key"},
		{"acme and files", "hostname = \"mx.example.com\"\n[tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"\nacme = true\n", nil, "petrel.toml:5: tls.acme = true with tls.cert and tls.key"},
		{"acme for localhost", "hostname = \"localhost\"\n[tls]\nacme = true\n", nil, `petrel.toml:3: tls.acme = true needs a public DNS name as hostname, not "localhost"`},
		{"acme directory", "hostname = \"mx.example.com\"\n[tls]\nacme = true\nacme_directory = \"http://ca.example/dir\"\n", nil, `petrel.toml:4: tls.acme_directory = "http://ca.example/dir"`},
		{"resolver", "[dns]\nresolver = \"8.8.8.8\"\n", nil, `petrel.toml:2: dns.resolver = "8.8.8.8"`},
		{"zero limit", "[smtp]\nmax_recipients = 0\n", nil, "petrel.toml:2: smtp.max_recipients = 0: must be more than 0"},
		{"same key name in two tables", "[smtp]\nmax_connections = 10\n[queue]\nmax_connections = 0\n", nil, "petrel.toml:4: queue.max_connections = 0"},
		{"dotted key", "hostname = \"mx.example.com\"\nsmtp.max_errors = 0\n", nil, "petrel.toml:2: smtp.max_errors = 0"},
		{"negative account delay", "[auth]\naccount_max_fail_delay = \"-1s\"\n", nil, "petrel.toml:2: auth.account_max_fail_delay must not be negative"},
		{"inline table", "hostname = \"mx.example.com\"\nauth = { fail_delay = \"1s\", lockout_failures = 0 }\n", nil, "petrel.toml:2: auth.lockout_failures = 0"},
		{"after a multi-line string", "[http]\nadmin_token = \"\"\"\nlockout_failures = 0\n\"\"\"\n[auth]\nlockout_failures = 0\n", nil, "petrel.toml:6: auth.lockout_failures = 0"},
		{"line length", "[smtp]\nmax_line_length = 512\n", nil, "petrel.toml:2: smtp.max_line_length = 512"},
		{"negative rate", "[smtp]\nmax_connection_rate_per_ip = -1\n", nil, "petrel.toml:2: smtp.max_connection_rate_per_ip = -1"},
		{"rate exempt", "[smtp]\nconnection_rate_exempt = [\"10.0.0.0/8\", \"localhost\"]\n", nil, `petrel.toml:2: smtp.connection_rate_exempt: "localhost" is not an address or network`},
		{"zero duration", "[imap]\nautologout = \"0s\"\n", nil, "petrel.toml:2: imap.autologout must be a positive duration"},
		{"empty retry", "[queue]\nmax_age = \"1h\"\nretry = []\n", nil, "petrel.toml:3: queue.retry is empty"},
		{"bad retry", "[queue]\nretry = [\n  \"1m\",\n  \"-5m\",\n]\n", nil, "petrel.toml:2: queue.retry[1] must be a positive duration"},
		{"log level", "[log]\nformat = \"json\"\nlevel = \"loud\"\n", nil, `petrel.toml:3: log.level = "loud"`},
		{"log format", "[log]\nformat = \"xml\"\n", nil, `petrel.toml:2: log.format = "xml"`},
		{"filter address", "hostname = \"mx.example.com\"\n\n[[filter]]\nmilter = \"127.0.0.1:11332\"\n", nil, `petrel.toml:3: [[filter]] 1: milter = "127.0.0.1:11332": want "inet:host:port"`},
		{"filter on_error", "[[filter]]\nmilter = \"unix:/run/m.sock\"\n[[filter]]\nmilter = \"inet:127.0.0.1:1\"\non_error = \"reject\"\n", nil, `[[filter]] 2: on_error = "reject"`},
		{"filter without port", "[[filter]]\nmilter = \"inet:localhost\"\n", nil, `petrel.toml:1: [[filter]] 1: milter = "inet:localhost": want "inet:host:port"`},
		{"filter port", "[[filter]]\nmilter = \"unix:/run/m.sock\"\nports = [\"imap\"]\n", nil, `[[filter]] 1: ports: "imap" is not a port name`},
		{"filter unknown key", "[[filter]]\nmilter = \"unix:/run/m.sock\"\nonerror = \"accept\"\n", nil, `petrel.toml:3: unknown key "filter.onerror"`},
		{"dnsbl zone", "[junk]\ndnsbl = [\"zen.spamhaus.org\", \"bad zone\"]\n", nil, `petrel.toml:2: junk.dnsbl: "bad zone" is not a DNS zone`},
		{"dnsbl table", "[junk]\ndnsbl = [{zone = \"bl.example\", wieght = 2}]\n", nil, `unknown key "wieght" in a zone table`},
		{"dnsbl not_listed", "[junk]\ndnswl = [{zone = \"wl.example\", not_listed = [\"localhost\"]}]\n", nil, `junk.dnswl: wl.example: not_listed: "localhost" is not an IPv4 address`},
		{"dnsbl action", "[junk]\ndnsbl_action = \"reject\"\n", nil, `petrel.toml:2: junk.dnsbl_action = "reject"`},
		{"bad env", "", []string{"PETREL_SMTP_MAX_RECIPIENTS=many"}, "PETREL_SMTP_MAX_RECIPIENTS"},
		{"unknown env", "", []string{"PETREL_NOPE=1"}, "unknown setting"},
		{"junk threshold", "[junk]\nthreshold = 1.5\n", nil, "petrel.toml:2: junk.threshold = 1.5: want a score between 0 and 1"},
		{"junk threshold env", "", []string{"PETREL_JUNK_THRESHOLD=high"}, "PETREL_JUNK_THRESHOLD"},
		{"junk min_trained", "[junk]\nmin_trained = 0\n", nil, "petrel.toml:2: junk.min_trained = 0: want 1 or more"},
		{"junk max_tokens", "", []string{"PETREL_JUNK_MAX_TOKENS=10"}, "junk.max_tokens = 10: want 1000 or more"},
		{"env value", "", []string{"PETREL_SMTP_MAX_RECIPIENTS=0"}, "environment PETREL_SMTP_MAX_RECIPIENTS: smtp.max_recipients = 0: must be more than 0"},
		{"env over the file", "[log]\nlevel = \"info\"\n", []string{"PETREL_LOG_LEVEL=loud"}, `environment PETREL_LOG_LEVEL: log.level = "loud"`},
		{"env listen", "", []string{"PETREL_LISTEN_SMTP=25"}, `environment PETREL_LISTEN_SMTP: listen.smtp = "25"`},
		{"env half tls", "", []string{"PETREL_TLS_KEY=/k.pem"}, "environment PETREL_TLS_KEY: tls: set both"},
		{"empty file", "", nil, "petrel.toml: the config file sets nothing (it is empty or only comments)"},
		{"only comments", "# hostname = \"mx.example.com\"\n\n[listen] # later\n", nil, "petrel.toml: the config file sets nothing"},
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
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("one bad value, more than one line: %q", err)
			}
		})
	}
	if _, err := Load("/nonexistent/petrel.toml", nil, false); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("missing file: %v", err)
	}

	// Each of several bad values on its own line, where it was set.
	p := writeFile(t, "hostname = \"mx.example.com\"\n[smtp]\nmax_errors = 0\n[log]\nlevel = \"loud\"\n")
	_, err := Load(p, []string{"PETREL_QUEUE_PORT=0"}, false)
	want := []string{
		"environment PETREL_QUEUE_PORT: queue.port = 0: must be more than 0",
		p + ":3: smtp.max_errors = 0: must be more than 0",
		p + `:5: log.level = "loud": use debug, info, warn or error`,
	}
	if err == nil || !slices.Equal(strings.Split(err.Error(), "\n"), want) {
		t.Errorf("several bad values:\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
	// Without a file, a bad value from the environment names its variable.
	_, err = Load("", []string{"PETREL_HOSTNAME=mx example"}, false)
	if err == nil || err.Error() != `environment PETREL_HOSTNAME: hostname "mx example" is not a valid host name (set hostname = "mx.example.com")` {
		t.Errorf("env without a file: %v", err)
	}
}

// TestFiltersAndJunk: [[filter]] entries in order, and DNS lists as names
// or tables, from the file and from the environment.
func TestFiltersAndJunk(t *testing.T) {
	p := writeFile(t, `hostname = "mx.example.com"
[[filter]]
milter = "inet:127.0.0.1:11332"
on_error = "accept"
timeout = "2m"
ports = ["smtp", "submission"]

[[filter]]
milter = "unix:/run/clamav/clamav-milter.ctl"

[junk]
dnsbl = ["zen.spamhaus.org", {zone = "bl.example", weight = 0.5, not_listed = ["127.0.0.1"]}]
dnswl = [{zone = "list.dnswl.org", weight = 2}]
dnsbl_action = "score"
`)
	c, err := Load(p, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []Filter{
		{Milter: "inet:127.0.0.1:11332", OnError: "accept", Timeout: Duration{2 * time.Minute}, Ports: []string{"smtp", "submission"}},
		{Milter: "unix:/run/clamav/clamav-milter.ctl"},
	}
	if len(c.Filters) != 2 || c.Filters[0].Milter != want[0].Milter || c.Filters[0].OnError != "accept" || c.Filters[0].Timeout != want[0].Timeout ||
		!slices.Equal(c.Filters[0].Ports, want[0].Ports) || c.Filters[1].Milter != want[1].Milter {
		t.Errorf("filters %+v", c.Filters)
	}
	if len(c.Junk.DNSBL) != 2 || c.Junk.DNSBL[0].Zone != "zen.spamhaus.org" || c.Junk.DNSBL[1].Weight != 0.5 ||
		!slices.Equal(c.Junk.DNSBL[1].NotListed, []string{"127.0.0.1"}) || c.Junk.DNSWL[0].Weight != 2 || c.Junk.DNSBLAction != "score" {
		t.Errorf("junk %+v", c.Junk)
	}
	c, err = Load("", []string{"PETREL_JUNK_DNSBL=zen.spamhaus.org, bl.example", "PETREL_JUNK_DNSBL_ACTION=refuse-connect"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Junk.DNSBL) != 2 || c.Junk.DNSBL[1].Zone != "bl.example" || c.Junk.DNSBLAction != "refuse-connect" || len(c.Filters) != 0 {
		t.Errorf("from the environment: %+v", c.Junk)
	}
}

// keyLines finds the line of every key, however the document writes it.
func TestKeyLines(t *testing.T) {
	doc := `# comment = 1
hostname = "mx.example.com" # trailing = comment
"quoted key" = 1
'literal.key' = 2
a.b . c = 3
arr = [
  "x = y",
  { inner = 1 },
  [1, 2], # comment
]
text = """
not_a_key = "no"
\""" still text ""
"""
lit = '''
[not_a_table]
'''
date = 1979-05-27 07:32:00Z
next = true

[smtp]
max_errors = 1
[ "quoted table" . sub ]
k = 'v'
tbl = { x = 1, y = { z = 2 } }
[[products]]
name = "a"
[[products]]
name = "b"
`
	var m map[string]any
	md, err := toml.Decode(doc, &m)
	if err != nil {
		t.Fatal(err)
	}
	lines := keyLines(doc)
	want := map[string]int{
		"hostname": 2, `"quoted key"`: 3, `"literal.key"`: 4, "a": 5, "a.b": 5, "a.b.c": 5, "arr": 6,
		"text": 11, "lit": 15, "date": 18, "next": 19, "smtp": 21, "smtp.max_errors": 22,
		`"quoted table"`: 23, `"quoted table".sub`: 23, `"quoted table".sub.k`: 24,
		`"quoted table".sub.tbl`: 25, `"quoted table".sub.tbl.x`: 25, `"quoted table".sub.tbl.y.z`: 25,
		"products": 26, "products.name": 27,
	}
	for k, n := range want {
		if lines[k] != n {
			t.Errorf("key %s: line %d, want %d", k, lines[k], n)
		}
	}
	for _, k := range md.Keys() {
		if _, ok := lines[k.String()]; !ok {
			t.Errorf("key %s that toml found is missing from %v", k, lines)
		}
	}
	for _, k := range []string{"not_a_key", "not_a_table", "comment", "inner"} {
		if _, ok := lines[k]; ok {
			t.Errorf("%s taken for a key", k)
		}
	}
}

// Every key toml finds in a document gets a line within it.
func FuzzKeyLines(f *testing.F) {
	f.Add(Default())
	f.Add("a = { b = [1, {c = 2}], 'd' = \"\"\"x\ny\"\"\" }\n[e.\"f g\"]\nh = 1979-05-27 07:32:00\n")
	f.Add("x = '''\n[y]\n'''\n[[z]]\nw = 1\n[[z]]\nw = 2\n")
	f.Fuzz(func(t *testing.T, text string) {
		var m map[string]any
		md, err := toml.Decode(text, &m)
		if err != nil {
			return
		}
		lines := keyLines(text)
		max := strings.Count(text, "\n") + 1
		for _, k := range md.Keys() {
			n, ok := lines[k.String()]
			if !ok || n < 1 || n > max {
				t.Errorf("key %s: line %d (found %v)", k, n, ok)
			}
		}
	})
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

// PETREL_CONFIG_OPTIONAL names a file read only if it exists (the
// container image's /etc/petrel/petrel.toml); --config and PETREL_CONFIG
// come first.
func TestPath(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, "hostname = \"mx.file.example\"\n")
	missing := filepath.Join(dir, "etc", "petrel", "petrel.toml")
	env := func(vars ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(vars); i += 2 {
				if vars[i] == k {
					return vars[i+1]
				}
			}
			return ""
		}
	}
	cases := []struct {
		name, flag string
		env        func(string) string
		want, err  string
	}{
		{"nothing", "", env(), "", ""},
		{"flag", "/x.toml", env(EnvConfig, "/y.toml", EnvConfigOptional, file), "/x.toml", ""},
		{"PETREL_CONFIG", "", env(EnvConfig, "/y.toml", EnvConfigOptional, file), "/y.toml", ""},
		{"optional, there", "", env(EnvConfigOptional, file), file, ""},
		{"optional, missing", "", env(EnvConfigOptional, missing), "", ""},
		{"optional, a directory", "", env(EnvConfigOptional, dir), "", "is a directory"},
	}
	for _, c := range cases {
		got, err := Path(c.flag, c.env)
		if got != c.want || (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %q, %v; want %q, error with %q", c.name, got, err, c.want, c.err)
		}
	}
	// The variable is no setting of its own: Load accepts it.
	c, err := Load(file, []string{EnvConfigOptional + "=" + file, EnvConfig + "=" + file}, false)
	if err != nil || c.Hostname != "mx.file.example" {
		t.Errorf("Load with the file variables set: %v", err)
	}
}

// `config check` on a file with several mistakes names them all, each on
// its own line: every unknown key (an unknown table once, not each key
// in it), then every refused value (issue 13, point 12).
func TestEveryErrorReported(t *testing.T) {
	p := writeFile(t, "hostname = \"mx.example.com\"\nhostnmae = \"x\"\n[smtp]\nmax_recipents = 5\nmax_errors = 0\n[smtpp]\na = 1\nb = 2\n[log]\nlevel = \"loud\"\n")
	_, err := Load(p, []string{"PETREL_NOPE=1"}, false)
	want := []string{
		p + `:2: unknown key "hostnmae" (see ` + "`petrel config default`" + ` for every key)`,
		p + `:4: unknown key "smtp.max_recipents" (see ` + "`petrel config default`" + ` for every key)`,
		p + `:6: unknown key "smtpp" (see ` + "`petrel config default`" + ` for every key)`,
		"environment PETREL_NOPE: unknown setting (see `petrel config env` for the names)",
		p + ":5: smtp.max_errors = 0: must be more than 0",
		p + `:10: log.level = "loud": use debug, info, warn or error`,
	}
	if err == nil || !slices.Equal(strings.Split(err.Error(), "\n"), want) {
		t.Errorf("several mistakes:\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
}

// A value of the wrong type stops the reading of the file, but the unknown
// keys are still named with it (issue 13, point 12).
func TestTypeErrorWithUnknownKeys(t *testing.T) {
	p := writeFile(t, "hostnmae = \"x\"\n[smtp]\nmax_recipients = \"ten\"\nmax_recipents = 5\n[smtpp]\na = 1\n")
	_, err := Load(p, nil, false)
	want := []string{
		p + ":3: smtp.max_recipients: incompatible types",
		p + `:1: unknown key "hostnmae"`,
		p + `:4: unknown key "smtp.max_recipents"`,
		p + `:5: unknown key "smtpp"`,
	}
	if err == nil {
		t.Fatal("accepted")
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("errors:\n%v\nwant lines beginning\n%s", err, strings.Join(want, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("line %d: %q, want %q…", i, got[i], want[i])
		}
	}
}

// [store]: the backend and its DSN are checked, and the error never shows
// the DSN's password.
func TestStoreConfig(t *testing.T) {
	for _, tc := range []struct {
		backend, dsn string
		want         string // "" = valid
	}{
		{"bbolt", "", ""},
		{"postgres", "postgres://petrel:pw@db.example.com:5432/petrel?sslmode=verify-full", ""},
		{"postgres", "postgresql://petrel@/petrel?host=/run/postgresql", ""},
		{"postgres", "host=db.example.com dbname=petrel", ""},
		{"postgres", "", "store.dsn is empty"},
		{"postgres", "mysql://x", "not a postgres:// URL"},
		{"postgres", "postgres://u:secretpw@/db", "names no host"},
		{"postgres", "postgres://u:secretpw@db:99999/db", "is not a port number"},
		{"bbolt", "postgres://db/petrel", `store.backend = "bbolt"`},
		{"sqlite", "", `store.backend = "sqlite"`},
	} {
		c, err := Load("", []string{"PETREL_STORE_BACKEND=" + tc.backend, "PETREL_STORE_DSN=" + tc.dsn}, false)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s %q: %v", tc.backend, tc.dsn, err)
			} else if c.Store.Backend != tc.backend || c.Store.DSN != tc.dsn {
				t.Errorf("%s %q: loaded %+v", tc.backend, tc.dsn, c.Store)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secretpw") {
			t.Errorf("%s %q: error %v, want one saying %s (and no password)", tc.backend, tc.dsn, err, tc.want)
		}
	}
}

// FuzzCheckDSN: any DSN gets an answer, never a panic, and an answer about
// a URL never repeats its password.
func FuzzCheckDSN(f *testing.F) {
	for _, s := range []string{"", "postgres://u:pw@db:5432/petrel?sslmode=verify-full", "postgresql://u@/db?host=/run/postgresql",
		"host=db dbname=petrel", "postgres://u:pw@db:99999/x", "postgres://u:pw@/x", "mysql://x", "postgres://%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		msg := checkDSN(dsn)
		u, err := url.Parse(dsn)
		if err != nil || u.User == nil {
			return
		}
		if pw, ok := u.User.Password(); ok && len(pw) >= 4 && msg != "" && strings.Contains(msg, pw) &&
			!strings.Contains(strings.Replace(dsn, pw, "", 1), pw) && !strings.Contains("is not a valid URL want postgres://user:password@host:5432/petrel?sslmode=verify-full", pw) {
			t.Fatalf("checkDSN(%q) = %q repeats the password", dsn, msg)
		}
	})
}

func TestListenPort(t *testing.T) {
	for _, c := range []struct {
		addr string
		def  int
		want int
	}{
		{":8443", 443, 8443}, {"127.0.0.1:25", 0, 25}, {"[::1]:993", 0, 993},
		{"", 443, 443}, {"nohost", 443, 443}, {":0", 7, 7}, {":http", 7, 7},
	} {
		if got := ListenPort(c.addr, c.def); got != c.want {
			t.Errorf("ListenPort(%q, %d) = %d, want %d", c.addr, c.def, got, c.want)
		}
	}
}
