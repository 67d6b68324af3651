package web

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"petrel/netlimit"
)

// Limits bound what HTTP clients may hold: time for each phase of a
// request, the size of its header and body, and connections in all and
// from one address. Zero values take the defaults in brackets.
type Limits struct {
	ReadHeaderTimeout time.Duration // to read a request's header [10s]
	ReadTimeout       time.Duration // to read a whole request, body included [2m]
	WriteTimeout      time.Duration // to write a response [5m]
	IdleTimeout       time.Duration // a kept-alive connection waiting for its next request [60s]
	MaxHeaderBytes    int           // [64 KiB]
	MaxBodyBytes      int64         // a request's body, web mail uploads included [1 MiB]
	MaxConns          int           // connections open at once [1000]
	MaxConnsPerIP     int           // from one client address [64]
}

func (l Limits) withDefaults() Limits {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.ReadHeaderTimeout, 10*time.Second)
	def(&l.ReadTimeout, 2*time.Minute)
	def(&l.WriteTimeout, 5*time.Minute)
	def(&l.IdleTimeout, time.Minute)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 64 << 10
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 1 << 20
	}
	if l.MaxConns <= 0 {
		l.MaxConns = 1000
	}
	if l.MaxConnsPerIP <= 0 {
		l.MaxConnsPerIP = 64
	}
	return l
}

// NewServer returns an http.Server for h within lim: every phase of a
// request has a timeout (an idle or trickling client is closed), and no
// request body is read past MaxBodyBytes (413). Serve it on Listener's
// wrapping, which caps the connections.
func NewServer(h http.Handler, lim Limits, log *slog.Logger) *http.Server {
	lim = lim.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	return &http.Server{
		Handler:           limitBody(h, lim.MaxBodyBytes),
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Listener caps the connections of l at MaxConns in all and MaxConnsPerIP
// from one address; one over is answered 503 and closed (on a plain
// listener: under TLS the answer could not be read, so a TLS listener's
// are only closed).
func (lim Limits) Listener(l net.Listener, plain bool) net.Listener {
	lim = lim.withDefaults()
	var reject func(net.Conn, error)
	if plain {
		reject = rejectHTTP
	}
	return netlimit.Wrap(l, netlimit.Limits{Total: lim.MaxConns, PerIP: lim.MaxConnsPerIP}, reject)
}

// rejectHTTP is HTTP's "too busy" reply.
func rejectHTTP(c net.Conn, why error) {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	body := why.Error() + ", try again later\n"
	fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 10\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// limitBody caps every request's body at max bytes: a handler reading
// further gets an error, and the client 413.
func limitBody(h http.Handler, max int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		h.ServeHTTP(w, r)
	})
}
