package main

import (
	"fmt"
	"net"
	"strings"
	"testing"

	milter "github.com/d--j/go-milter"
	"github.com/emersion/go-smtp"

	"petrel/dnsmx/dnsmxtest"
)

// rejectingMilter refuses messages whose Subject is "reject".
type rejectingMilter struct {
	milter.NoOpMilter
	reject bool
}

func (m *rejectingMilter) Header(name, value string, _ milter.Modifier) (*milter.Response, error) {
	if strings.EqualFold(name, "Subject") && strings.TrimSpace(value) == "reject" {
		m.reject = true
	}
	return milter.RespContinue, nil
}

func (m *rejectingMilter) EndOfMessage(milter.Modifier) (*milter.Response, error) {
	if m.reject {
		return milter.RejectWithCodeAndReason(554, "5.7.1 no thanks")
	}
	return milter.RespAccept, nil
}

// TestFiltersAndDNSBL runs the server with a [[filter]] and a block list
// that lists 127.0.0.1 (action score): the filter's refusal reaches the
// client, the accepted message lands in Junk, and /metrics counts both.
func TestFiltersAndDNSBL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := milter.NewServer(milter.WithMilter(func() milter.Milter { return &rejectingMilter{} }))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := "inet:" + ln.Addr().String()
	dns := dnsmxtest.Start(t, "1.0.0.127.bl.test. 300 IN A 127.0.0.2")
	extra := fmt.Sprintf("[dns]\nresolver = %q\n[[filter]]\nmilter = %q\ntimeout = \"10s\"\n[junk]\ndnsbl = [\"bl.test\"]\ndnsbl_action = \"score\"\n", dns.Addr, addr)
	in := newInstanceWith(t, instanceOpts{extra: extra})
	in.ok("bob's long password\n", "user", "add", "bob@hamburger.edu")
	in.start()

	send := func(subject string) error {
		c, err := smtp.Dial(in.smtpAddr)
		if err != nil {
			return err
		}
		defer c.Close()
		return c.SendMail("someone@example.org", []string{"bob@hamburger.edu"},
			strings.NewReader("From: someone@example.org\r\nSubject: "+subject+"\r\n\r\nbody\r\n"))
	}
	if err := send("reject"); err == nil || !strings.Contains(err.Error(), "554") || !strings.Contains(err.Error(), "no thanks") {
		t.Errorf("refused message: %v", err)
	}
	if err := send("hello"); err != nil {
		t.Fatalf("accepted message: %v", err)
	}
	for _, m := range []struct {
		name, label string
		want        float64
	}{
		{"petrel_filter_verdicts_total", `filter="` + addr + `",verdict="reject"`, 1},
		{"petrel_filter_verdicts_total", `filter="` + addr + `",verdict="accept"`, 1},
		{"petrel_dnsbl_verdicts_total", `verdict="junk"`, 2},
		{"petrel_dnsbl_lookups_total", `result="listed",zone="bl.test"`, 2},
	} {
		if got := scrapeMetric(t, in, m.name, m.label); got != m.want {
			t.Errorf("%s{%s} = %v, want %v", m.name, m.label, got, m.want)
		}
	}
	// One log line per verdict, with the queue ID.
	logs := in.stderr.String()
	for _, want := range []string{`msg="filter verdict"`, `msg="dnsbl verdict"`} {
		found := false
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, want) && strings.Contains(line, " id=") && !strings.Contains(line, " id= ") {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s line with an id in the log:\n%s", want, logs)
		}
	}
}
