package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"petrel/internal/pgtest"
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
		{"usage", pg, []string{"store", "copy"}, false, "usage: petrel store migrate"},
		{"serve refuses postgres", pg, []string{"serve"}, false, "runs on the bbolt store only"},
		{"user add refuses postgres", pg, []string{"user", "list"}, false, "runs on the bbolt store only"},
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
