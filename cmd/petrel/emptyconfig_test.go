package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `petrel serve` refuses, in one line and with a non-zero exit, a config
// file that sets nothing and one that gives no listener an address;
// before, both started a server that served nothing.
func TestServeRefusesConfigWithoutListeners(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, file, want string
	}{
		{"empty", "", "the config file sets nothing"},
		{"only comments", "# hostname = \"mx.example.com\"\n", "the config file sets nothing"},
		{"no listener", fmt.Sprintf("hostname = \"mx.example.com\"\ndomains = [\"example.com\"]\ndata_dir = %q\n", filepath.Join(dir, "data")), "no listener has an address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &instance{t: t, dir: dir, config: filepath.Join(t.TempDir(), "petrel.toml")}
			if err := os.WriteFile(in.config, []byte(tt.file), 0o644); err != nil {
				t.Fatal(err)
			}
			out, errOut, code := in.petrel("", "serve")
			msg := strings.TrimSpace(errOut)
			if code == 0 || !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("exit %d, stderr %q (stdout %q); want non-zero and one line saying %q", code, errOut, out, tt.want)
			}
		})
	}
}
