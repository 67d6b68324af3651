package main

import (
	"errors"
	"syscall"
)

var errConnRefused = syscall.ECONNREFUSED

func isConnRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
}
