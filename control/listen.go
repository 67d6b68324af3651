package control

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// Listen listens on the control socket at path, which exists only
// with its final mode, owner-only (0600), whatever the umask and the mode
// of its folder: the socket is made in a new 0700 folder beside path,
// restricted there, and then renamed into place. (Bound with a umask of
// 000 and restricted afterwards, it was open to every user in between.)
func Listen(path string) (*net.UnixListener, error) {
	dir, err := os.MkdirTemp(filepath.Dir(path), ".control-") // 0700
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, filepath.Base(path))
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	l.SetUnlinkOnClose(false) // it is renamed; the caller removes path
	if err := os.Chmod(tmp, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	os.Remove(path) // stale: the caller holds the store's lock, so no other server uses it
	if err := os.Rename(tmp, path); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return l, nil
}
