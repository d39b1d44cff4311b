package embedded

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/strata-platform/strata/pkg/projection"
)

// Read models and their checkpoints live in the same pebble store as the events:
//
//	'r' keyspace 0x00 key          -> value
//	'c' keyspace 0x00 topic 0x00 partition:u32 -> next offset:u64
//
// A batch's writes and its checkpoint move in one pebble batch (atomic). It is not synced:
// a crash loses the batch and its checkpoint together, and the batch is applied again.

var _ projection.Store = (*Engine)(nil)

func readModelKey(keyspace, key string) []byte {
	b := make([]byte, 0, 2+len(keyspace)+len(key))
	b = append(b, 'r')
	b = append(b, keyspace...)
	b = append(b, 0)
	return append(b, key...)
}

func checkpointKey(keyspace, topic string, partition int32) []byte {
	b := make([]byte, 0, 8+len(keyspace)+len(topic))
	b = append(b, 'c')
	b = append(b, keyspace...)
	b = append(b, 0)
	b = append(b, topic...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint32(b, uint32(partition))
}

// Get reads one read-model key.
func (e *Engine) Get(_ context.Context, keyspace, key string) ([]byte, bool, error) {
	var out []byte
	var found bool
	err := e.use(func(db *pebble.DB) error {
		v, closer, err := db.Get(readModelKey(keyspace, key))
		if errors.Is(err, pebble.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		out, found = append([]byte(nil), v...), true
		return closer.Close()
	})
	return out, found, err
}

// Checkpoint returns the next offset a keyspace reads of topic/partition.
func (e *Engine) Checkpoint(_ context.Context, keyspace, topic string, partition int32) (int64, error) {
	var off int64
	err := e.use(func(db *pebble.DB) error {
		v, closer, err := db.Get(checkpointKey(keyspace, topic, partition))
		if errors.Is(err, pebble.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		defer closer.Close()
		if len(v) != 8 {
			return fmt.Errorf("%w: checkpoint of %s %s/%d", ErrCorrupt, keyspace, topic, partition)
		}
		off = int64(binary.BigEndian.Uint64(v))
		return nil
	})
	return off, err
}

// Commit applies a projection batch if the checkpoint still equals b.From.
func (e *Engine) Commit(ctx context.Context, keyspace string, b projection.Batch) error {
	e.rmMu.Lock()
	defer e.rmMu.Unlock()
	cur, err := e.Checkpoint(ctx, keyspace, b.Topic, b.Partition)
	if err != nil {
		return err
	}
	if cur != b.From {
		return fmt.Errorf("%w: %s/%d at %d, batch from %d", projection.ErrStaleCheckpoint, b.Topic, b.Partition, cur, b.From)
	}
	return e.use(func(db *pebble.DB) error {
		batch := db.NewBatch()
		defer batch.Close()
		for _, kv := range b.Puts {
			if err := batch.Set(readModelKey(keyspace, kv.Key), kv.Value, nil); err != nil {
				return err
			}
		}
		for _, k := range b.Dels {
			if err := batch.Delete(readModelKey(keyspace, k), nil); err != nil {
				return err
			}
		}
		if err := batch.Set(checkpointKey(keyspace, b.Topic, b.Partition), binary.BigEndian.AppendUint64(nil, uint64(b.To)), nil); err != nil {
			return err
		}
		if err := e.checkSpace(len(batch.Repr())); err != nil {
			return fmt.Errorf("commit %s %s/%d: %w", keyspace, b.Topic, b.Partition, err)
		}
		return batch.Commit(pebble.NoSync)
	})
}

// LocalLog adapts the engine's event topics to the projection runtime's local runner.
func (e *Engine) LocalLog() projection.LocalLog { return localLog{e} }

type localLog struct{ e *Engine }

func (l localLog) Topics() []string { return l.e.Topics() }
func (l localLog) Partitions() int  { return l.e.Partitions() }

func (l localLog) EndOffset(topic string, partition int32) (int64, error) {
	return l.e.EndOffset(topic, partition)
}

func (l localLog) Read(ctx context.Context, topic string, partition int32, from int64, limit int) ([]*projection.Envelope, error) {
	recs, err := l.e.Read(ctx, topic, partition, from, limit)
	if err != nil {
		return nil, err
	}
	out := make([]*projection.Envelope, len(recs))
	for i, r := range recs {
		env, err := projection.NewEnvelope(r.Event, r.Position, r.Timestamp)
		if err != nil {
			return nil, err
		}
		out[i] = env
	}
	return out, nil
}
