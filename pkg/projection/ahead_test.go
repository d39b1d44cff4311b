package projection

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/stream"
)

// recordingStore is an empty Store that records the batches committed to it.
type recordingStore struct {
	mu      sync.Mutex
	batches []Batch
}

func (s *recordingStore) Get(context.Context, string, string) ([]byte, bool, error) {
	return nil, false, nil
}

func (s *recordingStore) Checkpoint(context.Context, string, string, int32) (int64, error) {
	return 0, nil
}

func (s *recordingStore) Commit(_ context.Context, _ string, b Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, b)
	return nil
}

// aheadRecords returns records of offsets from..to-1 of partition 0 of topic; the record at
// offset bad (if in range) is not a valid event.
func aheadRecords(t *testing.T, topic string, from, to, bad int64) []*kgo.Record {
	rng := rand.New(rand.NewPCG(7, 8))
	var recs []*kgo.Record
	for off := from; off < to; off++ {
		rec, err := benchRecord(rng, topic, stream.ID{Type: "order", ID: "o-1"}, off+1, int(off))
		if err != nil {
			t.Fatal(err)
		}
		rec.Topic, rec.Partition, rec.Offset = topic, 0, off
		if off == bad {
			rec.Headers = nil
		}
		recs = append(recs, rec)
	}
	return recs
}

// TestRunner_DecodedAhead: records decoded ahead of their apply are applied from the
// partition's next offset only; a record before it that is not a valid event is skipped
// with it, one at or after it refuses the batch; and a partition revoked, assigned or
// sought since its records were polled has them dropped unapplied.
func TestRunner_DecodedAhead(t *testing.T) {
	ctx := context.Background()
	const topic = "strata.order.events"
	tp := topicPartition{topic, 0}
	newRunner := func() (*Runner, *recordingStore) {
		st := &recordingStore{}
		r, err := NewRunner(Config{Kafka: []string{"127.0.0.1:1"}}, Stats([]string{"order"}, 1), st)
		if err != nil {
			t.Fatal(err)
		}
		r.next[tp] = 5
		r.bump(tp)
		return r, st
	}
	decoded := func(r *Runner, recs []*kgo.Record) *decodedPartition {
		p := r.take(kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: topic,
			Partitions: []kgo.FetchPartition{{Partition: 0, Records: recs}}}}}})
		r.decode(&eventkafka.Decoder{}, p)
		if len(p.parts) != 1 {
			t.Fatalf("take: %d partitions, want 1", len(p.parts))
		}
		return p.parts[0]
	}

	t.Run("from next offset", func(t *testing.T) {
		r, st := newRunner()
		dp := decoded(r, aheadRecords(t, topic, 0, 10, 2)) // the bad record is before next
		if err := r.batch(ctx, dp); err != nil {
			t.Fatal(err)
		}
		if err := r.settle(); err != nil {
			t.Fatal(err)
		}
		if len(st.batches) != 1 || st.batches[0].From != 5 || st.batches[0].To != 10 {
			t.Fatalf("batches %+v, want one from 5 to 10", st.batches)
		}
		envs, err := dp.from(5)
		if err != nil || len(envs) != 5 || envs[0].Position.Offset != 5 {
			t.Fatalf("from(5): %d envelopes, %v", len(envs), err)
		}
		if r.next[tp] != 10 {
			t.Fatalf("next %d, want 10", r.next[tp])
		}
	})

	t.Run("bad record after next", func(t *testing.T) {
		r, st := newRunner()
		dp := decoded(r, aheadRecords(t, topic, 0, 10, 7))
		if err := r.batch(ctx, dp); err == nil {
			t.Fatal("batch with an invalid record after the next offset: no error")
		}
		if err := r.settle(); err != nil {
			t.Fatal(err)
		}
		if len(st.batches) != 0 {
			t.Fatalf("batches %+v, want none", st.batches)
		}
	})

	for _, change := range []string{"revoked", "reassigned"} {
		t.Run(change, func(t *testing.T) {
			r, st := newRunner()
			dp := decoded(r, aheadRecords(t, topic, 5, 10, -1))
			r.forget(ctx, nil, map[string][]int32{topic: {0}})
			if change == "reassigned" {
				if _, err := r.adjust(ctx, map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset()}}); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.batch(ctx, dp); err != nil {
				t.Fatal(err)
			}
			if err := r.settle(); err != nil {
				t.Fatal(err)
			}
			if len(st.batches) != 0 {
				t.Fatalf("%s partition: batches %+v, want none", change, st.batches)
			}
		})
	}

	t.Run("decode error kept", func(t *testing.T) {
		r, _ := newRunner()
		dp := decoded(r, aheadRecords(t, topic, 5, 10, 6))
		if _, err := dp.from(5); err == nil || errors.Is(err, context.Canceled) {
			t.Fatalf("from(5) over an invalid record: %v", err)
		}
		if envs, err := dp.from(7); err != nil || len(envs) != 3 {
			t.Fatalf("from(7): %d envelopes, %v; want 3", len(envs), err)
		}
	})
}
