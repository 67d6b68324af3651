package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"petrel/store"
)

// newMsg is a message about to be added to a mailbox.
type newMsg struct {
	blob   int64
	prefix []byte
	flags  []string
	date   int64 // Unix nanoseconds
	size   int64
}

// counts returns what m adds to its mailbox's unseen and deleted counts.
func counts(flags []string) (unseen, deleted int64) {
	unseen = 1
	for _, f := range flags {
		switch f {
		case store.FlagSeen:
			unseen = 0
		case store.FlagDeleted:
			deleted = 1
		}
	}
	return unseen, deleted
}

// addMessagesTx gives msgs the next UIDs of mailbox id, all with the same
// new MODSEQ, stores them and records the change. The mailbox's row is
// locked by the UPDATE until the transaction ends.
func addMessagesTx(ctx context.Context, tx pgx.Tx, id store.MailboxID, msgs []newMsg) (store.Mailbox, []store.UID, error) {
	var size, unseen, deleted int64
	for _, m := range msgs {
		u, d := counts(m.flags)
		size, unseen, deleted = size+m.size, unseen+u, deleted+d
	}
	n := int64(len(msgs))
	mb, err := scanMailbox(tx.QueryRow(ctx, `UPDATE mailboxes SET uidnext = uidnext + $2, modseq = modseq + 1,
		messages = messages + $2, size = size + $3, unseen = unseen + $4, deleted = deleted + $5
		WHERE id = $1 RETURNING `+mailboxCols, int64(id), n, size, unseen, deleted))
	if err != nil {
		return mb, nil, err
	}
	if uint64(mb.UIDNext) > 1<<32-1 {
		return mb, nil, fmt.Errorf("mailbox %s: UIDs exhausted", mb.Name)
	}
	first := int64(mb.UIDNext) - n
	uids := make([]store.UID, n)
	added := make([]store.Message, n)
	rows := make([][]any, n)
	for i, m := range msgs {
		uid := first + int64(i)
		uids[i] = store.UID(uid)
		flags := m.flags
		if flags == nil {
			flags = []string{}
		}
		rows[i] = []any{int64(id), uid, m.blob, m.prefix, flags, m.date, m.size, int64(mb.ModSeq)}
		added[i] = store.Message{UID: store.UID(uid), Flags: m.flags, InternalDate: time.Unix(0, m.date), Size: m.size, ModSeq: mb.ModSeq, Blob: uint64(m.blob)}
	}
	if n == 1 {
		_, err = tx.Exec(ctx, "INSERT INTO messages (mailbox, uid, blob, prefix, flags, date_ns, size, modseq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", rows[0]...)
	} else {
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"messages"}, []string{"mailbox", "uid", "blob", "prefix", "flags", "date_ns", "size", "modseq"}, pgx.CopyFromRows(rows))
	}
	if err != nil {
		return mb, nil, err
	}
	return mb, uids, emit(ctx, tx, store.Event{Kind: store.EventAdded, Mailbox: id, ModSeq: mb.ModSeq, Messages: added})
}

// putBlob stores a delivery's bytes once, with their parsed structure.
func putBlob(ctx context.Context, tx pgx.Tx, body, info []byte) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, "INSERT INTO blobs (body, info) VALUES ($1, $2) RETURNING id", body, info).Scan(&id)
	return id, err
}

// dropBlobs deletes those of blobs that no message refers to any more.
// The caller holds the locks of the mailboxes that referred to them, so no
// copy of those messages is being made. The blobs' rows are locked first
// (in ID order): two transactions removing the last two references of one
// blob then take turns, and the second sees the first's removal, so the
// blob goes with its last message instead of being left behind by both.
func dropBlobs(ctx context.Context, tx pgx.Tx, blobs []int64) error {
	if len(blobs) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, "SELECT 1 FROM blobs WHERE id = ANY($1) ORDER BY id FOR UPDATE", blobs); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "DELETE FROM blobs b WHERE b.id = ANY($1) AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob = b.id)", blobs)
	return err
}

// Deliver stores d in every target's mailbox in one transaction and
// returns once it is committed: a nil error is the point after which SMTP
// may say 250.
func (s *Store) Deliver(ctx context.Context, d *store.Delivery) ([]store.Delivered, error) {
	if len(d.Targets) == 0 {
		return nil, nil
	}
	date := d.Date
	if date.IsZero() {
		date = time.Now()
	}
	info := store.EncodeStructure(store.ParseStructure(d.Body))
	var out []store.Delivered
	err := s.update(ctx, func(tx pgx.Tx) error {
		out = make([]store.Delivered, len(d.Targets))
		ids := make([]store.MailboxID, len(d.Targets))
		for i, tg := range d.Targets {
			var id store.MailboxID
			var err error
			if tg.Junk {
				id, err = junkMailboxTx(ctx, tx, tg.Account)
				if errors.Is(err, store.ErrMailboxExists) {
					return errRetry // made by another delivery meanwhile
				}
			} else {
				id, err = deliveryMailbox(ctx, tx, tg.Account, tg.Mailbox)
			}
			if err != nil {
				return err
			}
			ids[i] = id
		}
		blob, err := putBlob(ctx, tx, d.Body, info)
		if err != nil {
			return err
		}
		// Mailboxes locked in ID order: concurrent deliveries to the
		// same mailboxes never wait for each other in a circle.
		order := make([]int, len(ids))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return ids[order[a]] < ids[order[b]] })
		if err := lockTargetsTx(ctx, tx, d.Targets, ids); err != nil {
			return err
		}
		for _, i := range order {
			tg := d.Targets[i]
			mb, uids, err := addMessagesTx(ctx, tx, ids[i], []newMsg{{
				blob: blob, prefix: nonNil(tg.Prefix), flags: store.NormalizeFlags(tg.Flags),
				date: date.UnixNano(), size: int64(len(tg.Prefix) + len(d.Body)),
			}})
			if errors.Is(err, store.ErrNoMailbox) {
				// Deleted since deliveryMailbox found it: find again
				// (INBOX, if the folder is gone for good).
				return errRetry
			}
			if err != nil {
				return err
			}
			out[i] = store.Delivered{Mailbox: mb.ID, UIDValidity: mb.UIDValidity, UID: uids[0]}
		}
		// Trusted senders after every mailbox lock (the lock order:
		// mailboxes, then models), in account order.
		for _, i := range contactOrder(d.Targets) {
			if err := addContactsTx(ctx, tx, d.Targets[i].Account, d.Targets[i].Contacts); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("deliver: %w", err)
	}
	return out, nil
}

// lockTargetsTx locks, for a delivery to several mailboxes, all of them
// (by ID) and then, if they are of several accounts, the accounts' usage
// rows (by account), before any message goes in: a message inserted locks
// its account's usage row (quota.go), which must not be held while
// another mailbox is awaited.
// One mailbox needs nothing: adding the message locks it first. A
// mailbox deleted since it was found makes the delivery start again.
func lockTargetsTx(ctx context.Context, tx pgx.Tx, tgs []store.Target, ids []store.MailboxID) error {
	mbxs := make([]int64, len(ids))
	accts := make([]int64, len(tgs))
	for i := range ids {
		mbxs[i], accts[i] = int64(ids[i]), int64(tgs[i].Account)
	}
	slices.Sort(mbxs)
	mbxs = slices.Compact(mbxs)
	if len(mbxs) < 2 {
		return nil
	}
	var n int
	err := tx.QueryRow(ctx, "SELECT count(*) FROM (SELECT 1 FROM mailboxes WHERE id = ANY($1) ORDER BY id FOR UPDATE) l", mbxs).Scan(&n)
	if err != nil {
		return err
	}
	if n < len(mbxs) {
		return errRetry
	}
	// One account: its row is locked by the first message, with every
	// mailbox held already.
	slices.Sort(accts)
	if accts = slices.Compact(accts); len(accts) < 2 {
		return nil
	}
	return lockUsageTx(ctx, tx, accts)
}

// contactOrder returns the indexes of the targets with contacts, by
// account.
func contactOrder(tgs []store.Target) []int {
	var out []int
	for i, tg := range tgs {
		if len(tg.Contacts) > 0 {
			out = append(out, i)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return tgs[out[a]].Account < tgs[out[b]].Account })
	return out
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// deliveryMailbox finds a target's mailbox: the named one, else INBOX.
func deliveryMailbox(ctx context.Context, tx pgx.Tx, acct uint64, name string) (store.MailboxID, error) {
	var id int64
	if name != "" {
		if n, err := store.NormalizeMailboxName(name); err == nil {
			err := tx.QueryRow(ctx, "SELECT id FROM mailboxes WHERE account = $1 AND name = $2", int64(acct), n).Scan(&id)
			if err == nil {
				return store.MailboxID(id), nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return 0, err
			}
		}
	}
	err := tx.QueryRow(ctx, "SELECT id FROM mailboxes WHERE account = $1 AND name = 'INBOX'", int64(acct)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("account %d: %w", acct, store.ErrNoAccount)
	}
	return store.MailboxID(id), err
}

// Append adds a message to one mailbox (IMAP APPEND).
func (s *Store) Append(ctx context.Context, mbx store.MailboxID, body []byte, flags []string, date time.Time) (store.Delivered, error) {
	if date.IsZero() {
		date = time.Now()
	}
	info := store.EncodeStructure(store.ParseStructure(body))
	var out store.Delivered
	err := s.update(ctx, func(tx pgx.Tx) error {
		if _, err := lockMailbox(ctx, tx, mbx); err != nil {
			return err
		}
		blob, err := putBlob(ctx, tx, body, info)
		if err != nil {
			return err
		}
		mb, uids, err := addMessagesTx(ctx, tx, mbx, []newMsg{{blob: blob, prefix: []byte{}, flags: store.NormalizeFlags(flags), date: date.UnixNano(), size: int64(len(body))}})
		if err != nil {
			return err
		}
		out = store.Delivered{Mailbox: mb.ID, UIDValidity: mb.UIDValidity, UID: uids[0]}
		return nil
	})
	if err != nil {
		return store.Delivered{}, fmt.Errorf("append: %w", err)
	}
	return out, nil
}

const messageCols = "uid, flags, date_ns, size, modseq, blob, saved"

func scanMessage(r pgx.CollectableRow) (store.Message, error) {
	var m store.Message
	var uid, date int64
	var saved *time.Time
	err := r.Scan(&uid, &m.Flags, &date, &m.Size, &m.ModSeq, &m.Blob, &saved)
	m.UID, m.InternalDate = store.UID(uid), time.Unix(0, date)
	if saved != nil {
		m.SaveDate = saved.Truncate(time.Second)
	}
	if len(m.Flags) == 0 {
		m.Flags = nil
	}
	return m, err
}

// List returns every message of a mailbox in UID order.
func (s *Store) List(mbx store.MailboxID) ([]store.Message, error) {
	var out []store.Message
	err := s.view(func(ctx context.Context, tx pgx.Tx) error {
		if err := exists(ctx, tx, mbx); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, "SELECT "+messageCols+" FROM messages WHERE mailbox = $1 ORDER BY uid", int64(mbx))
		var err error
		out, err = pgx.CollectRows(rows, scanMessage)
		return err
	})
	return out, err
}

func exists(ctx context.Context, tx pgx.Tx, mbx store.MailboxID) error {
	var one int
	err := tx.QueryRow(ctx, "SELECT 1 FROM mailboxes WHERE id = $1", int64(mbx)).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNoMailbox
	}
	return err
}

// Messages returns the messages of uids that still exist, in the order
// given. Missing UIDs are skipped.
func (s *Store) Messages(mbx store.MailboxID, uids []store.UID) ([]store.Message, error) {
	var found []store.Message
	err := s.view(func(ctx context.Context, tx pgx.Tx) error {
		if err := exists(ctx, tx, mbx); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, "SELECT "+messageCols+" FROM messages WHERE mailbox = $1 AND uid = ANY($2)", int64(mbx), fromUIDs(uids))
		var err error
		found, err = pgx.CollectRows(rows, scanMessage)
		return err
	})
	if err != nil {
		return nil, err
	}
	byUID := make(map[store.UID]store.Message, len(found))
	for _, m := range found {
		byUID[m.UID] = m
	}
	out := make([]store.Message, 0, len(found))
	for _, u := range uids {
		if m, ok := byUID[u]; ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// MessagesInto is Messages appending to buf[:0] (store.Store's contract).
func (s *Store) MessagesInto(buf []store.Message, mbx store.MailboxID, uids []store.UID) ([]store.Message, error) {
	msgs, err := s.Messages(mbx, uids)
	return append(buf[:0], msgs...), err
}

// ReadMessage returns a copy of a whole message.
func (s *Store) ReadMessage(mbx store.MailboxID, uid store.UID) ([]byte, error) {
	return s.ReadRange(mbx, uid, 0, 1<<62)
}

// ReadRange copies out bytes [off, off+n) of a message, prefix included,
// clipped to its end. Only the part of the body in the range is read: the
// body is stored uncompressed out of line, and substring reads its chunks.
func (s *Store) ReadRange(mbx store.MailboxID, uid store.UID, off, n int64) ([]byte, error) {
	off, n = max(off, 0), max(n, 0)
	end := off + n
	if end < off { // overflow
		end = 1 << 62
	}
	ctx, cancel := s.readCtx()
	defer cancel()
	var prefix, part []byte
	err := s.pool.QueryRow(ctx, `SELECT m.prefix,
		substring(b.body FROM greatest($3::bigint - octet_length(m.prefix), 0)::int + 1
			FOR greatest(least($4::bigint, m.size) - greatest($3::bigint, octet_length(m.prefix)), 0)::int)
		FROM messages m JOIN blobs b ON b.id = m.blob WHERE m.mailbox = $1 AND m.uid = $2`,
		int64(mbx), int64(uid), off, end).Scan(&prefix, &part)
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNoMessage
	}
	if err != nil {
		return nil, fmt.Errorf("read message %d/%d: %w", mbx, uid, err)
	}
	pl := int64(len(prefix))
	out := make([]byte, 0, int64(len(part))+max(min(end, pl)-min(off, pl), 0))
	if off < pl {
		out = append(out, prefix[off:min(end, pl)]...)
	}
	return append(out, part...), nil
}

// StoreFlags changes the flags of the given messages and returns their new
// state (UIDs that no longer exist are skipped). Messages whose flags do
// not change are returned too but not written or announced.
func (s *Store) StoreFlags(ctx context.Context, mbx store.MailboxID, uids []store.UID, op store.FlagOp, flags []string) ([]store.Message, error) {
	out, _, err := s.StoreFlagsIf(ctx, mbx, uids, op, flags, math.MaxUint64)
	return out, err
}

// StoreFlagsIf is StoreFlags that leaves alone, in the same transaction,
// the messages whose MODSEQ is above unchangedSince, and returns their
// UIDs as modified (IMAP's STORE (UNCHANGEDSINCE n), RFC 7162 3.1.3). A
// message given $Junk or $NotJunk trains its account's junk model in the
// same transaction (junk.go).
func (s *Store) StoreFlagsIf(ctx context.Context, mbx store.MailboxID, uids []store.UID, op store.FlagOp, flags []string, unchangedSince uint64) ([]store.Message, []store.UID, error) {
	flags = store.NormalizeFlags(flags)
	var out []store.Message
	var modified []store.UID
	err := s.update(ctx, func(tx pgx.Tx) error {
		out, modified = out[:0], modified[:0]
		// A STORE that changes nothing (\Seen on a message read before)
		// is answered from what is committed, without locking the
		// mailbox: the transaction then writes nothing, so its commit
		// waits for no WAL flush and for no other writer of the mailbox
		// (the bbolt store answers it from a read transaction likewise).
		// One that changes something locks the mailbox and reads again.
		found, err := selectMessages(ctx, tx, mbx, uids)
		if err != nil {
			return err
		}
		var mb store.Mailbox // read under the lock; unlocked, nothing below changes
		if len(found) == 0 || flagsWouldChange(found, op, flags, unchangedSince) {
			if mb, err = lockMailbox(ctx, tx, mbx); err != nil {
				return err
			}
			if found, err = selectMessages(ctx, tx, mbx, uids); err != nil {
				return err
			}
		}
		cur := make(map[store.UID]store.Message, len(found))
		for _, m := range found {
			cur[m.UID] = m
		}
		modseq := mb.ModSeq + 1
		var changed []store.Message
		var train []trainee
		var dUnseen, dDeleted int64
		batch := &pgx.Batch{}
		for _, uid := range uids {
			m, ok := cur[uid]
			if !ok {
				continue
			}
			if m.ModSeq > unchangedSince {
				modified = append(modified, uid)
				continue
			}
			nf := store.ApplyFlags(m.Flags, op, flags)
			if slices.Equal(nf, m.Flags) {
				out = append(out, m)
				continue
			}
			if c := store.JunkFlagClass(m.Flags, nf); c != store.JunkNone {
				train = append(train, trainee{mbx: mbx, uid: uid, blob: int64(m.Blob), class: c})
			}
			u0, d0 := counts(m.Flags)
			u1, d1 := counts(nf)
			dUnseen, dDeleted = dUnseen+u1-u0, dDeleted+d1-d0
			m.Flags, m.ModSeq = nf, modseq
			cur[uid] = m
			dbFlags := nf
			if dbFlags == nil {
				dbFlags = []string{}
			}
			batch.Queue("UPDATE messages SET flags = $3, modseq = $4 WHERE mailbox = $1 AND uid = $2", int64(mbx), int64(uid), dbFlags, int64(modseq))
			out = append(out, m)
			changed = append(changed, m)
		}
		if len(changed) == 0 {
			return nil
		}
		batch.Queue("UPDATE mailboxes SET modseq = $2, unseen = unseen + $3, deleted = deleted + $4 WHERE id = $1", int64(mbx), int64(modseq), dUnseen, dDeleted)
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return err
		}
		if err := s.junkTrainTx(ctx, tx, mb.Account, train); err != nil {
			return err
		}
		// A UID given twice changed once: announce each message once,
		// in UID order.
		slices.SortFunc(changed, func(a, b store.Message) int { return int(a.UID) - int(b.UID) })
		changed = slices.CompactFunc(changed, func(a, b store.Message) bool { return a.UID == b.UID })
		return emit(ctx, tx, store.Event{Kind: store.EventFlags, Mailbox: mbx, ModSeq: modseq, Messages: changed})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store flags: %w", err)
	}
	return out, modified, nil
}

// selectMessages reads the messages of mbx among uids (those that exist).
func selectMessages(ctx context.Context, tx pgx.Tx, mbx store.MailboxID, uids []store.UID) ([]store.Message, error) {
	rows, _ := tx.Query(ctx, "SELECT "+messageCols+" FROM messages WHERE mailbox = $1 AND uid = ANY($2)", int64(mbx), fromUIDs(uids))
	return pgx.CollectRows(rows, scanMessage)
}

// flagsWouldChange says whether a STORE would change the flags of one of
// msgs (those modified since unchangedSince it leaves alone).
func flagsWouldChange(msgs []store.Message, op store.FlagOp, flags []string, unchangedSince uint64) bool {
	return slices.ContainsFunc(msgs, func(m store.Message) bool {
		return m.ModSeq <= unchangedSince && !slices.Equal(store.ApplyFlags(m.Flags, op, flags), m.Flags)
	})
}

// Expunge removes the given messages, whatever their flags, and returns the
// UIDs removed, ascending.
func (s *Store) Expunge(ctx context.Context, mbx store.MailboxID, uids []store.UID) ([]store.UID, error) {
	return s.expunge(ctx, mbx, uids, false)
}

// ExpungeDeleted removes the messages flagged \Deleted; with a non-nil
// within, only those among within.
func (s *Store) ExpungeDeleted(ctx context.Context, mbx store.MailboxID, within []store.UID) ([]store.UID, error) {
	return s.expunge(ctx, mbx, within, true)
}

func (s *Store) expunge(ctx context.Context, mbx store.MailboxID, uids []store.UID, onlyDeleted bool) ([]store.UID, error) {
	var out []store.UID
	err := s.update(ctx, func(tx pgx.Tx) error {
		out = nil
		if onlyDeleted {
			// Nothing \Deleted: nothing to lock or write, as for a STORE
			// that changes nothing (StoreFlagsIf).
			none, err := noneDeletedTx(ctx, tx, mbx, uids)
			if err != nil || none {
				return err
			}
		}
		if _, err := lockMailbox(ctx, tx, mbx); err != nil {
			return err
		}
		var err error
		out, err = expungeTx(ctx, tx, mbx, uids, onlyDeleted)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("expunge: %w", err)
	}
	return out, nil
}

// noneDeletedTx says, without locking, that mailbox mbx exists and has no
// message flagged \Deleted (among uids, unless nil). The mailbox's count
// of \Deleted messages is changed in the transaction of every write that
// changes it, so it is exact (STATUS DELETED reads it too).
func noneDeletedTx(ctx context.Context, tx pgx.Tx, mbx store.MailboxID, uids []store.UID) (bool, error) {
	var n int64
	if err := tx.QueryRow(ctx, "SELECT deleted FROM mailboxes WHERE id = $1", int64(mbx)).Scan(&n); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil // lockMailbox reports it
		}
		return false, err
	}
	if n == 0 || uids == nil {
		return n == 0, nil
	}
	var some bool
	err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM messages WHERE mailbox = $1 AND uid = ANY($2) AND $3 = ANY(flags))",
		int64(mbx), fromUIDs(uids), store.FlagDeleted).Scan(&some)
	return !some, err
}

// expungeTx removes messages of a mailbox the caller has locked; uids nil
// means every message (with onlyDeleted, every \Deleted one).
func expungeTx(ctx context.Context, tx pgx.Tx, mbx store.MailboxID, uids []store.UID, onlyDeleted bool) ([]store.UID, error) {
	sql := "DELETE FROM messages WHERE mailbox = $1 AND ($2::bigint[] IS NULL OR uid = ANY($2)) AND (NOT $3 OR $4 = ANY(flags)) RETURNING uid, blob, size, flags"
	var list []int64
	if uids != nil {
		list = fromUIDs(uids)
	}
	rows, err := tx.Query(ctx, sql, int64(mbx), list, onlyDeleted, store.FlagDeleted)
	if err != nil {
		return nil, err
	}
	var gone []store.UID
	var blobs []int64
	var size, unseen, deleted int64
	for rows.Next() {
		var uid, blob, sz int64
		var flags []string
		if err := rows.Scan(&uid, &blob, &sz, &flags); err != nil {
			rows.Close()
			return nil, err
		}
		u, d := counts(flags)
		size, unseen, deleted = size+sz, unseen+u, deleted+d
		gone = append(gone, store.UID(uid))
		blobs = append(blobs, blob)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(gone) == 0 {
		return nil, nil
	}
	slices.Sort(gone)
	var modseq uint64
	err = tx.QueryRow(ctx, `UPDATE mailboxes SET modseq = modseq + 1, messages = messages - $2, size = size - $3,
		unseen = unseen - $4, deleted = deleted - $5 WHERE id = $1 RETURNING modseq`,
		int64(mbx), int64(len(gone)), size, unseen, deleted).Scan(&modseq)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO vanished (mailbox, modseq, uid) SELECT $1, $2, unnest($3::bigint[])", int64(mbx), int64(modseq), fromUIDs(gone)); err != nil {
		return nil, err
	}
	if err := dropBlobs(ctx, tx, blobs); err != nil {
		return nil, err
	}
	return gone, emit(ctx, tx, store.Event{Kind: store.EventExpunged, Mailbox: mbx, ModSeq: modseq, UIDs: gone})
}

// Copy copies messages to another mailbox; the bytes are shared.
func (s *Store) Copy(ctx context.Context, src store.MailboxID, uids []store.UID, dst store.MailboxID) (*store.CopyResult, error) {
	return s.copyOrMove(ctx, src, uids, dst, false)
}

// Move moves messages to another mailbox in one transaction.
func (s *Store) Move(ctx context.Context, src store.MailboxID, uids []store.UID, dst store.MailboxID) (*store.CopyResult, error) {
	return s.copyOrMove(ctx, src, uids, dst, true)
}

// A move within one mailbox is allowed (RFC 6851, IMAP's MOVE into the
// selected mailbox): the messages get new UIDs and the old ones are expunged.
func (s *Store) copyOrMove(ctx context.Context, src store.MailboxID, uids []store.UID, dst store.MailboxID, move bool) (*store.CopyResult, error) {
	var res *store.CopyResult
	err := s.update(ctx, func(tx pgx.Tx) error {
		// Both mailboxes locked, in ID order (once when they are one),
		// then, across accounts, both usage rows in account order.
		locked := map[store.MailboxID]store.Mailbox{}
		for _, id := range slices.Compact([]store.MailboxID{min(src, dst), max(src, dst)}) {
			m, err := lockMailbox(ctx, tx, id)
			if err != nil {
				return err
			}
			locked[id] = m
		}
		if a, b := int64(locked[src].Account), int64(locked[dst].Account); a != b {
			if err := lockUsageTx(ctx, tx, []int64{min(a, b), max(a, b)}); err != nil {
				return err
			}
		}
		if !move {
			// A copy adds to the account's usage (a move does not).
			var size, n int64
			if err := tx.QueryRow(ctx, "SELECT coalesce(sum(size), 0)::bigint, count(*) FROM messages WHERE mailbox = $1 AND uid = ANY($2)",
				int64(src), fromUIDs(uids)).Scan(&size, &n); err != nil {
				return err
			}
			if err := checkQuotaTx(ctx, tx, dst, size, n); err != nil {
				return err
			}
		}
		var err error
		res, err = s.copyTrainTx(ctx, tx, locked[src], uids, locked[dst], move)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	return res, nil
}

// copyTx copies (or moves) messages between mailboxes the caller has
// locked.
func copyTx(ctx context.Context, tx pgx.Tx, src store.MailboxID, uids []store.UID, dst store.MailboxID, move bool) (*store.CopyResult, error) {
	rows, _ := tx.Query(ctx, "SELECT uid, blob, prefix, flags, date_ns, size FROM messages WHERE mailbox = $1 AND uid = ANY($2) ORDER BY uid",
		int64(src), fromUIDs(uids))
	var source []store.UID
	var msgs []newMsg
	for rows.Next() {
		var uid int64
		var m newMsg
		if err := rows.Scan(&uid, &m.blob, &m.prefix, &m.flags, &m.date, &m.size); err != nil {
			rows.Close()
			return nil, err
		}
		if len(m.flags) == 0 {
			m.flags = nil
		}
		source = append(source, store.UID(uid))
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		dm, err := scanMailbox(tx.QueryRow(ctx, "SELECT "+mailboxCols+" FROM mailboxes WHERE id = $1", int64(dst)))
		if err != nil {
			return nil, err
		}
		return &store.CopyResult{UIDValidity: dm.UIDValidity}, nil
	}
	dm, dest, err := addMessagesTx(ctx, tx, dst, msgs)
	if err != nil {
		return nil, err
	}
	if move {
		if _, err := expungeTx(ctx, tx, src, source, false); err != nil {
			return nil, err
		}
	}
	return &store.CopyResult{UIDValidity: dm.UIDValidity, Source: source, Dest: dest}, nil
}

// ChangedSince returns the messages of mbx whose MODSEQ is above since,
// in UID order (CONDSTORE's CHANGEDSINCE, QRESYNC), read through the
// (mailbox, modseq) index.
func (s *Store) ChangedSince(mbx store.MailboxID, since uint64) ([]store.Message, error) {
	var out []store.Message
	err := s.view(func(ctx context.Context, tx pgx.Tx) error {
		if err := exists(ctx, tx, mbx); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, "SELECT "+messageCols+" FROM messages WHERE mailbox = $1 AND modseq > $2 ORDER BY uid", int64(mbx), int64(since))
		var err error
		out, err = pgx.CollectRows(rows, scanMessage)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("messages changed since %d in mailbox %d: %w", since, mbx, err)
	}
	return out, nil
}
