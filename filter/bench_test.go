package filter

import (
	"context"
	"strings"
	"testing"
	"time"

	milter "github.com/d--j/go-milter"
)

// BenchmarkCheck is one 10 KiB message through one milter on loopback
// that adds a header field: the protocol's cost per message (a new
// connection, negotiation and a round trip per stage and 64 KiB of body).
func BenchmarkCheck(b *testing.B) {
	fs := &fakeServer{eom: func(_ *fakeMilter, m milter.Modifier) (*milter.Response, error) {
		return milter.RespAccept, m.AddHeader("X-Filtered", "yes")
	}}
	startFake(b, false, fs)
	c, err := New([]Spec{{Milter: fs.addr, Timeout: 10 * time.Second}}, Options{Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	msg := []byte("From: a@example.org\r\nTo: b@example.com\r\nSubject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("x", 78)+"\r\n", 10240/80))
	env := testEnv()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Check(context.Background(), env, msg); res.Verdict != Accept || res.Edits != 1 {
			b.Fatalf("%+v", res)
		}
	}
}

// BenchmarkApply is a filter's header edits applied to a 10 KiB message.
func BenchmarkApply(b *testing.B) {
	msg := []byte(testMsg + strings.Repeat(strings.Repeat("x", 78)+"\r\n", 10240/80))
	mods := []milter.ModifyAction{
		{Type: milter.ActionAddHeader, HeaderName: "X-Spam", HeaderValue: "yes"},
		{Type: milter.ActionInsertHeader, HeaderIndex: 0, HeaderName: "X-First", HeaderValue: "1"},
		{Type: milter.ActionChangeHeader, HeaderIndex: 1, HeaderName: "Subject", HeaderValue: "[SPAM] hello"},
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, n, _, err := apply(parseHeader(msg), mods, &envelopeEdits{}); err != nil || n != 3 {
			b.Fatal(n, err)
		}
	}
}
