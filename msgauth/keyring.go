package msgauth

import (
	"fmt"
	"sync"
)

// KeyRing is the Signer of a key directory that can be loaded again while
// the server runs (after `petrel dkim keygen` made a key): Sign and
// DNSRecord use the keys of the last successful Reload. It is safe for
// concurrent use.
type KeyRing struct {
	dir string
	mu  sync.RWMutex
	s   *Signer
}

// OpenKeyRing loads the keys of dir (see LoadSigner).
func OpenKeyRing(dir string) (*KeyRing, error) {
	k := &KeyRing{dir: dir}
	return k, k.Reload()
}

// Reload loads the keys of the directory again; on an error the keys
// loaded before stay in use.
func (k *KeyRing) Reload() error {
	s, err := LoadSigner(k.dir)
	if err != nil {
		return fmt.Errorf("dkim keys in %s: %w", k.dir, err)
	}
	k.mu.Lock()
	k.s = s
	k.mu.Unlock()
	return nil
}

// Signer is the Signer of the last successful load.
func (k *KeyRing) Signer() *Signer {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.s
}

// Sign signs msg with the current keys of domain (see Signer.Sign).
func (k *KeyRing) Sign(domain string, msg []byte) ([]byte, error) {
	return k.Signer().Sign(domain, msg)
}

// DNSRecord is the current DNS record of domain's key (see Signer.DNSRecord).
func (k *KeyRing) DNSRecord(domain string) (string, bool) { return k.Signer().DNSRecord(domain) }
