package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The HTTP listeners advertise the listeners this server has, on their
// ports, and serve the configured MTA-STS policy, over HTTPS too.
func TestWebFromConfig(t *testing.T) {
	https := freePort(t)
	in := newInstanceWith(t, instanceOpts{imapAddr: freePort(t),
		extra: fmt.Sprintf("https = %q\n[mta_sts]\nmode = \"testing\"\nmax_age = \"24h\"\n", https)})
	in.start()
	get := func(c *http.Client, url string) string {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
		}
		return string(b)
	}
	insecure := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	policy := get(insecure, "https://"+https+"/.well-known/mta-sts.txt")
	for _, want := range []string{"version: STSv1\r\n", "mode: testing\r\n", "mx: mx.hamburger.edu\r\n", "max_age: 86400\r\n"} {
		if !strings.Contains(policy, want) {
			t.Errorf("MTA-STS policy lacks %q:\n%s", want, policy)
		}
	}
	xml := get(http.DefaultClient, "http://"+in.httpAddr+"/mail/config-v1.1.xml?emailaddress=bob@hamburger.edu")
	_, imapPort, _ := net.SplitHostPort(in.imapAddr)
	_, subPort, _ := net.SplitHostPort(in.subAddr)
	for _, want := range []string{"<port>" + imapPort + "</port>", "<port>" + subPort + "</port>"} {
		if !strings.Contains(xml, want) {
			t.Errorf("autoconfig lacks %s:\n%s", want, xml)
		}
	}
	for _, not := range []string{"<port>993</port>", "<port>995</port>", "<port>110</port>", "pop3"} {
		if strings.Contains(xml, not) {
			t.Errorf("autoconfig advertises %s, which this server does not listen on:\n%s", not, xml)
		}
	}
}
