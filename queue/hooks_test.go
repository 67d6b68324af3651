package queue_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"petrel/queue"
)

// attempts records what Options.OnAttempt is told.
type attempts struct {
	mu  sync.Mutex
	got []string
}

func (a *attempts) add(result string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, result)
}

func (a *attempts) all() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.got)
}

// OnAttempt hears once per attempt per destination, with the attempt's
// result: a 451 then a 250 is temporary then delivered; a refused
// recipient is permanent, and the bounce it causes (to a local sender, so
// delivered through Local) is an attempt of its own.
func TestOnAttempt(t *testing.T) {
	tests := []struct {
		name  string
		rcpts []string
		rcpt  func(to string) error
		data  func(n int) error
		want  []string
	}{
		{name: "temporary then delivered", rcpts: []string{"bob@remote.test"},
			data: func(n int) error {
				if n == 1 {
					return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "try again later")
				}
				return nil
			},
			want: []string{queue.AttemptTemporary, queue.AttemptDelivered}},
		{name: "refused recipient", rcpts: []string{"bob@remote.test"},
			rcpt: func(string) error { return smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "no such user") },
			want: []string{queue.AttemptPermanent, queue.AttemptDelivered}},
		{name: "one of two refused", rcpts: []string{"bob@remote.test", "carol@remote.test"},
			rcpt: func(to string) error {
				if to == "carol@remote.test" {
					return smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "no such user")
				}
				return nil
			},
			want: []string{queue.AttemptPermanent, queue.AttemptDelivered}},
		{name: "two domains", rcpts: []string{"bob@remote.test", "carol@other.test"},
			want: []string{queue.AttemptDelivered, queue.AttemptDelivered}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			port, lns := listenAll(t, "127.0.0.2", "127.0.0.3")
			serve(t, &peer{rcpt: tc.rcpt, data: tc.data}, lns[0])
			serve(t, &peer{}, lns[1])
			var a attempts
			e := newEnv(t, port, remoteZone(t), func(o *queue.Options) {
				o.Retry = []time.Duration{50 * time.Millisecond}
				o.OnAttempt = a.add
			})
			id := e.enqueue("alice@local.test", tc.rcpts...)
			e.gone(id)
			if got := a.all(); !slices.Equal(got, tc.want) {
				t.Errorf("OnAttempt heard %q, want %q", got, tc.want)
			}
		})
	}
}
