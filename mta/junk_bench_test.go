package mta

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"petrel/junk"
	"petrel/store"
)

// classifierFilter adapts package junk to JunkFilter, as cmd/petrel does.
type classifierFilter struct {
	c  *junk.Classifier
	st *store.Store
}

func (f classifierFilter) JunkVerdicts(ctx context.Context, id string, msg io.Reader, accts []uint64) []JunkVerdict {
	var out []JunkVerdict
	for _, v := range f.c.Classify(ctx, id, msg, accts) {
		out = append(out, JunkVerdict{Junk: v.Junk, Header: v.Header()})
	}
	return out
}

func (f classifierFilter) Trust(ctx context.Context, acct uint64, addrs []string) error {
	return f.st.JunkTrust(ctx, acct, addrs)
}

// BenchmarkSMTPAcceptJunk is BenchmarkSMTPAccept with a 4 KiB message of
// real words (from junk/testdata), with the junk classifier off, on with
// bob's model untrained (a new server), and on with it trained on the 90
// messages of junk/testdata (so that every message is scored).
func BenchmarkSMTPAcceptJunk(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("..", "junk", "testdata", "ham.mbox"))
	if err != nil {
		b.Fatal(err)
	}
	var text strings.Builder
	for _, w := range strings.Fields(string(raw[len(raw)/2:])) {
		if text.Len() > 4096 {
			break
		}
		text.WriteString(w)
		text.WriteString(" ")
		if text.Len()%78 < len(w)+1 {
			text.WriteString("\r\n")
		}
	}
	body := "From: alice@crepes.fr\r\nTo: bob@hamburger.edu\r\nSubject: bench\r\n\r\n" + text.String() + "\r\n"
	for _, mode := range []string{"off", "untrained", "on"} {
		b.Run("classifier="+mode, func(b *testing.B) {
			ts := newTestServer(b, func(o *Options) { o.Logger = slog.New(slog.DiscardHandler) })
			if mode != "off" {
				c, err := junk.New(ts.store, junk.Options{MinTrained: 20, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				bob, _ := ts.store.AccountByAddress("bob@hamburger.edu")
				if mode == "untrained" {
					ts.mta.opts.Junk = classifierFilter{c, ts.store}
					benchAccept(b, ts, body)
					return
				}
				for _, f := range []struct {
					name  string
					class store.JunkClass
				}{{"spam.mbox", store.JunkSpam}, {"ham.mbox", store.JunkHam}} {
					if _, err := junk.TrainPath(context.Background(), ts.store, bob.ID, filepath.Join("..", "junk", "testdata", f.name), f.class, nil); err != nil {
						b.Fatal(err)
					}
				}
				ts.mta.opts.Junk = classifierFilter{c, ts.store}
			}
			benchAccept(b, ts, body)
		})
	}
}
