// Package config owns Petrel's configuration: the TOML file, its embedded
// defaults, the PETREL_… environment variables that override it, and the
// checks that refuse a bad value at start with the file, line and reason.
package config

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
)

//go:embed default.toml
var defaultTOML string

// Default returns the text of the embedded default configuration.
func Default() string { return defaultTOML }

// Config is Petrel's whole configuration. The toml tags are a contract:
// users' files and outside tests rely on them.
type Config struct {
	Hostname string   `toml:"hostname"`
	Domains  []string `toml:"domains"`
	DataDir  string   `toml:"data_dir"`
	Listen   Listen   `toml:"listen"`
	TLS      TLS      `toml:"tls"`
	DNS      DNS      `toml:"dns"`
	SMTP     SMTP     `toml:"smtp"`
	Auth     Auth     `toml:"auth"`
	IMAP     IMAP     `toml:"imap"`
	POP3     POP3     `toml:"pop3"`
	Queue    Queue    `toml:"queue"`
	HTTP     HTTP     `toml:"http"`
	MTASTS   MTASTS   `toml:"mta_sts"`
	Lists    Lists    `toml:"lists"`
	Junk     Junk     `toml:"junk"`
	Log      Log      `toml:"log"`

	// Postmaster takes the mail to postmaster@ and abuse@ of every local
	// domain that no account or alias of that name takes; "" = the
	// account made first.
	Postmaster string `toml:"postmaster"`
	// Filters are the [[filter]] entries: milters (rspamd, clamav-milter)
	// every message goes through before it is accepted, in order.
	Filters []Filter `toml:"filter"`
	Store   Store    `toml:"store"`
}

// Filter is one [[filter]] entry (docs/filtering.md).
type Filter struct {
	Milter  string   `toml:"milter"`   // "inet:127.0.0.1:11332" or "unix:/run/rspamd/milter.sock"
	OnError string   `toml:"on_error"` // "tempfail" (default) or "accept"
	Timeout Duration `toml:"timeout"`  // for each of the filter's replies; 0 = 30s
	Ports   []string `toml:"ports"`    // "smtp", "submission"; empty = ["smtp"]
}

// DNSList is one zone of junk.dnsbl or junk.dnswl.
type DNSList struct {
	Zone      string   // "zen.spamhaus.org"
	Weight    float64  // what a listing counts (a host is listed at 1); 0 = 1
	NotListed []string // answers that do not mean a listing; nil = Spamhaus's error answers
}

// DNSLists is a list of zones, each written as the zone's name or as a
// table: ["zen.spamhaus.org", {zone = "bl.example", weight = 0.5,
// not_listed = ["127.0.0.1"]}]. From the environment: zone names,
// comma-separated.
type DNSLists []DNSList

// UnmarshalTOML reads the array of names and tables.
func (l *DNSLists) UnmarshalTOML(v any) error {
	arr, ok := v.([]any)
	if !ok {
		return fmt.Errorf("want a list of zones, like [\"zen.spamhaus.org\"]")
	}
	out := DNSLists{}
	for _, e := range arr {
		switch x := e.(type) {
		case string:
			out = append(out, DNSList{Zone: x})
		case map[string]any:
			var d DNSList
			for k, v := range x {
				switch k {
				case "zone":
					d.Zone, ok = v.(string)
				case "weight":
					switch n := v.(type) {
					case float64:
						d.Weight, ok = n, true
					case int64:
						d.Weight, ok = float64(n), true
					default:
						ok = false
					}
				case "not_listed":
					var vs []any
					vs, ok = v.([]any)
					for _, a := range vs {
						s, isStr := a.(string)
						ok = ok && isStr
						d.NotListed = append(d.NotListed, s)
					}
				default:
					return fmt.Errorf("unknown key %q in a zone table (want zone, weight, not_listed)", k)
				}
				if !ok {
					return fmt.Errorf("zone table: %s has the wrong type (zone = \"bl.example\", weight = 0.5, not_listed = [\"127.0.0.1\"])", k)
				}
			}
			out = append(out, d)
		default:
			return fmt.Errorf("want zone names or tables, like [\"zen.spamhaus.org\"], not %v", e)
		}
	}
	*l = out
	return nil
}

// UnmarshalText reads zone names, comma-separated (the environment).
func (l *DNSLists) UnmarshalText(b []byte) error {
	out := DNSLists{}
	for _, z := range strings.Split(string(b), ",") {
		if z = strings.TrimSpace(z); z != "" {
			out = append(out, DNSList{Zone: z})
		}
	}
	*l = out
	return nil
}

// Store says where accounts and mail are kept: bbolt (a file in data_dir,
// one node) or PostgreSQL (shared by several nodes).
type Store struct {
	Backend string `toml:"backend"` // "bbolt" or "postgres"
	DSN     string `toml:"dsn"`     // postgres://user:password@host:port/db?sslmode=…, for postgres
}

// Listen holds listener addresses; "" means that listener is off.
type Listen struct {
	SMTP        string `toml:"smtp"`
	Submission  string `toml:"submission"`
	Submissions string `toml:"submissions"`
	IMAP        string `toml:"imap"`
	IMAPS       string `toml:"imaps"`
	POP3        string `toml:"pop3"`
	POP3S       string `toml:"pop3s"`
	HTTP        string `toml:"http"`
	HTTPS       string `toml:"https"`
}

type TLS struct {
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
	// ACME gets and renews the hostname's certificate from an ACME CA.
	ACME          bool   `toml:"acme"`
	ACMEDirectory string `toml:"acme_directory"`
	ACMEEmail     string `toml:"acme_email"`
	ACMECA        string `toml:"acme_ca"` // PEM roots for the directory's HTTPS; "" = system roots
}

type DNS struct {
	Resolver string `toml:"resolver"`
}

type SMTP struct {
	MaxMessageSize      int64    `toml:"max_message_size"`
	MaxRecipients       int      `toml:"max_recipients"`
	MaxLineLength       int      `toml:"max_line_length"`
	CommandTimeout      Duration `toml:"command_timeout"`
	DataTimeout         Duration `toml:"data_timeout"`
	MaxConnections      int      `toml:"max_connections"`
	MaxConnectionsPerIP int      `toml:"max_connections_per_ip"`
	MaxErrors           int      `toml:"max_errors"`
	PlusSeparator       string   `toml:"plus_separator"`
	SaveSent            bool     `toml:"save_sent"`

	// MaxConnectionRatePerIP is new connections a minute from one address
	// (a token bucket); 0 = no limit. ConnectionRateExempt are the
	// addresses or networks it does not apply to.
	MaxConnectionRatePerIP int      `toml:"max_connection_rate_per_ip"`
	ConnectionRateExempt   []string `toml:"connection_rate_exempt"`
}

// RateExempt returns smtp.connection_rate_exempt as prefixes (a bare
// address is one of its own). Validate has checked them.
func (s SMTP) RateExempt() []netip.Prefix {
	var out []netip.Prefix
	for _, e := range s.ConnectionRateExempt {
		if p, err := parsePrefix(e); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return p.Masked(), nil
}

type Auth struct {
	FailDelay       Duration `toml:"fail_delay"`
	MaxFailDelay    Duration `toml:"max_fail_delay"`
	LockoutFailures int      `toml:"lockout_failures"`
	LockoutTime     Duration `toml:"lockout_time"`
	// AccountMaxFailDelay caps the delay of logins to an account that
	// failed logins from any address made; "0s" turns it off.
	AccountMaxFailDelay Duration `toml:"account_max_fail_delay"`
}

type IMAP struct {
	AutoLogout Duration `toml:"autologout"`
}

type POP3 struct {
	IdleTimeout Duration `toml:"idle_timeout"`
}

type Queue struct {
	Retry                []Duration `toml:"retry"`
	MaxAge               Duration   `toml:"max_age"`
	DelayWarning         Duration   `toml:"delay_warning"`
	RelayHost            string     `toml:"relay_host"`
	RelayUser            string     `toml:"relay_user"`
	RelayPassword        string     `toml:"relay_password"`
	FallbackRelay        string     `toml:"fallback_relay"`
	ConnectionsPerDomain int        `toml:"connections_per_domain"`
	Port                 int        `toml:"port"`
	MaxConnections       int        `toml:"max_connections"`
	// Lease is how long a node's claim on a delivery lasts unless renewed
	// (store.backend = "postgres": the queue is shared by the nodes).
	Lease Duration `toml:"lease"`
	// KeepFinished is how long a delivered or failed message stays,
	// retired, with its recipients' results (the web mail's outbox).
	KeepFinished Duration `toml:"keep_finished"`
}

type HTTP struct {
	AdminToken string `toml:"admin_token"`
	// MetricsPublic serves /metrics to anyone; by default only loopback
	// clients and the admin token get it.
	MetricsPublic bool `toml:"metrics_public"`
}

// MTASTS is the MTA-STS policy (RFC 8461) served at
// /.well-known/mta-sts.txt on the HTTP and HTTPS listeners.
type MTASTS struct {
	Mode   string   `toml:"mode"` // "" = not served; testing, enforce or none
	MX     []string `toml:"mx"`   // empty = the hostname
	MaxAge Duration `toml:"max_age"`
}

// Lists configures mailing lists (made with `petrel list create`).
type Lists struct {
	BounceDays     int    `toml:"bounce_days"`     // days with a bounce that disable a member
	UnsubscribeURL string `toml:"unsubscribe_url"` // "" = https://<hostname>/unsubscribe
}

// Junk is spam defence: the built-in classifier (package junk) and the
// reputation of the connecting host (DNS block and allow lists, package
// dnsbl).
type Junk struct {
	Classifier  bool    `toml:"classifier"`   // score deliveries to local accounts
	Threshold   float64 `toml:"threshold"`    // above it: filed in Junk
	MinTrained  int     `toml:"min_trained"`  // spam and ham a model must learn before verdicts
	SharedModel bool    `toml:"shared_model"` // a server-wide model for accounts that have not learnt enough
	MaxTokens   int     `toml:"max_tokens"`   // bound of each account's model

	DNSBL       DNSLists `toml:"dnsbl"`        // block lists, e.g. ["zen.spamhaus.org"]
	DNSWL       DNSLists `toml:"dnswl"`        // allow lists, e.g. ["list.dnswl.org"]
	DNSBLAction string   `toml:"dnsbl_action"` // refuse-connect, refuse-rcpt or score
}

type Log struct {
	Level  string `toml:"level"`
	Format string `toml:"format"`
}

// New is the logger log.level and log.format ask for, writing to w.
func (l Log) New(w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(l.Level))
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Duration is a time.Duration written as "30s", "5m", "4h" in TOML.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write it like \"30s\", \"5m\" or \"4h\")", b)
	}
	d.Duration = v
	return nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// DevPorts are the listeners of `petrel serve --dev`: every service on a
// port above 1024, so no privileges are needed, on loopback only (see
// DevHost).
var DevPorts = Listen{
	SMTP: "localhost:2525", Submission: "localhost:5870", Submissions: "localhost:4650",
	IMAP: "localhost:1430", IMAPS: "localhost:9930", POP3: "localhost:1100", POP3S: "localhost:9950",
	HTTP: "localhost:8080", HTTPS: "localhost:8443",
}

// Load builds the configuration: the embedded default, then the file at
// path (if not ""), then PETREL_… variables from env (os.Environ() form),
// then --dev's ports. A refused value is reported where it was set: the
// file and line ("petrel.toml:12: …") or the variable ("environment
// PETREL_…: …"), with the reason and what to do.
func Load(path string, env []string, dev bool) (*Config, error) {
	var c Config
	if _, err := toml.Decode(defaultTOML, &c); err != nil {
		return nil, fmt.Errorf("embedded default configuration: %w", err)
	}
	var lines map[string]int
	empty := false // a file that sets nothing
	// Every mistake is reported, not just the first: unknown keys, bad
	// environment variables, then the values Validate refuses.
	var errs []error
	if path != "" {
		text, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w (give an existing file with --config, or leave --config out to run on the embedded default)", err)
		}
		// A file names the listeners it wants; the others are off.
		c.Listen = Listen{}
		md, err := toml.Decode(string(text), &c)
		if err != nil {
			// A value of the wrong type stops the decoding; the unknown
			// keys of a file that parses are still worth saying.
			errs = append(errs, fileError(path, string(text), err))
			var raw map[string]any
			if _, perr := toml.Decode(string(text), &raw); perr == nil {
				lines = keyLines(string(text))
				for _, key := range unknownKeys(raw, lines) {
					errs = append(errs, fmt.Errorf("%s:%d: unknown key %q (see `petrel config default` for every key)", path, lineOf(lines, key), key))
				}
			}
			return nil, errors.Join(errs...)
		}
		empty = !slices.ContainsFunc(md.Keys(), func(k toml.Key) bool { return md.Type(k...) != "Hash" })
		lines = keyLines(string(text))
		unknown := map[string]bool{}
		for _, k := range md.Undecoded() {
			key := k.String()
			unknown[key] = true
			if len(k) > 1 && unknown[k[:len(k)-1].String()] {
				continue // in an unknown table, which is reported
			}
			if len(k) > 2 && k[0] == "junk" && (k[1] == "dnsbl" || k[1] == "dnswl") {
				// The tables inside DNS lists are read by
				// DNSLists.UnmarshalTOML, which refuses unknown keys
				// itself; toml still counts them.
				continue
			}
			errs = append(errs, fmt.Errorf("%s:%d: unknown key %q (see `petrel config default` for every key)", path, lineOf(lines, key), key))
		}
	}
	fromEnv, envErr := applyEnv(&c, env)
	if envErr != nil {
		errs = append(errs, envErr)
	}
	if empty && len(fromEnv) == 0 && envErr == nil {
		return nil, fmt.Errorf("%s: the config file sets nothing (it is empty or only comments): set hostname, domains and [listen] in it; `petrel config default` prints a complete one", path)
	}
	if dev {
		c.Listen = devListen(c.Listen)
	}
	if err := c.fill(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, locate(err, path, lines, fromEnv))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &c, nil
}

// unknownKeys lists the keys of a decoded file that are not Config's, an
// unknown table once (not each key in it), in the order of their lines.
func unknownKeys(raw map[string]any, lines map[string]int) []string {
	known := map[string]bool{}
	walk(reflect.ValueOf(&Config{}).Elem(), "", func(key string, _ reflect.Value) {
		for k := key; ; {
			known[k] = true
			i := strings.LastIndexByte(k, '.')
			if i < 0 {
				break
			}
			k = k[:i]
		}
	})
	var out []string
	var visit func(m map[string]any, prefix string)
	visit = func(m map[string]any, prefix string) {
		for k, v := range m {
			key := prefix + k
			if !known[key] {
				out = append(out, key)
				continue
			}
			if sub, ok := v.(map[string]any); ok {
				visit(sub, key+".")
			}
		}
	}
	visit(raw, "")
	slices.SortFunc(out, func(a, b string) int {
		if d := lineOf(lines, a) - lineOf(lines, b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return out
}

// A ValueError is a value Validate refuses. Key is the key it is set by
// ("smtp.max_recipients"), so that Load can say where that was.
type ValueError struct {
	Key string
	Msg string // what is wrong and what to do, beginning with the key
}

func (e *ValueError) Error() string { return e.Msg }

// locate puts before each error of Validate where its key was set: the
// variable that set it, else the line of the file, else the file (or
// "config" for the embedded default).
func locate(err error, path string, lines map[string]int, fromEnv map[string]string) error {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	base := "config"
	if path != "" {
		base = path
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		where := base
		var ve *ValueError
		if errors.As(e, &ve) {
			if name, ok := fromEnv[ve.Key]; ok {
				where = "environment " + name
			} else if n := lineOf(lines, ve.Key); n > 0 {
				where = fmt.Sprintf("%s:%d", path, n)
			}
		}
		out[i] = fmt.Errorf("%s: %w", where, e)
	}
	return errors.Join(out...)
}

// DevHost is the host --dev binds a listener that names none: "localhost",
// which the server binds as 127.0.0.1 and ::1, so that the test account it
// prints is not offered to the network.
const DevHost = "localhost"

// devListen moves each listener that is on to its --dev port, keeping the
// host it binds if it names one, else on DevHost (loopback only).
func devListen(l Listen) Listen {
	move := func(addr, dev string) string {
		if addr == "" {
			return ""
		}
		_, port, _ := net.SplitHostPort(dev)
		host, _, err := net.SplitHostPort(addr)
		if err != nil || host == "" {
			host = DevHost
		}
		return net.JoinHostPort(host, port)
	}
	return Listen{
		SMTP: move(l.SMTP, DevPorts.SMTP), Submission: move(l.Submission, DevPorts.Submission),
		Submissions: move(l.Submissions, DevPorts.Submissions), IMAP: move(l.IMAP, DevPorts.IMAP),
		IMAPS: move(l.IMAPS, DevPorts.IMAPS), POP3: move(l.POP3, DevPorts.POP3),
		POP3S: move(l.POP3S, DevPorts.POP3S), HTTP: move(l.HTTP, DevPorts.HTTP),
		HTTPS: move(l.HTTPS, DevPorts.HTTPS),
	}
}

// fill derives what the defaults leave open: the hostname and the domains.
func (c *Config) fill() error {
	if c.Hostname == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		c.Hostname = h
	}
	c.Hostname = strings.ToLower(strings.TrimSuffix(c.Hostname, "."))
	if len(c.Domains) == 0 {
		c.Domains = []string{"localhost"}
		if c.Hostname != "localhost" {
			c.Domains = append(c.Domains, c.Hostname)
		}
	}
	for i, d := range c.Domains {
		c.Domains[i] = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
	}
	return nil
}

// Validate checks every value and says what is wrong and how to fix it:
// the errors it joins are *ValueError.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, &ValueError{Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	badHost := !validDomain(c.Hostname)
	if badHost {
		bad("hostname", "hostname %q is not a valid host name (set hostname = \"mx.example.com\")", c.Hostname)
	}
	for _, d := range c.Domains {
		// The hostname is a domain by default: say once that it is bad.
		if !validDomain(d) && !(badHost && d == c.Hostname) {
			bad("domains", "domains: %q is not a valid domain (write domains = [\"example.com\"])", d)
		}
	}
	if c.DataDir == "" {
		bad("data_dir", "data_dir is empty (set data_dir = \"/var/lib/petrel\")")
	}
	if c.Postmaster != "" {
		at := strings.LastIndexByte(c.Postmaster, '@')
		switch {
		case at <= 0 || strings.ContainsAny(c.Postmaster, " <>\"\r\n\t,;"):
			bad("postmaster", "postmaster = %q is not an email address (set postmaster = \"you@%s\", an account of yours)", c.Postmaster, firstDomain(c.Domains))
		case !c.IsLocalDomain(c.Postmaster[at+1:]):
			bad("postmaster", "postmaster = %q is not in a local domain (%s): it must be an account here", c.Postmaster, strings.Join(c.Domains, ", "))
		}
	}
	for _, l := range c.Listeners() {
		if l.Addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(l.Addr); err != nil {
			bad("listen."+l.Name, "listen.%s = %q: want \"host:port\" or \":port\" (e.g. \":25\")", l.Name, l.Addr)
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			bad("listen."+l.Name, "listen.%s = %q: %q is not a port number", l.Name, l.Addr, port)
		}
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		key := "tls.cert"
		if c.TLS.Cert == "" {
			key = "tls.key"
		}
		bad(key, "tls: set both cert and key, or neither for a self-signed certificate")
	}
	if c.TLS.ACME {
		if c.TLS.Cert != "" || c.TLS.Key != "" {
			bad("tls.acme", "tls.acme = true with tls.cert and tls.key: use one or the other")
		}
		if !strings.Contains(c.Hostname, ".") || net.ParseIP(c.Hostname) != nil {
			bad("tls.acme", "tls.acme = true needs a public DNS name as hostname, not %q (set hostname = \"mx.example.com\")", c.Hostname)
		}
		if u, err := url.Parse(c.TLS.ACMEDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
			bad("tls.acme_directory", "tls.acme_directory = %q: want the https:// URL of an ACME directory", c.TLS.ACMEDirectory)
		}
	}
	if c.DNS.Resolver != "" {
		if _, _, err := net.SplitHostPort(c.DNS.Resolver); err != nil {
			bad("dns.resolver", "dns.resolver = %q: want \"host:port\", e.g. \"127.0.0.1:53\"", c.DNS.Resolver)
		}
	}
	positive := map[string]int64{
		"smtp.max_message_size": c.SMTP.MaxMessageSize, "smtp.max_recipients": int64(c.SMTP.MaxRecipients),
		"smtp.max_connections": int64(c.SMTP.MaxConnections), "smtp.max_connections_per_ip": int64(c.SMTP.MaxConnectionsPerIP),
		"smtp.max_errors": int64(c.SMTP.MaxErrors), "queue.connections_per_domain": int64(c.Queue.ConnectionsPerDomain),
		"queue.max_connections": int64(c.Queue.MaxConnections), "queue.port": int64(c.Queue.Port),
		"auth.lockout_failures": int64(c.Auth.LockoutFailures),
	}
	for _, k := range sortedKeys(positive) {
		if positive[k] <= 0 {
			bad(k, "%s = %d: must be more than 0", k, positive[k])
		}
	}
	if c.SMTP.MaxConnectionRatePerIP < 0 {
		bad("smtp.max_connection_rate_per_ip", "smtp.max_connection_rate_per_ip = %d: give connections a minute, or 0 for no limit", c.SMTP.MaxConnectionRatePerIP)
	}
	for _, e := range c.SMTP.ConnectionRateExempt {
		if _, err := parsePrefix(e); err != nil {
			bad("smtp.connection_rate_exempt", "smtp.connection_rate_exempt: %q is not an address or network (write \"192.0.2.0/24\" or \"::1\")", e)
		}
	}
	if c.SMTP.MaxLineLength < 1000 {
		bad("smtp.max_line_length", "smtp.max_line_length = %d: RFC 5321 needs at least 1000", c.SMTP.MaxLineLength)
	}
	durations := map[string]time.Duration{
		"smtp.command_timeout": c.SMTP.CommandTimeout.Duration, "smtp.data_timeout": c.SMTP.DataTimeout.Duration,
		"imap.autologout": c.IMAP.AutoLogout.Duration, "pop3.idle_timeout": c.POP3.IdleTimeout.Duration,
		"queue.max_age": c.Queue.MaxAge.Duration, "auth.lockout_time": c.Auth.LockoutTime.Duration,
		"queue.lease": c.Queue.Lease.Duration,
	}
	for _, k := range sortedKeys(durations) {
		if durations[k] <= 0 {
			bad(k, "%s must be a positive duration, like \"5m\"", k)
		}
	}
	delays := map[string]time.Duration{"auth.fail_delay": c.Auth.FailDelay.Duration, "auth.max_fail_delay": c.Auth.MaxFailDelay.Duration,
		"auth.account_max_fail_delay": c.Auth.AccountMaxFailDelay.Duration, "queue.keep_finished": c.Queue.KeepFinished.Duration}
	for _, k := range sortedKeys(delays) {
		if delays[k] < 0 {
			bad(k, "%s must not be negative (\"0s\" or more)", k)
		}
	}
	if len(c.Queue.Retry) == 0 {
		bad("queue.retry", "queue.retry is empty: give at least one interval, e.g. [\"5m\"]")
	}
	for i, d := range c.Queue.Retry {
		if d.Duration <= 0 {
			bad("queue.retry", "queue.retry[%d] must be a positive duration", i)
		}
	}
	if t := c.Junk.Threshold; !(t > 0 && t < 1) {
		bad("junk.threshold", "junk.threshold = %v: want a score between 0 and 1, e.g. 0.9", t)
	}
	if c.Junk.MinTrained < 1 {
		bad("junk.min_trained", "junk.min_trained = %d: want 1 or more messages", c.Junk.MinTrained)
	}
	if c.Junk.MaxTokens < 1000 {
		bad("junk.max_tokens", "junk.max_tokens = %d: want 1000 or more (the default keeps 100000)", c.Junk.MaxTokens)
	}
	if c.Lists.BounceDays < 1 {
		bad("lists.bounce_days", "lists.bounce_days = %d: want 1 or more days", c.Lists.BounceDays)
	}
	if u := c.Lists.UnsubscribeURL; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || strings.ContainsAny(u, " <>") {
			bad("lists.unsubscribe_url", "lists.unsubscribe_url = %q: want an absolute URL like \"https://mx.example.com/unsubscribe\"", u)
		}
	}
	switch c.MTASTS.Mode {
	case "", "testing", "enforce", "none":
	default:
		bad("mta_sts.mode", "mta_sts.mode = %q: use testing, enforce, none, or \"\" to serve no policy", c.MTASTS.Mode)
	}
	if d := c.MTASTS.MaxAge.Duration; d <= 0 || d > 31557600*time.Second {
		bad("mta_sts.max_age", "mta_sts.max_age must be a positive duration of at most a year (RFC 8461 3.2), like \"168h\"")
	}
	for _, mx := range c.MTASTS.MX {
		if !validDomain(strings.TrimPrefix(mx, "*.")) {
			bad("mta_sts.mx", "mta_sts.mx: %q is not a host name or \"*.example.com\" pattern", mx)
		}
	}
	for i, f := range c.Filters {
		kind, rest, _ := strings.Cut(f.Milter, ":")
		switch {
		case rest == "" || (kind != "inet" && kind != "inet6" && kind != "unix"):
			bad("filter", "[[filter]] %d: milter = %q: want \"inet:host:port\" or \"unix:/path/to/socket\"", i+1, f.Milter)
		case kind == "unix" && !strings.HasPrefix(rest, "/"):
			bad("filter", "[[filter]] %d: milter = %q: a unix socket needs an absolute path", i+1, f.Milter)
		case kind != "unix":
			if port, host, ok := strings.Cut(rest, "@"); ok { // Sendmail's inet:port@host
				rest = net.JoinHostPort(strings.Trim(host, "[]"), port)
			}
			if host, port, err := net.SplitHostPort(rest); err != nil || host == "" || port == "" {
				bad("filter", "[[filter]] %d: milter = %q: want \"inet:host:port\", like \"inet:127.0.0.1:11332\"", i+1, f.Milter)
			}
		}
		if f.OnError != "" && f.OnError != "tempfail" && f.OnError != "accept" {
			bad("filter", "[[filter]] %d: on_error = %q: use \"tempfail\" or \"accept\"", i+1, f.OnError)
		}
		if f.Timeout.Duration < 0 {
			bad("filter", "[[filter]] %d: timeout must be positive, like \"30s\"", i+1)
		}
		for _, p := range f.Ports {
			if p != "smtp" && p != "submission" {
				bad("filter", "[[filter]] %d: ports: %q is not a port name (use \"smtp\" and \"submission\")", i+1, p)
			}
		}
	}
	for _, l := range []struct {
		key   string
		zones DNSLists
	}{{"junk.dnsbl", c.Junk.DNSBL}, {"junk.dnswl", c.Junk.DNSWL}} {
		for _, z := range l.zones {
			if !validDomain(strings.TrimSuffix(z.Zone, ".")) {
				bad(l.key, "%s: %q is not a DNS zone (write %s = [\"zen.spamhaus.org\"])", l.key, z.Zone, l.key)
			}
			if z.Weight < 0 {
				bad(l.key, "%s: %s: weight must not be negative", l.key, z.Zone)
			}
			for _, a := range z.NotListed {
				if ip, err := netip.ParseAddr(a); err != nil || !ip.Is4() {
					bad(l.key, "%s: %s: not_listed: %q is not an IPv4 address", l.key, z.Zone, a)
				}
			}
		}
	}
	switch c.Junk.DNSBLAction {
	case "refuse-connect", "refuse-rcpt", "score":
	default:
		bad("junk.dnsbl_action", "junk.dnsbl_action = %q: use refuse-connect, refuse-rcpt or score", c.Junk.DNSBLAction)
	}
	switch c.Store.Backend {
	case "bbolt":
		if c.Store.DSN != "" {
			bad("store.dsn", "store.dsn is set but store.backend = \"bbolt\": set backend = \"postgres\" to use it, or remove the dsn")
		}
	case "postgres":
		if msg := checkDSN(c.Store.DSN); msg != "" {
			bad("store.dsn", "store.dsn %s", msg)
		}
	default:
		bad("store.backend", "store.backend = %q: use \"bbolt\" (one node, a file in data_dir) or \"postgres\" (with store.dsn)", c.Store.Backend)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "log.level = %q: use debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "log.format = %q: use text or json", c.Log.Format)
	}
	return errors.Join(errs...)
}

// Listener is one named listen address.
type Listener struct{ Name, Addr string }

// HasListener says whether c gives any listener an address.
func (c *Config) HasListener() bool {
	for _, l := range c.Listeners() {
		if l.Addr != "" {
			return true
		}
	}
	return false
}

// BindError explains a failed bind of l in one line, with the fix.
func (l Listener) BindError(err error) error {
	switch {
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("listen.%s %s: permission denied: ports below 1024 need privileges; run as root, or `sudo setcap cap_net_bind_service=+ep %s`, or use `petrel serve --dev` for high ports", l.Name, l.Addr, exePath())
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("listen.%s %s: address already in use: another program listens there (see `ss -ltnp`); stop it, or change listen.%s", l.Name, l.Addr, l.Name)
	}
	return fmt.Errorf("listen.%s %s: %w", l.Name, l.Addr, err)
}

// ListenPort is the port of a listen address (":8443" is 8443), or def.
func ListenPort(addr string, def int) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return def
	}
	n, err := strconv.Atoi(p)
	if err != nil || n <= 0 {
		return def
	}
	return n
}

// exePath is this binary, for the setcap hint of a refused bind.
func exePath() string {
	p, err := os.Executable()
	if err != nil {
		return "petrel"
	}
	return p
}

// Listeners lists the listen addresses by their config names.
func (c *Config) Listeners() []Listener {
	l := c.Listen
	return []Listener{
		{"smtp", l.SMTP}, {"submission", l.Submission}, {"submissions", l.Submissions},
		{"imap", l.IMAP}, {"imaps", l.IMAPS}, {"pop3", l.POP3}, {"pop3s", l.POP3S}, {"http", l.HTTP},
		{"https", l.HTTPS},
	}
}

// IsLocalDomain reports whether mail for domain is delivered here.
func (c *Config) IsLocalDomain(domain string) bool {
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	for _, x := range c.Domains {
		if x == d {
			return true
		}
	}
	return false
}

func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r > 127) {
				return false
			}
		}
	}
	return true
}

// tomlLineError is how the toml package words a value of the wrong type.
var tomlLineError = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

func fileError(path, text string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s:%d: %s", path, pe.Position.Line, pe.Message)
	}
	if m := tomlLineError.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("%s:%s: %s: %s", path, m[1], m[2], m[3])
	}
	return fmt.Errorf("%s: %w", path, err)
}

// The variables that name the configuration file rather than set a key.
const (
	// EnvConfig names the file to read when --config is not given.
	EnvConfig = "PETREL_CONFIG"
	// EnvConfigOptional names a file to read, when neither --config nor
	// PETREL_CONFIG is given, if it exists. The container image sets it to
	// /etc/petrel/petrel.toml, so that a file mounted there is read with no
	// flag and an image run without one is configured by its variables;
	// where it is unset, as on a developer's machine, nothing changes.
	EnvConfigOptional = "PETREL_CONFIG_OPTIONAL"
)

// FileEnvVars lists the variables that name the configuration file, with
// what each does, as `petrel config env` shows them.
func FileEnvVars() [][2]string {
	return [][2]string{
		{EnvConfig, "(the configuration file, when --config is not given)"},
		{EnvConfigOptional, "(a configuration file read if it exists, when neither --config nor " + EnvConfig + " is given)"},
	}
}

// Path returns the configuration file to read, "" meaning the embedded
// default: flagValue (--config) if given, else $PETREL_CONFIG, else
// $PETREL_CONFIG_OPTIONAL if that file exists. getenv is os.Getenv.
func Path(flagValue string, getenv func(string) string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if p := getenv(EnvConfig); p != "" {
		return p, nil
	}
	p := getenv(EnvConfigOptional)
	if p == "" {
		return "", nil
	}
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("config: %s=%s: %w", EnvConfigOptional, p, err)
	case fi.IsDir():
		return "", fmt.Errorf("config: %s=%s is a directory, not a file (mounting a host file that does not exist makes one)", EnvConfigOptional, p)
	}
	return p, nil
}

// EnvVars lists every PETREL_… variable and the key it sets, in file order.
func EnvVars() [][2]string {
	var out [][2]string
	walk(reflect.ValueOf(&Config{}).Elem(), "", func(key string, _ reflect.Value) {
		out = append(out, [2]string{envName(key), key})
	})
	return out
}

func envName(key string) string {
	return "PETREL_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// applyEnv sets keys from PETREL_… variables (lists are comma-separated)
// and returns the keys it set, with the variable that set each.
func applyEnv(c *Config, env []string) (map[string]string, error) {
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "PETREL_") {
			vars[k] = v
		}
	}
	if len(vars) == 0 {
		return nil, nil
	}
	set := map[string]string{}
	known := map[string]bool{}
	var errs []error
	walk(reflect.ValueOf(c).Elem(), "", func(key string, f reflect.Value) {
		name := envName(key)
		known[name] = true
		v, ok := vars[name]
		if !ok {
			return
		}
		if err := setFromString(f, v); err != nil {
			errs = append(errs, fmt.Errorf("environment %s=%q: %w", name, v, err))
		}
		set[key] = name
	})
	for name := range vars {
		if !known[name] && name != EnvConfig && name != EnvConfigOptional {
			errs = append(errs, fmt.Errorf("environment %s: unknown setting (see `petrel config env` for the names)", name))
		}
	}
	return set, errors.Join(errs...)
}

func walk(v reflect.Value, prefix string, fn func(key string, f reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("toml")
		if tag == "" {
			continue
		}
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		f := v.Field(i)
		if f.Kind() == reflect.Struct && f.Type() != reflect.TypeOf(Duration{}) {
			walk(f, key, fn)
			continue
		}
		fn(key, f)
	}
}

func setFromString(f reflect.Value, s string) error {
	switch p := f.Addr().Interface().(type) {
	case *string:
		*p = s
	case *[]string:
		*p = nil
		for _, x := range strings.Split(s, ",") {
			if x = strings.TrimSpace(x); x != "" {
				*p = append(*p, x)
			}
		}
	case *int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("not a whole number")
		}
		*p = n
	case *int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("not a whole number")
		}
		*p = n
	case *float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("not a number")
		}
		*p = x
	case *bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("not true or false")
		}
		*p = b
	case *Duration:
		return p.UnmarshalText([]byte(s))
	case interface{ UnmarshalText([]byte) error }:
		return p.UnmarshalText([]byte(s))
	case *[]Duration:
		*p = nil
		for _, x := range strings.Split(s, ",") {
			var d Duration
			if err := d.UnmarshalText([]byte(strings.TrimSpace(x))); err != nil {
				return err
			}
			*p = append(*p, d)
		}
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// firstDomain is the first local domain, for examples in messages.
func firstDomain(domains []string) string {
	if len(domains) == 0 {
		return "example.com"
	}
	return domains[0]
}

// checkDSN says what is wrong with a PostgreSQL DSN ("" when nothing is),
// without repeating its password.
func checkDSN(dsn string) string {
	const want = "(want \"postgres://user:password@host:5432/petrel?sslmode=verify-full\")"
	if strings.TrimSpace(dsn) == "" {
		return "is empty but store.backend = \"postgres\" needs it " + want
	}
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		if strings.Contains(dsn, "=") { // keyword/value form: host=… dbname=…
			return ""
		}
		return "is not a postgres:// URL " + want
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "is not a valid URL " + want
	}
	if u.Host == "" && u.Query().Get("host") == "" {
		return fmt.Sprintf("%s names no host %s", u.Redacted(), want)
	}
	if _, port, err := net.SplitHostPort(u.Host); err == nil {
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return fmt.Sprintf("%s: %q is not a port number", u.Redacted(), port)
		}
	}
	return ""
}
