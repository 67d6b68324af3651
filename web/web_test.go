package web_test

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"petrel/store"
	"petrel/web"

	"github.com/prometheus/client_golang/prometheus"
)

const token = "s3cret-token"

// serve starts the handler on a real socket on 127.0.0.1:0.
func serve(t *testing.T, opts web.Options) *httptest.Server {
	t.Helper()
	if opts.Hostname == "" {
		opts.Hostname = "mx.example.com"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Domains == nil {
		opts.Domains = func() []string { return []string{"Example.com", "example.org."} }
	}
	srv := httptest.NewServer(web.New(opts))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url, bearer string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, string, http.Header) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func TestAutoconfig(t *testing.T) {
	srv := serve(t, web.Options{})
	for _, path := range []string{
		"/.well-known/autoconfig/mail/config-v1.1.xml",
		"/mail/config-v1.1.xml",
		"/mail/config-v1.1.xml?emailaddress=you%40example.org",
	} {
		t.Run(path, func(t *testing.T) {
			code, body, hdr := get(t, srv.URL+path, "")
			if code != 200 {
				t.Fatalf("status %d: %s", code, body)
			}
			if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/xml") {
				t.Errorf("Content-Type %q", ct)
			}
			var cfg web.ClientConfig
			if err := xml.Unmarshal([]byte(body), &cfg); err != nil {
				t.Fatalf("autoconfig is not valid XML: %v\n%s", err, body)
			}
			if cfg.Version != "1.1" || cfg.Provider.ID != "example.com" {
				t.Errorf("version %q id %q", cfg.Version, cfg.Provider.ID)
			}
			if got := strings.Join(cfg.Provider.Domains, ","); got != "example.com,example.org" {
				t.Errorf("domains %q", got)
			}
			type key struct {
				typ    string
				port   int
				socket string
			}
			want := map[key]bool{
				{"imap", 993, "SSL"}: true, {"imap", 143, "STARTTLS"}: true,
				{"pop3", 995, "SSL"}: true, {"pop3", 110, "STARTTLS"}: true,
				{"smtp", 465, "SSL"}: true, {"smtp", 587, "STARTTLS"}: true,
			}
			all := append(append([]web.ServerConfig{}, cfg.Provider.Incoming...), cfg.Provider.Outgoing...)
			if len(all) != len(want) {
				t.Errorf("%d servers, want %d", len(all), len(want))
			}
			for _, s := range all {
				if !want[key{s.Type, s.Port, s.SocketType}] {
					t.Errorf("unexpected server %+v", s)
				}
				delete(want, key{s.Type, s.Port, s.SocketType})
				if s.Hostname != "mx.example.com" || s.Username != "%EMAILADDRESS%" || s.Authentication != "password-cleartext" {
					t.Errorf("server %+v", s)
				}
			}
			for _, o := range cfg.Provider.Outgoing {
				if o.Type != "smtp" {
					t.Errorf("outgoing server of type %q", o.Type)
				}
			}
			if len(want) != 0 {
				t.Errorf("missing servers %v", want)
			}
		})
	}
}

func TestAutoconfigUnknownDomain(t *testing.T) {
	srv := serve(t, web.Options{})
	code, _, _ := get(t, srv.URL+"/mail/config-v1.1.xml?emailaddress=you%40elsewhere.net", "")
	if code != 404 {
		t.Errorf("status %d for a foreign domain, want 404", code)
	}
	none := serve(t, web.Options{Domains: func() []string { return nil }})
	if code, _, _ := get(t, none.URL+"/mail/config-v1.1.xml", ""); code != 404 {
		t.Errorf("status %d with no domains, want 404", code)
	}
}

const autodiscoverBody = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>%s</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`

func TestAutodiscover(t *testing.T) {
	srv := serve(t, web.Options{})
	tests := []struct {
		name, path, body string
		code             int
	}{
		{"ok", "/autodiscover/autodiscover.xml", strings.Replace(autodiscoverBody, "%s", "you@example.com", 1), 200},
		{"root path", "/autodiscover.xml", strings.Replace(autodiscoverBody, "%s", "You@Example.ORG", 1), 200},
		{"outlook case", "/Autodiscover/Autodiscover.xml", strings.Replace(autodiscoverBody, "%s", "you@example.com", 1), 200},
		{"foreign domain", "/autodiscover/autodiscover.xml", strings.Replace(autodiscoverBody, "%s", "you@elsewhere.net", 1), 404},
		{"no address", "/autodiscover/autodiscover.xml", strings.Replace(autodiscoverBody, "%s", "", 1), 400},
		{"garbage", "/autodiscover/autodiscover.xml", "<<<not xml", 400},
		{"too big", "/autodiscover/autodiscover.xml", "<Autodiscover>" + strings.Repeat("<a>x</a>", 4000) + "</Autodiscover>", 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", srv.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "text/xml")
			code, body, _ := do(t, req)
			if code != tt.code {
				t.Fatalf("status %d, want %d: %s", code, tt.code, body)
			}
			if code != 200 {
				return
			}
			var resp web.AutodiscoverResponse
			if err := xml.Unmarshal([]byte(body), &resp); err != nil {
				t.Fatalf("response is not valid XML: %v", err)
			}
			acct := resp.Response.Account
			if acct.AccountType != "email" || acct.Action != "settings" || len(acct.Protocols) != 6 {
				t.Fatalf("account %+v", acct)
			}
			seen := map[string]bool{}
			for _, p := range acct.Protocols {
				seen[p.Type] = true
				if p.Server != "mx.example.com" || !strings.Contains(body, "<LoginName>") || p.SSL != "on" {
					t.Errorf("protocol %+v", p)
				}
				if (p.Port == 587 || p.Port == 143 || p.Port == 110) != (p.Encryption == "TLS") {
					t.Errorf("port %d encryption %q", p.Port, p.Encryption)
				}
			}
			if !seen["IMAP"] || !seen["POP3"] || !seen["SMTP"] {
				t.Errorf("protocols %v", seen)
			}
		})
	}
	if code, _, _ := get(t, srv.URL+"/autodiscover/autodiscover.xml", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("GET autodiscover: %d, want 405", code)
	}
}

func TestMTASTS(t *testing.T) {
	off := serve(t, web.Options{})
	if code, _, _ := get(t, off.URL+"/.well-known/mta-sts.txt", ""); code != 404 {
		t.Errorf("policy served while disabled: %d", code)
	}
	on := serve(t, web.Options{MTASTS: &web.MTASTSPolicy{Mode: "enforce", MX: []string{"mx.example.com", "*.backup.example.com"}, MaxAge: 24 * time.Hour}})
	code, body, hdr := get(t, on.URL+"/.well-known/mta-sts.txt", "")
	want := "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmx: *.backup.example.com\r\nmax_age: 86400\r\n"
	if code != 200 || body != want {
		t.Errorf("status %d body %q, want %q", code, body, want)
	}
	if ct := hdr.Get("Content-Type"); ct != "text/plain" {
		t.Errorf("Content-Type %q, want text/plain (RFC 8461 3.2)", ct)
	}
	bad := serve(t, web.Options{MTASTS: &web.MTASTSPolicy{Mode: "enforcing"}})
	if code, _, _ := get(t, bad.URL+"/.well-known/mta-sts.txt", ""); code != 404 {
		t.Errorf("invalid policy served: %d", code)
	}
}

func TestMTASTSValidate(t *testing.T) {
	tests := []struct {
		name string
		p    web.MTASTSPolicy
		ok   bool
	}{
		{"enforce", web.MTASTSPolicy{Mode: "enforce", MX: []string{"mx.example.com"}}, true},
		{"none without mx", web.MTASTSPolicy{Mode: "none"}, true},
		{"testing without mx", web.MTASTSPolicy{Mode: "testing"}, false},
		{"bad mode", web.MTASTSPolicy{Mode: "on", MX: []string{"mx"}}, false},
		{"space in mx", web.MTASTSPolicy{Mode: "enforce", MX: []string{"mx example"}}, false},
		{"too old", web.MTASTSPolicy{Mode: "enforce", MX: []string{"mx"}, MaxAge: 400 * 24 * time.Hour}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.p.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	var readyErr error
	srv := serve(t, web.Options{Ready: func() error { return readyErr }})
	if code, body, _ := get(t, srv.URL+"/healthz", ""); code != 200 || body != "ok\n" {
		t.Errorf("healthz %d %q", code, body)
	}
	if code, body, _ := get(t, srv.URL+"/readyz", ""); code != 200 || body != "ready\n" {
		t.Errorf("readyz %d %q", code, body)
	}
	readyErr = errors.New("store /secret/path not open")
	code, body, _ := get(t, srv.URL+"/readyz", "")
	if code != 503 {
		t.Errorf("readyz while not ready: %d", code)
	}
	if strings.Contains(body, "secret") {
		t.Errorf("readyz leaks the reason to the client: %q", body)
	}
}

// /metrics is for the admin: by default it answers the admin token, or a
// client on the machine itself (loopback), and nobody else, because the
// HTTP listener must be public for autoconfig (issue 13, point 13);
// MetricsPublic opens it to all.
func TestAdminToken(t *testing.T) {
	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "admin here") })
	m := web.NewMetrics()
	locked := serve(t, web.Options{Gatherer: m.Registry(), AdminToken: token, Admin: admin})
	open := serve(t, web.Options{Gatherer: m.Registry(), Admin: admin})
	public := serve(t, web.Options{Gatherer: m.Registry(), MetricsPublic: true})
	const remote, local4, local6 = "198.51.100.7:40000", "127.0.0.1:40000", "[::1]:40000"
	tests := []struct {
		name   string
		srv    *httptest.Server
		from   string
		path   string
		bearer string
		code   int
	}{
		{"metrics without token", locked, remote, "/metrics", "", 401},
		{"metrics wrong token", locked, remote, "/metrics", "nope", 401},
		{"metrics with token", locked, remote, "/metrics", token, 200},
		{"metrics from loopback", locked, local4, "/metrics", "", 200},
		{"metrics from ::1", locked, local6, "/metrics", "", 200},
		{"admin without token", locked, remote, "/admin/x", "", 401},
		{"admin from loopback without token", locked, local4, "/admin/x", "", 401},
		{"admin with token", locked, remote, "/admin/x", token, 200},
		{"public healthz", locked, remote, "/healthz", "", 200},
		{"public autoconfig", locked, remote, "/mail/config-v1.1.xml", "", 200},
		{"metrics closed when no token", open, remote, "/metrics", "", 403},
		{"metrics from loopback when no token", open, local4, "/metrics", "", 200},
		{"metrics public when asked", public, remote, "/metrics", "", 200},
		{"admin off when no token", open, remote, "/admin/x", "", 404},
		{"unknown path", locked, remote, "/etc/passwd", token, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tt.path, nil)
			req.RemoteAddr = tt.from
			if tt.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tt.bearer)
			}
			rec := httptest.NewRecorder()
			tt.srv.Config.Handler.ServeHTTP(rec, req)
			code, body, hdr := rec.Code, rec.Body.String(), rec.Header()
			if code != tt.code {
				t.Fatalf("status %d, want %d: %s", code, tt.code, body)
			}
			if code == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge")
			}
			if code == 403 && !strings.Contains(body, "http.admin_token") {
				t.Errorf("403 does not say how to open /metrics: %q", body)
			}
		})
	}
	// Over a real socket from loopback, as Prometheus on the same host.
	if code, body, _ := get(t, open.URL+"/metrics", ""); code != 200 || !strings.Contains(body, "petrel_") {
		t.Errorf("/metrics from loopback over TCP: %d", code)
	}
}

// TestMetricsMoveAfterDelivery wires the collectors to a real store the way
// cmd/petrel does, delivers a message, and checks that /metrics shows the
// delivery and the commit.
func TestMetricsMoveAfterDelivery(t *testing.T) {
	m := web.NewMetrics()
	st, err := store.Open(t.TempDir()+"/mail.db", store.Options{OnCommit: m.StoreCommit})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := serve(t, web.Options{Gatherer: m.Registry()})

	names := []string{
		"petrel_connections_total", "petrel_connections_active", "petrel_smtp_transactions_total",
		"petrel_messages_delivered_total", "petrel_messages_delivered_bytes_total",
		"petrel_queue_messages", "petrel_queue_oldest_age_seconds", "petrel_delivery_attempts_total",
		"petrel_auth_failures_total", "petrel_auth_shed_total", "petrel_store_commit_seconds", "petrel_store_commit_writes",
		"petrel_quota_refusals_total",
	}
	// Vectors only appear once a label is used: touch each.
	closed := m.ConnOpened("smtp")
	m.AuthFailure("imap")
	m.AuthShed()
	m.DeliveryAttempt("deferred")
	arrived := time.Now().Add(-90 * time.Second)
	m.ObserveQueue(func() (int, time.Time, error) { return 3, arrived, nil })
	m.SMTPTransaction("rejected")
	m.OverQuota("imap-append")

	before := scrape(t, srv.URL)
	for _, n := range names {
		if !strings.Contains(before, "# TYPE "+n+" ") {
			t.Errorf("metric %s missing", n)
		}
	}

	acct, err := st.CreateAccount(context.Background(), "you@example.com", "secret")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("From: a@example.org\r\nTo: you@example.com\r\nSubject: hi\r\n\r\nhello\r\n")
	out, err := st.Deliver(context.Background(), &store.Delivery{Body: body, Targets: []store.Target{{Account: acct.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	m.SMTPTransaction("accepted")
	m.Delivered(len(out), int64(len(body)))
	closed()

	after := scrape(t, srv.URL)
	checks := []struct {
		line string
		want float64
	}{
		{`petrel_messages_delivered_total`, 1},
		{`petrel_messages_delivered_bytes_total`, float64(len(body))},
		{`petrel_smtp_transactions_total{result="accepted"}`, 1},
		{`petrel_connections_total{protocol="smtp"}`, 1},
		{`petrel_connections_active{protocol="smtp"}`, 0},
		{`petrel_auth_failures_total{protocol="imap"}`, 1},
		{`petrel_auth_shed_total`, 1},
		{`petrel_quota_refusals_total{where="imap-append"}`, 1},
		{`petrel_queue_messages`, 3},
		{`petrel_queue_oldest_age_seconds`, 90},
		{`petrel_store_commit_seconds_count`, 2}, // CreateAccount and Deliver
	}
	for _, c := range checks {
		// The commit count and the queue's age (read at the scrape) may have grown.
		grows := c.line == `petrel_store_commit_seconds_count` || c.line == `petrel_queue_oldest_age_seconds`
		if got := value(t, after, c.line); got < c.want || (!grows && got != c.want) {
			t.Errorf("%s = %v, want %v", c.line, got, c.want)
		}
	}
	if value(t, before, `petrel_store_commit_seconds_count`) >= value(t, after, `petrel_store_commit_seconds_count`) {
		t.Errorf("store commit histogram did not move")
	}
}

func TestNilMetricsIgnoresCalls(t *testing.T) {
	var m *web.Metrics
	m.ConnOpened("smtp")()
	m.SMTPTransaction("accepted")
	m.Delivered(1, 10)
	m.ObserveQueue(func() (int, time.Time, error) { return 1, time.Now(), nil })
	m.DeliveryAttempt("delivered")
	m.AuthFailure("pop3")
	m.StoreCommit(time.Millisecond, 1)
	m.OverQuota("smtp-rcpt")
	var _ prometheus.Gatherer = web.NewMetrics().Registry()
}

func scrape(t *testing.T, base string) string {
	t.Helper()
	code, body, _ := get(t, base+"/metrics", "")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	return body
}

// value finds the sample line that starts with name (and a space) in the
// text exposition format.
func value(t *testing.T, text, name string) float64 {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(l, name+" "); ok {
			var f float64
			if _, err := fmtSscan(rest, &f); err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			return f
		}
	}
	t.Errorf("no sample %s", name)
	return -1
}
