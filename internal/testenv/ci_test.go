package testenv

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// readmeTestCommand is the test command of the README's first code block
// (the line that starts with "go test").
func readmeTestCommand(t *testing.T, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "go test ") {
			cmd, _, _ := strings.Cut(line, "#")
			return strings.TrimSpace(cmd)
		}
	}
	t.Fatal("README.md shows no `go test` command")
	return ""
}

// .ci/run, run on a machine that lacks every Debian package it wants
// (dpkg, apt-get, go and gofmt are stand-ins that record what they are
// asked): it runs the README's test command with the same flags, with
// CI=true so that a missing program fails its tests, keeps services from
// starting while apt-get installs (policy-rc.d), and leaves no policy-rc.d
// behind; one the machine had is left alone (issue 13, point 15).
func TestCIRunsREADMECommand(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	want := readmeTestCommand(t, root)
	for _, preexisting := range []bool{false, true} {
		bin := t.TempDir()
		log := filepath.Join(bin, "log")
		policy := filepath.Join(bin, "policy-rc.d")
		stub := func(name, body string) {
			if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		stub("dpkg", "exit 1")
		stub("debconf-set-selections", "cat >/dev/null")
		stub("apt-get", `case "$*" in *install*) if [ -x "$POLICY_RC_D" ]; then echo "apt-get install, policy-rc.d: $(cat "$POLICY_RC_D" | tail -1)" >>`+log+`; else echo "apt-get install without policy-rc.d" >>`+log+`; fi;; esac`)
		stub("go", `echo "go $* (CI=$CI)" >>`+log)
		stub("gofmt", "exit 0")
		if preexisting {
			os.WriteFile(policy, []byte("#!/bin/sh\nexit 0\n"), 0o755)
		}
		cmd := exec.Command("bash", filepath.Join(root, ".ci/run"))
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "POLICY_RC_D="+policy, "CI=", "FUZZTIME=1s", "TMPDIR="+bin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf(".ci/run: %v\n%s", err, out)
		}
		b, _ := os.ReadFile(log)
		got := string(b)
		if !strings.Contains(got, want+" (CI=true)\n") {
			t.Errorf(".ci/run does not run the README's %q with CI=true; it ran:\n%s", want, got)
		}
		if preexisting {
			if !strings.Contains(got, "apt-get install, policy-rc.d: exit 0") {
				t.Errorf("with the machine's own policy-rc.d, apt-get ran with:\n%s", got)
			}
			if _, err := os.Stat(policy); err != nil {
				t.Errorf(".ci/run removed the machine's own policy-rc.d: %v", err)
			}
			continue
		}
		if !strings.Contains(got, "apt-get install, policy-rc.d: exit 101") {
			t.Errorf("apt-get install ran without a policy-rc.d that keeps daemons off:\n%s", got)
		}
		if _, err := os.Stat(policy); err == nil {
			t.Errorf(".ci/run left %s behind", policy)
		}
	}
}
