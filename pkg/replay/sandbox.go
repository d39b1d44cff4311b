package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/projection"
	"github.com/strata-platform/strata/pkg/stream"
)

// Sandbox is a sink that folds the replayed events into a read-model keyspace of its own
// with a reducer: one document per aggregate, projection.Doc {version, state} under
// projection.DocKey, as the projector's Fold keeps them. A replay that starts mid-stream or
// filters events folds what it is given: the document records the version of the last event
// folded, and an event at or below it (a redelivery after a resume) is skipped, so no event
// has a second effect.
//
// Commit writes, per partition, the documents changed since the last commit together with
// the partition's checkpoint (the next offset) in one atomic projection.Store commit.
type Sandbox struct {
	ctx      context.Context
	store    projection.Store
	keyspace string
	reduce   projection.Reducer
	topic    string
	ckpt     map[int32]int64             // stored checkpoint per partition
	pending  map[int32]map[string][]byte // documents changed since the last commit
}

var _ Sink = (*Sandbox)(nil)

// NewSandbox returns a sandbox sink writing to keyspace of store; reduce folds an event into
// an aggregate's state (projection.MergePatch for the declarative one).
func NewSandbox(ctx context.Context, store projection.Store, keyspace, topic string, reduce projection.Reducer) (*Sandbox, error) {
	if keyspace == "" || reduce == nil || store == nil {
		return nil, fmt.Errorf("%w: a sandbox needs a store, a keyspace and a reducer", ErrReplayConfig)
	}
	return &Sandbox{ctx: ctx, store: store, keyspace: keyspace, reduce: reduce, topic: topic,
		ckpt: map[int32]int64{}, pending: map[int32]map[string][]byte{}}, nil
}

// Write folds one event into its aggregate's document.
func (s *Sandbox) Write(r *Record) error {
	ev := &r.Event
	version, _, err := event.AggregateVersion(ev)
	if err != nil {
		return err
	}
	id := stream.ID{Type: event.AggregateType(ev), ID: event.AggregateID(ev)}
	key := projection.DocKey(id)
	docs := s.pending[r.Position.Partition]
	raw, ok := docs[key]
	if !ok {
		if raw, ok, err = s.store.Get(s.ctx, s.keyspace, key); err != nil {
			return err
		}
	}
	var doc projection.Doc[json.RawMessage]
	if ok {
		if err := json.Unmarshal(raw, &doc); err != nil {
			return fmt.Errorf("sandbox document %s: %w", key, err)
		}
	}
	if version <= doc.Version {
		return nil
	}
	env := &projection.Envelope{Stream: id, Version: version, Position: r.Position, Time: r.Timestamp, Event: *ev}
	if doc.State, err = s.reduce(doc.State, env); err != nil {
		return err
	}
	doc.Version = version
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if docs == nil {
		docs = map[string][]byte{}
		s.pending[r.Position.Partition] = docs
	}
	docs[key] = out
	return nil
}

// Commit stores each partition's changed documents with its checkpoint, atomically.
func (s *Sandbox) Commit(next map[int32]int64) (int64, error) {
	parts := make([]int32, 0, len(next))
	for p := range next {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	for _, p := range parts {
		from, ok := s.ckpt[p]
		if !ok {
			var err error
			if from, err = s.store.Checkpoint(s.ctx, s.keyspace, s.topic, p); err != nil {
				return 0, err
			}
		}
		docs := s.pending[p]
		if from == next[p] && len(docs) == 0 {
			s.ckpt[p] = from
			continue
		}
		b := projection.Batch{Topic: s.topic, Partition: p, From: from, To: next[p]}
		for k, v := range docs {
			b.Puts = append(b.Puts, projection.KV{Key: k, Value: v})
		}
		sort.Slice(b.Puts, func(i, j int) bool { return b.Puts[i].Key < b.Puts[j].Key })
		if err := s.store.Commit(s.ctx, s.keyspace, b); err != nil {
			return 0, fmt.Errorf("sandbox %s: %w", s.keyspace, err)
		}
		s.ckpt[p] = next[p]
		delete(s.pending, p)
	}
	return 0, nil
}

// Close does nothing: every Commit is already stored.
func (s *Sandbox) Close() error { return nil }
