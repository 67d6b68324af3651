package config

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// docRow matches a row of a table in docs/configuration.md whose first
// cell is a key in backquotes: | `smtp.max_errors` | `20` | … |
var docRow = regexp.MustCompile("^\\|\\s*`([a-z0-9_.]+)`\\s*\\|")

// TestDocsConfiguration keeps docs/configuration.md in step with the code:
// every key the config package knows (the list `petrel config env` prints,
// from EnvVars) has a table row naming the key, its PETREL_… variable and
// its default exactly as default.toml writes it; every key row names a real
// key; and PETREL_CONFIG is documented.
func TestDocsConfiguration(t *testing.T) {
	const path = "../docs/configuration.md"
	b, err := os.ReadFile(filepath.FromSlash(path))
	if err != nil {
		t.Fatalf("%v (docs/configuration.md documents every key; write it)", err)
	}
	doc := string(b)
	rows := map[string]string{}
	for _, line := range strings.Split(doc, "\n") {
		if m := docRow.FindStringSubmatch(line); m != nil {
			if _, dup := rows[m[1]]; dup {
				t.Errorf("%s: key %s has two rows", path, m[1])
			}
			rows[m[1]] = line
		}
	}
	defaults := defaultLiterals(t)
	known := map[string]bool{}
	for _, v := range EnvVars() {
		env, key := v[0], v[1]
		known[key] = true
		row, ok := rows[key]
		if !ok {
			t.Errorf("%s has no row for key %s (variable %s): add | `%s` | `%s` | `%s` | what it does |",
				path, key, env, key, defaults[key], env)
			continue
		}
		if !strings.Contains(row, "`"+env+"`") {
			t.Errorf("%s: the row of %s does not name its variable `%s`:\n%s", path, key, env, row)
		}
		lit, ok := defaults[key]
		if !ok {
			t.Errorf("default.toml does not set %s", key)
		} else if !strings.Contains(row, "`"+lit+"`") {
			t.Errorf("%s: the row of %s does not give its default `%s`:\n%s", path, key, lit, row)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(rows)) {
		if !known[key] {
			t.Errorf("%s documents %s, which is not a configuration key (see `petrel config env`)", path, key)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(defaults)) {
		if !known[key] {
			t.Errorf("default.toml sets %s, which the Config struct does not have", key)
		}
	}
	if !strings.Contains(doc, "`PETREL_CONFIG`") {
		t.Errorf("%s does not document `PETREL_CONFIG`", path)
	}
}

// defaultLiterals returns each key of the embedded default.toml with its
// value written as in that file: "", ":25", 52428800, false, ["1m", "5m"].
func defaultLiterals(t *testing.T) map[string]string {
	t.Helper()
	var m map[string]any
	if _, err := toml.Decode(Default(), &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var flatten func(prefix string, m map[string]any)
	flatten = func(prefix string, m map[string]any) {
		for k, v := range m {
			if prefix != "" {
				k = prefix + "." + k
			}
			if sub, ok := v.(map[string]any); ok {
				flatten(k, sub)
				continue
			}
			out[k] = tomlLiteral(t, v)
		}
	}
	flatten("", m)
	return out
}

func tomlLiteral(t *testing.T, v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = tomlLiteral(t, e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	t.Fatalf("default.toml: value %v of type %T: teach tomlLiteral to write it", v, v)
	return fmt.Sprint(v)
}
