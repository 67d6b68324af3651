// Package testenv holds what Petrel's tests share about their environment:
// which outside programs (swaks, mbsync, fetchmail, Postfix…) they may use.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// RequireTool returns the path of the named program. Where it is missing the
// test is skipped on a developer's machine, but fails under CI (CI=true),
// whose .ci/run installs every tool the tests use.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/lib/postfix/sbin", "/usr/lib/dovecot"} {
		if _, err := os.Stat(dir + "/" + name); err == nil {
			return dir + "/" + name
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed; .ci/run must install it", name)
	}
	t.Skipf("%s is not installed (apt-get install the package that has it)", name)
	return ""
}
