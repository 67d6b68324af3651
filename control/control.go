// Package control is the protocol of the control socket, through which the
// CLI acts on a running server (which holds the store's file lock: bbolt
// allows one process per file). The socket is a Unix socket in data_dir,
// owner-only. One request per connection:
//
//	client: {"args":["user","add","bob@example.com"],"password":"…"}\n
//	server: "o <line of output>\n" or "p <done> <total>\n" (progress)…
//	        then "ok\n" or "err <message>\n"
//
// A command whose client hangs up (the user interrupted it) is cancelled.
// What the commands do is the caller's (a Runner); this package only
// carries requests, output, progress and the outcome.
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// SocketName is the control socket's name in data_dir.
const SocketName = "control.sock"

// Path is the control socket of the server using dataDir.
func Path(dataDir string) string { return filepath.Join(dataDir, SocketName) }

// Request is one command for the server.
type Request struct {
	Args     []string `json:"args"`
	Password string   `json:"password,omitempty"`
}

// ProgressSink is implemented by a command's output where progress can be
// shown: on the server the control connection, which forwards it to the
// CLI; in the CLI whatever draws it.
type ProgressSink interface {
	Progress(done, total int)
}

// A Runner runs one command on the server, writing its output to out
// (which is also a ProgressSink).
type Runner func(ctx context.Context, args []string, password string, out io.Writer) error

// ErrNoServer is Call's error when no server listens on the socket.
var ErrNoServer = errors.New("no running server")

// maxRequest bounds a request line; a request not sent within
// requestTimeout is dropped.
const (
	maxRequest     = 1 << 20
	requestTimeout = 30 * time.Second
)

// Serve accepts control connections on l and runs their commands with run
// until ctx ends; it returns once every command has returned.
func Serve(ctx context.Context, l net.Listener, run Runner, log *slog.Logger) {
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			handle(ctx, c, run, log)
		}()
	}
}

func handle(ctx context.Context, c net.Conn, run Runner, log *slog.Logger) {
	c.SetReadDeadline(time.Now().Add(requestTimeout))
	line, err := bufio.NewReader(io.LimitReader(c, maxRequest)).ReadBytes('\n')
	if err != nil {
		return
	}
	c.SetReadDeadline(time.Time{})
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		fmt.Fprintf(c, "err bad request: %v\n", err)
		return
	}
	log.Info("control command", "args", strings.Join(req.Args, " "))
	// The client sends nothing more: a read returns when it hangs up.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		var b [1]byte
		c.Read(b[:])
		cancel()
	}()
	w := &prefixWriter{w: c, prefix: "o "}
	err = run(ctx, req.Args, req.Password, w)
	w.Flush()
	if err != nil {
		fmt.Fprintf(c, "err %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		return
	}
	io.WriteString(c, "ok\n")
}

// Call sends req to the server using dataDir and copies its output to out
// (and its progress, when out is a ProgressSink). It returns ErrNoServer
// when no server listens on the socket, and the command's error as the
// server words it.
func Call(ctx context.Context, dataDir string, req Request, out io.Writer) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", Path(dataDir))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return ErrNoServer
		}
		return fmt.Errorf("control socket %s: %w", Path(dataDir), err)
	}
	defer c.Close()
	go func() {
		<-ctx.Done()
		c.Close()
	}()
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil && ctx.Err() != nil {
			return fmt.Errorf("interrupted: %w", ctx.Err())
		}
		if err != nil {
			return fmt.Errorf("control socket: the server closed the connection (%v)", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "o "):
			fmt.Fprintln(out, line[2:])
		case strings.HasPrefix(line, "p "):
			var done, total int
			if _, err := fmt.Sscanf(line, "p %d %d", &done, &total); err == nil {
				if ps, ok := out.(ProgressSink); ok {
					ps.Progress(done, total)
				}
			}
		case line == "ok":
			return nil
		case strings.HasPrefix(line, "err "):
			return errors.New(line[4:])
		}
	}
}

// prefixWriter writes each line of output with a prefix.
type prefixWriter struct {
	w      io.Writer
	prefix string
	buf    []byte
	mu     sync.Mutex
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			break
		}
		if _, err := fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i]); err != nil {
			return 0, err
		}
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

// Progress sends a progress report ("p <done> <total>") to the client.
func (p *prefixWriter) Progress(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "p %d %d\n", done, total)
}

// Flush writes a last line that has no line end.
func (p *prefixWriter) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf)
		p.buf = nil
	}
}
