package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"petrel/store"
)

// What `store copy` carries after the messages, both ways: each account's
// quota limits, mailing lists with their members (bounce days and all),
// subscriptions of names that are no mailbox, METADATA, each mailbox's
// expunged-UID history (so that QRESYNC clients need not resynchronise),
// the junk models and how each stored message was trained. Each piece is replaced or added to as it
// is, so a copy run again brings them over again.

// metadataRoots are the names every entry is below (RFC 5464 3.2).
var metadataRoots = []string{"/private", "/shared"}

// copyExtrasFrom copies src's extras into this database.
func (s *Store) copyExtrasFrom(ctx context.Context, src *store.Store, accts []store.AccountDump, mboxes []store.Mailbox, st *CopyStats) error {
	lists, err := src.MailingLists()
	if err != nil {
		return err
	}
	for _, l := range lists {
		members, err := src.Members(l.Address)
		if err != nil {
			return err
		}
		if err := s.loadList(ctx, l, members); err != nil {
			return fmt.Errorf("list %s: %w", l.Address, err)
		}
	}
	st.Lists = len(lists)
	byAcct := map[uint64][]store.Mailbox{}
	for _, m := range mboxes {
		byAcct[m.Account] = append(byAcct[m.Account], m)
	}
	for _, a := range accts {
		subs, err := src.Subscriptions(a.ID)
		if err != nil {
			return err
		}
		meta := map[store.MailboxID][]store.MetadataEntry{}
		for _, mbx := range append([]store.MailboxID{0}, ids(byAcct[a.ID])...) {
			es, err := src.Metadata(a.ID, mbx, metadataRoots, -1)
			if err != nil {
				return err
			}
			meta[mbx] = es
		}
		q, err := src.Quota(a.ID)
		if err != nil {
			return fmt.Errorf("quota of %s: %w", a.Address, err)
		}
		err = s.update(ctx, func(tx pgx.Tx) error {
			// The limits only: the usage is counted by the copy's own
			// writes (quota.go).
			if _, err := tx.Exec(ctx, "UPDATE accounts SET storage_limit = $2, message_limit = $3 WHERE id = $1",
				int64(a.ID), q.StorageLimit, q.MessageLimit); err != nil {
				return err
			}
			for _, n := range subs {
				if _, err := tx.Exec(ctx, "INSERT INTO subscriptions (account, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", int64(a.ID), n); err != nil {
					return err
				}
			}
			for mbx, es := range meta {
				for _, e := range es {
					_, err := tx.Exec(ctx, `INSERT INTO metadata (account, mailbox, name, value) VALUES ($1, $2, $3, $4)
						ON CONFLICT (account, mailbox, name) DO UPDATE SET value = excluded.value`, int64(a.ID), int64(mbx), e.Name, e.Value)
					if err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("subscriptions and metadata of %s: %w", a.Address, err)
		}
	}
	for _, m := range mboxes {
		v, err := src.DumpVanished(m.ID)
		if err != nil {
			return err
		}
		if len(v) == 0 {
			continue
		}
		modseqs, uids := make([]int64, len(v)), make([]int64, len(v))
		for i, e := range v {
			modseqs[i], uids[i] = int64(e.ModSeq), int64(e.UID)
		}
		_, err = s.pool.Exec(ctx, `INSERT INTO vanished (mailbox, modseq, uid) SELECT $1, m, u FROM unnest($2::bigint[], $3::bigint[]) AS v(m, u)
			ON CONFLICT DO NOTHING`, int64(m.ID), modseqs, uids)
		if err != nil {
			return fmt.Errorf("vanished of mailbox %q: %w", m.Name, err)
		}
	}
	models, err := src.JunkModels()
	if err != nil {
		return err
	}
	for _, acct := range models {
		d, err := src.DumpJunk(acct)
		if err != nil {
			return err
		}
		if d == nil {
			continue
		}
		if err := s.loadJunk(ctx, d); err != nil {
			return fmt.Errorf("junk model %d: %w", acct, err)
		}
		st.JunkModels++
	}
	jm, err := src.DumpJunkMsgs()
	if err != nil {
		return err
	}
	if len(jm) > 0 {
		blobs, accts, classes := make([]int64, len(jm)), make([]int64, len(jm)), make([]int16, len(jm))
		for i, m := range jm {
			blobs[i], accts[i], classes[i] = int64(m.Blob), int64(m.Account), int16(m.Class)
		}
		_, err := s.pool.Exec(ctx, `INSERT INTO junk_msgs (blob, account, class)
			SELECT b, a, c FROM unnest($1::bigint[], $2::bigint[], $3::smallint[]) AS u(b, a, c)
			WHERE EXISTS (SELECT 1 FROM blobs WHERE id = u.b)
			ON CONFLICT (blob, account) DO UPDATE SET class = excluded.class`, blobs, accts, classes)
		if err != nil {
			return fmt.Errorf("junk training states: %w", err)
		}
	}
	return nil
}

func ids(ms []store.Mailbox) []store.MailboxID {
	out := make([]store.MailboxID, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// loadList stores a list and its members as they were elsewhere,
// replacing the list of that address and its members.
func (s *Store) loadList(ctx context.Context, l store.List, members []store.Member) error {
	if err := store.NormalizeList(&l); err != nil {
		return err
	}
	return s.update(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO lists ("+listCols+`) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (address) DO UPDATE SET post = excluded.post, moderators = excluded.moderators,
			reply_to = excluded.reply_to, archive = excluded.archive, created = excluded.created`,
			l.Address, l.Post, nonNilStrings(l.Moderators), l.ReplyTo, l.Archive, l.Created)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM list_members WHERE list = $1", l.Address); err != nil {
			return err
		}
		rows := make([][]any, len(members))
		for i, m := range members {
			rows[i] = []any{l.Address, m.Address, m.Added, m.Disabled, nonNilStrings(m.BounceDays)}
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"list_members"}, []string{"list", "address", "added", "disabled", "bounce_days"}, pgx.CopyFromRows(rows))
		return err
	})
}

// loadJunk stores a model as it was elsewhere, replacing the account's.
func (s *Store) loadJunk(ctx context.Context, d *store.JunkDump) error {
	return s.update(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM junk_models WHERE account = $1", int64(d.Account)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO junk_models (account, spam, ham, tokens, contacts) VALUES ($1, $2, $3, $4, $5)",
			int64(d.Account), int64(d.Stats.Spam), int64(d.Stats.Ham), int64(d.Stats.Tokens), int64(d.Stats.Contacts))
		if err != nil {
			return err
		}
		toks := make([][]any, len(d.Tokens))
		for i, t := range d.Tokens {
			toks[i] = []any{int64(d.Account), int64(t.Key ^ 1<<63), int64(t.Spam), int64(t.Ham)}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"junk_tokens"}, []string{"account", "hash", "spam", "ham"}, pgx.CopyFromRows(toks)); err != nil {
			return err
		}
		contacts := make([][]any, len(d.Contacts))
		for i, c := range d.Contacts {
			contacts[i] = []any{int64(d.Account), c}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"junk_contacts"}, []string{"account", "address"}, pgx.CopyFromRows(contacts)); err != nil {
			return err
		}
		samples := make([][]any, len(d.Samples))
		for i, sm := range d.Samples {
			samples[i] = []any{int64(d.Account), nonNil(sm.ID), int16(sm.Class)}
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"junk_samples"}, []string{"account", "id", "class"}, pgx.CopyFromRows(samples))
		return err
	})
}

// copyExtrasTo copies this database's extras into dst.
func (s *Store) copyExtrasTo(ctx context.Context, dst *store.Store, accts []store.AccountDump, mboxes []store.Mailbox, st *CopyStats) error {
	lists, err := s.MailingLists()
	if err != nil {
		return err
	}
	for _, l := range lists {
		members, err := s.Members(l.Address)
		if err != nil {
			return err
		}
		if err := dst.LoadList(ctx, l, members); err != nil {
			return err
		}
	}
	st.Lists = len(lists)
	byAcct := map[uint64][]store.Mailbox{}
	for _, m := range mboxes {
		byAcct[m.Account] = append(byAcct[m.Account], m)
	}
	for _, a := range accts {
		// The limits, when dst's differ (each SetQuota is a commit of its
		// own; an account without limits, the most, needs none).
		q, err := s.Quota(a.ID)
		if err != nil {
			return fmt.Errorf("quota of %s: %w", a.Address, err)
		}
		have, err := dst.Quota(a.ID)
		if err != nil {
			return fmt.Errorf("quota of %s: %w", a.Address, err)
		}
		if have.StorageLimit != q.StorageLimit || have.MessageLimit != q.MessageLimit {
			if err := dst.SetQuota(ctx, a.Address, q.StorageLimit, q.MessageLimit); err != nil {
				return fmt.Errorf("quota of %s: %w", a.Address, err)
			}
		}
		subs, err := s.Subscriptions(a.ID)
		if err != nil {
			return err
		}
		for _, n := range subs {
			if err := dst.SetSubscribed(ctx, a.ID, n, true); err != nil {
				return fmt.Errorf("subscription %q of %s: %w", n, a.Address, err)
			}
		}
		for _, mbx := range append([]store.MailboxID{0}, ids(byAcct[a.ID])...) {
			es, err := s.Metadata(a.ID, mbx, metadataRoots, -1)
			if err != nil {
				return err
			}
			if len(es) == 0 {
				continue
			}
			if err := dst.SetMetadata(ctx, a.ID, mbx, es); err != nil {
				return fmt.Errorf("metadata of %s: %w", a.Address, err)
			}
		}
	}
	for _, m := range mboxes {
		rows, _ := s.pool.Query(ctx, "SELECT modseq, uid FROM vanished WHERE mailbox = $1 ORDER BY modseq, uid", int64(m.ID))
		v, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.VanishedEntry, error) {
			var e store.VanishedEntry
			var uid int64
			err := r.Scan(&e.ModSeq, &uid)
			e.UID = store.UID(uid)
			return e, err
		})
		if err != nil {
			return fmt.Errorf("vanished of mailbox %q: %w", m.Name, err)
		}
		if len(v) > 0 {
			if err := dst.LoadVanished(ctx, m.ID, v); err != nil {
				return err
			}
		}
	}
	rows, _ := s.pool.Query(ctx, "SELECT account, spam, ham, tokens, contacts FROM junk_models ORDER BY account")
	models, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.JunkDump, error) {
		var d store.JunkDump
		err := r.Scan(&d.Account, &d.Stats.Spam, &d.Stats.Ham, &d.Stats.Tokens, &d.Stats.Contacts)
		return d, err
	})
	if err != nil {
		return fmt.Errorf("junk models: %w", err)
	}
	for i := range models {
		d := &models[i]
		err := s.view(func(ctx context.Context, tx pgx.Tx) error {
			rows, _ := tx.Query(ctx, "SELECT hash, spam, ham FROM junk_tokens WHERE account = $1 ORDER BY hash", int64(d.Account))
			var k, spam, ham int64
			if _, err := pgx.ForEachRow(rows, []any{&k, &spam, &ham}, func() error {
				d.Tokens = append(d.Tokens, store.JunkTokenDump{Key: uint64(k) ^ 1<<63, JunkCounts: store.JunkCounts{Spam: uint32(spam), Ham: uint32(ham)}})
				return nil
			}); err != nil {
				return err
			}
			rows, _ = tx.Query(ctx, `SELECT address FROM junk_contacts WHERE account = $1 ORDER BY address COLLATE "C"`, int64(d.Account))
			var err error
			if d.Contacts, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return err
			}
			rows, _ = tx.Query(ctx, "SELECT id, class FROM junk_samples WHERE account = $1 ORDER BY id", int64(d.Account))
			d.Samples, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.JunkSampleDump, error) {
				var sm store.JunkSampleDump
				var c int16
				err := r.Scan(&sm.ID, &c)
				sm.Class = store.JunkClass(c)
				return sm, err
			})
			return err
		})
		if err != nil {
			return fmt.Errorf("junk model %d: %w", d.Account, err)
		}
		if err := dst.LoadJunk(ctx, d); err != nil {
			return err
		}
		st.JunkModels++
	}
	rows, _ = s.pool.Query(ctx, "SELECT blob, account, class FROM junk_msgs")
	jm, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.JunkMsgDump, error) {
		var m store.JunkMsgDump
		var c int16
		err := r.Scan(&m.Blob, &m.Account, &c)
		m.Class = store.JunkClass(c)
		return m, err
	})
	if err != nil {
		return fmt.Errorf("junk training states: %w", err)
	}
	if len(jm) > 0 {
		return dst.LoadJunkMsgs(ctx, jm)
	}
	return nil
}
