package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"petrel/admin"
	"petrel/authlimit"
	"petrel/config"
	"petrel/control"
	"petrel/dnsmx"
	"petrel/imap"
	"petrel/internal/gctune"
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

// server is everything `petrel serve` runs.
type server struct {
	cfg     *config.Config
	log     *slog.Logger
	store   mailStore
	bolt    *store.Store // the same store on bbolt; nil on PostgreSQL
	tls     *tls.Config
	acme    *tlsconf.ACME // with tls.acme
	lns     map[string]net.Listener
	mta     *mta.MTA
	imap    *imap.Server
	pop3    *pop3.Server
	queue   *queue.Queue
	signer  *msgauth.KeyRing
	metrics *web.Metrics
	http    *http.Server
	ready   bool
	readyMu sync.Mutex
	steady  map[string]*netlimit.SteadyListener // by listener name, under readyMu

	wg sync.WaitGroup
}

func serve(ctx context.Context, g admin.Flags, stdout, stderr io.Writer) error {
	cfg, err := config.Load(g.Config, os.Environ(), g.Dev)
	if err != nil {
		return err
	}
	if !cfg.HasListener() {
		return errors.New("config: no listener has an address: set at least one under [listen] (smtp = \":25\", …); `petrel config default` shows them all")
	}
	log := cfg.Log.New(stderr)
	log.Info("garbage collector", "paced", gctune.Server(ctx, os.Getenv)) // else GOGC from the environment
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
		ln, err := netlimit.Listen(l.Addr)
		if err != nil {
			return l.BindError(err)
		}
		s.lns[l.Name] = ln
	}
	s.metrics = web.NewMetrics()
	junkApplied, err := junk.AppliedCounter(s.metrics.Registry())
	if err != nil {
		return err
	}
	if s.store, s.bolt, err = openMailStore(ctx, cfg, log, s.metrics, junkApplied); err != nil {
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
		if g.Dev && cfg.TLS.Cert == "" {
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
	if g.Dev {
		if err := admin.DevAccount(ctx, s.store, cfg, stdout); err != nil {
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

func (s *server) closeListeners() {
	for _, l := range s.lns {
		l.Close()
	}
}

// start wires the subsystems and starts serving, in four steps: the
// mail flow (the MTA and the queue, which need each other, with what they
// use), the mail listeners, the web, then what runs in the background
// (ACME, the queue's scheduler, the control socket). New wiring goes in
// the step it belongs to.
func (s *server) start(ctx context.Context) error {
	mxres, netres, err := admin.NewDNS(s.cfg)
	if err != nil {
		return err
	}
	// One limiter for SMTP, IMAP, POP3 and the web mail: failures on one
	// protocol slow down guessing on the others from the same address.
	a := s.cfg.Auth
	authLimiter := authlimit.New(authlimit.Options{FailDelay: a.FailDelay.Duration, MaxFailDelay: a.MaxFailDelay.Duration, LockoutFailures: a.LockoutFailures, LockoutTime: a.LockoutTime.Duration, AccountMaxFailDelay: accountMaxFailDelay(a.AccountMaxFailDelay.Duration)})
	unsub, err := newUnsubscribe(s.cfg, s.store)
	if err != nil {
		return err
	}
	if err := s.startMail(mxres, netres, authLimiter, unsub.Link); err != nil {
		return err
	}
	s.serveMail(authLimiter)
	s.serveWeb(authLimiter, unsub)
	return s.runBackground(ctx, netres)
}

// startMail makes the MTA and the queue, with the keys, filters and checks
// they use.
func (s *server) startMail(mxres *dnsmx.Resolver, netres *net.Resolver, authLimiter *authlimit.Limiter, unsubscribeLink func(list, member string) string) error {
	cfg := s.cfg
	// An RSA and an Ed25519 DKIM key for every local domain, made on the
	// first start and when a domain is added.
	made, err := msgauth.EnsureKeys(admin.DKIMDir(cfg), cfg.Domains, time.Now())
	if err != nil {
		return fmt.Errorf("dkim keys: %w", err)
	}
	for _, rec := range made {
		s.log.Info("made a DKIM key; publish its record (petrel dns DOMAIN prints them all)", "record", rec)
	}
	if s.signer, err = msgauth.OpenKeyRing(admin.DKIMDir(cfg)); err != nil {
		return err
	}
	rewriter, err := newSRS(cfg)
	if err != nil {
		return err
	}
	m := s.metrics
	fm := m.FilterMetrics()
	filters, reputation, err := newFilters(cfg, mxres, s.log, fm)
	if err != nil {
		return err
	}
	verifier := msgauth.NewVerifier(msgauth.Options{Hostname: cfg.Hostname, Resolver: netres, Logger: s.log.With("svc", "msgauth")})
	junkFilter, err := newJunkFilter(cfg, s.store, s.log.With("svc", "junk"), m.Registry())
	if err != nil {
		return err
	}
	mopts := mta.Options{
		Hostname:        cfg.Hostname,
		IsLocalDomain:   cfg.IsLocalDomain,
		Postmaster:      cfg.Postmaster,
		SpoolDir:        cfg.DataDir, // message data past 1 MiB: on disk, not in a tmpfs /tmp
		Store:           s.store,
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
		UnsubscribeURL:  unsubscribeLink,
		ListBounceDays:  cfg.Lists.BounceDays,
		OnTransaction:   m.SMTPTransaction,
		OnDelivered:     m.Delivered,
		OnAuthFailure:   func() { m.AuthFailure("smtp") },
		OnReputation:    fm.ReputationVerdict,
		OnOverQuota:     m.OverQuota,
		Junk:            junkFilter,
	}
	// The queue and the MTA need each other: the queue delivers DSNs and
	// queued local mail through the MTA's routing (accounts, aliases,
	// lists, SRS), and the MTA queues remote mail, forwards and bounces.
	// queue.Open makes the MTA on the queue it opens, before either runs.
	if s.queue, err = admin.OpenQueue(cfg, mxres, s.log, admin.SharedQueue(s.store, cfg), func(o *queue.Options) {
		o.OnAttempt = m.DeliveryAttempt
		o.NewLocal = func(q *queue.Queue) (queue.LocalDeliverer, error) {
			mopts.Queue, mopts.Bouncer = q, bouncer{q}
			s.mta = mta.New(mopts)
			return s.mta, nil
		}
	}); err != nil {
		return err
	}
	return nil
}

// serveMail serves SMTP, submission, IMAP and POP3 on their listeners.
func (s *server) serveMail(authLimiter *authlimit.Limiter) {
	cfg, m := s.cfg, s.metrics
	s.imap = imap.New(imap.Options{
		Store:       s.store,
		Logger:      s.log.With("svc", "imap"),
		TLSConfig:   s.tls,
		AutoLogout:  cfg.IMAP.AutoLogout.Duration,
		AppendLimit: uint32(min(cfg.SMTP.MaxMessageSize, 1<<32-1)),

		AuthLimiter:   authLimiter,
		OnAuthFailure: func() { m.AuthFailure("imap") },
		OnOverQuota:   m.OverQuota,
	})
	// On PostgreSQL the maildrop lock holds across nodes.
	pop3Locker, _ := s.store.(pop3.Locker)
	s.pop3 = pop3.New(pop3.Options{
		Store:       s.store,
		Locker:      pop3Locker,
		Logger:      s.log.With("svc", "pop3"),
		TLSConfig:   s.tls,
		Hostname:    cfg.Hostname,
		IdleTimeout: cfg.POP3.IdleTimeout.Duration,

		AuthLimiter:   authLimiter,
		OnAuthFailure: func() { m.AuthFailure("pop3") },
	})
	limits := netlimit.Limits{Total: cfg.SMTP.MaxConnections, PerIP: cfg.SMTP.MaxConnectionsPerIP, RatePerIP: cfg.SMTP.MaxConnectionRatePerIP, RateExempt: cfg.SMTP.RateExempt()}
	limited := func(l net.Listener, proto string, reject func(net.Conn, error)) net.Listener {
		return m.CountConns(netlimit.Wrap(l, limits, reject), proto)
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
		return s.imap.Serve(limited(l, "imap", imap.RejectBusy))
	})
	s.goServe("imaps", func(l net.Listener) error {
		return s.imap.Serve(tls.NewListener(limited(l, "imaps", nil), s.tls))
	})
	s.goServe("pop3", func(l net.Listener) error {
		return s.pop3.Serve(limited(l, "pop3", pop3.RejectBusy))
	})
	s.goServe("pop3s", func(l net.Listener) error {
		return s.pop3.Serve(tls.NewListener(limited(l, "pop3s", nil), s.tls))
	})
}

// serveWeb serves HTTP and HTTPS: the web endpoints and the web mail.
func (s *server) serveWeb(authLimiter *authlimit.Limiter, unsub *web.Unsubscribe) {
	cfg, m := s.cfg, s.metrics
	// On PostgreSQL the web mail's sessions are shared by the nodes.
	webSessions, _ := s.store.(webmail.SessionStore)
	wm := webmail.New(webmail.Options{
		Store: s.store, Sender: s.mta, Outbox: s.queue, AuthLimiter: authLimiter, Sessions: webSessions,
		Hostname: cfg.Hostname, HTTPSPort: config.ListenPort(cfg.Listen.HTTPS, 443), MaxMessageBytes: cfg.SMTP.MaxMessageSize, PlusSeparator: cfg.SMTP.PlusSeparator,
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
}

// runBackground starts what runs beside the listeners: ACME, the queue's
// scheduler and the control socket; then the server is ready.
func (s *server) runBackground(ctx context.Context, netres *net.Resolver) error {
	cfg, m := s.cfg, s.metrics
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
	env := &admin.Env{Config: cfg, Store: s.store, Bolt: s.bolt, Log: s.log, Queue: s.queue, DKIM: s.signer, Resolver: netres}
	sock := controlPath(cfg.DataDir)
	cl, err := control.Listen(sock)
	if err != nil {
		return err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		control.Serve(ctx, cl, func(ctx context.Context, args []string, password string, out io.Writer) error {
			return admin.Run(ctx, env, args, password, out)
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
	if s.bolt != nil {
		if err := s.bolt.Err(); err != nil {
			errs = append(errs, err)
		}
	}
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

// accountMaxFailDelay maps the config's "0s" (off) to authlimit's negative.
func accountMaxFailDelay(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}
