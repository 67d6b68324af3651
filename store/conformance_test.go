package store_test

import (
	"testing"

	"petrel/store/storetest"
)

// The bbolt store keeps the contract every backend is held to.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Factory{
		New: func(t testing.TB) storetest.Backend { return storetest.Open(t) },
	})
}
