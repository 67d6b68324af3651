package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

type progressBuf struct {
	bytes.Buffer
	progress []string
}

func (p *progressBuf) Progress(done, total int) {
	p.progress = append(p.progress, fmt.Sprintf("%d/%d", done, total))
}

// serve runs Serve with run on a socket in a new data directory.
func serve(t *testing.T, run Runner) string {
	t.Helper()
	dir := t.TempDir()
	l, err := net.Listen("unix", Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Serve(ctx, l, run, slog.New(slog.DiscardHandler))
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return dir
}

func TestCall(t *testing.T) {
	dir := serve(t, func(ctx context.Context, args []string, password string, out io.Writer) error {
		switch args[0] {
		case "echo":
			fmt.Fprintf(out, "args %s\npassword %s\nno line end", strings.Join(args[1:], ","), password)
			return nil
		case "progress":
			out.(ProgressSink).Progress(1, 2)
			out.(ProgressSink).Progress(2, 2)
			fmt.Fprintln(out, "done")
			return nil
		}
		return errors.New("no such command\nsecond line")
	})
	ctx := context.Background()
	var out progressBuf
	if err := Call(ctx, dir, Request{Args: []string{"echo", "a", "b"}, Password: "pw"}, &out); err != nil {
		t.Fatal(err)
	}
	if want := "args a,b\npassword pw\nno line end\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	out = progressBuf{}
	if err := Call(ctx, dir, Request{Args: []string{"progress"}}, &out); err != nil {
		t.Fatal(err)
	}
	if strings.Join(out.progress, " ") != "1/2 2/2" || out.String() != "done\n" {
		t.Errorf("progress %v, output %q", out.progress, out.String())
	}
	err := Call(ctx, dir, Request{Args: []string{"bogus"}}, io.Discard)
	if err == nil || err.Error() != "no such command; second line" {
		t.Errorf("error %v, want the server's words on one line", err)
	}
	if err := Call(ctx, t.TempDir(), Request{Args: []string{"echo"}}, io.Discard); !errors.Is(err, ErrNoServer) {
		t.Errorf("no server: %v, want ErrNoServer", err)
	}
}

// A client that hangs up cancels its command; a bad request is answered.
func TestCancelAndBadRequest(t *testing.T) {
	started := make(chan struct{})
	var mu sync.Mutex
	var cancelled bool
	finished := make(chan struct{})
	dir := serve(t, func(ctx context.Context, args []string, _ string, out io.Writer) error {
		close(started)
		<-ctx.Done()
		mu.Lock()
		cancelled = true
		mu.Unlock()
		close(finished)
		return ctx.Err()
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Call(ctx, dir, Request{Args: []string{"long"}}, io.Discard) }()
	<-started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("interrupted call: %v", err)
	}
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("the command was not cancelled when its client hung up")
	}
	mu.Lock()
	defer mu.Unlock()
	if !cancelled {
		t.Error("not cancelled")
	}

	c, err := net.Dial("unix", Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "{not json\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(b), "err bad request") {
		t.Errorf("bad request answered %q", b)
	}
}
