//go:build !race

package testenv

// Race says whether the race detector is on: it multiplies the memory a
// test measures from the process (its shadow memory), by up to about 6.
const Race = false
