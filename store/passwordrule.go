package store

import (
	_ "embed"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MinPasswordLength is the fewest characters CheckPassword accepts (NIST SP
// 800-63B 5.1.1.2: at least 8, and a check against common passwords).
const MinPasswordLength = 8

// PasswordRule is the rule CheckPassword applies, as told to the user.
const PasswordRule = "at least 8 characters, not a common password (like password1 or 12345678) and not the address"

//go:embed common-passwords.txt
var commonPasswordsText string

// commonPasswords is common-passwords.txt as a set; read-only after init.
var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	for _, line := range strings.Split(commonPasswordsText, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			m[strings.ToLower(line)] = true
		}
	}
	return m
}()

// CheckPassword says why password is too weak for the account address (one
// exposed to the internet, where passwords are guessed), or nil: shorter
// than MinPasswordLength, one of the most common passwords, one character
// repeated, a run like "abcdefgh" or "23456789", or the address or its
// local part. The error says the rule.
func CheckPassword(address, password string) error {
	lower := strings.ToLower(password)
	local, _, _ := strings.Cut(strings.ToLower(address), "@")
	var why string
	switch n := utf8.RuneCountInString(password); {
	case n < MinPasswordLength:
		why = fmt.Sprintf("it has %d characters", n)
	case commonPasswords[lower]:
		why = "it is one of the most common passwords"
	case lower == strings.ToLower(address) || lower == local:
		why = "it is the address"
	case isRun(lower):
		why = "it is one character repeated or a run like abcdefgh"
	default:
		return nil
	}
	return fmt.Errorf("password refused: %s; the rule is %s", why, PasswordRule)
}

// isRun reports whether s is one character repeated, or a run of
// consecutive characters going up or down ("abcdefgh", "98765432").
func isRun(s string) bool {
	r := []rune(s)
	for _, step := range []rune{0, 1, -1} {
		run := true
		for i := 1; i < len(r); i++ {
			if r[i]-r[i-1] != step {
				run = false
				break
			}
		}
		if run {
			return true
		}
	}
	return false
}
