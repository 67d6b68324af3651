package main

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
	md, err := writeMaildir(t.TempDir(), 1, n, largeShareDefault)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.names) != n || md.bodyHits == 0 || md.subjHits == 0 || md.from == 0 {
		t.Fatalf("names %d, body %d, subject %d, from %d", len(md.names), md.bodyHits, md.subjHits, md.from)
	}
	var parts, multipart int
	for _, name := range md.names {
		b, err := os.ReadFile(filepath.Join(md.dir, "cur", name))
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
		n, multipart, parts, float64(md.bytes)/float64(n)/1024, md.bodyHits, md.subjHits, md.from)
}

func TestMailgenSample(t *testing.T) {
	dir := os.Getenv("MAILGEN_DIR")
	if dir == "" {
		t.Skip()
	}
	if _, err := writeMaildir(dir, 1, 40, largeShareDefault); err != nil {
		t.Fatal(err)
	}
}
