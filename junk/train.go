package junk

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"petrel/mailio"
	"petrel/store"
)

// Trainer is what `petrel junk train` needs of the store.
type Trainer interface {
	JunkTrainMany(ctx context.Context, acct uint64, samples []store.JunkSample) (int, error)
}

// trainBatch is how many messages TrainPath trains in one commit.
const trainBatch = 200

// TrainResult counts what TrainPath did.
type TrainResult struct {
	Messages int // read
	Trained  int // that changed the model (the others were trained so already)
}

// TrainPath trains acct's model with every message of an mbox file (plain
// or .gz) or a Maildir (a directory) at path as class. A message trained
// before the same way (by the same bytes) is not counted again; trained
// the other way, it is moved over. progress, if set, is called after each
// message.
func TrainPath(ctx context.Context, st Trainer, acct uint64, path string, class store.JunkClass, progress func(TrainResult)) (TrainResult, error) {
	var res TrainResult
	var batch []store.JunkSample
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := st.JunkTrainMany(ctx, acct, batch)
		if err != nil {
			return err
		}
		res.Messages += len(batch)
		res.Trained += n
		batch = batch[:0]
		if progress != nil {
			progress(res)
		}
		return nil
	}
	train := func(body []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")) // one id whatever the line ends
		id := sha256.Sum256(body)
		batch = append(batch, store.JunkSample{ID: id[:16], Tokens: Tokens(bytes.NewReader(body)), Class: class})
		if len(batch) == trainBatch {
			return flush()
		}
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return res, fmt.Errorf("junk train: %w", err)
	}
	if fi.IsDir() {
		err := mailio.EachMaildirMessage(path, func(_ string, body []byte) error { return train(body) })
		if err == nil {
			err = flush()
		}
		if err != nil {
			return res, fmt.Errorf("junk train %s: %w", path, err)
		}
		return res, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return res, fmt.Errorf("junk train: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return res, fmt.Errorf("junk train %s: %w", path, err)
		}
		r = zr
	}
	mr := mailio.NewMboxReader(r, mailio.MboxRD)
	for {
		m, err := mr.Next()
		if errors.Is(err, io.EOF) {
			if err := flush(); err != nil {
				return res, fmt.Errorf("junk train %s: %w", path, err)
			}
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("junk train %s: %w (give an mbox file or a Maildir directory)", path, err)
		}
		if m.TooBig {
			continue
		}
		if err := train(m.Body); err != nil {
			return res, fmt.Errorf("junk train %s, message at line %d: %w", path, m.Line, err)
		}
	}
}

// Stats is what `petrel junk stats` shows of one account.
type Stats struct {
	store.JunkStats
	Pending    int   // trainings recorded but not yet in the model
	Bytes      int64 // the model's share of the store file
	MinTrained int
	Ready      bool // has learnt enough to give verdicts
}

// StatsReader is what `petrel junk stats` needs of the store.
type StatsReader interface {
	JunkApplyPending(ctx context.Context) (int, error)
	JunkPending(acct uint64) (int, error)
	JunkStatsOf(acct uint64) (store.JunkStats, error)
	JunkModelSize(acct uint64) (int64, error)
}

// ModelStats describes acct's model, once the trainings pending (moves
// the junk worker has not applied yet) are in it.
func ModelStats(ctx context.Context, st StatsReader, acct uint64, minTrained int) (Stats, error) {
	if minTrained <= 0 {
		minTrained = DefaultMinTrained
	}
	if _, err := st.JunkApplyPending(ctx); err != nil {
		return Stats{}, fmt.Errorf("junk stats: %w", err)
	}
	pending, err := st.JunkPending(acct)
	if err != nil {
		return Stats{}, fmt.Errorf("junk stats: %w", err)
	}
	js, err := st.JunkStatsOf(acct)
	if err != nil {
		return Stats{}, fmt.Errorf("junk stats: %w", err)
	}
	n, err := st.JunkModelSize(acct)
	if err != nil {
		return Stats{}, fmt.Errorf("junk stats: %w", err)
	}
	return Stats{JunkStats: js, Pending: pending, Bytes: n, MinTrained: minTrained,
		Ready: js.Spam >= uint64(minTrained) && js.Ham >= uint64(minTrained)}, nil
}

// Write prints s for an administrator.
func (s Stats) Write(w io.Writer, who string) {
	fmt.Fprintf(w, "%s: trained on %d spam and %d ham messages; %d tokens, %d trusted contacts, %d KiB\n",
		who, s.Spam, s.Ham, s.Tokens, s.Contacts, (s.Bytes+1023)/1024)
	if s.Pending > 0 {
		fmt.Fprintf(w, "%d trainings pending (the junk worker applies them shortly)\n", s.Pending)
	}
	if s.Ready {
		fmt.Fprintln(w, "verdicts: on (files mail scoring above junk.threshold in Junk)")
	} else {
		fmt.Fprintf(w, "verdicts: off until it has learnt %d spam and %d ham messages (move mail into and out of Junk, or `petrel junk train`)\n", s.MinTrained, s.MinTrained)
	}
}

// AppliedCounter registers petrel_junk_trainings_applied_total with reg
// and returns what store.Options.OnJunkApply takes to count it: the
// trainings (moves into and out of Junk, $Junk, $NotJunk) the store's
// junk worker has applied to the models.
func AppliedCounter(reg prometheus.Registerer) (func(n int), error) {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "petrel_junk_trainings_applied_total",
		Help: "Trainings of the junk models (moves into and out of Junk, $Junk, $NotJunk) applied by the store's junk worker.",
	})
	if err := reg.Register(c); err != nil {
		return nil, fmt.Errorf("junk metrics: %w", err)
	}
	return func(n int) { c.Add(float64(n)) }, nil
}
