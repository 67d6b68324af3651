package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SchemaVersion is the schema this build of Petrel writes and reads: one
// per migration (never changed at run time).
var SchemaVersion = len(migrations)

// ErrSchemaNewer is returned when the database was migrated by a newer
// Petrel: this one would not know its tables, so it refuses to start.
var ErrSchemaNewer = errors.New("the database's schema is newer than this Petrel knows (upgrade Petrel on this node)")

// migrations[i] takes the schema from version i to version i+1. Never edit
// one that has been released: append.
var migrations = []string{
	// 1: accounts, mailboxes, messages, blobs, changes, aliases.
	`
CREATE TABLE accounts (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	address text NOT NULL UNIQUE,
	hash text NOT NULL,
	created timestamptz NOT NULL
);
CREATE SEQUENCE uidvalidity AS bigint MAXVALUE 4294967295;
SELECT setval('uidvalidity', extract(epoch FROM now())::bigint);
CREATE TABLE mailboxes (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	account bigint NOT NULL REFERENCES accounts (id),
	name text NOT NULL,
	special_use text NOT NULL DEFAULT '',
	uidvalidity bigint NOT NULL DEFAULT nextval('uidvalidity'),
	uidnext bigint NOT NULL DEFAULT 1,
	modseq bigint NOT NULL DEFAULT 1,
	subscribed boolean NOT NULL DEFAULT true,
	messages bigint NOT NULL DEFAULT 0,
	unseen bigint NOT NULL DEFAULT 0,
	deleted bigint NOT NULL DEFAULT 0,
	size bigint NOT NULL DEFAULT 0,
	created timestamptz NOT NULL DEFAULT date_trunc('second', now()),
	UNIQUE (account, name)
);
CREATE TABLE blobs (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	body bytea NOT NULL,
	info bytea NOT NULL -- the parsed MIME structure, store.EncodeStructure
);
ALTER TABLE blobs ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE TABLE messages (
	mailbox bigint NOT NULL REFERENCES mailboxes (id),
	uid bigint NOT NULL,
	blob bigint NOT NULL REFERENCES blobs (id),
	prefix bytea NOT NULL,
	flags text[] NOT NULL,
	date_ns bigint NOT NULL,
	size bigint NOT NULL,
	modseq bigint NOT NULL,
	PRIMARY KEY (mailbox, uid)
);
CREATE INDEX messages_blob ON messages (blob);
CREATE TABLE changes (
	mailbox bigint NOT NULL,
	modseq bigint NOT NULL,
	kind smallint NOT NULL,
	payload jsonb NOT NULL,
	at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (mailbox, modseq)
);
CREATE INDEX changes_at ON changes (at);
CREATE TABLE aliases (
	address text PRIMARY KEY,
	targets text[] NOT NULL,
	created timestamptz NOT NULL
);
`,
	// 2: the outbound queue's units of work and their leases
	// (queue/pgqueue).
	`
CREATE TABLE queue_units (
	id text NOT NULL,
	domain text NOT NULL,
	next_attempt timestamptz NOT NULL,
	attempts integer NOT NULL DEFAULT 0,
	lease_owner text,
	lease_until timestamptz,
	PRIMARY KEY (id, domain)
);
CREATE INDEX queue_units_due ON queue_units (next_attempt);
CREATE INDEX queue_units_leased ON queue_units (domain) WHERE lease_until IS NOT NULL;
`,
	// 3: what the front-ends use besides the contract's core: QRESYNC's
	// expunged UIDs, subscriptions of names that are no mailbox, METADATA,
	// mailing lists and their members, the junk models.
	`
CREATE TABLE vanished (
	mailbox bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
	modseq bigint NOT NULL,
	uid bigint NOT NULL,
	PRIMARY KEY (mailbox, modseq, uid)
);
CREATE TABLE subscriptions (
	account bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	name text NOT NULL,
	PRIMARY KEY (account, name)
);
CREATE TABLE metadata (
	account bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	mailbox bigint NOT NULL, -- 0: the server's entries
	name text NOT NULL,
	value bytea NOT NULL,
	PRIMARY KEY (account, mailbox, name)
);
CREATE TABLE lists (
	address text PRIMARY KEY,
	post text NOT NULL,
	moderators text[] NOT NULL,
	reply_to text NOT NULL,
	archive text NOT NULL,
	created timestamptz NOT NULL
);
CREATE TABLE list_members (
	list text NOT NULL REFERENCES lists (address) ON DELETE CASCADE,
	address text NOT NULL,
	added timestamptz NOT NULL,
	disabled boolean NOT NULL DEFAULT false,
	bounce_days text[] NOT NULL DEFAULT '{}',
	PRIMARY KEY (list, address)
);
CREATE TABLE junk_models (
	account bigint PRIMARY KEY, -- 0: the shared model
	spam bigint NOT NULL DEFAULT 0,
	ham bigint NOT NULL DEFAULT 0,
	tokens bigint NOT NULL DEFAULT 0,
	contacts bigint NOT NULL DEFAULT 0
);
-- A token's key is its FNV-1a hash with the top bit flipped, so that
-- bigint order is the hash's unsigned order.
CREATE TABLE junk_tokens (
	account bigint NOT NULL REFERENCES junk_models (account) ON DELETE CASCADE,
	hash bigint NOT NULL,
	spam bigint NOT NULL,
	ham bigint NOT NULL,
	PRIMARY KEY (account, hash)
);
CREATE TABLE junk_contacts (
	account bigint NOT NULL REFERENCES junk_models (account) ON DELETE CASCADE,
	address text NOT NULL,
	PRIMARY KEY (account, address)
);
CREATE TABLE junk_samples (
	account bigint NOT NULL REFERENCES junk_models (account) ON DELETE CASCADE,
	id bytea NOT NULL,
	class smallint NOT NULL,
	PRIMARY KEY (account, id)
);
CREATE TABLE junk_msgs (
	blob bigint NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
	account bigint NOT NULL,
	class smallint NOT NULL,
	PRIMARY KEY (blob, account)
);
`,
	// 4: the web mail's sessions,
	// shared by the nodes (websession.go).
	`
CREATE TABLE web_sessions (
	key text PRIMARY KEY,
	account bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	address text NOT NULL,
	csrf text NOT NULL,
	flash text NOT NULL DEFAULT '',
	created timestamptz NOT NULL,
	last_seen timestamptz NOT NULL
);
CREATE INDEX web_sessions_account ON web_sessions (account);
`,
	// 5: the outbound
	// queue's messages, their bodies and recipients' states, for
	// queue/pgqueue's Store (its units are queue_units).
	`
CREATE TABLE queue_items (
	id text PRIMARY KEY,
	arrived timestamptz NOT NULL,
	item bytea NOT NULL,
	body bytea NOT NULL
);
`,
	// 6: CONDSTORE's changed-since reads (ChangedSince) find a mailbox's
	// messages by MODSEQ.
	`
CREATE INDEX messages_modseq ON messages (mailbox, modseq);
`,
	// 7: quotas (IMAP QUOTA, SMTP 552 5.2.2): each account's limits, 0 for
	// none; usage is summed from messages when asked.
	`
ALTER TABLE accounts ADD COLUMN storage_limit bigint NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN message_limit bigint NOT NULL DEFAULT 0;
CREATE INDEX mailboxes_account ON mailboxes (account);
`,
	// 8: each message's save date (IMAP SAVEDATE, RFC 8514): when it was
	// put in its mailbox (delivery, APPEND, COPY, MOVE all insert a row).
	`
ALTER TABLE messages ADD COLUMN saved timestamptz DEFAULT now();
`,
	// 9: each account's quota usage (the sum of its messages' sizes and
	// their number) as counters, changed by triggers on messages in the
	// same statement as every row inserted, deleted or moved, whatever
	// wrote it (quota.go); filled once here from the messages. The tables
	// are locked first, so that no write of a node still running the
	// previous version falls between the sum and the triggers.
	`
LOCK TABLE accounts, messages IN SHARE ROW EXCLUSIVE MODE;
CREATE TABLE account_usage (
	account bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
	storage bigint NOT NULL DEFAULT 0,
	messages bigint NOT NULL DEFAULT 0
);
INSERT INTO account_usage (account, storage, messages)
	SELECT a.id, coalesce(sum(m.size), 0)::bigint, count(m.uid)
	FROM accounts a LEFT JOIN mailboxes b ON b.account = a.id LEFT JOIN messages m ON m.mailbox = b.id
	GROUP BY a.id;
CREATE FUNCTION petrel_usage_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO account_usage (account) VALUES (NEW.id) ON CONFLICT DO NOTHING;
	RETURN NULL;
END $$;
CREATE TRIGGER accounts_usage AFTER INSERT ON accounts
	FOR EACH ROW EXECUTE FUNCTION petrel_usage_account();
CREATE FUNCTION petrel_usage_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	sign bigint := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
BEGIN
	UPDATE account_usage u SET storage = u.storage + sign * d.storage, messages = u.messages + sign * d.n
	FROM (SELECT b.account, sum(r.size)::bigint AS storage, count(*) AS n
		FROM changed r JOIN mailboxes b ON b.id = r.mailbox GROUP BY b.account) d
	WHERE u.account = d.account;
	RETURN NULL;
END $$;
CREATE TRIGGER messages_usage_insert AFTER INSERT ON messages REFERENCING NEW TABLE AS changed
	FOR EACH STATEMENT EXECUTE FUNCTION petrel_usage_rows();
CREATE TRIGGER messages_usage_delete AFTER DELETE ON messages REFERENCING OLD TABLE AS changed
	FOR EACH STATEMENT EXECUTE FUNCTION petrel_usage_rows();
CREATE FUNCTION petrel_usage_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE account_usage u SET storage = u.storage + d.storage, messages = u.messages + d.n
	FROM (SELECT b.account, sum(x.size)::bigint AS storage, sum(x.n)::bigint AS n
		FROM (VALUES (OLD.mailbox, -OLD.size, -1), (NEW.mailbox, NEW.size, 1)) x (mailbox, size, n)
		JOIN mailboxes b ON b.id = x.mailbox GROUP BY b.account) d
	WHERE u.account = d.account AND (d.storage <> 0 OR d.n <> 0);
	RETURN NULL;
END $$;
CREATE TRIGGER messages_usage_update AFTER UPDATE OF mailbox, size ON messages FOR EACH ROW
	WHEN (OLD.mailbox IS DISTINCT FROM NEW.mailbox OR OLD.size IS DISTINCT FROM NEW.size)
	EXECUTE FUNCTION petrel_usage_changed();
CREATE FUNCTION petrel_usage_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE account_usage SET storage = 0, messages = 0;
	RETURN NULL;
END $$;
CREATE TRIGGER messages_usage_truncate AFTER TRUNCATE ON messages
	FOR EACH STATEMENT EXECUTE FUNCTION petrel_usage_truncated();
`,
}

// migrateLock is the advisory lock key that serialises migrations of
// nodes starting at once ("petrel" in ASCII).
const migrateLock = 0x706574726c

// Migrate brings the database's schema to SchemaVersion in one
// transaction, and reports the version it found and the one it left.
// A database newer than SchemaVersion is left alone: ErrSchemaNewer.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (from, to int, err error) {
	return migrateTo(ctx, pool, SchemaVersion)
}

// migrateTo is Migrate to version target (tests make older schemas).
func migrateTo(ctx context.Context, pool *pgxpool.Pool, target int) (from, to int, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS petrel_schema (version integer NOT NULL)"); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, "SELECT version FROM petrel_schema").Scan(&from)
		if errors.Is(err, pgx.ErrNoRows) {
			from = 0
			if _, err := tx.Exec(ctx, "INSERT INTO petrel_schema VALUES (0)"); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if from > target {
			return fmt.Errorf("schema version %d, this Petrel knows up to %d: %w", from, target, ErrSchemaNewer)
		}
		for v := from; v < target; v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migration to version %d: %w", v+1, err)
			}
		}
		_, err = tx.Exec(ctx, "UPDATE petrel_schema SET version = $1", target)
		return err
	})
	if err != nil {
		return from, from, fmt.Errorf("migrate store schema: %w", err)
	}
	return from, target, nil
}
