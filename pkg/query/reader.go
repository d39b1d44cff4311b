package query

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/projection"
	"github.com/strata-platform/strata/pkg/stream"
)

// Config configures a Reader.
type Config struct {
	Log    Log    // the event log
	Models Models // the index and snapshots read models
	Heads  Heads  // committed stream heads
	// Reducers fold events into state, by aggregate type ("*": every type without its
	// own); a type with none folds with projection.MergePatch.
	Reducers projection.Reducers
	// CatchUp is how long a stream read waits for the index to reach the stream's head
	// before it answers ErrUnavailable; default 3s.
	CatchUp time.Duration
	// MaxLimit bounds the events of one page; default 1000.
	MaxLimit int
}

// Validate checks the settings.
func (c Config) Validate() error {
	if c.Log == nil || c.Models == nil || c.Heads == nil {
		return errors.New("query: Log, Models and Heads are required")
	}
	if c.CatchUp < 0 || c.MaxLimit < 0 {
		return errors.New("query: CatchUp and MaxLimit must not be negative")
	}
	return nil
}

// Reader answers reads over one engine. It is safe for concurrent use.
type Reader struct {
	cfg Config
}

// NewReader returns a Reader.
func NewReader(cfg Config) (*Reader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.CatchUp == 0 {
		cfg.CatchUp = 3 * time.Second
	}
	if cfg.MaxLimit == 0 {
		cfg.MaxLimit = 1000
	}
	return &Reader{cfg: cfg}, nil
}

// MaxLimit is the largest page a read returns.
func (r *Reader) MaxLimit() int { return r.cfg.MaxLimit }

// StreamPage is a page of one stream's events.
type StreamPage struct {
	Records []Record // versions From.. in order
	Head    int64    // the stream's committed version when the read started
}

// ReadStream returns up to limit events of s from version from on, including every append
// acknowledged before the call (read your writes).
func (r *Reader) ReadStream(ctx context.Context, s stream.ID, from int64, limit int) (StreamPage, error) {
	if err := event.ValidateStreamName(s.Type, s.ID); err != nil {
		return StreamPage{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if from < 1 {
		return StreamPage{}, fmt.Errorf("%w: from %d: versions start at 1", ErrBadRequest, from)
	}
	if limit < 1 || limit > r.cfg.MaxLimit {
		return StreamPage{}, fmt.Errorf("%w: limit %d: want 1..%d", ErrBadRequest, limit, r.cfg.MaxLimit)
	}
	h, err := r.head(ctx, s)
	if err != nil {
		return StreamPage{}, err
	}
	if from > h.Version {
		return StreamPage{Head: h.Version}, nil
	}
	recs, err := r.readVersions(ctx, s, h, from, min(h.Version, from+int64(limit)-1))
	return StreamPage{Records: recs, Head: h.Version}, err
}

func (r *Reader) head(ctx context.Context, s stream.ID) (stream.Head, error) {
	h, err := r.cfg.Heads.Head(ctx, s)
	if err != nil {
		if ctx.Err() != nil {
			return stream.Head{}, ctx.Err()
		}
		return stream.Head{}, fmt.Errorf("%w: head of %s: %w", ErrUnavailable, s, err)
	}
	return h, nil
}

// readVersions fetches versions from..to (to at most h.Version) of s by position.
func (r *Reader) readVersions(ctx context.Context, s stream.ID, h stream.Head, from, to int64) ([]Record, error) {
	pos, err := r.positions(ctx, s, h, from, to)
	if err != nil {
		return nil, err
	}
	offsets := make([]int64, len(pos))
	for i, p := range pos {
		if p.Topic != pos[0].Topic || p.Partition != pos[0].Partition || i > 0 && p.Offset <= pos[i-1].Offset {
			return nil, fmt.Errorf("%w: positions of %s are not one partition in order", ErrCorrupt, s)
		}
		offsets[i] = p.Offset
	}
	recs, err := r.cfg.Log.Fetch(ctx, pos[0].Topic, pos[0].Partition, offsets)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s, err)
	}
	for i := range recs {
		e := &recs[i].Event
		v, _, verr := event.AggregateVersion(e)
		if verr != nil || v != from+int64(i) || event.AggregateType(e) != s.Type || event.AggregateID(e) != s.ID {
			return nil, fmt.Errorf("%w: %s v%d at %+v holds %s/%s v%d", ErrCorrupt, s, from+int64(i),
				recs[i].Position, event.AggregateType(e), event.AggregateID(e), v)
		}
	}
	return recs, nil
}

// positions returns where versions from..to of s are. The head's recent events carry
// their positions, so the newest RecentWindow versions never wait for the index; older
// ones come from the index, which is awaited (polling) until it reaches them or CatchUp
// has passed: then ErrUnavailable, never a shorter list.
func (r *Reader) positions(ctx context.Context, s stream.ID, h stream.Head, from, to int64) ([]stream.Position, error) {
	out := make([]stream.Position, to-from+1)
	idxTo := to
	for _, rc := range h.Recent {
		if rc.Version >= from && rc.Version <= to {
			out[rc.Version-from] = rc.Position
			idxTo = min(idxTo, rc.Version-1)
		}
	}
	if idxTo < from {
		return out, nil
	}
	// The index keeps IndexChunk versions to a key, after the stream's index head.
	keys := []string{projection.IndexHeadKey(s)}
	for c := from / projection.IndexChunk; c <= idxTo/projection.IndexChunk; c++ {
		keys = append(keys, projection.IndexKey(s, c*projection.IndexChunk))
	}
	deadline := time.Now().Add(r.cfg.CatchUp)
	wait := 2 * time.Millisecond
	for {
		vals, err := r.cfg.Models.GetMany(ctx, "index", keys)
		if err != nil {
			return nil, err
		}
		indexed, _ := strconv.ParseInt(string(vals[0]), 10, 64)
		if vals[0] != nil && indexed >= idxTo {
			c0 := from / projection.IndexChunk
			for i, raw := range vals[1:] {
				c := c0 + int64(i)
				var topic string
				var at [][]int64
				if raw != nil {
					if topic, at, err = projection.DecodeIndexChunk(raw); err != nil {
						return nil, fmt.Errorf("%w: index of %s, chunk %d: %v", ErrCorrupt, s, c, err)
					}
				}
				for v := max(from, c*projection.IndexChunk); v <= min(idxTo, c*projection.IndexChunk+projection.IndexChunk-1); v++ {
					j := v - c*projection.IndexChunk
					if j >= int64(len(at)) || at[j] == nil {
						return nil, fmt.Errorf("%w: index of %s reaches v%d but has no v%d", ErrCorrupt, s, indexed, v)
					}
					out[v-from] = stream.Position{Topic: topic, Partition: int32(at[j][0]), Offset: at[j][1]}
				}
			}
			return out, nil
		}
		if time.Now().Add(wait).After(deadline) {
			return nil, fmt.Errorf("%w: the index of %s is at v%d, the stream at v%d: not caught up within %s",
				ErrUnavailable, s, indexed, to, r.cfg.CatchUp)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// Slice is a page of a topic partition.
type Slice struct {
	Records []Record
	Next    int64 // the offset to continue from
}

// SliceRequest names a slice of a type's topic: one partition, from an offset or from the
// first record stamped at or after a time.
type SliceRequest struct {
	Type      string
	Partition int32
	Offset    int64     // used when Time is zero
	Time      time.Time // Kafka's offsets-for-times on the record timestamps
	Limit     int
}

// TopicSlice returns up to Limit committed records of a type's topic partition.
func (r *Reader) TopicSlice(ctx context.Context, q SliceRequest) (Slice, error) {
	if err := event.ValidateStreamName(q.Type, "x"); err != nil {
		return Slice{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if q.Partition < 0 || int(q.Partition) >= r.cfg.Log.Partitions() {
		return Slice{}, fmt.Errorf("%w: partition %d: want 0..%d", ErrBadRequest, q.Partition, r.cfg.Log.Partitions()-1)
	}
	if q.Offset < 0 {
		return Slice{}, fmt.Errorf("%w: offset %d: want 0 or more", ErrBadRequest, q.Offset)
	}
	if q.Limit < 1 || q.Limit > r.cfg.MaxLimit {
		return Slice{}, fmt.Errorf("%w: limit %d: want 1..%d", ErrBadRequest, q.Limit, r.cfg.MaxLimit)
	}
	topic := r.cfg.Log.Topic(q.Type)
	exists, err := r.topicExists(ctx, topic)
	if err != nil || !exists {
		return Slice{Next: q.Offset}, err
	}
	from := q.Offset
	if !q.Time.IsZero() {
		if from, err = r.cfg.Log.OffsetAt(ctx, topic, q.Partition, q.Time); err != nil {
			return Slice{}, err
		}
	}
	recs, next, err := r.cfg.Log.Range(ctx, topic, q.Partition, from, q.Limit)
	if err != nil {
		return Slice{}, fmt.Errorf("slice %s/%d: %w", topic, q.Partition, err)
	}
	return Slice{Records: recs, Next: next}, nil
}

func (r *Reader) topicExists(ctx context.Context, topic string) (bool, error) {
	ts, err := r.cfg.Log.Topics(ctx)
	if err != nil {
		return false, err
	}
	for _, t := range ts {
		if t == topic {
			return true, nil
		}
	}
	return false, nil
}
