package admin_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"petrel/admin"
	"petrel/config"
	"petrel/msgauth"
	"petrel/queue"
	"petrel/store"
)

// newEnv is an Env on a real store and queue in a temp data_dir, as the
// CLI opens it for a stopped server.
func newEnv(t *testing.T) *admin.Env {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Load("", []string{"PETREL_DATA_DIR=" + dir, "PETREL_DOMAINS=example.org", "PETREL_HOSTNAME=mx.example.org"}, false)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(filepath.Join(dir, "mail.db"), store.Options{Logger: log, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	q, err := queue.Open(queue.Options{Path: filepath.Join(dir, "queue.db"), Hostname: cfg.Hostname, RelayHost: "127.0.0.1:1", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	keys, err := msgauth.OpenKeyRing(admin.DKIMDir(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return &admin.Env{Config: cfg, Store: st, Bolt: st, Log: log, Queue: q, DKIM: keys}
}

// Each command, run as the control socket or the stopped CLI runs it,
// against a real store: its output, its error and whether the error is a
// usage error (exit 2). The steps build on each other.
func TestCommands(t *testing.T) {
	env := newEnv(t)
	exportDir := filepath.Join(t.TempDir(), "export")
	backupFile := filepath.Join(t.TempDir(), "b.tar")
	steps := []struct {
		args     []string
		password string
		want     []string // in the output
		wantErr  string   // in the error; "" for none
		usage    bool     // the error is a *UsageError
	}{
		{args: []string{"user", "add", "Alice@Example.org"}, password: "a good long secret", want: []string{"added alice@example.org\n"}},
		{args: []string{"user", "add", "bob@elsewhere.test"}, password: "a good long secret", wantErr: `bob@elsewhere.test is not in a local domain (domains = [example.org]); add "elsewhere.test" to domains in the config first`},
		{args: []string{"user", "add"}, wantErr: "usage: petrel user add ADDRESS [--force]", usage: true},
		{args: []string{"user", "passwd", "alice@example.org"}, password: "another long secret", want: []string{"password changed for alice@example.org\n"}},
		{args: []string{"user", "list"}, want: []string{"ADDRESS", "alice@example.org", "0 B"}},
		{args: []string{"alias", "add", "info@example.org", "alice@example.org"}, want: []string{"info@example.org → alice@example.org\n", "delivers to: alice@example.org\n"}},
		{args: []string{"alias", "add", "info@elsewhere.test", "alice@example.org"}, wantErr: "is not in a local domain"},
		{args: []string{"alias", "list"}, want: []string{"ALIAS", "info@example.org", "alice@example.org"}},
		{args: []string{"list", "create", "team@example.org", "post=anyone"}, want: []string{"list team@example.org: post=anyone"}},
		{args: []string{"list", "create", "team2@example.org", "color=red"}, wantErr: `unknown list setting "color"`, usage: true},
		{args: []string{"list", "add", "team@example.org", "alice@example.org", "carol@remote.test"}, want: []string{"team@example.org: added or enabled 2 of 2"}},
		{args: []string{"list", "members", "team@example.org"}, want: []string{"MEMBER", "alice@example.org", "carol@remote.test"}},
		{args: []string{"list", "del", "team@example.org", "carol@remote.test"}, want: []string{"team@example.org: removed 1 of 1"}},
		{args: []string{"list", "drop", "team@example.org"}, want: []string{"deleted the list team@example.org and its members\n"}},
		{args: []string{"queue", "list"}, want: []string{"the queue is empty\n"}},
		{args: []string{"queue", "show", "nosuch"}, wantErr: "queue show nosuch"},
		{args: []string{"queue"}, wantErr: "queue needs a subcommand: one of bounce, delete, list, retry, show", usage: true},
		{args: []string{"dkim", "keygen", "example.org", "rsa2", ""}, wantErr: `dkim keygen: --algo must be ed25519 or rsa, not "rsa2"`, usage: true},
		{args: []string{"dkim", "keygen", "example.org", "ed25519", "s1"}, want: []string{"made a ed25519 DKIM key for example.org (selector s1)", "s1._domainkey.example.org"}},
		{args: []string{"dns", "example.org"}, want: []string{"; Records to publish for example.org, served by mx.example.org\n", "s1._domainkey.example.org"}},
		{args: []string{"reindex"}, want: []string{"reindexed 0 messages\n"}},
		{args: []string{"junk", "stats", "nobody@example.org"}, wantErr: "junk stats: there is no account nobody@example.org (add it first with `petrel user add nobody@example.org`)"},
		{args: []string{"export", "alice@example.org", exportDir}, want: []string{"exported 0 messages in", "of alice@example.org to the Maildir " + exportDir}},
		{args: []string{"backup", backupFile}, want: []string{"wrote " + backupFile + ": ", "restore with `petrel restore " + backupFile + "`"}},
		{args: []string{"alias", "del", "info@example.org"}, want: []string{"deleted alias info@example.org\n"}},
		{args: []string{"user", "del", "alice@example.org"}, want: []string{"deleted alice@example.org and all its mail\n"}},
		{args: []string{"user", "list"}, want: []string{"ADDRESS"}},
		{args: []string{"frobnicate"}, wantErr: `unknown command "frobnicate"`, usage: true},
	}
	for _, s := range steps {
		var out bytes.Buffer
		err := admin.Run(context.Background(), env, s.args, s.password, &out)
		name := strings.Join(s.args, " ")
		switch {
		case s.wantErr == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
			t.Errorf("%s: error %v, want one with %q", name, err, s.wantErr)
		}
		var ue *admin.UsageError
		if err != nil && errors.As(err, &ue) != s.usage {
			t.Errorf("%s: usage error is %v, want %v (%v)", name, !s.usage, s.usage, err)
		}
		for _, w := range s.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: output %q lacks %q", name, out.String(), w)
			}
		}
	}
}

// The usage line of each command, as help prints it.
func TestCommandUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
		ok   bool
	}{
		{[]string{"queue", "show"}, "usage: petrel queue show ID", true},
		{[]string{"dns"}, "usage: petrel dns DOMAIN", true},
		{[]string{"dns", "check"}, "usage: petrel dns check DOMAIN", true},
		{[]string{"queue"}, "", false},
		{nil, "", false},
	} {
		got, ok := admin.CommandUsage(c.args)
		if got != c.want || ok != c.ok {
			t.Errorf("CommandUsage(%q) = %q, %v; want %q, %v", c.args, got, ok, c.want, c.ok)
		}
	}
}

// The queue commands on a real queue holding a message: list, show,
// retry, bounce (a DSN takes its place), delete.
func TestQueueCommands(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	id, err := env.Queue.(*queue.Queue).Enqueue(ctx, "alice@example.org", []string{"carol@remote.test"}, []byte("Subject: queued\r\nFrom: alice@example.org\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := admin.Run(ctx, env, args, "", &out); err != nil {
			t.Fatalf("%s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}
	if out := run("queue", "list"); !strings.Contains(out, id) || !strings.Contains(out, "alice@example.org") || !strings.Contains(out, "carol@remote.test") {
		t.Errorf("queue list: %q", out)
	}
	if out := run("queue", "show", id); !strings.Contains(out, "Rcpt:     <carol@remote.test> pending") || !strings.Contains(out, "--- header\nSubject: queued\nFrom: alice@example.org\n") {
		t.Errorf("queue show: %q", out)
	}
	if out := run("queue", "retry", id); out != id+" will be tried now\n" {
		t.Errorf("queue retry: %q", out)
	}
	if out := run("queue", "retry"); out != "every queued message will be tried now\n" {
		t.Errorf("queue retry (all): %q", out)
	}
	if out := run("queue", "bounce", id); out != "bounced "+id+": the sender gets a failure notice\n" {
		t.Errorf("queue bounce: %q", out)
	}
	items, err := env.Queue.List()
	if err != nil || len(items) != 1 || items[0].ID == id || items[0].From != "" {
		t.Fatalf("after bounce, the queue holds %+v (%v), want one DSN from <>", items, err)
	}
	if out := run("queue", "delete", items[0].ID); out != "deleted "+items[0].ID+" without telling the sender\n" {
		t.Errorf("queue delete: %q", out)
	}
	if out := run("queue", "list"); out != "the queue is empty\n" {
		t.Errorf("queue list after delete: %q", out)
	}
}

// queue list shows the queued messages only; a retired entry (a finished
// message the queue keeps for the web mail's outbox) is left out, and
// queue show says it is finished.
func TestQueueListLeavesOutRetired(t *testing.T) {
	env := newEnv(t)
	q, err := queue.Open(queue.Options{Path: filepath.Join(t.TempDir(), "queue.db"), Hostname: "mx.example.org", RelayHost: "127.0.0.1:1",
		KeepFinished: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	env.Queue = q
	id, err := q.Enqueue(context.Background(), "alice@example.org", []string{"bob@remote.test"}, []byte("Subject: x\r\n\r\nx\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Bounce(id); err != nil { // fails it: retired, its DSN queued
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := admin.Run(context.Background(), env, []string{"queue", "list"}, "", &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), id) || !strings.Contains(out.String(), "<>") {
		t.Errorf("queue list shows the retired message, or not its DSN:\n%s", out.String())
	}
	out.Reset()
	if err := admin.Run(context.Background(), env, []string{"queue", "show", id}, "", &out); err != nil || !strings.Contains(out.String(), "Finished: ") {
		t.Errorf("queue show %s: %v\n%s", id, err, out.String())
	}
}
