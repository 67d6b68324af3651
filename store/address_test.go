package store

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseAddressList(t *testing.T) {
	tests := []struct {
		in   string
		want []Address
	}{
		{"a@b.example", []Address{{Mailbox: "a", Host: "b.example"}}},
		{`"Al, B" <a@b.example>, c@d.example`, []Address{{Name: "Al, B", Mailbox: "a", Host: "b.example"}, {Mailbox: "c", Host: "d.example"}}},
		{"<user (c)@ (c) domain.org>", []Address{{Mailbox: "user", Host: "domain.org"}}},
		{"<@r1.example,@r2.example:u@h.example>", []Address{{Mailbox: "u", Host: "h.example"}}},
		{"team:;, x@y", []Address{{Mailbox: "team"}, {}, {Mailbox: "x", Host: "y"}}},
		{"team: a@b, C <c@d>;", []Address{{Mailbox: "team"}, {Mailbox: "a", Host: "b"}, {Name: "C", Mailbox: "c", Host: "d"}, {}}},
		{"=?utf-8?q?J=C3=BCrgen?= <j@x>", []Address{{Name: "=?utf-8?q?J=C3=BCrgen?=", Mailbox: "j", Host: "x"}}},
		{"Name (comment) <a@b> (trailing)", []Address{{Name: "Name", Mailbox: "a", Host: "b"}}},
		{`"quoted local"@x`, []Address{{Mailbox: "quoted local", Host: "x"}}},
		{"localonly", []Address{{Mailbox: "localonly", Host: ".MISSING-HOST-NAME."}}},
		{"", nil},
		{",,, ,", nil},
		{"<unterminated@x", []Address{{Mailbox: "unterminated", Host: "x"}}},
	}
	for _, tc := range tests {
		if got := ParseAddressList(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseAddressList(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
}

// FuzzParseAddressList: any header value parses without panic or hang,
// and every group start has its end (markers, Host "", come in pairs).
func FuzzParseAddressList(f *testing.F) {
	for _, s := range []string{"a@b", "team:;, x@y", "<@r:u@h>", `"q\" (x" <a (b) @ c>`, "(((", "g: a@b, c@d", strings.Repeat("(", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		markers := 0
		for _, a := range ParseAddressList(s) {
			if a.Host == "" {
				markers++
			}
		}
		if markers%2 != 0 {
			t.Fatalf("%q: a group without its end marker", s)
		}
	})
}
