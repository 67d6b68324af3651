package main

import (
	"strings"
	"testing"
)

// --help and -h print the usage on stdout and exit 0, alone or after a
// command (issue 13, point 10); `petrel help` did so already.
func TestHelpFlag(t *testing.T) {
	in := newInstance(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "petrel serve [--config FILE] [--dev]"},
		{[]string{"-h"}, "petrel serve [--config FILE] [--dev]"},
		{[]string{"-help"}, "petrel serve [--config FILE] [--dev]"},
		{[]string{"help"}, "petrel serve [--config FILE] [--dev]"},
		{[]string{"serve", "--help"}, "petrel serve [--config FILE] [--dev]"},
		{[]string{"user", "add", "--help"}, "usage: petrel user add ADDRESS"},
		{[]string{"user", "-h"}, "petrel user del ADDRESS [--yes]"},
		{[]string{"dkim", "keygen", "-h"}, "usage: petrel dkim keygen DOMAIN"},
		{[]string{"config", "--help"}, "petrel config default|env|check"},
	}
	for _, c := range cases {
		out, errOut, code := in.petrel("", c.args...)
		if code != 0 || !strings.Contains(out, c.want) {
			t.Errorf("petrel %v: exit %d, stdout %q, stderr %q; want exit 0 and %q on stdout", c.args, code, out, errOut, c.want)
		}
		if strings.Contains(errOut, "help requested") {
			t.Errorf("petrel %v: %q", c.args, errOut)
		}
	}
	// A bare -h after `--` is an argument, not a request for help.
	if _, _, code := in.petrel("", "user", "del", "--", "-h"); code == 0 {
		t.Errorf("petrel user del -- -h exited 0")
	}
}
