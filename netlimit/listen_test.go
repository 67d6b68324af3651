package netlimit_test

import (
	"net"
	"strconv"
	"testing"

	"petrel/netlimit"
)

// A "localhost" listener accepts on 127.0.0.1 and, where the machine has
// IPv6, on ::1, on the same port; Close stops both.
func TestListenLocalhostBindsBothLoopbacks(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := probe.Addr().(*net.TCPAddr).Port
	probe.Close()
	l, err := netlimit.Listen(net.JoinHostPort("localhost", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	if c, err := net.Listen("tcp", "[::1]:0"); err == nil {
		c.Close()
		addrs = append(addrs, net.JoinHostPort("::1", strconv.Itoa(port)))
	}
	for _, a := range addrs {
		c, err := net.Dial("tcp", a)
		if err != nil {
			t.Fatalf("dial %s: %v", a, err)
		}
		s, err := l.Accept()
		if err != nil {
			t.Fatalf("accept from %s: %v", a, err)
		}
		if got := s.LocalAddr().String(); got != a {
			t.Errorf("accepted on %s, dialled %s", got, a)
		}
		s.Close()
		c.Close()
	}
	l.Close()
	if _, err := l.Accept(); err == nil {
		t.Fatal("Accept after Close")
	}
	for _, a := range addrs {
		if c, err := net.Dial("tcp", a); err == nil {
			c.Close()
			t.Errorf("%s still accepts after Close", a)
		}
	}
}
