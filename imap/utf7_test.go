package imap

import (
	"testing"
	"unicode/utf8"
)

func TestUTF7(t *testing.T) {
	for _, tc := range []struct{ utf8, utf7 string }{
		{"INBOX", "INBOX"},
		{"Été", "&AMk-t&AOk-"},
		{"a&b", "a&-b"},
		{"日本語", "&ZeVnLIqe-"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
		{"😀", "&2D3eAA-"},
	} {
		if got := utf7Encode(tc.utf8); got != tc.utf7 {
			t.Errorf("encode %q = %q, want %q", tc.utf8, got, tc.utf7)
		}
		if got, err := utf7Decode(tc.utf7); err != nil || got != tc.utf8 {
			t.Errorf("decode %q = %q, %v; want %q", tc.utf7, got, err, tc.utf8)
		}
	}
	for _, bad := range []string{"&Jjo", "&AGE-", "&AMk-&AOk-", "&", "a\x01b", "&2D0-", "\xff"} {
		if got, err := utf7Decode(bad); err == nil {
			t.Errorf("decode %q = %q, want an error", bad, got)
		}
	}
	if got, err := utf7Decode("Données"); err != nil || got != "Données" {
		t.Errorf("raw UTF-8 name: %q, %v", got, err)
	}
}

// FuzzUTF7: encoding any UTF-8 name and decoding it gives it back; decoding
// anything never panics.
func FuzzUTF7(f *testing.F) {
	for _, s := range []string{"Été", "a&b", "&Jjo", "😀x", "\x01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		utf7Decode(s)
		if !utf8.ValidString(s) {
			return
		}
		if got, err := utf7Decode(utf7Encode(s)); err != nil || got != s {
			t.Fatalf("%q: encoded %q, decoded %q, %v", s, utf7Encode(s), got, err)
		}
	})
}
