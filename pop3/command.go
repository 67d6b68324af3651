package pop3

import (
	"errors"
	"strconv"
	"strings"
)

// maxLine bounds a command line, CRLF included. RFC 2449 section 4 says
// 255 octets; AUTH PLAIN with a long initial response may need more, so
// Petrel is lenient up to 1 KiB and answers longer lines with -ERR.
const maxLine = 1024

// command is one client command line (RFC 1939 section 3): a keyword of
// three or four letters and arguments separated by single spaces.
type command struct {
	Name string   // keyword, upper-cased
	Args []string // arguments, split on runs of spaces
	Rest string   // the text after the keyword's space, verbatim (PASS)
}

var (
	errEmptyCommand = errors.New("empty command")
	errBadKeyword   = errors.New("unknown command")
	errBadChars     = errors.New("control characters in command")
)

// parseCommand parses a line without its line end.
func parseCommand(line string) (command, error) {
	if strings.TrimSpace(line) == "" {
		return command{}, errEmptyCommand
	}
	for i := 0; i < len(line); i++ {
		if c := line[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return command{}, errBadChars
		}
	}
	name, rest, _ := strings.Cut(line, " ")
	if len(name) < 3 || len(name) > 4 {
		return command{}, errBadKeyword
	}
	for i := 0; i < len(name); i++ {
		c := name[i] | 0x20 // lower-case ASCII letters
		if c < 'a' || c > 'z' {
			return command{}, errBadKeyword
		}
	}
	return command{Name: strings.ToUpper(name), Args: strings.Fields(rest), Rest: rest}, nil
}

// parseNumber parses a message number or a line count: decimal digits
// only, no sign, fitting in 31 bits.
func parseNumber(s string) (int, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, false
	}
	return int(n), true
}
