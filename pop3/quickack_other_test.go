//go:build !linux

package pop3_test

import "net"

type quickAckListener struct{ net.Listener }
