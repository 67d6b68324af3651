package dockercheck

import (
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"
)

// Ignore is a parsed .dockerignore: the paths it keeps out of the build
// context.
type Ignore struct {
	rules []ignoreRule
}

type ignoreRule struct {
	pattern string
	re      *regexp.Regexp
	keep    bool // a "!pattern" exception
}

// ParseIgnoreFile parses the .dockerignore at p; a missing file ignores
// nothing.
func ParseIgnoreFile(p string) (*Ignore, error) {
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return &Ignore{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dockerignore: %w", err)
	}
	ig, err := ParseIgnore(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return ig, nil
}

// ParseIgnore parses the text of a .dockerignore: one pattern a line, #
// comments, ! for exceptions, * and ? within a path element, ** across
// elements, as Docker reads them.
func ParseIgnore(text string) (*Ignore, error) {
	ig := &Ignore{}
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if strings.HasPrefix(line, "!") {
			r.keep = true
			line = strings.TrimSpace(line[1:])
		}
		r.pattern = strings.TrimPrefix(path.Clean("/"+line), "/")
		re, err := globRegexp(r.pattern)
		if err != nil {
			return nil, fmt.Errorf("line %d: %q: %w", n+1, line, err)
		}
		r.re = re
		ig.rules = append(ig.rules, r)
	}
	return ig, nil
}

// Excluded reports whether the file at p (slash-separated, relative to the
// context) is left out of the build context: the last rule that matches
// it or a directory holding it decides.
func (ig *Ignore) Excluded(p string) bool {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	excluded := false
	for _, r := range ig.rules {
		if r.matches(p) {
			excluded = !r.keep
		}
	}
	return excluded
}

func (r ignoreRule) matches(p string) bool {
	for {
		if r.re.MatchString(p) {
			return true
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return false
		}
		p = p[:i]
	}
}

// globRegexp turns a Docker ignore pattern into an anchored regexp.
func globRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case strings.HasPrefix(pattern[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(pattern[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '[':
			j := strings.IndexByte(pattern[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unclosed [")
			}
			class := pattern[i+1 : i+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += j
		case c == '\\' && i+1 < len(pattern):
			i++
			b.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
