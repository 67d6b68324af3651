package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"petrel/internal/pgtest"
	"petrel/store"
	"petrel/store/pgstore"
)

// petrelEnv runs the petrel binary with extra environment variables and
// returns its combined output and whether it succeeded.
func petrelEnv(t *testing.T, env []string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(petrelBin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// `petrel store migrate` brings a new database to the current schema, says
// there is nothing to do the second time, and rejects a wrong store config
// in one line that names the key.
func TestStoreMigrate(t *testing.T) {
	dsn := pgtest.DSN(t)
	pg := []string{"PETREL_STORE_BACKEND=postgres", "PETREL_STORE_DSN=" + dsn}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		ok   bool
		want string
	}{
		{"first", pg, []string{"store", "migrate"}, true, "migrated from version 0 to "},
		{"again", pg, []string{"store", "migrate"}, true, "nothing to do"},
		{"bbolt", nil, []string{"store", "migrate"}, false, `store.backend = "bbolt" has no schema`},
		{"no dsn", []string{"PETREL_STORE_BACKEND=postgres"}, []string{"store", "migrate"}, false, "store.dsn is empty"},
		{"bad dsn", []string{"PETREL_STORE_BACKEND=postgres", "PETREL_STORE_DSN=mysql://x"}, []string{"store", "migrate"}, false, "store.dsn is not a postgres:// URL"},
		{"password not echoed", []string{"PETREL_STORE_BACKEND=postgres", "PETREL_STORE_DSN=postgres://u:hunter2@/db"}, []string{"store", "migrate"}, false, "names no host"},
		{"dsn without postgres", []string{"PETREL_STORE_DSN=" + dsn}, []string{"store", "migrate"}, false, `store.dsn is set but store.backend = "bbolt"`},
		{"bad backend", []string{"PETREL_STORE_BACKEND=mysql"}, []string{"store", "migrate"}, false, `store.backend = "mysql"`},
		{"usage", pg, []string{"store", "compact"}, false, "usage: petrel store migrate"},
		{"user list on postgres", pg, []string{"user", "list"}, true, ""},
		{"backup refuses postgres", pg, []string{"backup", "b.tar"}, false, "back up the database with PostgreSQL's own tools"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, ok := petrelEnv(t, tc.env, tc.args...)
			if ok != tc.ok || !strings.Contains(out, tc.want) {
				t.Fatalf("petrel %v: ok=%v, output:\n%s\nwant ok=%v and %q", tc.args, ok, out, tc.ok, tc.want)
			}
			if strings.Contains(out, "hunter2") {
				t.Fatalf("password echoed:\n%s", out)
			}
		})
	}
}

// `petrel store copy --to` copies data_dir's bbolt store into PostgreSQL,
// with progress, and a second run finds nothing left to copy.
func TestStoreCopy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src, err := store.Open(filepath.Join(dir, "mail.db"), store.Options{CheapPasswordHash: true})
	if err != nil {
		t.Fatal(err)
	}
	a, err := src.CreateAccount(ctx, "bob@example.org", "secret")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("Subject: copied\r\n\r\nhello\r\n")
	d, err := src.Deliver(ctx, &store.Delivery{Body: body, Targets: []store.Target{{Account: a.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	src.Close()
	dsn := pgtest.DSN(t)
	env := []string{"PETREL_DATA_DIR=" + dir}
	out, ok := petrelEnv(t, env, "store", "copy", "--to", dsn)
	if !ok || !strings.Contains(out, "1 accounts, 6 mailboxes, 0 aliases, 1 messages (0 were there already)") {
		t.Fatalf("store copy:\n%s", out)
	}
	out, ok = petrelEnv(t, env, "store", "copy", "--to", dsn)
	if !ok || !strings.Contains(out, "0 messages (1 were there already)") {
		t.Fatalf("second store copy:\n%s", out)
	}
	dst, err := pgstore.Open(ctx, dsn, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := dst.Authenticate("bob@example.org", "secret"); err != nil {
		t.Fatalf("password after the copy: %v", err)
	}
	got, err := dst.ReadMessage(d[0].Mailbox, d[0].UID)
	if err != nil || string(got) != string(body) {
		t.Fatalf("message after the copy: %q, %v", got, err)
	}
	// And back into a new bbolt file, from the PostgreSQL store.
	back := filepath.Join(t.TempDir(), "back.db")
	out, ok = petrelEnv(t, []string{"PETREL_STORE_BACKEND=postgres", "PETREL_STORE_DSN=" + dsn}, "store", "copy", "--to", back)
	if !ok || !strings.Contains(out, "1 messages (0 were there already)") {
		t.Fatalf("store copy back:\n%s", out)
	}
	bs, err := store.Open(back, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err = bs.ReadMessage(d[0].Mailbox, d[0].UID)
	bs.Close()
	if err != nil || string(got) != string(body) {
		t.Fatalf("message copied back: %q, %v", got, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"store", "copy"}, "store copy needs --to"},
		{[]string{"store", "copy", "--to", "/tmp/x.db"}, "copying into a bbolt file reads the PostgreSQL store"},
	} {
		if out, ok := petrelEnv(t, env, tc.args...); ok || !strings.Contains(out, tc.want) {
			t.Errorf("petrel %v: ok=%v\n%s\nwant %q", tc.args, ok, out, tc.want)
		}
	}
}
