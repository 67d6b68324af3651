package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"petrel/store"
)

// reindexBatch is how many messages one Reindex write rewrites.
const reindexBatch = 200

// Reindex parses every stored message again with the current parser and
// rewrites its stored structure (blobs.info) in the current form, as the
// bbolt store's Reindex does: after an upgrade, beside live nodes, one
// short transaction per batch. progress, if set, gets the messages done
// and the total after each batch. It returns how many it rewrote.
func (s *Store) Reindex(ctx context.Context, progress func(done, total int)) (int, error) {
	var total int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM blobs").Scan(&total); err != nil {
		return 0, fmt.Errorf("reindex: %w", err)
	}
	var after int64
	done := 0
	for {
		if err := ctx.Err(); err != nil {
			return done, fmt.Errorf("reindex: %w", err)
		}
		type item struct {
			id   int64
			info []byte
		}
		var batch []item
		rows, _ := s.pool.Query(ctx, "SELECT id, body FROM blobs WHERE id > $1 ORDER BY id LIMIT $2", after, reindexBatch)
		var id int64
		var body []byte
		if _, err := pgx.ForEachRow(rows, []any{&id, &body}, func() error {
			batch = append(batch, item{id, store.EncodeStructure(store.ParseStructure(body))})
			return nil
		}); err != nil {
			return done, fmt.Errorf("reindex: %w", err)
		}
		if len(batch) == 0 {
			return done, nil
		}
		err := s.update(ctx, func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			for _, it := range batch {
				b.Queue("UPDATE blobs SET info = $2 WHERE id = $1", it.id, it.info) // gone meanwhile: no row
			}
			return tx.SendBatch(ctx, b).Close()
		})
		if err != nil {
			return done, fmt.Errorf("reindex: %w", err)
		}
		done += len(batch)
		after = batch[len(batch)-1].id
		if progress != nil {
			progress(done, max(total, done))
		}
	}
}
