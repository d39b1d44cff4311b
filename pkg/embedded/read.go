package embedded

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/stream"
)

// Record is a stored event with its position and record timestamp.
type Record struct {
	Position  stream.Position
	Timestamp time.Time // the event's time, or its commit time when it has none (ms precision)
	Event     event.Event
}

// Read returns up to limit records of a topic-partition from offset from on, in offset
// order. Every record's checksum is verified; a record that fails is a *CorruptionError
// naming its key. Reads never block writers.
func (e *Engine) Read(ctx context.Context, topic string, partition int32, from int64, limit int) ([]Record, error) {
	if limit < 1 {
		return nil, fmt.Errorf("embedded: read limit %d: want at least 1", limit)
	}
	if partition < 0 || int(partition) >= e.cfg.Partitions || from < 0 {
		return nil, fmt.Errorf("embedded: read %s/%d from %d: no such position", topic, partition, from)
	}
	var out []Record
	err := e.use(func(db *pebble.DB) error {
		lower := eventKey(nil, topic, partition, from)
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: lower,
			UpperBound: prefixEnd(topicPartitionPrefix(nil, kindEvent, topic, partition))})
		if err != nil {
			return err
		}
		defer func() { _ = it.Close() }()
		for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
			if len(out)%256 == 255 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			rec, err := decodeStored(it.Key(), it.Value())
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		return it.Error()
	})
	if err != nil {
		return nil, fmt.Errorf("embedded: read %s/%d from %d: %w", topic, partition, from, err)
	}
	return out, nil
}

// decodeStored checks and decodes the record stored under an event key.
func decodeStored(key, value []byte) (Record, error) {
	topic, partition, offset, ok := parseEventKey(key)
	if !ok {
		return Record{}, &CorruptionError{Key: FormatKey(key), Reason: "malformed event key"}
	}
	kr, err := decodeRecord(key, value)
	if err != nil {
		return Record{}, err
	}
	ev, err := recordEvent(key, kr)
	if err != nil {
		return Record{}, err
	}
	return Record{
		Position:  stream.Position{Topic: topic, Partition: partition, Offset: offset},
		Timestamp: time.UnixMilli(kr.Timestamp).UTC(),
		Event:     ev,
	}, nil
}

// EndOffset returns the offset the next record of a topic-partition will get (Kafka's log
// end offset): 0 for an empty one.
func (e *Engine) EndOffset(topic string, partition int32) (int64, error) {
	if partition < 0 || int(partition) >= e.cfg.Partitions {
		return 0, fmt.Errorf("embedded: partition %d out of range 0..%d", partition, e.cfg.Partitions-1)
	}
	st := e.parts[partition]
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.next[topic], nil
}

// Topics returns the event topics that hold at least one record, sorted.
func (e *Engine) Topics() []string {
	seen := map[string]bool{}
	for _, st := range e.parts {
		st.mu.Lock()
		for topic, n := range st.next {
			if n > 0 {
				seen[topic] = true
			}
		}
		st.mu.Unlock()
	}
	out := make([]string, 0, len(seen))
	for topic := range seen {
		out = append(out, topic)
	}
	sort.Strings(out)
	return out
}

// Head returns the committed head of s; a stream with no events has the zero Head.
func (e *Engine) Head(s stream.ID) (stream.Head, error) {
	var h stream.Head
	err := e.use(func(db *pebble.DB) error {
		var err error
		h, err = readHead(db, s, decodeHead)
		return err
	})
	return h, err
}
