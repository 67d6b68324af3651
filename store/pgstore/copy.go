package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"petrel/store"
)

// ErrNotCopyTarget is returned by CopyFrom when the database holds
// accounts that are not the source store's.
var ErrNotCopyTarget = errors.New("the database holds accounts that are not the source store's (copy into an empty database)")

// CopyStats says what CopyFrom did.
type CopyStats struct {
	Accounts, Mailboxes, Aliases int
	Messages                     int // copied by this run
	Skipped                      int // already there from an earlier run
	Lists                        int // mailing lists copied, with their members
	JunkModels                   int // junk models copied
}

// copyBatchBytes bounds the bytes of one copy transaction.
const copyBatchBytes = 16 << 20

var errBatchFull = errors.New("batch full")

// CopyFrom copies a bbolt store into this database, keeping account and
// mailbox IDs, password hashes, UIDVALIDITY, UIDNEXT, UIDs, MODSEQs,
// flags, internal dates, bytes (byte for byte) and their sharing between
// copies, so that IMAP clients need not resynchronise. The database must be
// empty or hold an earlier, interrupted copy of the same store: a second
// run goes on after the last UID copied of each mailbox, so a copy can be
// resumed, or repeated to bring over what arrived since. progress, if not
// nil, is told the messages done (this run) and the total in the source.
//
// Then it copies the rest (copyextra.go): mailing lists and members,
// subscriptions, METADATA, expunged-UID histories, junk models.
//
// Nothing may write to the database meanwhile (its nodes stay stopped).
func (s *Store) CopyFrom(ctx context.Context, src *store.Store, progress func(done, total int)) (CopyStats, error) {
	var st CopyStats
	accts, err := src.DumpAccounts()
	if err != nil {
		return st, fmt.Errorf("copy: read accounts: %w", err)
	}
	if err := s.checkCopyTarget(ctx, accts); err != nil {
		return st, err
	}
	var mboxes []store.Mailbox
	total := 0
	for _, a := range accts {
		ms, err := src.Mailboxes(a.ID)
		if err != nil {
			return st, fmt.Errorf("copy: mailboxes of %s: %w", a.Address, err)
		}
		for _, m := range ms {
			total += int(m.Messages)
		}
		mboxes = append(mboxes, ms...)
	}
	err = s.update(ctx, func(tx pgx.Tx) error {
		for _, a := range accts {
			_, err := tx.Exec(ctx, `INSERT INTO accounts (id, address, hash, created) OVERRIDING SYSTEM VALUE
				VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET hash = excluded.hash`,
				int64(a.ID), a.Address, a.Hash, a.Created)
			if err != nil {
				return fmt.Errorf("account %s: %w", a.Address, err)
			}
		}
		for _, m := range mboxes {
			// The counts and UIDNEXT/MODSEQ are the source's: the
			// messages follow before anyone reads them.
			_, err := tx.Exec(ctx, `INSERT INTO mailboxes (id, account, name, special_use, uidvalidity, uidnext, modseq,
				subscribed, messages, unseen, deleted, size, created) OVERRIDING SYSTEM VALUE
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
				ON CONFLICT (id) DO UPDATE SET name = excluded.name, uidnext = excluded.uidnext, modseq = excluded.modseq,
				subscribed = excluded.subscribed, messages = excluded.messages, unseen = excluded.unseen,
				deleted = excluded.deleted, size = excluded.size`,
				int64(m.ID), int64(m.Account), m.Name, m.SpecialUse, int64(m.UIDValidity), int64(m.UIDNext), int64(m.ModSeq),
				m.Subscribed, int64(m.Messages), int64(m.Unseen), int64(m.Deleted), m.Size, m.Created)
			if err != nil {
				return fmt.Errorf("mailbox %q: %w", m.Name, err)
			}
		}
		aliases, err := src.Aliases()
		if err != nil {
			return err
		}
		for _, al := range aliases {
			_, err := tx.Exec(ctx, `INSERT INTO aliases (address, targets, created) VALUES ($1, $2, $3)
				ON CONFLICT (address) DO UPDATE SET targets = excluded.targets`, al.Address, al.Targets, al.Created)
			if err != nil {
				return fmt.Errorf("alias %s: %w", al.Address, err)
			}
		}
		st.Aliases = len(aliases)
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("copy: %w", err)
	}
	st.Accounts, st.Mailboxes = len(accts), len(mboxes)
	for _, m := range mboxes {
		var after int64
		var have int
		if err := s.pool.QueryRow(ctx, "SELECT coalesce(max(uid), 0), count(*) FROM messages WHERE mailbox = $1", int64(m.ID)).Scan(&after, &have); err != nil {
			return st, fmt.Errorf("copy: %w", err)
		}
		st.Skipped += have
		for {
			n, last, err := s.copyBatch(ctx, src, m.ID, store.UID(after))
			if err != nil {
				return st, fmt.Errorf("copy: mailbox %q: %w", m.Name, err)
			}
			if n == 0 {
				break
			}
			st.Messages += n
			after = int64(last)
			if progress != nil {
				progress(st.Messages+st.Skipped, total)
			}
		}
	}
	if err := s.fixSequences(ctx); err != nil {
		return st, err
	}
	if err := s.copyExtrasFrom(ctx, src, accts, mboxes, &st); err != nil {
		return st, fmt.Errorf("copy: %w", err)
	}
	return st, nil
}

// checkCopyTarget refuses a database with accounts the source does not
// have under the same ID.
func (s *Store) checkCopyTarget(ctx context.Context, accts []store.AccountDump) error {
	want := map[uint64]string{}
	for _, a := range accts {
		want[a.ID] = a.Address
	}
	rows, _ := s.pool.Query(ctx, "SELECT id, address FROM accounts")
	have, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
		ID      uint64
		Address string
	}])
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	for _, a := range have {
		if want[a.ID] != a.Address {
			return fmt.Errorf("copy: account %d %s: %w", a.ID, a.Address, ErrNotCopyTarget)
		}
	}
	return nil
}

// copyBatch copies the messages of mailbox mbx after UID after, up to
// copyBatchBytes, in one transaction; it returns how many and the last UID.
func (s *Store) copyBatch(ctx context.Context, src *store.Store, mbx store.MailboxID, after store.UID) (int, store.UID, error) {
	var batch []store.MessageDump
	size := 0
	err := src.DumpMessages(mbx, after, 0, func(m store.MessageDump) error {
		if len(batch) > 0 && size+len(m.Body) > copyBatchBytes {
			return errBatchFull
		}
		batch = append(batch, m)
		size += len(m.Body) + len(m.Prefix)
		return nil
	})
	if err != nil && !errors.Is(err, errBatchFull) {
		return 0, 0, err
	}
	if len(batch) == 0 {
		return 0, after, nil
	}
	err = s.update(ctx, func(tx pgx.Tx) error {
		ids := make([]int64, len(batch))
		for i, m := range batch {
			ids[i] = int64(m.Blob)
		}
		rows, _ := tx.Query(ctx, "SELECT id FROM blobs WHERE id = ANY($1)", ids)
		known, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		have := map[int64]bool{}
		for _, id := range known {
			have[id] = true
		}
		var blobRows, msgRows [][]any
		for _, m := range batch {
			if !have[int64(m.Blob)] {
				have[int64(m.Blob)] = true
				info := m.Info
				if info == nil {
					info = store.EncodeStructure(store.ParseStructure(m.Body))
				}
				blobRows = append(blobRows, []any{int64(m.Blob), m.Body, info})
			}
			flags := m.Flags
			if flags == nil {
				flags = []string{}
			}
			msgRows = append(msgRows, []any{int64(mbx), int64(m.UID), int64(m.Blob), nonNil(m.Prefix), flags,
				m.InternalDate.UnixNano(), m.Size, int64(m.ModSeq)})
		}
		if len(blobRows) > 0 {
			// COPY cannot override the identity; an INSERT per blob can.
			b := &pgx.Batch{}
			for _, r := range blobRows {
				b.Queue("INSERT INTO blobs (id, body, info) OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3)", r...)
			}
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"messages"}, []string{"mailbox", "uid", "blob", "prefix", "flags", "date_ns", "size", "modseq"}, pgx.CopyFromRows(msgRows))
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return len(batch), batch[len(batch)-1].UID, nil
}

// fixSequences moves the ID and UIDVALIDITY sequences past what the copy
// brought, so that new accounts, mailboxes and blobs get new numbers.
func (s *Store) fixSequences(ctx context.Context) error {
	for _, table := range []string{"accounts", "mailboxes", "blobs"} {
		_, err := s.pool.Exec(ctx, fmt.Sprintf("SELECT setval(pg_get_serial_sequence('%s', 'id'), max(id)) FROM %s HAVING max(id) IS NOT NULL", table, table))
		if err != nil {
			return fmt.Errorf("copy: sequence of %s: %w", table, err)
		}
	}
	_, err := s.pool.Exec(ctx, "SELECT setval('uidvalidity', greatest((SELECT last_value FROM uidvalidity), max(uidvalidity))) FROM mailboxes HAVING max(uidvalidity) IS NOT NULL")
	if err != nil {
		return fmt.Errorf("copy: sequence of uidvalidity: %w", err)
	}
	return nil
}

// CopyTo copies this database into a bbolt store, the way back of
// CopyFrom: IDs, password hashes, UIDVALIDITY, UIDNEXT, UIDs, MODSEQs,
// flags, dates, bytes and their sharing kept; resumable the same way (it
// goes on after the last UID of each mailbox in dst). Aliases are set
// anew; lists, subscriptions, METADATA, expunged-UID histories and junk
// models follow (copyextra.go). Nothing may write to this database meanwhile.
func (s *Store) CopyTo(ctx context.Context, dst *store.Store, progress func(done, total int)) (CopyStats, error) {
	var st CopyStats
	rows, _ := s.pool.Query(ctx, "SELECT id, address, hash, created FROM accounts ORDER BY id")
	accts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AccountDump, error) {
		var a store.AccountDump
		err := r.Scan(&a.ID, &a.Address, &a.Hash, &a.Created)
		a.Created = a.Created.UTC()
		return a, err
	})
	if err != nil {
		return st, fmt.Errorf("copy: accounts: %w", err)
	}
	for _, a := range accts {
		if err := dst.LoadAccount(ctx, a); err != nil {
			return st, fmt.Errorf("copy: %w", err)
		}
	}
	rows, _ = s.pool.Query(ctx, "SELECT "+mailboxCols+" FROM mailboxes ORDER BY id")
	mboxes, err := collectMailboxes(rows)
	if err != nil {
		return st, fmt.Errorf("copy: mailboxes: %w", err)
	}
	total := 0
	for _, m := range mboxes {
		total += int(m.Messages)
		if err := dst.LoadMailbox(ctx, m); err != nil {
			return st, fmt.Errorf("copy: %w", err)
		}
	}
	aliases, err := s.Aliases()
	if err != nil {
		return st, fmt.Errorf("copy: %w", err)
	}
	for _, al := range aliases {
		if _, err := dst.SetAlias(ctx, al.Address, al.Targets, store.ResolveOptions{}); err != nil {
			return st, fmt.Errorf("copy: %w", err)
		}
	}
	st.Accounts, st.Mailboxes, st.Aliases = len(accts), len(mboxes), len(aliases)
	for _, m := range mboxes {
		after, err := dst.LastUID(m.ID)
		if err != nil {
			return st, fmt.Errorf("copy: %w", err)
		}
		var have int
		if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM messages WHERE mailbox = $1 AND uid <= $2", int64(m.ID), int64(after)).Scan(&have); err != nil {
			return st, fmt.Errorf("copy: %w", err)
		}
		st.Skipped += have
		for {
			batch, err := s.dumpBatch(ctx, m.ID, after)
			if err != nil {
				return st, fmt.Errorf("copy: mailbox %q: %w", m.Name, err)
			}
			if len(batch) == 0 {
				break
			}
			if err := dst.LoadMessages(ctx, m.ID, batch); err != nil {
				return st, fmt.Errorf("copy: %w", err)
			}
			st.Messages += len(batch)
			after = batch[len(batch)-1].UID
			if progress != nil {
				progress(st.Messages+st.Skipped, total)
			}
		}
	}
	if err := s.copyExtrasTo(ctx, dst, accts, mboxes, &st); err != nil {
		return st, fmt.Errorf("copy: %w", err)
	}
	return st, nil
}

// dumpBatch reads the messages of mailbox mbx after UID after, whole, up
// to copyBatchBytes (at least one).
func (s *Store) dumpBatch(ctx context.Context, mbx store.MailboxID, after store.UID) ([]store.MessageDump, error) {
	rows, _ := s.pool.Query(ctx, "SELECT uid, size FROM messages WHERE mailbox = $1 AND uid > $2 ORDER BY uid LIMIT 1000", int64(mbx), int64(after))
	var uids []int64
	var size int64
	for rows.Next() {
		var uid, sz int64
		if err := rows.Scan(&uid, &sz); err != nil {
			rows.Close()
			return nil, err
		}
		if len(uids) > 0 && size+sz > copyBatchBytes {
			rows.Close()
			break
		}
		uids, size = append(uids, uid), size+sz
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(uids) == 0 {
		return nil, nil
	}
	rows, _ = s.pool.Query(ctx, `SELECT m.uid, m.blob, m.prefix, b.body, b.info, m.flags, m.date_ns, m.size, m.modseq
		FROM messages m JOIN blobs b ON b.id = m.blob WHERE m.mailbox = $1 AND m.uid = ANY($2) ORDER BY m.uid`, int64(mbx), uids)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.MessageDump, error) {
		var d store.MessageDump
		var uid, date int64
		err := r.Scan(&uid, &d.Blob, &d.Prefix, &d.Body, &d.Info, &d.Flags, &date, &d.Size, &d.ModSeq)
		d.UID, d.InternalDate = store.UID(uid), time.Unix(0, date)
		if len(d.Flags) == 0 {
			d.Flags = nil
		}
		if len(d.Prefix) == 0 {
			d.Prefix = nil
		}
		return d, err
	})
}
