package projection

import (
	"context"
	"fmt"
	"time"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/stream"
)

// LocalLog is an in-process log with Kafka's shape (the embedded engine): event topics,
// partitions, offsets.
type LocalLog interface {
	Topics() []string
	Partitions() int
	EndOffset(topic string, partition int32) (int64, error)
	Read(ctx context.Context, topic string, partition int32, from int64, limit int) ([]*Envelope, error)
}

// NewEnvelope builds the envelope of a stored event.
func NewEnvelope(e event.Event, pos stream.Position, ts time.Time) (*Envelope, error) {
	v, _, err := event.AggregateVersion(&e)
	if err != nil {
		return nil, fmt.Errorf("event at %+v: %w", pos, err)
	}
	return &Envelope{Stream: stream.ID{Type: event.AggregateType(&e), ID: event.AggregateID(&e)},
		Version: v, Position: pos, Time: ts, Event: e}, nil
}

// RunLocal runs a projection over a local log until ctx ends: the same batches, Tx and
// atomic checkpointed commits as the Kafka runner, with one worker owning every partition.
// It polls every poll interval when it has caught up.
func RunLocal(ctx context.Context, log LocalLog, store Store, proj Projection, batch int, poll time.Duration) error {
	if err := proj.Validate(); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, t := range proj.Types {
		want[t] = true
	}
	for {
		if ctx.Err() != nil {
			return nil // stopping between batches: every committed batch is whole
		}
		progressed := false
		for _, topic := range log.Topics() {
			if len(want) > 0 && !want[topicType(topic)] {
				continue
			}
			for p := int32(0); p < int32(log.Partitions()); p++ {
				n, err := localBatch(ctx, log, store, proj, topic, p, batch)
				if err != nil {
					return err
				}
				progressed = progressed || n > 0
			}
		}
		if progressed {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}

// topicType is the aggregate type of "<prefix>.<type>.events".
func topicType(topic string) string {
	end := len(topic) - len(".events")
	if end <= 0 {
		return ""
	}
	start := end - 1
	for start >= 0 && topic[start] != '.' {
		start--
	}
	return topic[start+1 : end]
}

func localBatch(ctx context.Context, log LocalLog, store Store, proj Projection, topic string, p int32, batch int) (int, error) {
	from, err := store.Checkpoint(ctx, proj.Keyspace(), topic, p)
	if err != nil {
		return 0, err
	}
	envs, err := log.Read(ctx, topic, p, from, batch)
	if err != nil || len(envs) == 0 {
		return 0, err
	}
	tx := newTx(ctx, store, proj.Keyspace())
	if err := tx.prefetch(proj.Handler, envs); err != nil {
		return 0, fmt.Errorf("projection %s: prefetch: %w", proj.Keyspace(), err)
	}
	for _, env := range envs {
		if err := proj.Handler.Apply(ctx, tx, env); err != nil {
			return 0, fmt.Errorf("projection %s: apply %s v%d: %w", proj.Keyspace(), env.Stream, env.Version, err)
		}
	}
	if proj.Flush != nil {
		if err := proj.Flush(ctx, tx); err != nil {
			return 0, err
		}
	}
	if err := tx.seal(); err != nil {
		return 0, fmt.Errorf("projection %s: %w", proj.Keyspace(), err)
	}
	puts, dels := tx.writes()
	to := envs[len(envs)-1].Position.Offset + 1
	err = store.Commit(ctx, proj.Keyspace(), Batch{Topic: topic, Partition: p, From: from, To: to, Puts: puts, Dels: dels})
	if err != nil {
		return 0, err
	}
	for _, f := range tx.after {
		f()
	}
	return len(envs), nil
}

// LocalLag is how many offsets a projection has still to read in a local log.
func LocalLag(ctx context.Context, log LocalLog, store Store, proj Projection) (int64, error) {
	want := map[string]bool{}
	for _, t := range proj.Types {
		want[t] = true
	}
	var lag int64
	for _, topic := range log.Topics() {
		if len(want) > 0 && !want[topicType(topic)] {
			continue
		}
		for p := int32(0); p < int32(log.Partitions()); p++ {
			end, err := log.EndOffset(topic, p)
			if err != nil {
				return 0, err
			}
			ck, err := store.Checkpoint(ctx, proj.Keyspace(), topic, p)
			if err != nil {
				return 0, err
			}
			lag += max(0, end-ck)
		}
	}
	return lag, nil
}
