package projection

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/strata-platform/strata/pkg/stream"
)

// benchPatchEvents returns the events of streams streams, perStream versions each, in a
// random order, with BenchmarkProjectionThroughput's patches: {"n":i,"k<0-7>":<int>}, one
// in ten also "k0":null.
func benchPatchEvents(tb testing.TB, streams, perStream int) []*Envelope {
	rng := rand.New(rand.NewPCG(1, 2))
	versions := make([]int64, streams)
	var envs []*Envelope
	for i := 0; len(envs) < streams*perStream; i++ {
		s := rng.IntN(streams)
		if versions[s] == int64(perStream) {
			continue
		}
		versions[s]++
		patch := map[string]any{"n": i, fmt.Sprintf("k%d", rng.IntN(8)): rng.IntN(1000)}
		if rng.IntN(10) == 0 {
			patch["k0"] = nil
		}
		data, err := json.Marshal(patch)
		if err != nil {
			tb.Fatal(err)
		}
		envs = append(envs, patchEnv(tb, stream.ID{Type: "order", ID: fmt.Sprint("o-", s)}, versions[s], string(data)))
	}
	return envs
}

// BenchmarkSnapshots_Apply: the snapshot projection (MergePatch, a snapshot every 100
// events) as a Runner runs it on one partition of BenchmarkProjectionThroughput, without
// Kafka or Redis: 667 streams, 100 events each, batches of 1,000 (about 520 streams each),
// an empty store, the runner's memo and what it knows of its commits. An op is one pass;
// ns/event counts the apply of every event and the seal of every batch.
func BenchmarkSnapshots_Apply(b *testing.B) {
	envs := benchPatchEvents(b, 667, 100)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h := Snapshots(nil, 1, Reducers{"order": MergePatch}, SnapshotPolicy{Every: 100}, nil, "").Handler
		st := &countingStore{m: map[string][]byte{}}
		m, kn := newMemo(), newKnown()
		puts := 0
		for rest := envs; len(rest) > 0; {
			batch := rest[:min(len(rest), 1000)]
			rest = rest[len(batch):]
			tx := newTx(ctx, st, "ks")
			tx.puts = make(map[string][]byte, puts) // as the Runner sizes it
			tx.memo = m
			tx.known = kn
			for _, env := range batch {
				if err := h.Apply(ctx, tx, env); err != nil {
					b.Fatal(err)
				}
			}
			if err := tx.seal(); err != nil {
				b.Fatal(err)
			}
			for k, v := range tx.puts {
				kn.set(k, v, true) // what the runner knows of its commits
			}
			puts = len(tx.puts)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(envs)), "ns/event")
}
