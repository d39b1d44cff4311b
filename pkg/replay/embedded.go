package replay

import (
	"context"
	"fmt"
	"time"

	"github.com/strata-platform/strata/pkg/embedded"
)

// embeddedBatch is how many records EmbeddedSource reads per Engine.Read.
const embeddedBatch = 1024

// EmbeddedSource reads event topics of the embedded engine. Its end is the end offset at
// Bounds (the engine has no open transactions: all it stores is committed), and start by
// time scans each partition (Engine.OffsetAfterTime).
type EmbeddedSource struct {
	Engine *embedded.Engine
}

var _ Source = EmbeddedSource{}

// Bounds returns 0 and the end offset of every partition; a topic with no record in any
// partition is ErrReplayNoTopic.
func (s EmbeddedSource) Bounds(_ context.Context, topic string) (start, end []int64, err error) {
	n := s.Engine.Partitions()
	start, end = make([]int64, n), make([]int64, n)
	total := int64(0)
	for p := range end {
		if end[p], err = s.Engine.EndOffset(topic, int32(p)); err != nil {
			return nil, nil, err
		}
		total += end[p]
	}
	if total == 0 {
		return nil, nil, fmt.Errorf("%w: %s (no events in the embedded store)", ErrReplayNoTopic, topic)
	}
	return start, end, nil
}

// OffsetsAfter finds, per partition, the first record at or after t by a scan.
func (s EmbeddedSource) OffsetsAfter(ctx context.Context, topic string, t time.Time) ([]int64, error) {
	out := make([]int64, s.Engine.Partitions())
	for p := range out {
		off, err := s.Engine.OffsetAfterTime(ctx, topic, int32(p), t)
		if err != nil {
			return nil, err
		}
		out[p] = off
	}
	return out, nil
}

// Read reads the ranges one partition after the other.
func (s EmbeddedSource) Read(ctx context.Context, topic string, ranges []Range, fn func(*Record) error) error {
	for _, r := range ranges {
		for next := r.Next; next < r.End; {
			if err := ctx.Err(); err != nil {
				return err
			}
			recs, err := s.Engine.Read(ctx, topic, r.Partition, next, int(min(embeddedBatch, r.End-next)))
			if err != nil {
				return fmt.Errorf("replay: %w", err)
			}
			if len(recs) == 0 {
				return fmt.Errorf("replay: %s/%d: no record at offset %d below the end %d", topic, r.Partition, next, r.End)
			}
			for i := range recs {
				rec := Record{Position: recs[i].Position, Timestamp: recs[i].Timestamp, Event: recs[i].Event}
				if err := fn(&rec); err != nil {
					return err
				}
			}
			next = recs[len(recs)-1].Position.Offset + 1
		}
	}
	return nil
}
