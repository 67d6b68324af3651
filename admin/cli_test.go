package admin_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"petrel/admin"
	"petrel/config"
)

// The CLI side with no server running: the password read from stdin, the
// rule and --force, the confirmation --yes stands for, and the commands
// that never go through a server; run in this process on a real store.
func TestCLIOffline(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "petrel.toml")
	if err := os.WriteFile(cfgPath, []byte("hostname = \"mx.example.org\"\ndomains = [\"example.org\"]\ndata_dir = \""+filepath.Join(dir, "data")+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noQueue := func(*config.Config, admin.Store, *slog.Logger) (admin.Queue, func(), error) {
		t.Error("a command that needs no queue opened it")
		return nil, nil, errors.New("no queue here")
	}
	for _, c := range []struct {
		args    []string
		flags   admin.Flags
		stdin   string
		want    string // in stdout
		wantErr string
		usage   bool
	}{
		{args: []string{"user", "add", "bob@example.org"}, stdin: "password\n", wantErr: "nothing changed"},
		{args: []string{"user", "add", "bob@example.org"}, flags: admin.Flags{Force: true}, stdin: "password\n", want: "added bob@example.org\n"},
		{args: []string{"user", "add", "carol@example.org"}, stdin: "", wantErr: "no password on standard input"},
		{args: []string{"user", "del", "bob@example.org"}, wantErr: "add --yes to confirm", usage: true},
		{args: []string{"user", "list"}, flags: admin.Flags{Mailbox: "Archive"}, wantErr: "--mailbox is for petrel import", usage: true},
		{args: []string{"user", "del", "bob@example.org"}, flags: admin.Flags{Yes: true}, want: "deleted bob@example.org and all its mail\n"},
		{args: []string{"config", "check"}, want: cfgPath + " is valid: hostname mx.example.org, domains example.org"},
		{args: []string{"config", "frob"}, wantErr: `config: unknown subcommand "frob"`, usage: true},
		{args: []string{"store", "migrate"}, wantErr: `store migrate: store.backend = "bbolt" has no schema to migrate`},
	} {
		var out, errOut bytes.Buffer
		c.flags.Config = cfgPath
		cli := &admin.CLI{Flags: c.flags, Stdin: strings.NewReader(c.stdin), Stdout: &out, Stderr: &errOut, OpenQueue: noQueue}
		err := cli.Run(context.Background(), c.args)
		name := strings.Join(c.args, " ")
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v, want one with %q", name, err, c.wantErr)
		}
		var ue *admin.UsageError
		if err != nil && errors.As(err, &ue) != c.usage {
			t.Errorf("%s: usage error %v, want %v (%v)", name, !c.usage, c.usage, err)
		}
		if !strings.Contains(out.String(), c.want) {
			t.Errorf("%s: stdout %q lacks %q", name, out.String(), c.want)
		}
	}
}
