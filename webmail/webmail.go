package webmail

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"petrel/authlimit"
	"petrel/mta"
	"petrel/queue"
	"petrel/store"
)

// Store is what the web mail needs of the mail store (*store.Store is one).
type Store interface {
	Authenticate(address, password string) (*store.Account, error)
	AccountByID(id uint64) (*store.Account, error)
	SetPassword(ctx context.Context, address, password string) error
	AliasesOf(address string) ([]string, error)

	Mailboxes(acct uint64) ([]store.Mailbox, error)
	MailboxByID(id store.MailboxID) (*store.Mailbox, error)
	MailboxByName(acct uint64, name string) (*store.Mailbox, error)
	CreateMailbox(ctx context.Context, acct uint64, name, specialUse string) (*store.Mailbox, error)
	RenameMailbox(ctx context.Context, acct uint64, oldName, newName string) error
	DeleteMailbox(ctx context.Context, acct uint64, name string) error

	Page(mbx store.MailboxID, anchor store.UID, n int, older bool) ([]store.Message, error)
	Messages(mbx store.MailboxID, uids []store.UID) ([]store.Message, error)
	ReadContents(mbx store.MailboxID, uids []store.UID, fn func(uid store.UID, c *store.Content, structure *store.Part) error) error
	ReadContent(mbx store.MailboxID, uid store.UID, fn func(c *store.Content, structure *store.Part) error) error
	ReadHeaders(mbx store.MailboxID, uids []store.UID, fn func(uid store.UID, c *store.Content, bodyStart int64) error) error

	StoreFlags(ctx context.Context, mbx store.MailboxID, uids []store.UID, op store.FlagOp, flags []string) ([]store.Message, error)
	Move(ctx context.Context, src store.MailboxID, uids []store.UID, dst store.MailboxID) (*store.CopyResult, error)
	Expunge(ctx context.Context, mbx store.MailboxID, uids []store.UID) ([]store.UID, error)
	Append(ctx context.Context, mbx store.MailboxID, body []byte, flags []string, date time.Time) (store.Delivered, error)

	Watch(id store.MailboxID, fn func(store.Event)) (*store.Snapshot, func(), error)
}

// Sender sends a message down the submission path (*mta.MTA is one): a
// refusal is an *mta.SubmitError.
type Sender interface {
	Submit(ctx context.Context, sub mta.Submission) (string, error)
}

// Outbox is the queue of outgoing mail as its senders see it
// (*queue.Queue is one).
type Outbox interface {
	List() ([]queue.Item, error)
	Show(id string) (*queue.Item, []byte, error)
	Retry(id string) error
	Delete(id string) error
}

// Options configure the web mail. Store and Sender are required.
type Options struct {
	Store  Store
	Sender Sender
	Outbox Outbox // nil: no outbox page
	// Sessions, if set, keeps the logged-in sessions where every node
	// serving the web mail finds them (PostgreSQL); nil: in this
	// process's memory, and a restart logs everyone out.
	Sessions SessionStore
	// AuthLimiter is the limiter the mail protocols share, so that
	// guessing passwords on the web counts as on IMAP. nil: a default one.
	AuthLimiter *authlimit.Limiter
	// Hostname names the server in page titles and Message-IDs.
	Hostname string
	// HTTPSPort is the port of the HTTPS listener that plain HTTP from
	// other hosts is sent to (0 = 443).
	HTTPSPort int
	// PlusSeparator is smtp.plus_separator: the outbox shows mail sent as
	// ann+tag@ to ann ("" = no plus-addressing).
	PlusSeparator string
	// MaxMessageBytes bounds a sent message with its attachments (0 = 50 MiB).
	MaxMessageBytes int64
	// IdleTimeout ends a session unused for that long (0 = 2 h);
	// MaxSessionAge ends any session that old (0 = 7 days).
	IdleTimeout   time.Duration
	MaxSessionAge time.Duration
	Logger        *slog.Logger
	// OnAuthFailure is told of each failed login (metrics).
	OnAuthFailure func()
	// Now is the clock (tests); nil = time.Now.
	Now func() time.Time
	// SearchTime bounds the work of one search request, which then offers
	// to go on (0 = 5 s).
	SearchTime time.Duration
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Server is the web mail's handler. It is safe for concurrent use.
type Server struct {
	opts     Options
	log      *slog.Logger
	st       Store
	sessions *sessions
	threads  *threadCache
	tmpl     *template.Template
	mux      *http.ServeMux

	stop     chan struct{} // closed by Shutdown: live connections end
	stopOnce sync.Once
}

// Shutdown ends the live (SSE) connections, which would otherwise keep an
// http.Server's Shutdown waiting; register it with RegisterOnShutdown.
func (s *Server) Shutdown() {
	s.stopOnce.Do(func() { close(s.stop) })
}

// New returns the web mail handler, to be served at "/".
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.AuthLimiter == nil {
		opts.AuthLimiter = authlimit.New(authlimit.Options{})
	}
	if opts.HTTPSPort == 0 {
		opts.HTTPSPort = 443
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = 50 << 20
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 2 * time.Hour
	}
	if opts.MaxSessionAge <= 0 {
		opts.MaxSessionAge = 7 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SearchTime <= 0 {
		opts.SearchTime = searchMaxTime
	}
	s := &Server{opts: opts, log: opts.Logger, st: opts.Store, stop: make(chan struct{})}
	s.threads = newThreadCache(threadCacheItems)
	s.sessions = newSessions(opts.IdleTimeout, opts.MaxSessionAge, opts.Now, opts.Sessions, opts.Logger)
	s.tmpl = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html"))
	static, _ := fs.Sub(staticFS, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(static)))
	mux.HandleFunc("GET /{$}", s.root)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.auth(s.logout))
	mux.HandleFunc("GET /m/{mbx}", s.auth(s.listPage))
	mux.HandleFunc("GET /m/{mbx}/{uid}", s.auth(s.messagePage))
	mux.HandleFunc("GET /m/{mbx}/{uid}/html", s.auth(s.htmlFrame))
	mux.HandleFunc("GET /m/{mbx}/{uid}/raw", s.auth(s.rawSource))
	mux.HandleFunc("GET /m/{mbx}/{uid}/part/{part}", s.auth(s.attachment))
	mux.HandleFunc("POST /act", s.auth(s.act))
	mux.HandleFunc("GET /folders", s.auth(s.foldersPage))
	mux.HandleFunc("POST /folders", s.auth(s.folderAction))
	mux.HandleFunc("GET /compose", s.auth(s.composePage))
	mux.HandleFunc("POST /send", s.auth(s.send))
	mux.HandleFunc("GET /search", s.auth(s.searchPage))
	mux.HandleFunc("GET /events", s.auth(s.events))
	mux.HandleFunc("GET /outbox", s.auth(s.outboxPage))
	mux.HandleFunc("POST /outbox", s.auth(s.outboxAction))
	mux.HandleFunc("GET /settings", s.auth(s.settingsPage))
	mux.HandleFunc("POST /settings/password", s.auth(s.changePassword))
	s.mux = mux
	return s
}

// ServeHTTP serves the web mail: over plain HTTP from another host, a
// redirect to HTTPS; otherwise the page, under the security headers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil && !isLoopback(r) {
		s.redirectHTTPS(w, r)
		return
	}
	setSecurityHeaders(w, r)
	s.mux.ServeHTTP(w, r)
}

// root sends a logged-in user to the INBOX, anyone else to the login page.
func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.get(r)
	if sess == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	inbox, err := s.st.MailboxByName(sess.acct, "INBOX")
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	http.Redirect(w, r, mailboxURL(inbox.ID), http.StatusSeeOther)
}
