package main

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
	"time"
)

// The control socket lets the CLI act through a running server, which
// holds the store's file lock (bbolt allows one process per file). It is a
// Unix socket in data_dir, owner-only. One request per connection:
//
//	client: {"args":["user","add","bob@example.com"],"password":"…"}\n
//	server: "o <line of output>\n" or "p <done> <total>\n" (progress)…
//	        then "ok\n" or "err <message>\n"
//
// A command whose client hangs up (the user interrupted it) is cancelled.
const controlSocketName = "control.sock"

type controlRequest struct {
	Args     []string `json:"args"`
	Password string   `json:"password,omitempty"`
}

func controlPath(dataDir string) string { return filepath.Join(dataDir, controlSocketName) }

// serveControl accepts control connections until ctx ends.
func serveControl(ctx context.Context, l net.Listener, env *adminEnv, log *slog.Logger) {
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
			handleControl(ctx, c, env, log)
		}()
	}
}

func handleControl(ctx context.Context, c net.Conn, env *adminEnv, log *slog.Logger) {
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(c, 1<<20)).ReadBytes('\n')
	if err != nil {
		return
	}
	c.SetReadDeadline(time.Time{})
	var req controlRequest
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
	err = runOp(ctx, env, req.Args, req.Password, w)
	w.Flush()
	if err != nil {
		fmt.Fprintf(c, "err %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		return
	}
	io.WriteString(c, "ok\n")
}

// callControl sends a request to a running server and copies its output to
// out. It returns errNoServer when no server listens on the socket.
func callControl(ctx context.Context, dataDir string, req controlRequest, out io.Writer) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", controlPath(dataDir))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, errConnRefused) || isConnRefused(err) {
			return errNoServer
		}
		return fmt.Errorf("control socket %s: %w", controlPath(dataDir), err)
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
				if ps, ok := out.(progressSink); ok {
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

var errNoServer = errors.New("no running server")

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

func (p *prefixWriter) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf)
		p.buf = nil
	}
}
