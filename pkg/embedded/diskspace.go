package embedded

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Why a guard and not a recovery. When pebble (v2.1.7) fails to write or fsync its WAL, it
// calls Logger.Fatalf (DB.Apply, db.go) and relies on it not returning: the failed batch
// has already been applied to the memtable and published, so readers see it although it is
// not durable; if Fatalf returned, Apply would return nil and the caller would take the
// write for committed; and the WAL writer keeps the error, so the next commit panics in
// commitWrite. Pebble calls the pipeline "horked" at that point. An engine that swallowed
// Fatalf and carried on would answer appends that a restart loses. So Fatalf still ends
// the process (a restart replays the WAL up to the last sync, and nothing acknowledged is
// lost), and the engine keeps it from happening on a filling disk: every write first checks
// that it leaves Config.DiskReserve free, and is refused with ErrDiskFull otherwise. Reads
// need no space and keep working; once space is freed the same write succeeds.
//
// Without the reserve it is worse than a crash: on a full tmpfs, pebble's memtable flushes
// fail with ENOSPC and are retried, memtables pile up, and every commit waits in pebble's
// write stall (maybeInduceWriteStall) with no error and no end: appends hang.
// TestEngine_DiskFullWithoutReserve shows that, and that once space is freed the store opens
// with everything acknowledged.
//
// The check is one statfs(2) per commit, except that while the last reading (at most
// spaceRecheck old) left more than spaceSlack above the reserve after the bytes checked
// since, it trusts that reading: pipelined commits of one or two appends made the statfs a
// visible share of an append's CPU. Near the reserve every commit asks again.
// It is not a reservation: a process outside Strata that fills the disk past the reserve
// brings back one of the two outcomes above (an exit or a stall), without losing anything
// acknowledged.

const (
	spaceRecheck = 10 * time.Millisecond
	spaceSlack   = 256 << 20
)

// spaceCache is the last statfs reading and the bytes checked since.
type spaceCache struct {
	mu      sync.Mutex
	avail   uint64
	at      time.Time
	written uint64
}

// checkSpace returns ErrDiskFull when writing n more bytes would leave less than the
// reserve free on the data folder's file system.
func (e *Engine) checkSpace(n int) error {
	if e.cfg.DiskReserve < 0 || e.fs == nil {
		return nil
	}
	c := &e.space
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < spaceRecheck &&
		c.avail >= uint64(e.cfg.DiskReserve)+spaceSlack+c.written+uint64(n) {
		c.written += uint64(n)
		return nil
	}
	c.at = time.Time{}
	u, err := e.fs.GetDiskUsage(e.cfg.Dir)
	if errors.Is(err, vfs.ErrUnsupported) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("embedded: read free disk space of %s: %w", e.cfg.Dir, err)
	}
	need := uint64(e.cfg.DiskReserve) + uint64(n)
	if u.AvailBytes < need {
		return fmt.Errorf("%w: %s has %s free; a write of %s must leave the reserve of %s ",
			ErrDiskFull, e.cfg.Dir,
			mib(u.AvailBytes), mib(uint64(n)), mib(uint64(e.cfg.DiskReserve)))
	}
	c.avail, c.at, c.written = u.AvailBytes, time.Now(), uint64(n)
	return nil
}

// mib renders a byte count for people.
func mib(n uint64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
