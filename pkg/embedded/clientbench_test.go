package embedded

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/zap"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/projection"
	"github.com/strata-platform/strata/pkg/stream"
)

// BenchmarkAppendClients measures appends through the real append path (appender.New over
// an Engine: validation, per-partition writer, group commit, one synced pebble batch per
// group) with C concurrent clients, each appending n events per append to 8 streams of its
// own, beside its baseline in the same run:
//
//	engine=raw: the same appends are first made through Strata, untimed, in a folder of
//	their own and one append per group, and every pebble batch the engine applied is kept
//	(Engine.onApply): one batch per append, holding its events, its stream's head and the
//	partition's next offset. Then, timed, C goroutines commit exactly those batches, each
//	with pebble.Sync, to a bare pebble with the engine's options: client c the batches
//	c, c+C, c+2C, ... (in the engine's order).
//
// That is "raw synced batch commits to the storage library" of the very bytes Strata
// writes, one durable batch per append, at the same concurrency: raw has none of Strata's
// work (decoding, checks, head reads, encoding, hand-offs), and pebble's own commit
// pipeline shares an fsync among the batches that arrive together. Strata may put several
// appends in one batch (its group commit); that saving is its own. Metrics: appends/s,
// events/s, and the p50 and p99 latency of one append in µs.
func BenchmarkAppendClients(b *testing.B) {
	for _, n := range []int{1, 10} {
		for _, clients := range []int{1, 16, 64} {
			name := fmt.Sprintf("events=%d/clients=%d", n, clients)
			b.Run("engine=strata/"+name, func(b *testing.B) { benchStrataAppends(b, clients, n) })
			b.Run("engine=raw/"+name, func(b *testing.B) { benchRawAppends(b, clients, n) })
		}
	}
}

// runClients runs len(ops) client goroutines, client c performing ops[c] operations
// (op(c, i) its i-th), and reports throughput (appends and events being what the operations
// carry in all) and latency percentiles of one operation.
func runClients(b *testing.B, ops []int, appends, events int, op func(c, i int) error) {
	lat := make([][]time.Duration, len(ops))
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for c, per := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat[c] = make([]time.Duration, 0, per)
			for i := range per {
				t0 := time.Now()
				if err := op(c, i); err != nil {
					b.Error(err)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	b.ReportMetric(float64(appends)/elapsed.Seconds(), "appends/s")
	b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}

// perClient splits b.N appends over clients: each makes the same number (rounded up).
func perClient(b *testing.B, clients int) []int {
	ops := make([]int, clients)
	for c := range ops {
		ops[c] = (b.N + clients - 1) / clients
	}
	return ops
}

func benchStrataAppends(b *testing.B, clients, n int) {
	e := openTest(b, benchDir(b), DefaultPartitions)
	ops := perClient(b, clients)
	runClients(b, ops, clients*ops[0], clients*ops[0]*n, strataAppends(b, e, n, appender.Config{}))
}

// strataAppends returns the benchmark's operation on e: client c's i-th append, of n events
// to its stream i%8. Each client builds its request's events as it goes, as a server
// decodes each request: building all of them beforehand kept b.N events live, which the GC
// then scanned on every cycle (a heap no server has; it cost Strata about a quarter of its
// throughput here). Building costs about 1 µs per event; the baseline builds none.
func strataAppends(b testing.TB, e *Engine, n int, cfg appender.Config) func(c, i int) error {
	app, err := appender.New(context.Background(), e, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = app.Close() })
	ctx := context.Background()
	return func(c, i int) error {
		evs := make([]*event.Event, n)
		for j := range evs {
			evs[j] = benchEvent(fmt.Sprintf("c%d-%d-%d", c, i, j))
		}
		s := stream.ID{Type: "order", ID: fmt.Sprintf("c%d-s%d", c, i%8)}
		_, err := app.Append(ctx, appender.Request{Stream: s, Expected: stream.Any, Events: evs})
		return err
	}
}

// benchEvent is an event of the size the other benchmarks use (a small JSON object).
func benchEvent(id string) *event.Event {
	ev := event.New()
	ev.SetID(id)
	ev.SetSource("/bench")
	ev.SetType("com.example.order.updated")
	// The bytes json.Marshal gives for {"id": id, "total": 42.5, "note": "benchmark payload"}:
	// a server receives data as bytes.
	_ = ev.SetData("application/json", fmt.Appendf(nil, `{"id":%q,"note":"benchmark payload","total":42.5}`, id))
	return &ev
}

func benchRawAppends(b *testing.B, clients, n int) {
	ops := perClient(b, clients)
	b.StopTimer()
	batches := strataBatches(b, openTest(b, benchDir(b), DefaultPartitions), n, ops)
	b.StartTimer()
	db, err := pebble.Open(filepath.Join(benchDir(b), "raw"), pebbleOptions(vfs.Default, zap.NewNop()))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	mine := make([]int, clients) // client c commits batches c, c+clients, ...
	for k := range batches {
		mine[k%clients]++
	}
	runClients(b, mine, clients*ops[0], clients*ops[0]*n, func(c, i int) error {
		batch := db.NewBatch()
		defer func() { _ = batch.Close() }()
		// A committed batch's bytes are pebble's (it writes the sequence number into them,
		// and a pooled batch reuses them): each commit gets a copy.
		if err := batch.SetRepr(bytes.Clone(batches[i*clients+c])); err != nil {
			return err
		}
		return batch.Commit(pebble.Sync)
	})
}

// strataBatches makes the appends of benchStrataAppends (ops[c] by client c, n events
// each) through Strata on e, a fresh engine, one append per group (so one batch per
// append, as a client committing on its own writes), and returns the pebble batches the
// engine applied, in its order.
func strataBatches(b testing.TB, e *Engine, n int, ops []int) [][]byte {
	var (
		mu      sync.Mutex
		batches [][]byte
	)
	e.onApply = func(repr []byte) {
		mu.Lock()
		batches = append(batches, bytes.Clone(repr))
		mu.Unlock()
	}
	op := strataAppends(b, e, n, appender.Config{MaxGroupAppends: 1})
	var wg sync.WaitGroup
	for c, per := range ops {
		wg.Go(func() {
			for i := range per {
				if err := op(c, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return batches
}

// BenchmarkLocalProjections measures the built-in projections of `strata dev` (index,
// stats, snapshots every 100 events with the merge-patch reducer), each run with
// projection.RunLocal over a store of 20,000 events (1,000 streams, 8 partitions) from
// offset 0 until caught up, beside engine=raw: Engine.Read of the same events in the same
// batches (500), the floor any projection pays to see them.
func BenchmarkLocalProjections(b *testing.B) {
	const events, streams, batch = 20_000, 1_000, 500
	e := openTest(b, benchDir(b), DefaultPartitions)
	seedBench(b, e, events, streams)
	b.Run("engine=raw", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			n := 0
			for _, topic := range e.Topics() {
				for p := int32(0); p < int32(e.Partitions()); p++ {
					for from := int64(0); ; {
						recs, err := e.Read(context.Background(), topic, p, from, batch)
						if err != nil {
							b.Fatal(err)
						}
						if len(recs) == 0 {
							break
						}
						n += len(recs)
						from = recs[len(recs)-1].Position.Offset + 1
					}
				}
			}
			if n != events {
				b.Fatalf("read %d events, want %d", n, events)
			}
		}
		b.ReportMetric(float64(b.N*events)/b.Elapsed().Seconds(), "events/s")
	})
	projs := map[string]func(version int) projection.Projection{
		"index": func(v int) projection.Projection { return projection.Index(nil, v) },
		"stats": func(v int) projection.Projection { return projection.Stats(nil, v) },
		"snapshots": func(v int) projection.Projection {
			return projection.Snapshots(nil, v, projection.Reducers{"*": projection.MergePatch}, projection.SnapshotPolicy{Every: 100}, nil, "")
		},
	}
	version := 0
	for _, name := range []string{"index", "stats", "snapshots"} {
		b.Run("projection="+name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				version++ // a fresh keyspace: every run starts at offset 0
				runUntilCaughtUp(b, e, projs[name](version), batch)
			}
			b.ReportMetric(float64(b.N*events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// runUntilCaughtUp runs proj with RunLocal until it has read every event.
func runUntilCaughtUp(b *testing.B, e *Engine, proj projection.Projection, batch int) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- projection.RunLocal(ctx, e.LocalLog(), e, proj, batch, time.Millisecond) }()
	for {
		lag, err := projection.LocalLag(context.Background(), e.LocalLog(), e, proj)
		if err != nil {
			b.Fatal(err)
		}
		if lag == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// seedBench appends events one-event appends over streams through the append path.
func seedBench(b *testing.B, e *Engine, events, streams int) {
	b.Helper()
	ctx := context.Background()
	app, err := appender.New(ctx, e, appender.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = app.Close() }()
	var wg sync.WaitGroup
	const workers = 32
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < events; i += workers {
				s := stream.ID{Type: "order", ID: fmt.Sprintf("o-%d", i%streams)}
				ev := benchEvent(fmt.Sprintf("seed-%d", i))
				_ = ev.SetData("application/json", map[string]any{"n": i, "status": fmt.Sprintf("s%d", i%7)})
				if _, err := app.Append(ctx, appender.Request{Stream: s, Expected: stream.Any, Events: []*event.Event{ev}}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestStrataBatches_AreTheStore checks the baseline of BenchmarkAppendClients: the batches
// strataBatches keeps, one per append, committed in order to a bare pebble, give exactly
// the engine's store (every key and value but the engine's metadata).
func TestStrataBatches_AreTheStore(t *testing.T) {
	e := openTest(t, t.TempDir(), 4)
	batches := strataBatches(t, e, 3, []int{20, 20, 20})
	if len(batches) != 60 {
		t.Fatalf("kept %d batches for 60 appends, want one each", len(batches))
	}
	db, err := pebble.Open(t.TempDir(), pebbleOptions(vfs.Default, zap.NewNop()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	for _, repr := range batches {
		batch := db.NewBatch()
		if err := batch.SetRepr(repr); err != nil {
			t.Fatal(err)
		}
		if err := batch.Commit(pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	dump := func(db *pebble.DB) map[string]string {
		it, err := db.NewIter(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = it.Close() }()
		kvs := map[string]string{}
		for ok := it.First(); ok; ok = it.Next() {
			if it.Key()[0] != kindMeta {
				kvs[string(it.Key())] = string(it.Value())
			}
		}
		return kvs
	}
	want, got := dump(e.db), dump(db)
	events := 0
	for k, v := range want {
		if k[0] == kindEvent {
			events++
		}
		if got[k] != v {
			t.Errorf("key %s: the replayed batches hold %d bytes, the store %d", FormatKey([]byte(k)), len(got[k]), len(v))
		}
	}
	if len(got) != len(want) || events != 3*60 {
		t.Errorf("replayed %d keys, the store has %d (%d events, want %d)", len(got), len(want), events, 3*60)
	}
}
