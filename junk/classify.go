package junk

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"petrel/store"
)

// Counts is how many trained spam and ham messages held a token.
type Counts = store.JunkCounts

// Params are the combining's constants. The defaults are SpamBayes' and
// SpamAssassin's Bayes choices, checked against the SpamAssassin corpus
// (see docs/filtering.md).
type Params struct {
	// S and X are Robinson's strength and assumed probability of a token
	// seen rarely: f(w) = (S·X + n·p(w)) / (S + n).
	S, X float64
	// MinDev drops tokens whose f(w) is within MinDev of 0.5: they say
	// nothing either way.
	MinDev float64
	// MaxClues is how many of the most telling tokens are combined.
	MaxClues int
}

// DefaultParams are the combining constants Petrel uses.
var DefaultParams = Params{S: 0.45, X: 0.5, MinDev: 0.1, MaxClues: 150}

// Clue is one token that took part in a verdict, with its f(w).
type Clue struct {
	Token string
	Prob  float64
}

// Score combines the counts of tokens (counts[i] for tokens[i]) from a
// model trained on nspam spam and nham ham messages into the probability
// that the message is spam (Fisher's chi-square combining, Robinson's
// f(w)), and returns the clues that decided it, most telling first.
func Score(p Params, tokens []string, counts []Counts, nspam, nham uint32) (float64, []Clue) {
	if nspam == 0 || nham == 0 {
		return 0.5, nil
	}
	// Each clue with its distance from 0.5, computed once: the sort
	// compares them about n·log n times.
	type ranked struct {
		dev float64
		c   Clue
	}
	all := make([]ranked, 0, len(tokens))
	for i, tok := range tokens {
		c := counts[i]
		n := float64(c.Spam) + float64(c.Ham)
		if n == 0 {
			continue
		}
		sr := math.Min(1, float64(c.Spam)/float64(nspam))
		hr := math.Min(1, float64(c.Ham)/float64(nham))
		pw := sr / (sr + hr)
		f := (p.S*p.X + n*pw) / (p.S + n)
		if d := math.Abs(f - 0.5); d >= p.MinDev {
			all = append(all, ranked{d, Clue{tok, f}})
		}
	}
	slices.SortFunc(all, func(a, b ranked) int {
		if c := cmp.Compare(b.dev, a.dev); c != 0 {
			return c
		}
		return strings.Compare(a.c.Token, b.c.Token)
	})
	if len(all) > p.MaxClues {
		all = all[:p.MaxClues]
	}
	clues := make([]Clue, len(all))
	for i, r := range all {
		clues[i] = r.c
	}
	if len(clues) == 0 {
		return 0.5, nil
	}
	var lnS, lnH float64 // ln Π(1-f), ln Π f
	for _, c := range clues {
		f := math.Min(math.Max(c.Prob, 1e-6), 1-1e-6)
		lnS += math.Log(1 - f)
		lnH += math.Log(f)
	}
	n := len(clues)
	s := 1 - chi2Q(-2*lnS, 2*n) // near 1 when the tokens are spammy
	h := 1 - chi2Q(-2*lnH, 2*n) // near 1 when they are hammy
	return (s - h + 1) / 2, clues
}

// chi2Q is the probability that a chi-square variable with v (even)
// degrees of freedom exceeds x2, summed in logs so that long messages do
// not underflow.
func chi2Q(x2 float64, v int) float64 {
	m := x2 / 2
	if m < 500 {
		// e^-m does not underflow: sum the series directly.
		term := math.Exp(-m)
		sum := term
		for i := 1; i < v/2; i++ {
			term *= m / float64(i)
			sum += term
			if math.IsInf(sum, 1) {
				return 1
			}
		}
		return math.Min(1, sum)
	}
	logTerm := -m
	logSum := logTerm
	for i := 1; i < v/2; i++ {
		logTerm += math.Log(m / float64(i))
		logSum = logAdd(logSum, logTerm)
	}
	return math.Min(1, math.Exp(logSum))
}

// logAdd returns log(e^a + e^b).
func logAdd(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(b, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}

// DefaultThreshold is junk.threshold's default: a message scoring above it
// is filed in Junk.
const DefaultThreshold = 0.9
