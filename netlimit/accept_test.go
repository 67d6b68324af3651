package netlimit

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"
)

// fakeListener fails its Accepts with errs, in order, then accepts.
type fakeListener struct {
	net.Listener
	errs  []error
	calls int
	seen  func(l *fakeListener) // called before each Accept's outcome
}

func (f *fakeListener) Accept() (net.Conn, error) {
	if f.seen != nil {
		f.seen(f)
	}
	f.calls++
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	a, b := net.Pipe()
	b.Close()
	return a, nil
}

func (f *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (f *fakeListener) Close() error   { return nil }

func acceptErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

// Accept retries the failures that pass and reports them through Err
// until it accepts again; a failure for good is returned, and Err keeps it.
func TestSteadyListener(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name      string
		errs      []error
		wantErr   bool
		wantCalls int
	}{
		{name: "accepts", wantCalls: 1},
		{name: "EMFILE then accepts", errs: []error{acceptErr(syscall.EMFILE), acceptErr(syscall.EMFILE)}, wantCalls: 3},
		{name: "ENFILE then accepts", errs: []error{acceptErr(syscall.ENFILE)}, wantCalls: 2},
		{name: "ECONNABORTED then accepts", errs: []error{acceptErr(syscall.ECONNABORTED)}, wantCalls: 2},
		{name: "closed", errs: []error{net.ErrClosed}, wantErr: true, wantCalls: 1},
		{name: "for good", errs: []error{acceptErr(syscall.EBADF)}, wantErr: true, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeListener{errs: tt.errs}
			l := Steady(f, quiet)
			if Steady(l, quiet) != l {
				t.Error("Steady wrapped a SteadyListener again")
			}
			var errDuring []error
			f.seen = func(f *fakeListener) {
				if f.calls > 0 {
					errDuring = append(errDuring, l.Err())
				}
			}
			c, err := l.Accept()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Accept: %v, want error %v", err, tt.wantErr)
			}
			if c != nil {
				c.Close()
			}
			if f.calls != tt.wantCalls {
				t.Errorf("%d accept calls, want %d", f.calls, tt.wantCalls)
			}
			for i, e := range errDuring {
				if e == nil {
					t.Errorf("Err after failure %d: nil, want the failure", i+1)
				}
			}
			switch gotErr := l.Err(); {
			case tt.wantErr && !errors.Is(err, net.ErrClosed) && gotErr == nil:
				t.Error("Err after a failure for good: nil")
			case !tt.wantErr && gotErr != nil:
				t.Errorf("Err after accepting again: %v", gotErr)
			}
		})
	}
}
