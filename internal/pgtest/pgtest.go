// Package pgtest runs a throw-away PostgreSQL server for tests: Debian's
// server binaries (package postgresql), initdb in a temporary folder, the
// server on a unix socket in that folder only (no TCP port), as an
// unprivileged user when the tests run as root (PostgreSQL refuses root).
//
// One server serves a whole test binary (started on first use, stopped by
// Main when the tests end, and by the kernel if the test binary dies first:
// the postmaster gets SIGQUIT when its parent goes); every test gets a fresh
// database of its own (DSN), dropped when the test ends.
//
// Where PostgreSQL is not installed a test that asks for it is skipped on a
// developer's machine and fails under CI (internal/testenv.Unavailable);
// .ci/run installs it.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"petrel/internal/testenv"
)

// Server is one running PostgreSQL server.
type Server struct {
	dir  string // data folder's parent: data/, the socket, the log
	bin  string // the PostgreSQL binaries' folder
	cred *syscall.Credential
	args []string      // the postmaster's
	cmd  *exec.Cmd     // the running (or last) postmaster
	done chan struct{} // closed when that postmaster has exited
	user string        // superuser name
	n    atomic.Uint64 // databases made
}

// unprivileged is the system user the server runs as when the tests run as
// root: nobody exists on every Debian machine.
const unprivileged = "nobody"

// binDir finds the newest Debian PostgreSQL server binaries.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var ok []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			ok = append(ok, d)
		}
	}
	if len(ok) == 0 {
		if p, err := exec.LookPath("postgres"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", errors.New("PostgreSQL server binaries not found (apt-get install postgresql)")
	}
	sort.Slice(ok, func(i, j int) bool { return version(ok[i]) < version(ok[j]) })
	return ok[len(ok)-1], nil
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// credential returns who runs the server: nil (this process's user) unless
// we are root, then the unprivileged user.
func credential() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, -1, -1, nil
	}
	u, err := user.Lookup(unprivileged)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("running as root and no %q user to run PostgreSQL as: %w", unprivileged, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
}

// Options say how Start runs a server.
type Options struct {
	// Durable keeps fsync on, as a production server has it: for
	// benchmarks. The shared test server runs without it (its data is
	// thrown away, and a test that kills the server process loses
	// nothing that fsync would keep).
	Durable bool
}

// tempBase is where the server's folder goes: the usual temporary folder,
// unless the server's user could not reach it (a private TMPDIR while we
// are root) or the socket's path would be too long for a unix socket
// (107 bytes): then /tmp.
func tempBase(otherUser bool) string {
	base := os.TempDir()
	fi, err := os.Stat(base)
	if err != nil || len(base) > 60 || (otherUser && fi.Mode().Perm()&0o001 == 0) {
		return "/tmp"
	}
	return base
}

// Start initialises a new cluster in a new temporary folder and starts its
// server, returning once it accepts connections. Stop it with Stop.
func Start(o Options) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, uid, gid, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(tempBase(cred != nil), "petrel-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	s := &Server{dir: dir, user: "petrel"}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", s.user, "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %v: %s", err, out)
	}
	s.bin, s.cred = bin, cred
	s.args = []string{"-D", data,
		"-c", "listen_addresses=", "-c", "unix_socket_directories=" + dir,
		"-c", "max_connections=200", "-c", "shared_buffers=32MB"}
	if !o.Durable {
		s.args = append(s.args, "-c", "fsync=off", "-c", "full_page_writes=off")
	}
	if err := s.start(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// start runs the postmaster and waits until it accepts connections.
func (s *Server) start() error {
	logf, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close()
	s.cmd = exec.Command(filepath.Join(s.bin, "postgres"), s.args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGQUIT}
	done := make(chan struct{})
	s.done = done
	if err := s.cmd.Start(); err != nil {
		close(done)
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	cmd := s.cmd
	go func() { cmd.Wait(); close(done) }()
	return s.waitReady(30 * time.Second)
}

// Crash ends the server as a crash would (SIGQUIT: immediate shutdown, no
// checkpoint; every client's connection drops), keeping its data for
// Restart, which then runs crash recovery.
func (s *Server) Crash() {
	s.cmd.Process.Signal(syscall.SIGQUIT)
	<-s.done
}

// Restart starts the server again on its data after Crash.
func (s *Server) Restart() error { return s.start() }

// waitReady connects until the server answers, it exits, or the time is up.
func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	delay := 10 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, s.dsn("postgres"))
		cancel()
		if err == nil {
			c.Close(context.Background())
			return nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			return fmt.Errorf("pgtest: postgres exited: %s", log)
		case <-time.After(delay):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: postgres not ready after %v: %w", limit, err)
		}
		delay = min(delay*2, 200*time.Millisecond)
	}
}

func (s *Server) dsn(db string) string {
	q := url.Values{"host": {s.dir}, "sslmode": {"disable"}}
	return (&url.URL{Scheme: "postgres", User: url.User(s.user), Path: "/" + db, RawQuery: q.Encode()}).String()
}

// CreateDB makes a new empty database and returns its DSN.
func (s *Server) CreateDB(ctx context.Context) (name, dsn string, err error) {
	name = fmt.Sprintf("t%d_%d", os.Getpid(), s.n.Add(1))
	c, err := pgx.Connect(ctx, s.dsn("postgres"))
	if err != nil {
		return "", "", fmt.Errorf("pgtest: %w", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return name, s.dsn(name), nil
}

// DropDB drops a database made by CreateDB, disconnecting its clients.
func (s *Server) DropDB(ctx context.Context, name string) error {
	c, err := pgx.Connect(ctx, s.dsn("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("pgtest: drop database: %w", err)
	}
	return nil
}

// Stop shuts the server down (fast shutdown, SIGQUIT after 10 s) and
// removes its folder.
func (s *Server) Stop() error {
	if s.cmd != nil && s.cmd.Process != nil && s.done != nil {
		s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Signal(syscall.SIGQUIT)
			<-s.done
		}
	}
	return os.RemoveAll(s.dir)
}

// The server shared by one test binary's tests.
var shared struct {
	once sync.Once
	srv  *Server
	err  error
	mu   sync.Mutex
}

// Main runs a package's tests (call it from TestMain) and stops the shared
// server, if a test started it, when they end.
func Main(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		shared.srv.Stop()
		shared.srv = nil
	}
	return code
}

// Shared returns the test binary's server, starting it on first use. A
// machine without PostgreSQL skips t (fails it under CI).
func Shared(t testing.TB) *Server {
	t.Helper()
	if _, err := binDir(); err != nil {
		testenv.Unavailable(t, "%v", err)
	}
	shared.once.Do(func() { shared.srv, shared.err = Start(Options{}) })
	if shared.err != nil {
		if strings.Contains(shared.err.Error(), "no \""+unprivileged+"\" user") {
			testenv.Unavailable(t, "%v", shared.err)
		}
		t.Fatalf("%v", shared.err)
	}
	return shared.srv
}

// DSN returns the DSN of a new empty database on the shared server,
// dropped when t ends.
func DSN(t testing.TB) string {
	t.Helper()
	return Shared(t).DSN(t)
}

// DSN returns the DSN of a new empty database on s, dropped when t ends.
func (s *Server) DSN(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name, dsn, err := s.CreateDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.DropDB(ctx, name); err != nil {
			t.Errorf("%v", err)
		}
	})
	return dsn
}
