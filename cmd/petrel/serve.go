package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"petrel/authlimit"
	"petrel/config"
	"petrel/control"
	"petrel/imap"
	"petrel/junk"
	"petrel/msgauth"
	"petrel/mta"
	"petrel/netlimit"
	"petrel/pop3"
	"petrel/queue"
	"petrel/store"
	"petrel/tlsconf"
	"petrel/web"
	"petrel/webmail"
)

// shutdownGrace bounds how long transactions in flight may take to finish
// after SIGTERM.
const shutdownGrace = 20 * time.Second

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// server is everything `petrel serve` runs.
type server struct {
	cfg     *config.Config
	log     *slog.Logger
	store   *store.Store
	tls     *tls.Config
	acme    *tlsconf.ACME // with tls.acme
	lns     map[string]net.Listener
	mta     *mta.MTA
	imap    *imap.Server
	pop3    *pop3.Server
	queue   *queue.Queue
	signer  *signer
	metrics *web.Metrics
	http    *http.Server
	ready   bool
	readyMu sync.Mutex
	steady  map[string]*netlimit.SteadyListener // by listener name, under readyMu

	wg sync.WaitGroup
}

func serve(ctx context.Context, g globalFlags, stdout, stderr io.Writer) error {
	cfg, err := config.Load(g.config, os.Environ(), g.dev)
	if err != nil {
		return err
	}
	if !hasListener(cfg) {
		return errors.New("config: no listener has an address: set at least one under [listen] (smtp = \":25\", …); `petrel config default` shows them all")
	}
	log := newLogger(cfg, stderr)
	if cfg.Store.Backend != "bbolt" {
		return fmt.Errorf("store.backend = %q: petrel serve runs on the bbolt store only in this version (its front-ends are not yet wired to PostgreSQL; `petrel store migrate` and `petrel store copy` are); set store.backend = \"bbolt\"", cfg.Store.Backend)
	}
	if soft, hard, err := netlimit.RaiseFileLimit(); err != nil {
		log.Warn("open files limit", "soft", soft, "hard", hard, "err", err)
	} else {
		log.Info("open files limit", "limit", soft, "hard", hard)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data_dir %s: %w (set data_dir to a directory petrel may write)", cfg.DataDir, err)
	}
	s := &server{cfg: cfg, log: log, lns: map[string]net.Listener{}}
	defer s.closeListeners()
	// Bind every listener before anything else, so a port problem is
	// reported at once, in one line, with the fix.
	for _, l := range cfg.Listeners() {
		if l.Addr == "" {
			continue
		}
		ln, err := listenTCP(l.Addr)
		if err != nil {
			return bindError(l, err)
		}
		s.lns[l.Name] = ln
	}
	s.metrics = web.NewMetrics()
	junkApplied, err := junk.AppliedCounter(s.metrics.Registry())
	if err != nil {
		return err
	}
	s.store, err = store.Open(filepath.Join(cfg.DataDir, "mail.db"), store.Options{Logger: log, OnCommit: s.metrics.StoreCommit, OnAuthBusy: s.metrics.AuthShed,
		JunkTokens: junk.Tokens, JunkShared: cfg.Junk.SharedModel, JunkMaxTokens: cfg.Junk.MaxTokens, OnJunkApply: junkApplied})
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return fmt.Errorf("%w: another petrel is running with data_dir %s", err, cfg.DataDir)
		}
		return err
	}
	defer s.store.Close()
	var created bool
	if cfg.TLS.ACME {
		s.acme, err = newACME(cfg, log)
		if s.acme != nil {
			s.tls = s.acme.Config()
		}
	} else {
		if g.dev && cfg.TLS.Cert == "" {
			// Clients of --dev connect to localhost: a certificate kept
			// from before it was named so is remade.
			if renewed, rerr := tlsconf.RenewSelfSigned(cfg.DataDir, cfg.Hostname); rerr != nil {
				return rerr
			} else if renewed {
				log.Info("remade the self-signed TLS certificate to name localhost, 127.0.0.1 and ::1 too", "dir", filepath.Join(cfg.DataDir, "tls"))
			}
		}
		s.tls, created, err = tlsconf.Load(cfg.TLS.Cert, cfg.TLS.Key, cfg.DataDir, cfg.Hostname)
	}
	if err != nil {
		return err
	}
	if created {
		log.Info("made a self-signed TLS certificate; set [tls] cert and key for a real one", "dir", filepath.Join(cfg.DataDir, "tls"), "hostname", cfg.Hostname)
	}
	if g.dev {
		if err := devAccount(ctx, s.store, cfg, stdout); err != nil {
			return err
		}
	}
	if err := s.start(ctx); err != nil {
		return err
	}
	defer func() {
		if s.queue != nil {
			s.queue.Close()
		}
	}()
	log.Info("petrel started", "version", version, "hostname", cfg.Hostname, "domains", cfg.Domains, "data_dir", cfg.DataDir)
	<-ctx.Done()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	s.shutdown(sctx)
	log.Info("stopped")
	return nil
}

// hasListener says whether cfg gives any listener an address.
func hasListener(cfg *config.Config) bool {
	for _, l := range cfg.Listeners() {
		if l.Addr != "" {
			return true
		}
	}
	return false
}

// bindError explains a failed bind in one line, with the fix.
func bindError(l config.Listener, err error) error {
	switch {
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("listen.%s %s: permission denied: ports below 1024 need privileges; run as root, or `sudo setcap cap_net_bind_service=+ep %s`, or use `petrel serve --dev` for high ports", l.Name, l.Addr, exePath())
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("listen.%s %s: address already in use: another program listens there (see `ss -ltnp`); stop it, or change listen.%s", l.Name, l.Addr, l.Name)
	}
	return fmt.Errorf("listen.%s %s: %w", l.Name, l.Addr, err)
}

func exePath() string {
	p, err := os.Executable()
	if err != nil {
		return "petrel"
	}
	return p
}

func (s *server) closeListeners() {
	for _, l := range s.lns {
		l.Close()
	}
}

// start wires the subsystems and starts serving.
func (s *server) start(ctx context.Context) error {
	cfg := s.cfg
	mxres, netres, err := newDNS(cfg)
	if err != nil {
		return err
	}
	// An RSA and an Ed25519 DKIM key for every local domain, made on the
	// first start and when a domain is added.
	made, err := msgauth.EnsureKeys(dkimDir(cfg), cfg.Domains, time.Now())
	if err != nil {
		return fmt.Errorf("dkim keys: %w", err)
	}
	for _, rec := range made {
		s.log.Info("made a DKIM key; publish its record (petrel dns DOMAIN prints them all)", "record", rec)
	}
	if s.signer, err = newSigner(dkimDir(cfg)); err != nil {
		return err
	}
	rewriter, err := newSRS(cfg)
	if err != nil {
		return err
	}
	unsub, err := newUnsubscribe(cfg, s.store)
	if err != nil {
		return err
	}
	env := &adminEnv{cfg: cfg, store: s.store, log: s.log}
	m := s.metrics
	local := &routedDeliverer{accounts: localDeliverer{store: s.store, cfg: cfg}}
	if s.queue, err = openQueue(cfg, s.store, mxres, env, func(o *queue.Options) { o.OnAttempt = m.DeliveryAttempt; o.Local = local }); err != nil {
		return err
	}
	env.extra = adminExtras{queue: s.queue, signer: s.signer, resolver: netres}
	fm := m.FilterMetrics()
	filters, reputation, err := newFilters(cfg, mxres, s.log, fm)
	if err != nil {
		return err
	}
	verifier := msgauth.NewVerifier(msgauth.Options{Hostname: cfg.Hostname, Resolver: netres, Logger: s.log.With("svc", "msgauth")})
	// One limiter for SMTP, IMAP and POP3: failures on one protocol slow
	// down guessing on the others from the same address.
	authLimiter := authlimit.New(authlimit.Options{FailDelay: cfg.Auth.FailDelay.Duration, MaxFailDelay: cfg.Auth.MaxFailDelay.Duration, LockoutFailures: cfg.Auth.LockoutFailures, LockoutTime: cfg.Auth.LockoutTime.Duration, AccountMaxFailDelay: accountMaxFailDelay(cfg.Auth.AccountMaxFailDelay.Duration)})
	junkFilter, err := newJunkFilter(cfg, s.store, s.log.With("svc", "junk"), m.Registry())
	if err != nil {
		return err
	}
	s.mta = mta.New(mta.Options{
		Hostname:        cfg.Hostname,
		IsLocalDomain:   cfg.IsLocalDomain,
		Postmaster:      cfg.Postmaster,
		SpoolDir:        cfg.DataDir, // message data past 1 MiB: on disk, not in a tmpfs /tmp
		Store:           s.store,
		Queue:           s.queue,
		Checker:         checker{verifier},
		Filters:         filters,
		Reputation:      reputation,
		Signer:          s.signer,
		Resolver:        netres,
		TLSConfig:       s.tls,
		Logger:          s.log.With("svc", "smtp"),
		AuthLimiter:     authLimiter,
		MaxMessageBytes: cfg.SMTP.MaxMessageSize,
		MaxRecipients:   cfg.SMTP.MaxRecipients,
		MaxLineLength:   cfg.SMTP.MaxLineLength,
		CommandTimeout:  cfg.SMTP.CommandTimeout.Duration,
		DataTimeout:     cfg.SMTP.DataTimeout.Duration,
		MaxErrors:       cfg.SMTP.MaxErrors,
		PlusSeparator:   cfg.SMTP.PlusSeparator,
		SaveSent:        cfg.SMTP.SaveSent,
		SRS:             rewriter,
		Bouncer:         bouncer{s.queue},
		UnsubscribeURL:  unsub.Link,
		ListBounceDays:  cfg.Lists.BounceDays,
		OnTransaction:   m.SMTPTransaction,
		OnDelivered:     m.Delivered,
		OnAuthFailure:   func() { m.AuthFailure("smtp") },
		OnReputation:    fm.ReputationVerdict,
		Junk:            junkFilter,
	})
	local.mta = s.mta // before the queue runs
	s.imap = imap.New(imap.Options{
		Store:       s.store,
		Logger:      s.log.With("svc", "imap"),
		TLSConfig:   s.tls,
		AutoLogout:  cfg.IMAP.AutoLogout.Duration,
		AppendLimit: uint32(min(cfg.SMTP.MaxMessageSize, 1<<32-1)),

		AuthLimiter:   authLimiter,
		OnAuthFailure: func() { m.AuthFailure("imap") },
	})
	s.pop3 = pop3.New(pop3.Options{
		Store:       s.store,
		Logger:      s.log.With("svc", "pop3"),
		TLSConfig:   s.tls,
		Hostname:    cfg.Hostname,
		IdleTimeout: cfg.POP3.IdleTimeout.Duration,

		AuthLimiter:   authLimiter,
		OnAuthFailure: func() { m.AuthFailure("pop3") },
	})
	limits := netlimit.Limits{Total: cfg.SMTP.MaxConnections, PerIP: cfg.SMTP.MaxConnectionsPerIP, RatePerIP: cfg.SMTP.MaxConnectionRatePerIP, RateExempt: cfg.SMTP.RateExempt()}
	limited := func(l net.Listener, proto string, reject func(net.Conn, error)) net.Listener {
		return countConns(netlimit.Wrap(l, limits, reject), m, proto)
	}
	s.goServe("smtp", func(l net.Listener) error {
		return s.mta.ServeSMTP(limited(l, "smtp", mta.RejectBusy))
	})
	s.goServe("submission", func(l net.Listener) error {
		return s.mta.ServeSubmission(limited(l, "submission", mta.RejectBusy))
	})
	s.goServe("submissions", func(l net.Listener) error {
		return s.mta.ServeSubmissionTLS(limited(l, "submissions", nil), s.tls) // no clear text on a TLS port
	})
	s.goServe("imap", func(l net.Listener) error {
		return s.imap.Serve(limited(l, "imap", rejectIMAP))
	})
	s.goServe("imaps", func(l net.Listener) error {
		return s.imap.Serve(tls.NewListener(limited(l, "imaps", nil), s.tls))
	})
	s.goServe("pop3", func(l net.Listener) error {
		return s.pop3.Serve(limited(l, "pop3", rejectPOP3))
	})
	s.goServe("pop3s", func(l net.Listener) error {
		return s.pop3.Serve(tls.NewListener(limited(l, "pop3s", nil), s.tls))
	})
	wm := webmail.New(webmail.Options{
		Store: s.store, Sender: s.mta, Outbox: s.queue, AuthLimiter: authLimiter,
		Hostname: cfg.Hostname, HTTPSPort: listenPort(cfg.Listen.HTTPS, 443), MaxMessageBytes: cfg.SMTP.MaxMessageSize,
		Logger: s.log.With("svc", "webmail"), OnAuthFailure: func() { m.AuthFailure("web") },
	})
	// Made before its goroutine starts, so that shutdown reads it safely.
	// A body may carry an upload of a whole message, base64-encoded.
	httpLimits := web.Limits{MaxBodyBytes: int64(cfg.SMTP.MaxMessageSize)*4/3 + 1<<20}
	s.http = web.NewServer(web.New(web.Options{
		Hostname:      cfg.Hostname,
		Domains:       func() []string { return cfg.Domains },
		Gatherer:      m.Registry(),
		Ready:         s.readyErr,
		AdminToken:    cfg.HTTP.AdminToken,
		MTASTS:        mtaSTS(cfg),
		Services:      services(cfg),
		Unsubscribe:   unsub,
		WebMail:       wm,
		Logger:        s.log.With("svc", "http"),
		MetricsPublic: cfg.HTTP.MetricsPublic,
	}), httpLimits, s.log.With("svc", "http"))
	s.http.RegisterOnShutdown(wm.Shutdown) // live connections would hold Shutdown
	if s.acme != nil {
		// HTTP-01 challenges, then the web endpoints as before.
		s.http.Handler = s.acme.HTTPHandler(s.http.Handler)
	}
	s.goServe("http", func(l net.Listener) error {
		err := s.http.Serve(httpLimits.Listener(l, true))
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	})
	s.goServe("https", func(l net.Listener) error {
		err := s.http.Serve(tls.NewListener(httpLimits.Listener(l, false), s.tls))
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	})
	if s.acme != nil {
		// Now that the listeners answer the CA's challenges.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.acme.Run(ctx)
		}()
	}
	// The queue's scheduler, and its size for /metrics.
	m.ObserveQueue(s.queue.Stats)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.queue.Run(ctx)
	}()
	// The control socket, for the CLI while we run.
	sock := controlPath(cfg.DataDir)
	cl, err := listenControl(sock)
	if err != nil {
		return err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		control.Serve(ctx, cl, func(ctx context.Context, args []string, password string, out io.Writer) error {
			return runOp(ctx, env, args, password, out)
		}, s.log.With("svc", "control"))
		os.Remove(sock)
	}()
	s.readyMu.Lock()
	s.ready = true
	s.readyMu.Unlock()
	return nil
}

func (s *server) readyErr() error {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	if !s.ready {
		return errors.New("starting or stopping")
	}
	var errs []error
	for name, l := range s.steady {
		if err := l.Err(); err != nil {
			errs = append(errs, fmt.Errorf("listener %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// goServe runs serve on the named listener, if it is configured.
func (s *server) goServe(name string, serve func(net.Listener) error) {
	raw, ok := s.lns[name]
	if !ok {
		return
	}
	// Every listener retries failures that pass (EMFILE) and reports
	// whether it accepts to /readyz.
	l := netlimit.Steady(raw, s.log.With("listener", name))
	s.readyMu.Lock()
	if s.steady == nil {
		s.steady = map[string]*netlimit.SteadyListener{}
	}
	s.steady[name] = l
	s.readyMu.Unlock()
	s.log.Info("listening", "listener", name, "addr", l.Addr().String())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := serve(l); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Error("listener stopped", "listener", name, "err", err)
		}
	}()
}

// shutdown stops accepting, lets transactions in flight finish (bounded
// by ctx), then returns; the store is closed by serve.
func (s *server) shutdown(ctx context.Context) {
	s.closeListeners()
	var wg sync.WaitGroup
	stop := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	s.readyMu.Lock()
	s.ready = false
	s.readyMu.Unlock()
	if s.mta != nil {
		stop(func() { s.mta.Shutdown(ctx) })
	}
	if s.imap != nil {
		stop(func() { s.imap.Close() })
	}
	if s.pop3 != nil {
		stop(func() { s.pop3.Shutdown(ctx) })
	}
	if s.http != nil {
		stop(func() { s.http.Shutdown(ctx) })
	}
	wg.Wait()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.log.Warn("shutdown grace period over; closing what is left")
	}
}

// devAccount makes, on the first start with --dev, a test account with a
// random password, and prints both.
func devAccount(ctx context.Context, st *store.Store, cfg *config.Config, out io.Writer) error {
	accts, err := st.Accounts()
	if err != nil {
		return err
	}
	addr := "test@" + cfg.Domains[0]
	if len(accts) > 0 {
		// The password was printed once, on the first start.
		for _, a := range accts {
			if a.Address == addr {
				fmt.Fprintf(out, "petrel --dev: the test account %s was made on the first start; to give it a new password: petrel user passwd %s\n", addr, addr)
			}
		}
		return nil
	}
	b := make([]byte, 12)
	rand.Read(b)
	pw := base64.RawURLEncoding.EncodeToString(b)
	if _, err := st.CreateAccount(ctx, addr, pw); err != nil {
		return fmt.Errorf("dev account: %w", err)
	}
	fmt.Fprintf(out, "petrel --dev: created test account %s with password %s\n", addr, pw)
	fmt.Fprintf(out, "  SMTP localhost:2525, submission 5870, IMAP 1430, POP3 1100 (STARTTLS), IMAPS 9930, POP3S 9950, submissions 4650\n")
	return nil
}

// accountMaxFailDelay maps the config's "0s" (off) to authlimit's negative.
func accountMaxFailDelay(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// listenPort is the port of a listen address (":8443" is 8443), or def.
func listenPort(addr string, def int) int {
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
