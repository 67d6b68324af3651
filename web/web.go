package web

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configure the handler returned by New.
type Options struct {
	// Hostname is the mail host's name, the server name given to clients.
	Hostname string
	// Domains lists the local domains now (called on every request, so a
	// reloaded configuration takes effect at once).
	Domains func() []string
	// Gatherer is what /metrics serves (Metrics.Registry()); nil turns
	// /metrics off.
	Gatherer prometheus.Gatherer
	// Ready says whether the server can take mail (store open, listeners
	// up); nil means always ready.
	Ready func() error
	// AdminToken, when set, is the Bearer token that /metrics and /admin/
	// require. When empty, /admin/ is off. /metrics is also served without
	// the token to clients on loopback (a Prometheus on the same host), and
	// to everyone with MetricsPublic.
	AdminToken string
	// MetricsPublic serves /metrics to anyone, token or not.
	MetricsPublic bool
	// MTASTS is the policy served at /.well-known/mta-sts.txt; nil turns
	// MTA-STS off.
	MTASTS *MTASTSPolicy
	// Services are the client-facing services advertised by autoconfig and
	// autodiscover; nil means DefaultServices (the standard ports).
	Services []Service
	// Admin, if set, is served under /admin/ behind the admin token.
	Admin http.Handler
	// Unsubscribe, if set, serves one-click unsubscription from mailing
	// lists (RFC 8058) at the path of its URL.
	Unsubscribe *Unsubscribe
	// WebMail, if set, is served at "/": every path the endpoints above do
	// not claim (the web mail, which sets its own security headers).
	WebMail http.Handler
	// Logger receives request errors; nil means slog.Default().
	Logger *slog.Logger
}

// New returns the handler for the HTTP listener.
//
// Public, needing no token: /.well-known/autoconfig/mail/config-v1.1.xml,
// /mail/config-v1.1.xml, /autodiscover/autodiscover.xml (and
// /autodiscover.xml), /.well-known/mta-sts.txt, /healthz, /readyz and, with
// Options.Unsubscribe, the one-click unsubscribe endpoint (its links are
// signed).
// Behind the token: /admin/, and /metrics, which loopback clients also get
// (everyone with Options.MetricsPublic).
func New(opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Domains == nil {
		opts.Domains = func() []string { return nil }
	}
	if opts.Services == nil {
		opts.Services = DefaultServices
	}
	h := &handler{opts: opts, log: opts.Logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/autoconfig/mail/config-v1.1.xml", h.autoconfig)
	mux.HandleFunc("GET /mail/config-v1.1.xml", h.autoconfig)
	mux.HandleFunc("POST /autodiscover/autodiscover.xml", h.autodiscover)
	mux.HandleFunc("POST /autodiscover.xml", h.autodiscover)
	// Outlook probes case variants (Autodiscover/Autodiscover.xml).
	mux.HandleFunc("POST /Autodiscover/Autodiscover.xml", h.autodiscover)
	mux.HandleFunc("GET /.well-known/mta-sts.txt", h.mtaSTS)
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	if opts.Gatherer != nil {
		metrics := promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{ErrorLog: slogPrinter{opts.Logger}})
		if !opts.MetricsPublic {
			metrics = h.tokenOrLoopback(metrics)
		}
		mux.Handle("GET /metrics", metrics)
	}
	if u := opts.Unsubscribe; u != nil {
		mux.HandleFunc("GET "+u.path(), h.unsubscribe)
		mux.HandleFunc("POST "+u.path(), h.unsubscribe)
	}
	if opts.Admin != nil && opts.AdminToken != "" {
		mux.Handle("/admin/", h.requireToken(opts.Admin))
	}
	if opts.WebMail != nil {
		mux.Handle("/", opts.WebMail)
	}
	return securityHeaders(mux)
}

type handler struct {
	opts Options
	log  *slog.Logger
}

// requireToken serves next only to requests bearing the admin token
// (RFC 6750 2.1), compared in constant time.
func (h *handler) requireToken(next http.Handler) http.Handler {
	want := []byte(h.opts.AdminToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		scheme, token, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") ||
			subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="petrel"`)
			http.Error(w, "admin token required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// tokenOrLoopback serves next to a client on loopback, and to others with
// the admin token; with no token set, others are told how to get access.
func (h *handler) tokenOrLoopback(next http.Handler) http.Handler {
	withToken := h.requireToken(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && ap.Addr().Unmap().IsLoopback() {
			next.ServeHTTP(w, r)
			return
		}
		if h.opts.AdminToken == "" {
			http.Error(w, "/metrics is served to loopback clients only: set http.admin_token and send it as a Bearer token, or set http.metrics_public = true", http.StatusForbidden)
			return
		}
		withToken.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// slogPrinter adapts a slog.Logger to promhttp's Println-style logger.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.log.Error("serving metrics", "error", strings.TrimSpace(fmtArgs(v)))
}
