package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// PETREL_CONFIG_OPTIONAL (which the container image sets to
// /etc/petrel/petrel.toml) names a file read only when it exists; --config
// and PETREL_CONFIG come first, and without the variable nothing changes.
func TestConfigOptional(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "petrel.toml")
	other := filepath.Join(dir, "other.toml")
	os.WriteFile(file, []byte("hostname = \"mx.file.example\"\n"), 0o644)
	os.WriteFile(other, []byte("hostname = \"mx.other.example\"\n"), 0o644)
	missing := filepath.Join(dir, "etc", "petrel", "petrel.toml")
	cases := []struct {
		env  []string
		args []string
		code int
		want string
	}{
		{[]string{"PETREL_CONFIG_OPTIONAL=" + file}, nil, 0, file + " is valid: hostname mx.file.example"},
		{[]string{"PETREL_CONFIG_OPTIONAL=" + missing}, nil, 0, "the embedded default is valid"},
		{nil, nil, 0, "the embedded default is valid"},
		{[]string{"PETREL_CONFIG_OPTIONAL=" + file, "PETREL_CONFIG=" + other}, nil, 0, other + " is valid: hostname mx.other.example"},
		{[]string{"PETREL_CONFIG_OPTIONAL=" + file}, []string{"--config", other}, 0, other + " is valid"},
		{[]string{"PETREL_CONFIG_OPTIONAL=" + dir}, nil, 1, "PETREL_CONFIG_OPTIONAL=" + dir + " is a directory"},
	}
	for _, c := range cases {
		cmd := exec.Command(petrelBin, append([]string{"config", "check"}, c.args...)...)
		cmd.Env = append(c.env, "PETREL_DATA_DIR="+filepath.Join(dir, "data"))
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.Run()
		text := out.String()
		if c.code != 0 {
			text = errb.String()
		}
		if code := cmd.ProcessState.ExitCode(); code != c.code || !strings.Contains(text, c.want) {
			t.Errorf("%v config check %v: exit %d, %q %q; want exit %d with %q", c.env, c.args, code, out.String(), errb.String(), c.code, c.want)
		}
		if c.code != 0 && strings.Count(strings.TrimSpace(errb.String()), "\n") > 0 {
			t.Errorf("%v: more than one line of error: %q", c.env, errb.String())
		}
	}
	// It is no setting of its own: `config env` names it, and commands
	// that load no configuration do not stumble on a bad one.
	cmd := exec.Command(petrelBin, "config", "env")
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), "PETREL_CONFIG_OPTIONAL") || !strings.Contains(string(out), "PETREL_CONFIG ") {
		t.Errorf("config env: %v\n%s", err, out)
	}
	cmd = exec.Command(petrelBin, "version")
	cmd.Env = []string{"PETREL_CONFIG_OPTIONAL=" + dir}
	if err := cmd.Run(); err != nil {
		t.Errorf("version with a bad PETREL_CONFIG_OPTIONAL: %v", err)
	}
}
