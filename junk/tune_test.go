package junk

import (
	"os"
	"testing"
)

// TestTune prints the k-fold results over a grid of parameters (set
// PETREL_TUNE=1); it is how DefaultParams and DefaultThreshold were chosen.
func TestTune(t *testing.T) {
	if os.Getenv("PETREL_TUNE") == "" {
		t.Skip("set PETREL_TUNE=1 to run")
	}
	all := loadCorpus(t)
	for _, s := range []float64{0.1, 0.45, 1} {
		for _, md := range []float64{0.1, 0.2} {
			for _, th := range []float64{0.5, 0.7, 0.9, 0.95} {
				p := DefaultParams
				p.S, p.MinDev = s, md
				r, _ := kfold(all, 3, 1000, p, th, 7)
				t.Logf("s=%.2f mindev=%.1f th=%.2f: %v", s, md, th, r)
			}
		}
	}
}
