// Package boltbackup writes consistent snapshots of a bbolt file that stays
// in use: the one way the store and the queue are backed up. A snapshot is
// one read transaction, so writers go on while it is taken and it holds
// every commit made before it began and none made after.
package boltbackup

import (
	"context"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Sized writes a snapshot of db. begin is called once, inside the read
// transaction, with the snapshot's exact size (an archive entry must know
// it first), and returns where to write it. A cancelled ctx stops the
// snapshot before it begins.
func Sized(ctx context.Context, db *bolt.DB, begin func(size int64) (io.Writer, error)) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int64
	err := db.View(func(tx *bolt.Tx) error {
		w, err := begin(tx.Size())
		if err != nil {
			return err
		}
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("snapshot %s: %w", db.Path(), err)
	}
	return n, nil
}
