package replay

import (
	"context"
	"time"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/stream"
)

// Record is one replayed event with its position and record timestamp.
type Record struct {
	Position  stream.Position
	Timestamp time.Time // the record's timestamp (ms precision), not the event's time
	Event     event.Event
}

// Range is the part of one partition a replay reads: offsets [Next, End).
type Range struct {
	Partition int32 `json:"partition"`
	Next      int64 `json:"next"`
	End       int64 `json:"end"`
}

// Source is a log with Kafka's shape that a replay reads: the Kafka adapter (KafkaSource)
// and the embedded engine (EmbeddedSource) satisfy it.
type Source interface {
	// Bounds returns, per partition (index = partition), the first offset still in the log
	// and the end fixed now: the last stable offset (read_committed). A missing topic is
	// ErrReplayNoTopic.
	Bounds(ctx context.Context, topic string) (start, end []int64, err error)
	// OffsetsAfter returns, per partition, the first offset whose record timestamp is at or
	// after t, or the partition's end offset when no record is.
	OffsetsAfter(ctx context.Context, topic string, t time.Time) ([]int64, error)
	// Read calls fn with every committed event of each range, in offset order within a
	// partition (partitions may interleave), and returns nil once every range is read to
	// its End. It skips control records and aborted records. An error from fn stops it and
	// is returned as it is.
	Read(ctx context.Context, topic string, ranges []Range, fn func(*Record) error) error
}
