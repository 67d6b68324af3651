package queue_test

import (
	"crypto/tls"
	"testing"

	"petrel/tlsconf"
)

func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	s, c, err := tlsconf.ForTest()
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}
