package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"petrel/store"
)

// The junk classifier's models, as the bbolt store keeps them (store's
// junk.go) and with the same rules: training is part of the transaction
// that moved, copied or flagged the message; a message trained before as
// the same class is left alone, one trained as the other class moves over;
// each model keeps at most Options.JunkMaxTokens tokens, pruning the
// tokens seen in the fewest messages. Tables (schema.go, version 3):
// junk_models (one row per account, 0 the shared model: its totals, and
// the row a training locks first), junk_tokens, junk_contacts,
// junk_samples (messages trained from outside the store, by hash) and
// junk_msgs (how a stored message was trained, by blob and account).
//
// Locks: a write locks its mailboxes first (in ID order), then the models
// it trains, the account's before the shared one; no write takes them in
// another order, so trainings never deadlock.

// trainee is a stored message a write trains.
type trainee struct {
	mbx   store.MailboxID
	uid   store.UID
	blob  int64
	class store.JunkClass
}

// tokenKey is a token's key in junk_tokens: its hash with the top bit
// flipped, so that bigint order is the hash's unsigned order (the order
// the bbolt store prunes in).
func tokenKey(tok string) int64 {
	return int64(store.JunkTokenKey(tok) ^ 1<<63)
}

func tokenKeys(toks []string) []int64 {
	keys := make([]int64, 0, len(toks))
	for _, t := range toks {
		if t != "" {
			keys = append(keys, tokenKey(t))
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

func (s *Store) maxTokens() uint64 {
	if s.opts.JunkMaxTokens > 0 {
		return uint64(s.opts.JunkMaxTokens)
	}
	return store.DefaultJunkMaxTokens
}

// model is one account's model inside a write transaction, its row locked.
type model struct {
	acct uint64
	st   store.JunkStats
}

// lockModel locks (making it if missing) acct's model.
func lockModel(ctx context.Context, tx pgx.Tx, acct uint64) (*model, error) {
	if _, err := tx.Exec(ctx, "INSERT INTO junk_models (account) VALUES ($1) ON CONFLICT DO NOTHING", int64(acct)); err != nil {
		return nil, err
	}
	m := &model{acct: acct}
	err := tx.QueryRow(ctx, "SELECT spam, ham, tokens, contacts FROM junk_models WHERE account = $1 FOR UPDATE", int64(acct)).
		Scan(&m.st.Spam, &m.st.Ham, &m.st.Tokens, &m.st.Contacts)
	return m, err
}

func (m *model) save(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, "UPDATE junk_models SET spam = $2, ham = $3, tokens = $4, contacts = $5 WHERE account = $1",
		int64(m.acct), int64(m.st.Spam), int64(m.st.Ham), int64(m.st.Tokens), int64(m.st.Contacts))
	return err
}

// count adds (delta 1) or removes (-1) one message of class with the
// tokens of keys (sorted, unique).
func (m *model) count(ctx context.Context, tx pgx.Tx, keys []int64, class store.JunkClass, delta int) error {
	switch {
	case class == store.JunkSpam && delta > 0:
		m.st.Spam++
	case class == store.JunkSpam && m.st.Spam > 0:
		m.st.Spam--
	case class == store.JunkHam && delta > 0:
		m.st.Ham++
	case class == store.JunkHam && m.st.Ham > 0:
		m.st.Ham--
	}
	if len(keys) == 0 {
		return nil
	}
	if delta > 0 {
		spam, ham := 0, 1
		if class == store.JunkSpam {
			spam, ham = 1, 0
		}
		rows, _ := tx.Query(ctx, `INSERT INTO junk_tokens (account, hash, spam, ham)
			SELECT $1, h, $3, $4 FROM unnest($2::bigint[]) AS h
			ON CONFLICT (account, hash) DO UPDATE SET spam = least(junk_tokens.spam + excluded.spam, 4294967295),
				ham = least(junk_tokens.ham + excluded.ham, 4294967295)
			RETURNING xmax = 0`, int64(m.acct), keys, spam, ham)
		inserted, err := pgx.CollectRows(rows, pgx.RowTo[bool])
		if err != nil {
			return err
		}
		for _, in := range inserted {
			if in {
				m.st.Tokens++
			}
		}
		return nil
	}
	col := "ham"
	if class == store.JunkSpam {
		col = "spam"
	}
	if _, err := tx.Exec(ctx, "UPDATE junk_tokens SET "+col+" = "+col+" - 1 WHERE account = $1 AND hash = ANY($2) AND "+col+" > 0", int64(m.acct), keys); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, "DELETE FROM junk_tokens WHERE account = $1 AND hash = ANY($2) AND spam = 0 AND ham = 0", int64(m.acct), keys)
	if err != nil {
		return err
	}
	m.st.Tokens -= min(m.st.Tokens, uint64(tag.RowsAffected()))
	return nil
}

// prune keeps the model at most target tokens by dropping the ones seen
// in the fewest messages, by store.JunkPruneCut's rule.
func (m *model) prune(ctx context.Context, tx pgx.Tx, target uint64) error {
	var hist [64]uint64
	rows, _ := tx.Query(ctx, "SELECT least(spam + ham, 63), count(*) FROM junk_tokens WHERE account = $1 GROUP BY 1", int64(m.acct))
	var n, c int64
	if _, err := pgx.ForEachRow(rows, []any{&n, &c}, func() error {
		hist[n] = uint64(c)
		return nil
	}); err != nil {
		return err
	}
	cut, atCut := store.JunkPruneCut(&hist, m.st.Tokens, target)
	t1, err := tx.Exec(ctx, "DELETE FROM junk_tokens WHERE account = $1 AND spam + ham < $2", int64(m.acct), int64(cut))
	if err != nil {
		return err
	}
	t2, err := tx.Exec(ctx, `DELETE FROM junk_tokens WHERE account = $1 AND hash IN
		(SELECT hash FROM junk_tokens WHERE account = $1 AND spam + ham = $2 ORDER BY hash LIMIT $3)`,
		int64(m.acct), int64(cut), int64(min(atCut, math.MaxInt64)))
	if err != nil {
		return err
	}
	m.st.Tokens -= min(m.st.Tokens, uint64(t1.RowsAffected()+t2.RowsAffected()))
	return nil
}

// retrainTx moves one message's tokens from class prev (JunkNone: not
// trained) to class in acct's model, and in the shared model if kept.
func (s *Store) retrainTx(ctx context.Context, tx pgx.Tx, acct uint64, keys []int64, prev, class store.JunkClass) error {
	accts := []uint64{acct}
	if s.opts.JunkShared && acct != store.SharedJunkModel {
		accts = append(accts, store.SharedJunkModel)
	}
	for _, a := range accts {
		m, err := lockModel(ctx, tx, a)
		if err != nil {
			return err
		}
		if prev != store.JunkNone {
			if err := m.count(ctx, tx, keys, prev, -1); err != nil {
				return err
			}
		}
		if err := m.count(ctx, tx, keys, class, 1); err != nil {
			return err
		}
		if max := s.maxTokens(); m.st.Tokens > max {
			if err := m.prune(ctx, tx, max*9/10); err != nil {
				return err
			}
		}
		if err := m.save(ctx, tx); err != nil {
			return err
		}
	}
	return nil
}

// junkTrainTx trains acct's model with stored messages, in the write that
// moved or flagged them (which holds their mailboxes' locks); nothing
// without Options.JunkTokens.
func (s *Store) junkTrainTx(ctx context.Context, tx pgx.Tx, acct uint64, msgs []trainee) error {
	if s.opts.JunkTokens == nil || len(msgs) == 0 {
		return nil
	}
	// The account's model first, then the shared one: the lock order.
	if _, err := lockModel(ctx, tx, acct); err != nil {
		return err
	}
	if s.opts.JunkShared && acct != store.SharedJunkModel {
		if _, err := lockModel(ctx, tx, store.SharedJunkModel); err != nil {
			return err
		}
	}
	for _, t := range msgs {
		if t.class == store.JunkNone {
			continue
		}
		prev := store.JunkNone
		var c int16
		err := tx.QueryRow(ctx, "SELECT class FROM junk_msgs WHERE blob = $1 AND account = $2", t.blob, int64(acct)).Scan(&c)
		switch {
		case err == nil:
			prev = store.JunkClass(c)
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if prev == t.class {
			continue
		}
		var prefix, body []byte
		err = tx.QueryRow(ctx, "SELECT m.prefix, b.body FROM messages m JOIN blobs b ON b.id = m.blob WHERE m.mailbox = $1 AND m.uid = $2",
			int64(t.mbx), int64(t.uid)).Scan(&prefix, &body)
		if err != nil {
			return fmt.Errorf("message %d/%d: %w", t.mbx, t.uid, err)
		}
		keys := tokenKeys(s.opts.JunkTokens(io.MultiReader(bytes.NewReader(prefix), bytes.NewReader(body))))
		if err := s.retrainTx(ctx, tx, acct, keys, prev, t.class); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO junk_msgs (blob, account, class) VALUES ($1, $2, $3)
			ON CONFLICT (blob, account) DO UPDATE SET class = excluded.class`, t.blob, int64(acct), int16(t.class))
		if err != nil {
			return err
		}
	}
	return nil
}

// copyTrainTx is copyTx that trains the destination account's model with
// the messages copied or moved into or out of Junk (store.JunkMoveClass).
// The caller has locked both mailboxes (sm and dm as they were then).
func (s *Store) copyTrainTx(ctx context.Context, tx pgx.Tx, sm store.Mailbox, uids []store.UID, dm store.Mailbox, move bool) (*store.CopyResult, error) {
	if class := store.JunkMoveClass(&sm, &dm); s.opts.JunkTokens != nil && class != store.JunkNone {
		rows, _ := tx.Query(ctx, "SELECT uid, blob FROM messages WHERE mailbox = $1 AND uid = ANY($2) ORDER BY uid", int64(sm.ID), fromUIDs(uids))
		var train []trainee
		var uid, blob int64
		if _, err := pgx.ForEachRow(rows, []any{&uid, &blob}, func() error {
			train = append(train, trainee{mbx: sm.ID, uid: store.UID(uid), blob: blob, class: class})
			return nil
		}); err != nil {
			return nil, err
		}
		if err := s.junkTrainTx(ctx, tx, dm.Account, train); err != nil {
			return nil, err
		}
	}
	return copyTx(ctx, tx, sm.ID, uids, dm.ID, move)
}

// JunkTrain trains acct's model (store.SharedJunkModel: the shared one)
// with one message from outside the store, and reports whether the model
// changed.
func (s *Store) JunkTrain(ctx context.Context, acct uint64, id []byte, toks []string, class store.JunkClass) (bool, error) {
	n, err := s.JunkTrainMany(ctx, acct, []store.JunkSample{{ID: id, Tokens: toks, Class: class}})
	return n == 1, err
}

// JunkTrainMany is JunkTrain for many messages in one transaction; it
// returns how many changed the model.
func (s *Store) JunkTrainMany(ctx context.Context, acct uint64, samples []store.JunkSample) (int, error) {
	for _, sm := range samples {
		if sm.Class != store.JunkSpam && sm.Class != store.JunkHam {
			return 0, fmt.Errorf("junk train: class %v", sm.Class)
		}
	}
	var changed int
	err := s.update(ctx, func(tx pgx.Tx) error {
		changed = 0
		if acct != store.SharedJunkModel {
			if err := accountExists(ctx, tx, acct); err != nil {
				return err
			}
		}
		for _, sm := range samples {
			if _, err := lockModel(ctx, tx, acct); err != nil {
				return err
			}
			prev := store.JunkNone
			var c int16
			err := tx.QueryRow(ctx, "SELECT class FROM junk_samples WHERE account = $1 AND id = $2", int64(acct), nonNil(sm.ID)).Scan(&c)
			switch {
			case err == nil:
				prev = store.JunkClass(c)
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
			if prev == sm.Class {
				continue
			}
			_, err = tx.Exec(ctx, `INSERT INTO junk_samples (account, id, class) VALUES ($1, $2, $3)
				ON CONFLICT (account, id) DO UPDATE SET class = excluded.class`, int64(acct), nonNil(sm.ID), int16(sm.Class))
			if err != nil {
				return err
			}
			if err := s.retrainTx(ctx, tx, acct, tokenKeys(sm.Tokens), prev, sm.Class); err != nil {
				return err
			}
			changed++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("junk train: %w", err)
	}
	return changed, nil
}

func accountExists(ctx context.Context, tx pgx.Tx, acct uint64) error {
	var one int
	err := tx.QueryRow(ctx, "SELECT 1 FROM accounts WHERE id = $1 FOR SHARE", int64(acct)).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNoAccount
	}
	return err
}

// JunkLookup fills counts[i] with the counts of toks[i] in acct's model
// and returns the model's totals, all from one consistent read.
func (s *Store) JunkLookup(acct uint64, toks []string, counts []store.JunkCounts) (store.JunkStats, error) {
	var st store.JunkStats
	err := s.view(func(ctx context.Context, tx pgx.Tx) error {
		clear(counts)
		st = store.JunkStats{}
		err := tx.QueryRow(ctx, "SELECT spam, ham, tokens, contacts FROM junk_models WHERE account = $1", int64(acct)).
			Scan(&st.Spam, &st.Ham, &st.Tokens, &st.Contacts)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil || len(toks) == 0 {
			return err
		}
		at := make(map[int64][]int, len(toks))
		for i, t := range toks {
			if t != "" {
				k := tokenKey(t)
				at[k] = append(at[k], i)
			}
		}
		keys := make([]int64, 0, len(at))
		for k := range at {
			keys = append(keys, k)
		}
		rows, _ := tx.Query(ctx, "SELECT hash, spam, ham FROM junk_tokens WHERE account = $1 AND hash = ANY($2)", int64(acct), keys)
		var k, spam, ham int64
		_, err = pgx.ForEachRow(rows, []any{&k, &spam, &ham}, func() error {
			for _, i := range at[k] {
				counts[i] = store.JunkCounts{Spam: uint32(min(spam, 1<<32-1)), Ham: uint32(min(ham, 1<<32-1))}
			}
			return nil
		})
		return err
	})
	if err != nil {
		return store.JunkStats{}, fmt.Errorf("junk lookup: %w", err)
	}
	return st, nil
}

// JunkStatsOf returns acct's model's totals.
func (s *Store) JunkStatsOf(acct uint64) (store.JunkStats, error) {
	return s.JunkLookup(acct, nil, nil)
}

// JunkTrusted reports whether acct's user has written to addr.
func (s *Store) JunkTrusted(acct uint64, addr string) (bool, error) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	ctx, cancel := s.readCtx()
	defer cancel()
	var ok bool
	err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM junk_contacts WHERE account = $1 AND address = $2)", int64(acct), addr).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("junk trusted: %w", err)
	}
	return ok, nil
}

// JunkModelSize returns how many bytes of the database acct's model takes
// (its rows, as PostgreSQL stores them, without the indexes).
func (s *Store) JunkModelSize(acct uint64) (int64, error) {
	ctx, cancel := s.readCtx()
	defer cancel()
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce((SELECT sum(pg_column_size(t.*)) FROM junk_tokens t WHERE account = $1), 0)
		+ coalesce((SELECT sum(pg_column_size(c.*)) FROM junk_contacts c WHERE account = $1), 0)`, int64(acct)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("junk model size: %w", err)
	}
	return n, nil
}

// JunkTrust records addrs as trusted senders of acct (addresses its user
// wrote to). It writes only when one of them is new.
func (s *Store) JunkTrust(ctx context.Context, acct uint64, addrs []string) error {
	var fresh []string
	for _, a := range addrs {
		ok, err := s.JunkTrusted(acct, a)
		if err != nil {
			return err
		}
		if !ok {
			fresh = append(fresh, a)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	err := s.update(ctx, func(tx pgx.Tx) error {
		if err := accountExists(ctx, tx, acct); err != nil {
			return err
		}
		return addContactsTx(ctx, tx, acct, fresh)
	})
	if err != nil {
		return fmt.Errorf("junk trust: %w", err)
	}
	return nil
}

// addContactsTx records addresses acct's user wrote to as trusted, up to
// store.DefaultJunkMaxContacts.
func addContactsTx(ctx context.Context, tx pgx.Tx, acct uint64, addrs []string) error {
	if len(addrs) == 0 {
		return nil
	}
	m, err := lockModel(ctx, tx, acct)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == "" || len(a) > 320 {
			continue
		}
		if m.st.Contacts >= store.DefaultJunkMaxContacts {
			break
		}
		tag, err := tx.Exec(ctx, "INSERT INTO junk_contacts (account, address) VALUES ($1, $2) ON CONFLICT DO NOTHING", int64(acct), a)
		if err != nil {
			return err
		}
		m.st.Contacts += uint64(tag.RowsAffected())
	}
	return m.save(ctx, tx)
}

// junkMailboxTx finds acct's Junk mailbox (special-use \Junk), else the
// one named Junk, making "Junk" (\Junk) if the account has neither.
func junkMailboxTx(ctx context.Context, tx pgx.Tx, acct uint64) (store.MailboxID, error) {
	var id int64
	err := tx.QueryRow(ctx, `SELECT id FROM mailboxes WHERE account = $1 AND (special_use = '\Junk' OR name = 'Junk')
		ORDER BY special_use = '\Junk' DESC, name COLLATE "C" LIMIT 1`, int64(acct)).Scan(&id)
	if err == nil {
		return store.MailboxID(id), nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, err
	}
	if err := accountExists(ctx, tx, acct); err != nil {
		return 0, fmt.Errorf("account %d: %w", acct, err)
	}
	m, err := createMailboxTx(ctx, tx, acct, "Junk", `\Junk`)
	if err != nil {
		return 0, err
	}
	return m.ID, nil
}

// JunkJudge reads what a verdict for acct needs: whether acct's user
// wrote to one of senders (then counts are left alone), and else the
// model's totals and the counts of toks (JunkLookup).
func (s *Store) JunkJudge(acct uint64, senders, toks []string, counts []store.JunkCounts) (store.JunkStats, bool, error) {
	if len(senders) > 0 {
		lower := make([]string, len(senders))
		for i, a := range senders {
			lower[i] = strings.ToLower(strings.TrimSpace(a))
		}
		ctx, cancel := s.readCtx()
		defer cancel()
		var trusted bool
		err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM junk_contacts WHERE account = $1 AND address = ANY($2))", int64(acct), lower).Scan(&trusted)
		if err != nil {
			return store.JunkStats{}, false, fmt.Errorf("junk judge: %w", err)
		}
		if trusted {
			return store.JunkStats{}, true, nil
		}
	}
	st, err := s.JunkLookup(acct, toks, counts)
	return st, false, err
}

// JunkApplyPending applies the trainings pending: none on PostgreSQL,
// where a move trains the model in its own transaction.
func (s *Store) JunkApplyPending(ctx context.Context) (int, error) { return 0, nil }

// JunkPending is how many trainings of acct wait for the junk worker:
// none on PostgreSQL (JunkApplyPending).
func (s *Store) JunkPending(acct uint64) (int, error) { return 0, nil }
