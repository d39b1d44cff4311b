package embedded

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// OffsetAfterTime returns the first offset of a topic-partition whose record timestamp is
// at or after t, or the end offset when there is none: Kafka's offsets-for-times (ListOffsets
// with a timestamp) on the embedded engine.
//
// It scans the partition from offset 0, reading only each record's checked header (its
// checksum is verified, its event is not decoded). It does not binary-search: a record's
// timestamp is its event's time when the event has one (see eventRecord), which the
// producer chose, so timestamps need not grow with offsets, and the first record at or after
// t is what Kafka returns too. The cost is one pass over the partition's records.
func (e *Engine) OffsetAfterTime(ctx context.Context, topic string, partition int32, t time.Time) (int64, error) {
	if partition < 0 || int(partition) >= e.cfg.Partitions {
		return 0, fmt.Errorf("embedded: partition %d out of range 0..%d", partition, e.cfg.Partitions-1)
	}
	end, err := e.EndOffset(topic, partition)
	if err != nil {
		return 0, err
	}
	ms := t.UnixMilli()
	found := end
	err = e.use(func(db *pebble.DB) error {
		prefix := topicPartitionPrefix(nil, kindEvent, topic, partition)
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: eventKey(nil, topic, partition, end)})
		if err != nil {
			return err
		}
		defer func() { _ = it.Close() }()
		n := 0
		for ok := it.First(); ok; ok = it.Next() {
			if n++; n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			ts, err := recordTimestamp(it.Key(), it.Value())
			if err != nil {
				return err
			}
			if ts >= ms {
				_, _, off, ok := parseEventKey(it.Key())
				if !ok {
					return &CorruptionError{Key: FormatKey(it.Key()), Reason: "malformed event key"}
				}
				found = off
				return nil
			}
		}
		return it.Error()
	})
	if err != nil {
		return 0, fmt.Errorf("embedded: offset of %s/%d at %s: %w", topic, partition, t.Format(time.RFC3339Nano), err)
	}
	return found, nil
}

// recordTimestamp checks a stored record's checksum and returns its timestamp (ms).
func recordTimestamp(pebbleKey, b []byte) (int64, error) {
	if len(b) < recordFixedSize || b[0] != recordMagic {
		return 0, &CorruptionError{Key: FormatKey(pebbleKey), Reason: "bad record header"}
	}
	if want, got := binary.BigEndian.Uint32(b[1:]), recordChecksum(pebbleKey, b[5:]); want != got {
		return 0, &CorruptionError{Key: FormatKey(pebbleKey),
			Reason: fmt.Sprintf("checksum mismatch: stored %08x, computed %08x", want, got)}
	}
	return int64(binary.BigEndian.Uint64(b[5:])), nil
}
