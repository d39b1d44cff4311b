//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package embedded

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// dirLock falls back on pebble's own directory lock where flock(2) is not available; a
// failure to take it is reported as ErrInUse, the likely cause.
type dirLock struct{ l *pebble.Lock }

func lockDir(dir string) (*dirLock, error) {
	l, err := pebble.LockDirectory(dir, vfs.Default)
	if err != nil {
		return nil, fmt.Errorf("%w: data folder %s is in use by another process (%v)", ErrInUse, dir, err)
	}
	return &dirLock{l: l}, nil
}

func (l *dirLock) release() error { return l.l.Close() }
