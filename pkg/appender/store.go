package appender

import (
	"context"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/stream"
)

// Store is what the pipeline needs from an engine (Kafka + Redis, or embedded). Adapters
// assert it at compile time: var _ appender.Store = (*kafkastore.Store)(nil).
type Store interface {
	// Partitions is the platform's partition count P; every event topic has P partitions.
	Partitions() int
	// OpenPartition takes ownership of partition p, fencing any earlier writer of p, and
	// returns once the partition's heads reflect its log, ready for writes.
	OpenPartition(ctx context.Context, p int) (Partition, error)
}

// Partition is the single writer of one partition. The pipeline calls it from one goroutine
// at a time.
type Partition interface {
	// Head returns the committed head of s; a stream with no events has the zero Head.
	Head(ctx context.Context, s stream.ID) (stream.Head, error)
	// Commit durably and atomically writes a group: every append's events (already stamped
	// with their versions, in order) and every stream's new head, which is
	// Prior.Advance(the events' recents). Either all of it becomes visible or none of it.
	// It returns each append's event positions, in the group's order.
	//
	// An error that wraps ErrUncertain means the outcome is unknown; the pipeline then calls
	// Recover and learns the outcome from Head. Any other error means nothing was written.
	Commit(ctx context.Context, group []StreamAppend) ([][]stream.Position, error)
	// Recover resolves an unknown outcome: it fences any transaction left open, reads the
	// log to its stable end and makes every head reflect it.
	Recover(ctx context.Context) error
	// Close releases the partition.
	Close() error
}

// StreamAppend is the events one group commit adds to one stream.
type StreamAppend struct {
	Stream stream.ID
	Prior  stream.Head    // the committed head the events extend
	Events []*event.Event // stamped with versions Prior.Version+1 ...
}

// Fenceable is implemented by partitions that can lose their ownership to another process
// (Kafka + Redis). Confirm returns nil if this process still owns the partition, an error
// wrapping ErrNotOwner if a newer owner has claimed it, or another error if it cannot tell.
// The pipeline confirms before it answers from its own state without committing (a
// conflict, a head read, a retry's original outcome), so that a process that was paused
// while another took over never answers from a stale head.
type Fenceable interface {
	Confirm(ctx context.Context) error
}

// Pipelined is implemented by partitions whose commit splits in two (the embedded engine):
// Apply writes the group after every group applied before it and returns the events'
// positions at once; the group is durable when wait returns nil. Groups become durable in
// the order they were applied. An Apply error means nothing of the group was written (as a
// Commit error without ErrUncertain). A wait error means the group's outcome is unknown
// and the partition is unusable: it happens only when the storage failed to sync.
//
// The pipeline uses Apply instead of Commit for a partition that is Pipelined and not
// Fenceable: it checks and applies the next group while earlier ones wait for their sync,
// and gives every answer of a group, committed or not, only after that group's wait (so no
// answer depends on a write that is not durable).
type Pipelined interface {
	Apply(ctx context.Context, group []StreamAppend) (positions [][]stream.Position, wait func() error, err error)
}
