package projection

import (
	"errors"
	"regexp"
)

var nameRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// Sentinels.
var (
	// ErrStaleCheckpoint: a batch's starting checkpoint is no longer the stored one; another
	// worker took the partition over. The batch is dropped, nothing of it is written.
	ErrStaleCheckpoint = errors.New("projection: checkpoint moved (partition taken over)")
	// ErrVersionGap: an aggregate's events arrived with a gap in versions, so the read
	// model cannot be built from this log.
	ErrVersionGap = errors.New("projection: gap in aggregate versions")
)
