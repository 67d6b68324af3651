package mailgen

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"
)

// TestMailgen writes a generated Maildir and parses every message: each
// must be well-formed MIME, and the search words must be where they were
// counted.
func TestMailgen(t *testing.T) {
	n := 500
	md, err := WriteMaildir(t.TempDir(), 1, n, LargeShareDefault)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Names) != n || md.BodyHits == 0 || md.SubjHits == 0 || md.From == 0 {
		t.Fatalf("names %d, body %d, subject %d, from %d", len(md.Names), md.BodyHits, md.SubjHits, md.From)
	}
	var parts, multipart int
	for _, name := range md.Names {
		b, err := os.ReadFile(filepath.Join(md.Dir, "cur", name))
		if err != nil {
			t.Fatal(err)
		}
		e, err := message.Read(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if mr := e.MultipartReader(); mr != nil {
			multipart++
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if _, err := io.ReadAll(p.Body); err != nil {
					t.Fatalf("%s: part: %v", name, err)
				}
				parts++
			}
		} else if _, err := io.ReadAll(e.Body); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.Contains(name, ",S=") {
			t.Fatal(name)
		}
	}
	t.Logf("%d messages, %d multipart with %d top-level parts, %.1f KiB average; body %d, subject %d, from %d",
		n, multipart, parts, float64(md.Bytes)/float64(n)/1024, md.BodyHits, md.SubjHits, md.From)
}

func TestMailgenSample(t *testing.T) {
	dir := os.Getenv("MAILGEN_DIR")
	if dir == "" {
		t.Skip()
	}
	if _, err := WriteMaildir(dir, 1, 40, LargeShareDefault); err != nil {
		t.Fatal(err)
	}
}
