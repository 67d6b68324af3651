package config

import (
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// keyLines maps each key a TOML document defines to the line it is defined
// on: "smtp.max_recipients" to the line of `max_recipients = …` under
// [smtp] (or of `smtp.max_recipients = …`, or of an inline table holding
// it), and a table such as "smtp" to its header. The toml package keeps
// these positions but does not export them (BurntSushi/toml v1.6.0), so
// this scans the text again. It expects a document the toml package has
// accepted, and on anything else returns what it found without failing.
func keyLines(text string) map[string]int {
	s := &keyScanner{text: text, line: 1, lines: map[string]int{}}
	var table []string
	for {
		s.skipBlank(true)
		if s.eof() {
			return s.lines
		}
		start := s.i
		if s.peek() == '[' {
			s.next()
			if !s.eof() && s.peek() == '[' { // [[array of tables]]
				s.next()
			}
			line := s.line
			table = s.key()
			s.define(table, line)
			for !s.eof() && s.peek() == ']' {
				s.next()
			}
		} else {
			s.keyValue(table)
		}
		if s.i == start { // not TOML: step over it
			s.next()
		}
	}
}

type keyScanner struct {
	text  string
	i     int
	line  int
	lines map[string]int
}

func (s *keyScanner) eof() bool  { return s.i >= len(s.text) }
func (s *keyScanner) peek() byte { return s.text[s.i] }

func (s *keyScanner) next() {
	if s.text[s.i] == '\n' {
		s.line++
	}
	s.i++
}

// define records key and the tables it implies, keeping the first line
// of each.
func (s *keyScanner) define(key []string, line int) {
	for n := 1; n <= len(key); n++ {
		k := toKey(key[:n])
		if _, ok := s.lines[k]; !ok {
			s.lines[k] = line
		}
	}
}

// toKey writes a key as toml.Key.String does, quoting parts that are not
// bare keys.
func toKey(parts []string) string { return toml.Key(parts).String() }

// skipBlank skips spaces, tabs and comments, and newlines if newlines.
func (s *keyScanner) skipBlank(newlines bool) {
	for !s.eof() {
		switch c := s.peek(); {
		case c == ' ' || c == '\t' || c == '\r':
			s.next()
		case c == '\n' && newlines:
			s.next()
		case c == '#':
			for !s.eof() && s.peek() != '\n' {
				s.next()
			}
		default:
			return
		}
	}
}

// key reads a dotted key: bare, "quoted" or 'literal' parts.
func (s *keyScanner) key() []string {
	var parts []string
	for {
		s.skipBlank(false)
		if s.eof() {
			return parts
		}
		switch s.peek() {
		case '"':
			raw := s.basicString()
			p, err := strconv.Unquote(goEscapes(raw))
			if err != nil {
				p = strings.Trim(raw, `"`)
			}
			parts = append(parts, p)
		case '\'':
			start := s.i
			s.literalString()
			parts = append(parts, strings.Trim(s.text[start:s.i], "'"))
		default:
			start := s.i
			for !s.eof() && isBareKeyChar(s.peek()) {
				s.next()
			}
			if s.i == start {
				return parts
			}
			parts = append(parts, s.text[start:s.i])
		}
		s.skipBlank(false)
		if s.eof() || s.peek() != '.' {
			return parts
		}
		s.next()
	}
}

func isBareKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// keyValue reads `key = value` in table, recording the key and the keys
// of inline tables in the value.
func (s *keyScanner) keyValue(table []string) {
	line := s.line
	key := s.key()
	if len(key) == 0 {
		return
	}
	full := append(append([]string(nil), table...), key...)
	s.define(full, line)
	s.skipBlank(false)
	if s.eof() || s.peek() != '=' {
		return
	}
	s.next()
	s.skipBlank(false)
	s.value(full)
}

// value skips a value; keys of inline tables in it are recorded under key.
func (s *keyScanner) value(key []string) {
	if s.eof() {
		return
	}
	switch rest := s.text[s.i:]; {
	case strings.HasPrefix(rest, `"""`):
		s.multiline(`"""`, true)
	case strings.HasPrefix(rest, "'''"):
		s.multiline("'''", false)
	case rest[0] == '"':
		s.basicString()
	case rest[0] == '\'':
		s.literalString()
	case rest[0] == '[':
		s.next()
		for {
			s.skipBlank(true)
			if s.eof() {
				return
			}
			switch s.peek() {
			case ']':
				s.next()
				return
			case ',':
				s.next()
			default:
				start := s.i
				s.value(key)
				if s.i == start {
					s.next()
				}
			}
		}
	case rest[0] == '{':
		s.next()
		for {
			s.skipBlank(true)
			if s.eof() {
				return
			}
			switch s.peek() {
			case '}':
				s.next()
				return
			case ',':
				s.next()
			default:
				start := s.i
				s.keyValue(key)
				if s.i == start {
					s.next()
				}
			}
		}
	default:
		// A number, boolean or date (which may hold a space): up to what
		// ends a value.
		for !s.eof() && !strings.ContainsRune(",]}#\n", rune(s.peek())) {
			s.next()
		}
	}
}

// basicString reads a "string" with its escapes and returns its source.
func (s *keyScanner) basicString() string {
	start := s.i
	s.next()
	for !s.eof() && s.peek() != '"' && s.peek() != '\n' {
		if s.peek() == '\\' {
			s.next()
			if s.eof() {
				break
			}
		}
		s.next()
	}
	if !s.eof() && s.peek() == '"' {
		s.next()
	}
	return s.text[start:s.i]
}

func (s *keyScanner) literalString() {
	s.next()
	for !s.eof() && s.peek() != '\'' && s.peek() != '\n' {
		s.next()
	}
	if !s.eof() && s.peek() == '\'' {
		s.next()
	}
}

// multiline reads a multi-line string, basic or literal, that opens with
// delim; up to two more quotes before the closing delim belong to it.
func (s *keyScanner) multiline(delim string, escapes bool) {
	for range 3 {
		s.next()
	}
	for !s.eof() {
		if escapes && s.peek() == '\\' {
			s.next()
			if !s.eof() {
				s.next()
			}
			continue
		}
		if strings.HasPrefix(s.text[s.i:], delim) {
			for range 3 {
				s.next()
			}
			for n := 0; n < 2 && !s.eof() && s.peek() == delim[0]; n++ {
				s.next()
			}
			return
		}
		s.next()
	}
}

// lineOf is the line of key, or of the nearest table holding it (an inline
// table's keys are not all recorded), or 0.
func lineOf(lines map[string]int, key string) int {
	for k := key; k != ""; {
		if n, ok := lines[k]; ok {
			return n
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

// goEscapes rewrites the escapes TOML 1.1 has and Go reads differently
// (\e, ESC; \xHH, the code point U+00HH where Go means a byte) so that
// strconv.Unquote reads a basic string as TOML does.
func goEscapes(raw string) string {
	if !strings.Contains(raw, `\e`) && !strings.Contains(raw, `\x`) {
		return raw
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' || i+1 >= len(raw) {
			b.WriteByte(raw[i])
			continue
		}
		switch raw[i+1] {
		case 'e':
			b.WriteString(`\u001b`)
		case 'x':
			b.WriteString(`\u00`)
		default:
			b.WriteByte('\\')
			b.WriteByte(raw[i+1])
		}
		i++
	}
	return b.String()
}
