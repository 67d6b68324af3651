//go:build !linux

package quickack

func setQuickAck(uintptr) {}
