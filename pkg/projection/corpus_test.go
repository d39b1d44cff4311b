package projection

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/pkg/testrig"
)

// heavy skips a test unless STRATA_HEAVY=1: corpora of 10^5–10^6 events are too slow under
// the race detector, so scripts/test runs these in a second pass without it.
func heavy(t *testing.T) {
	if os.Getenv("STRATA_HEAVY") != "1" {
		t.Skip("heavy test: set STRATA_HEAVY=1 (scripts/test runs it without -race)")
	}
}

// produceCorpus writes n valid Strata events over streams straight into the type's topic
// (3 partitions, keyed and partitioned as Strata does), with versions 1..k per stream, as
// a fast stand-in for the append path when a test needs a large log.
func (e *env) produceCorpus(t *testing.T, aggType string, n, streams int, seed uint64) map[stream.ID]int64 {
	topic := e.cfg.Topic(aggType)
	testrig.CreateTopic(t, topic, 3, nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addrs.Kafka...), kgo.ProducerBatchMaxBytes(1<<20),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rng := rand.New(rand.NewPCG(seed, 3))
	counts := map[stream.ID]int64{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := 0; i < n; i++ {
		s := stream.ID{Type: aggType, ID: fmt.Sprintf("o-%d", rng.IntN(streams))}
		counts[s]++
		ev := event.New()
		ev.SetID(fmt.Sprintf("c-%d", i))
		ev.SetSource("/corpus")
		ev.SetType("com.example.order.updated")
		patch := map[string]any{"n": i, fmt.Sprintf("k%d", rng.IntN(8)): rng.IntN(1000)}
		if rng.IntN(10) == 0 {
			patch["k0"] = nil // merge patch deletes
		}
		_ = ev.SetData("application/json", patch)
		event.Stamp(&ev, aggType, s.ID, counts[s])
		rec, err := eventkafka.Encode(&ev, topic)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		cl.Produce(context.Background(), rec, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	return counts
}

// TestHeavy_SnapshotPlusTail checks, for every stream of a 100,000-event corpus, that the
// newest snapshot plus the events after it equals a full replay.
func TestHeavy_SnapshotPlusTail(t *testing.T) {
	heavy(t)
	e := newEnv(t)
	seed := testrig.Seed(t)
	counts := e.produceCorpus(t, "order", 100_000, 2_000, seed)
	snaps := Snapshots([]string{"order"}, 1, Reducers{"order": MergePatch}, SnapshotPolicy{Every: 16}, nil, e.cfg.TopicPrefix)
	defer runFor(t, e, snaps)()
	e.waitCaughtUp(t, snaps)
	log := e.readLog(t, "order")
	checked := 0
	for s, envs := range log {
		if int64(len(envs)) != counts[s] {
			t.Fatalf("%s: %d events in the log, %d produced", s, len(envs), counts[s])
		}
		checkSnapshotEvery(t, e, s, envs, 16)
		checked++
	}
	t.Logf("%d streams checked, %d events", checked, 100_000)
}

func checkSnapshotEvery(t *testing.T, e *env, s stream.ID, envs []*Envelope, every int64) {
	at := int64(len(envs)) / every * every
	raw, ok, err := e.store.Get(context.Background(), "snapshots.v1", SnapshotKey(s))
	if at == 0 {
		if ok {
			t.Fatalf("%s: unexpected snapshot %s", s, raw)
		}
		return
	}
	var snap Snapshot
	if err != nil || !ok || json.Unmarshal(raw, &snap) != nil || snap.Version != at {
		t.Fatalf("%s: snapshot %s (%v), want version %d", s, raw, err, at)
	}
	tail, err := Replay(MergePatch, snap.State, envs[at:])
	if full := foldLog(t, envs); err != nil || !jsonEqual(tail, full) {
		t.Fatalf("%s: snapshot+tail %s, full replay %s", s, tail, full)
	}
}
