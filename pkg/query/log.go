package query

import (
	"context"
	"time"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/stream"
)

// Record is one committed event with its position and record timestamp.
type Record struct {
	Position  stream.Position
	Timestamp time.Time // Kafka: the record timestamp; embedded: the event time, else the commit time
	Event     event.Event
}

// EventTime is when the event happened for temporal queries: its CloudEvents time
// attribute, else the record timestamp.
func (r Record) EventTime() time.Time {
	if t := r.Event.Time(); !t.IsZero() {
		return t
	}
	return r.Timestamp
}

// Log is what reads need from an engine's event log: records of one topic partition,
// fetched at given offsets or as a range, read_committed. Adapters: KafkaLog, EngineLog.
type Log interface {
	// Partitions is the partition count P of every event topic.
	Partitions() int
	// Topic is the event topic of an aggregate type.
	Topic(aggType string) string
	// Topics lists the event topics that exist.
	Topics(ctx context.Context) ([]string, error)
	// Fetch returns the records at offsets (ascending, committed) of topic/partition, in
	// that order, touching as few other records as the engine allows.
	Fetch(ctx context.Context, topic string, partition int32, offsets []int64) ([]Record, error)
	// Range returns up to limit committed records from offset from on, and the offset to
	// continue from. It returns what is there now and does not wait for more.
	Range(ctx context.Context, topic string, partition int32, from int64, limit int) ([]Record, int64, error)
	// OffsetAt returns the first offset whose record timestamp is at or after t (the end
	// offset when there is none): Kafka's offsets-for-times.
	OffsetAt(ctx context.Context, topic string, partition int32, t time.Time) (int64, error)
	// End returns the offset after the last committed record (the last stable offset).
	End(ctx context.Context, topic string, partition int32) (int64, error)
	// Follow calls fn for every committed record of the given partitions from the given
	// offsets on, in offset order per partition, waiting for new ones, until ctx ends or
	// fn fails. add, when it delivers, adds partitions (at their offsets) to follow.
	Follow(ctx context.Context, from map[TopicPartition]int64, add <-chan map[TopicPartition]int64, fn func(Record) error) error
}

// TopicPartition names one partition of one topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Models is what reads need from the read-model store: the keys of the active version of a
// built-in projection (index, snapshots).
type Models interface {
	// GetMany returns the values of keys in projection's active keyspace, nil for a
	// missing key.
	GetMany(ctx context.Context, projection string, keys []string) ([][]byte, error)
}

// Heads gives a stream's committed head; *appender.Appender satisfies it.
type Heads interface {
	Head(ctx context.Context, s stream.ID) (stream.Head, error)
}
