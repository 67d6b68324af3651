package msgauth

// SetSample replaces the pct sampler of v, so tests can choose whether a
// message falls inside a DMARC pct sample.
func SetSample(v *Verifier, f func(pct int) bool) { v.sample = f }
