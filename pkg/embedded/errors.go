package embedded

import (
	"errors"
	"fmt"
)

// Sentinels of the embedded engine.
var (
	// ErrInUse means another process (or another Engine in this one) holds the data folder.
	ErrInUse = errors.New("embedded: data folder in use")
	// ErrPartitionMismatch means the data folder was created with another partition count.
	ErrPartitionMismatch = errors.New("embedded: partition count differs from the data folder's")
	// ErrPrefixMismatch means the data folder was created with another topic prefix.
	ErrPrefixMismatch = errors.New("embedded: topic prefix differs from the data folder's")
	// ErrNotStore means the folder holds data that is not a Strata store (or lost its metadata).
	ErrNotStore = errors.New("embedded: not a Strata data folder")
	// ErrPartitionOwned means OpenPartition was called for a partition that already has a writer.
	ErrPartitionOwned = errors.New("embedded: partition already has a writer")
	// ErrHeadMismatch means a group's Prior head is not the stored head: a bug in the caller,
	// not a conflict. The whole group was refused and nothing was written.
	ErrHeadMismatch = errors.New("embedded: prior head differs from the stored head")
	// ErrBadGroup means a group breaks the Commit contract (wrong partition, unstamped or
	// misnumbered events, an invalid stream name); nothing was written.
	ErrBadGroup = errors.New("embedded: invalid group")
	// ErrStoreCorrupt means Open found the data folder damaged (pebble's WAL, manifest or
	// tables); the engine refuses to open it rather than lose acknowledged writes.
	ErrStoreCorrupt = errors.New("embedded: data folder is corrupt")
	// ErrDiskFull means a write was refused because it would leave less free space on the
	// data folder's file system than Config.DiskReserve; nothing was written, reads keep
	// working, and the same write succeeds once space is freed.
	ErrDiskFull = errors.New("embedded: disk full")
	// ErrCorrupt is matched by every *CorruptionError with errors.Is.
	ErrCorrupt = errors.New("embedded: corrupt record")
)

// CorruptionError says a stored record failed its checksum or could not be decoded.
type CorruptionError struct {
	Key    string // the record's key, rendered by FormatKey
	Reason string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("embedded: corrupt record %s: %s", e.Key, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }
