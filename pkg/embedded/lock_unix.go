//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package embedded

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFile is the file in the data folder that the open Engine holds an exclusive lock on.
const lockFile = "strata.lock"

// dirLock is an exclusive flock(2) on the data folder's lock file. flock locks belong to
// the open file, so a second Open in the same process is refused as well, and the kernel
// releases the lock when the process dies, however it dies.
type dirLock struct{ f *os.File }

func lockDir(dir string) (*dirLock, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("embedded: lock data folder %s: %w", dir, err)
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		_ = f.Close()
		return nil, fmt.Errorf("%w: data folder %s is in use by another process", ErrInUse, dir)
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("embedded: lock data folder %s: %w", dir, err)
	}
	// The pid is for people looking at the folder; the lock is what counts.
	if err := f.Truncate(0); err == nil {
		_, _ = fmt.Fprintf(f, "%d\n", os.Getpid())
	}
	return &dirLock{f: f}, nil
}

func (l *dirLock) release() error { return l.f.Close() }
