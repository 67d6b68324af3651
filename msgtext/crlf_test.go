package msgtext

import "testing"

func TestToCRLF(t *testing.T) {
	for in, want := range map[string]string{
		"":                "",
		"a\r\nb\r\n":      "a\r\nb\r\n",
		"a\nb\n":          "a\r\nb\r\n",
		"\n":              "\r\n",
		"a\r\nb\nc\r\r\n": "a\r\nb\r\nc\r\r\n",
		"no line end":     "no line end",
	} {
		if got := string(ToCRLF([]byte(in))); got != want {
			t.Errorf("ToCRLF(%q) = %q, want %q", in, got, want)
		}
	}
}
