package query

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/strata-platform/strata/pkg/embedded"
)

// EngineLog reads the embedded engine's event topics. Reads never block writers.
type EngineLog struct {
	eng  *embedded.Engine
	poll time.Duration

	fetched atomic.Int64 // records read from the engine
}

var _ Log = (*EngineLog)(nil)

// NewEngineLog returns the log of eng; Follow looks for new records every poll (default 20ms).
func NewEngineLog(eng *embedded.Engine, poll time.Duration) *EngineLog {
	if poll <= 0 {
		poll = 20 * time.Millisecond
	}
	return &EngineLog{eng: eng, poll: poll}
}

// RecordsFetched is how many records this log has read from the engine so far.
func (l *EngineLog) RecordsFetched() int64 { return l.fetched.Load() }

// Partitions returns P.
func (l *EngineLog) Partitions() int { return l.eng.Partitions() }

// Topic returns the event topic of aggType.
func (l *EngineLog) Topic(aggType string) string { return l.eng.Topic(aggType) }

// Topics lists the topics that hold records.
func (l *EngineLog) Topics(context.Context) ([]string, error) { return l.eng.Topics(), nil }

func (l *EngineLog) read(ctx context.Context, topic string, partition int32, from int64, limit int) ([]embedded.Record, error) {
	if partition < 0 || int(partition) >= l.eng.Partitions() {
		return nil, fmt.Errorf("%w: partition %d: want 0..%d", ErrBadRequest, partition, l.eng.Partitions()-1)
	}
	recs, err := l.eng.Read(ctx, topic, partition, from, limit)
	l.fetched.Add(int64(len(recs)))
	return recs, err
}

// Fetch reads each run of consecutive offsets with one engine read; where the wanted
// offsets are dense (as KafkaLog.Fetch decides) one read covers the next 64 of them,
// records in between included.
func (l *EngineLog) Fetch(ctx context.Context, topic string, partition int32, offsets []int64) ([]Record, error) {
	out := make([]Record, 0, len(offsets))
	for i := 0; i < len(offsets); {
		j := i + 1
		for j < len(offsets) && offsets[j] == offsets[j-1]+1 {
			j++
		}
		if fetchBytes(offsets[i:]) > 1 {
			j = i + min(denseWindow, len(offsets)-i)
		}
		recs, err := l.read(ctx, topic, partition, offsets[i], int(offsets[j-1]-offsets[i]+1))
		if err != nil {
			return nil, err
		}
		k := i
		for _, r := range recs {
			if k < j && r.Position.Offset == offsets[k] {
				out = append(out, Record(r))
				k++
			}
		}
		if k != j {
			return nil, fmt.Errorf("%w: %s/%d has no record at %d", ErrCorrupt, topic, partition, offsets[k])
		}
		i = j
	}
	return out, nil
}

// Range reads up to limit records from from.
func (l *EngineLog) Range(ctx context.Context, topic string, partition int32, from int64, limit int) ([]Record, int64, error) {
	recs, err := l.read(ctx, topic, partition, from, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Record, len(recs))
	next := from
	for i, r := range recs {
		out[i] = Record(r)
		next = r.Position.Offset + 1
	}
	return out, next, nil
}

// OffsetAt scans the partition for the first record stamped at or after t. Embedded record
// timestamps are event times (else commit times), which need not rise with offsets, so
// there is no index to search: the scan is linear in the partition.
func (l *EngineLog) OffsetAt(ctx context.Context, topic string, partition int32, t time.Time) (int64, error) {
	var from int64
	for {
		recs, err := l.read(ctx, topic, partition, from, 1024)
		if err != nil {
			return 0, err
		}
		for _, r := range recs {
			if !r.Timestamp.Before(t.Truncate(time.Millisecond)) {
				return r.Position.Offset, nil
			}
			from = r.Position.Offset + 1
		}
		if len(recs) < 1024 {
			return l.End(ctx, topic, partition)
		}
	}
}

// End returns the offset the next record will get.
func (l *EngineLog) End(_ context.Context, topic string, partition int32) (int64, error) {
	if partition < 0 || int(partition) >= l.eng.Partitions() {
		return 0, fmt.Errorf("%w: partition %d: want 0..%d", ErrBadRequest, partition, l.eng.Partitions()-1)
	}
	return l.eng.EndOffset(topic, partition)
}

// Follow polls the partitions every poll interval.
func (l *EngineLog) Follow(ctx context.Context, from map[TopicPartition]int64, add <-chan map[TopicPartition]int64, fn func(Record) error) error {
	next := map[TopicPartition]int64{}
	for tp, o := range from {
		next[tp] = o
	}
	tick := time.NewTicker(l.poll)
	defer tick.Stop()
	for {
		tps := make([]TopicPartition, 0, len(next))
		for tp := range next {
			tps = append(tps, tp)
		}
		sort.Slice(tps, func(i, j int) bool {
			return tps[i].Topic < tps[j].Topic || tps[i].Topic == tps[j].Topic && tps[i].Partition < tps[j].Partition
		})
		for _, tp := range tps {
			recs, err := l.read(ctx, tp.Topic, tp.Partition, next[tp], 500)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			for _, r := range recs {
				if err := fn(Record(r)); err != nil {
					return err
				}
				next[tp] = r.Position.Offset + 1
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case m := <-add:
			for tp, o := range m {
				if _, ok := next[tp]; !ok {
					next[tp] = o
				}
			}
		case <-tick.C:
		}
	}
}
