package queue

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
)

type funcDeliverer func(ctx context.Context, from, rcpt string, msg []byte) error

func (f funcDeliverer) DeliverLocal(ctx context.Context, from, rcpt string, msg []byte) error {
	return f(ctx, from, rcpt, msg)
}

// NewLocal is given the queue being opened, and what it makes is the
// queue's local delivery from the start; its error fails Open.
func TestNewLocalClosesTheCycle(t *testing.T) {
	var got *Queue
	var delivered []string
	opts := Options{Path: filepath.Join(t.TempDir(), "q.db"), Hostname: "mx.local.test", RelayHost: "127.0.0.1:1",
		Logger: slog.New(slog.DiscardHandler), IsLocal: func(d string) bool { return d == "local.test" }}
	opts.NewLocal = func(q *Queue) (LocalDeliverer, error) {
		got = q
		return funcDeliverer(func(ctx context.Context, from, rcpt string, msg []byte) error {
			delivered = append(delivered, rcpt)
			return nil
		}), nil
	}
	q, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if got != q {
		t.Fatalf("NewLocal was given %p, Open returned %p", got, q)
	}
	res := q.deliverLocal(context.Background(), "a@remote.test", []string{"bob@local.test"}, []byte("Subject: x\r\n\r\nx\r\n"))
	if len(delivered) != 1 || res["bob@local.test"].state != Delivered {
		t.Fatalf("delivered %v, outcome %+v", delivered, res)
	}

	opts.Path = filepath.Join(t.TempDir(), "q2.db")
	opts.NewLocal = func(*Queue) (LocalDeliverer, error) { return nil, errors.New("no MTA") }
	if _, err := Open(opts); err == nil {
		t.Fatal("Open took a failing NewLocal")
	}
}
