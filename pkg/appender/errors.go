package appender

import "errors"

// Sentinels of the append pipeline.
var (
	// ErrUncertain wraps a commit whose outcome is unknown (Store adapters return it).
	ErrUncertain = errors.New("appender: commit outcome unknown")
	// ErrUnavailable means the engine cannot be reached or the partition is not writable
	// now; the append was not committed and may be retried (HTTP 503).
	ErrUnavailable = errors.New("appender: unavailable")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("appender: closed")
	// ErrPartialRetry means an append reused the ids of some, not all, of a stream's recent
	// events: it is neither a new append nor a retry.
	ErrPartialRetry = errors.New("appender: event ids match only part of an earlier append")
	// ErrNotOwner means this process does not (or no longer) write the stream's partition:
	// nothing was written by the append; send it to the partition's owner. Store adapters
	// wrap it when they find themselves fenced by a newer owner.
	ErrNotOwner = errors.New("appender: not the owner of the partition")
	// ErrOutcomeUnknown means the append may or may not have committed and this process
	// cannot learn which (it lost the partition meanwhile). Retrying with the same event ids
	// is safe: the owner answers a committed retry with the original outcome (I4).
	ErrOutcomeUnknown = errors.New("appender: outcome unknown")
)
