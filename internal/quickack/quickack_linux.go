package quickack

import "syscall"

// setQuickAck sets TCP_QUICKACK; an error (not a TCP socket) changes
// nothing and is ignored.
func setQuickAck(fd uintptr) {
	syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
}
