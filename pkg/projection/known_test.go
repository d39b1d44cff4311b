package projection

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-platform/strata/pkg/testrig"
)

// meddlingStore plays another worker once: at commit number at, it first commits the same
// batch itself with every value marked (a count plus marker), which moves the partition's
// checkpoint, so the runner's own commit is refused as stale.
type meddlingStore struct {
	*RedisStore
	n  atomic.Int64
	at int64
}

const marker = 1_000_000

func (s *meddlingStore) Commit(ctx context.Context, keyspace string, b Batch) error {
	if s.n.Add(1) == s.at {
		other := b
		other.Puts = nil
		for _, kv := range b.Puts {
			n, err := strconv.ParseInt(string(kv.Value), 10, 64)
			if err != nil {
				return err
			}
			other.Puts = append(other.Puts, KV{kv.Key, strconv.AppendInt(nil, n+marker, 10)})
		}
		if err := s.RedisStore.Commit(ctx, keyspace, other); err != nil {
			return err
		}
	}
	return s.RedisStore.Commit(ctx, keyspace, b)
}

// TestRunner_KnownDroppedAfterAnotherWorker: a runner of a partition-local handler reads
// its own earlier commits from memory (known), but when another worker wrote its partition
// in between (its commit is refused as stale), it resyncs and reads that worker's values
// from the store: the other worker's marked count survives into the final counts.
func TestRunner_KnownDroppedAfterAnotherWorker(t *testing.T) {
	e := newEnv(t)
	counts := e.appendEvents(t, 1500, 40, testrig.Seed(t))
	var total int64
	for _, n := range counts {
		total += n
	}
	p := Stats([]string{"order"}, 1)
	ms := &meddlingStore{RedisStore: e.store, at: 3}
	cfg := e.cfg
	cfg.MaxBatch = 100 // several batches per partition, so later ones read known counts
	r, err := NewRunner(cfg, p, ms)
	if err != nil {
		t.Fatal(err)
	}
	if r.known == nil {
		t.Fatal("stats is partition-local: the runner should remember its commits")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	e.waitCaughtUp(t, p)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := ms.n.Load(); n < 6 {
		t.Fatalf("%d commits: want several after the meddling one", n)
	}
	var counted int64
	for part := int32(0); part < 3; part++ {
		raw, _, _ := e.store.Get(context.Background(), p.Keyspace(), StatsKey("order", part))
		n, _ := strconv.ParseInt(string(raw), 10, 64)
		counted += n
	}
	if counted != total+marker {
		t.Fatalf("counts add up to %d, want %d events plus the other worker's marker %d", counted, total, marker)
	}
}

func TestKnown_Bounded(t *testing.T) {
	k := newKnown()
	for i := range knownMax + 10 {
		k.set(strconv.Itoa(i), []byte("v"), true)
	}
	if len(k.m) != knownMax {
		t.Fatalf("%d entries, want %d", len(k.m), knownMax)
	}
	big := make([]byte, knownMaxBytes/2+1)
	k.set("a", big, true)
	k.set("b", big, true)
	if k.bytes > knownMaxBytes {
		t.Fatalf("%d bytes kept, bound %d", k.bytes, knownMaxBytes)
	}
	sum := 0
	for key, e := range k.m {
		sum += len(key) + len(e.v)
	}
	if sum != k.bytes {
		t.Fatalf("bytes %d, entries hold %d", k.bytes, sum)
	}
	k.clear()
	if len(k.m) != 0 || k.bytes != 0 {
		t.Fatal("clear left entries")
	}
}
