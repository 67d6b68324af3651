package junk

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"petrel/mailio"
)

// corpusDir is where the SpamAssassin public corpus is: ../shared/corpus
// next to the repository (PETREL_CORPUS overrides it).
func corpusDir(t testing.TB) string {
	if d := os.Getenv("PETREL_CORPUS"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatal("no go.mod above", wd)
		}
		root = parent
	}
	return filepath.Join(root, "..", "shared", "corpus", "spamassassin")
}

// readMbox reads every message of a (possibly gzipped) mboxrd file.
func readMbox(t testing.TB, path string) [][]byte {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if filepath.Ext(path) == ".gz" {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	mr := mailio.NewMboxReader(r, mailio.MboxRD)
	var out [][]byte
	for {
		m, err := mr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if m.Body != nil {
			out = append(out, m.Body)
		}
	}
}

// memModel is a model in memory, for measuring the classifier apart from
// the store.
type memModel struct {
	tokens      map[string]Counts
	nspam, nham uint32
}

func newMemModel() *memModel { return &memModel{tokens: map[string]Counts{}} }

func (m *memModel) train(toks []string, spam bool) {
	for _, tok := range toks {
		c := m.tokens[tok]
		if spam {
			c.Spam++
		} else {
			c.Ham++
		}
		m.tokens[tok] = c
	}
	if spam {
		m.nspam++
	} else {
		m.nham++
	}
}

func (m *memModel) score(p Params, toks []string) (float64, []Clue) {
	counts := make([]Counts, len(toks))
	for i, tok := range toks {
		counts[i] = m.tokens[tok]
	}
	return Score(p, toks, counts, m.nspam, m.nham)
}

type labelled struct {
	toks []string
	spam bool
}

// result of one evaluation: ham filed as junk, spam let through.
type result struct {
	ham, spam, fp, fn int
}

func (r result) String() string {
	return fmt.Sprintf("ham in Junk %d/%d (%.2f%%), spam caught %d/%d (%.2f%%)",
		r.fp, r.ham, 100*float64(r.fp)/float64(r.ham), r.spam-r.fn, r.spam, 100*float64(r.spam-r.fn)/float64(r.spam))
}

// kfold trains on trainN messages of each fold's shuffled order (ham and
// spam in the corpus' proportion) and tests on all the rest, k times with
// different orders.
func kfold(all []labelled, k, trainN int, p Params, threshold float64, seed uint64) (result, *memModel) {
	var total result
	var last *memModel
	for fold := 0; fold < k; fold++ {
		rng := rand.New(rand.NewPCG(seed, uint64(fold)))
		idx := rng.Perm(len(all))
		m := newMemModel()
		for _, i := range idx[:trainN] {
			m.train(all[i].toks, all[i].spam)
		}
		for _, i := range idx[trainN:] {
			s, _ := m.score(p, all[i].toks)
			if all[i].spam {
				total.spam++
				if s <= threshold {
					total.fn++
				}
			} else {
				total.ham++
				if s > threshold {
					total.fp++
				}
			}
		}
		last = m
	}
	return total, last
}

func loadCorpus(t testing.TB) []labelled {
	t.Helper()
	dir := corpusDir(t)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no corpus at %s: %v", dir, err)
	}
	var all []labelled
	for _, f := range []struct {
		name string
		spam bool
	}{{"easy-ham-1.mbox.gz", false}, {"spam-2.mbox.gz", true}} {
		for _, msg := range readMbox(t, filepath.Join(dir, f.name)) {
			all = append(all, labelled{Tokens(bytes.NewReader(msg)), f.spam})
		}
	}
	return all
}

// TestCorpus measures the classifier on the SpamAssassin public corpus:
// 5 folds, each trained on 1,000 messages and tested on the other 2,896.
func TestCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	all := loadCorpus(t)
	r, m := kfold(all, 5, 1000, DefaultParams, DefaultThreshold, 1)
	t.Logf("5-fold, 1,000 trained, threshold %.2f: %v; model %d tokens", DefaultThreshold, r, len(m.tokens))
	if fp := float64(r.fp) / float64(r.ham); fp > 0.005 {
		t.Errorf("%.2f%% of ham filed in Junk, want ≤ 0.5%%", 100*fp)
	}
	if caught := float64(r.spam-r.fn) / float64(r.spam); caught < 0.95 {
		t.Errorf("%.2f%% of spam caught, want ≥ 95%%", 100*caught)
	}
}
