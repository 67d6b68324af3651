// Package secret keeps the server's small random keys (the SRS key, the
// list unsubscribe key) in files of data_dir, made on first use.
package secret

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"petrel/internal/durable"
)

// Size is the length of a key LoadOrCreate makes, in bytes.
const Size = 32

// LoadOrCreate returns the key kept in the file at path, made first (Size
// random bytes, mode 0600, written with durable.Create, so that a crash
// leaves no half-written key) if there is none. A
// file shorter than 16 bytes is refused: a key that short is no secret.
func LoadOrCreate(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil {
		if len(key) < 16 {
			return nil, fmt.Errorf("key %s: %d bytes, want at least 16 (delete it to have a new one made)", path, len(key))
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	key = make([]byte, Size)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	// Create, not replace: if another process made the key meanwhile, keep
	// theirs, so that both use the same one.
	if err := durable.Create(path, key, 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadOrCreate(path)
		}
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	return key, nil
}
