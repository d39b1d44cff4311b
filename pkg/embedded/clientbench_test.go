package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/batchrepr"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/zap"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/projection"
	"github.com/strata-platform/strata/pkg/stream"
)

// BenchmarkAppendClients measures appends through the real append path (appender.New over
// an Engine: validation, per-partition writer, group commit, one synced pebble batch per
// group) with C concurrent clients, each appending n events per append to streams of its
// own, beside its baseline in the same run:
//
//	engine=raw: C goroutines, each committing the pebble batch one such append writes (its
//	events, its stream's head, the partition's next offset: the keys and values Commit
//	builds for a group of one append, with a head that carries the recents the stream
//	has by then, up to stream.RecentWindow, as Strata's do) with pebble.Sync, to a bare
//	pebble with the engine's options. Event keys get a unique suffix and heads one per
//	client stream, so that the raw store grows like a log (identical keys would let
//	compactions drop nearly all).
//
// That is "raw synced batch commits to the storage library": every append is durable on
// its own before it returns, at the same concurrency, and pebble's own commit pipeline
// shares an fsync among the batches that arrive together. It has none of Strata's work
// (decoding, checks, head reads, encoding). Metrics: appends/s, events/s, and the p50 and
// p99 latency of one append in µs.
func BenchmarkAppendClients(b *testing.B) {
	for _, n := range []int{1, 10} {
		for _, clients := range []int{1, 16, 64} {
			name := fmt.Sprintf("events=%d/clients=%d", n, clients)
			b.Run("engine=strata/"+name, func(b *testing.B) { benchStrataAppends(b, clients, n) })
			b.Run("engine=raw/"+name, func(b *testing.B) { benchRawAppends(b, clients, n) })
		}
	}
}

// runClients runs b.N operations split over clients goroutines and reports throughput and
// latency percentiles. prepare(c, per), if set, runs before the clock starts; op(c, i)
// performs client c's i-th operation.
func runClients(b *testing.B, clients, events int, prepare func(c, per int), op func(c, i int) error) {
	lat := make([][]time.Duration, clients)
	per := (b.N + clients - 1) / clients
	if prepare != nil {
		for c := range clients {
			prepare(c, per)
		}
	}
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
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
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "appends/s")
	b.ReportMetric(float64(len(all)*events)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}

func benchStrataAppends(b *testing.B, clients, n int) {
	e := openTest(b, benchDir(b), DefaultPartitions)
	app, err := appender.New(context.Background(), e, appender.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = app.Close() }()
	ctx := context.Background()
	// Each client builds its request's events in the clock, as a server decodes each
	// request: building all of them beforehand kept b.N events live, which the GC then
	// scanned on every cycle (a heap no server has; it cost Strata about a quarter of its
	// throughput here). Building costs about 1 µs per event; the baseline builds none.
	runClients(b, clients, n, nil, func(c, i int) error {
		evs := make([]*event.Event, n)
		for j := range evs {
			evs[j] = benchEvent(fmt.Sprintf("c%d-%d-%d", c, i, j))
		}
		s := stream.ID{Type: "order", ID: fmt.Sprintf("c%d-s%d", c, i%8)}
		_, err := app.Append(ctx, appender.Request{Stream: s, Expected: stream.Any, Events: evs})
		return err
	})
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
	series := appendKVs(b, n)
	db, err := pebble.Open(filepath.Join(benchDir(b), "raw"), pebbleOptions(vfs.Default, zap.NewNop()))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	keys := make([][]byte, clients) // scratch, one per client
	vals := make([][]byte, clients)
	runClients(b, clients, n, nil, func(c, i int) error {
		batch := db.NewBatch()
		defer func() { _ = batch.Close() }()
		at, kvs := series.append(c, i)
		for j, kv := range kvs {
			k := append(keys[c][:0], kv.key...)
			switch k[0] {
			case kindEvent: // every event has an offset of its own, as in a log
				k = binary.BigEndian.AppendUint64(k[:len(k)-8], uint64(c)<<40|uint64(i)<<8|uint64(j))
			case kindHead: // each client appends to 8 streams of its own, as the Strata clients do
				k = binary.BigEndian.AppendUint32(k, uint32(c)<<8|uint32(i%8))
			}
			keys[c] = k
			vals[c] = kv.valueFor(vals[c][:0], c, i, at)
			if err := batch.Set(k, vals[c], nil); err != nil {
				return err
			}
		}
		return batch.Commit(pebble.Sync)
	})
}

// rawSeries holds the keys and values of the pebble batches the engine writes for
// rawSeriesLen successive appends of n events (benchEvent's, stamped as the appender
// stamps them) to one stream: its events, the stream's head with its recents, the
// partition's next offset, built by the engine itself (writer.build).
type rawSeries struct {
	batches [][]rawKV
	full    int // the first append whose head holds stream.RecentWindow recents
}

// rawKV is one key and value of a series batch, and where the value holds event ids.
type rawKV struct {
	key, value []byte
	ids        []rawID
}

// rawID is an event id in a series value: at off, the id of the j-th event of the series'
// k-th append (rawIDFormat).
type rawID struct{ off, k, j int }

// rawIDFormat is the ids of the series' events: fixed width, so that valueFor can write
// another id of the same width in their place.
const rawIDFormat = "c0-%03d-%03d"

// valueFor appends kv's value, from the series' append at, as client c's i-th append writes
// it: every event id replaced
// by one of that client's own (the same id wherever the same event is named, in its record
// and in the stream head's recents). Strata writes each event once, with ids and data of
// its own: values repeated across clients sit side by side in key order, where compression
// would shrink the raw store, and with it flushes and compactions, far below Strata's.
func (kv rawKV) valueFor(dst []byte, c, i, at int) []byte {
	dst = append(dst, kv.value...)
	for _, id := range kv.ids {
		// The series event was written at-id.k appends of this stream ago; the client
		// appends to each of its 8 streams every 8th time.
		app := uint64(i-8*(at-id.k)) & 0xfffff
		putHex(dst[id.off:id.off+10], uint64(c)<<28|app<<8|uint64(id.j))
	}
	return dst
}

// putHex writes v as len(dst) hexadecimal digits (the lowest ones).
func putHex(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = "0123456789abcdef"[v&0xf]
		v >>= 4
	}
}

// findIDs returns where v holds ids written with rawIDFormat.
func findIDs(v []byte) []rawID {
	var ids []rawID
	for off := 0; ; {
		x := bytes.Index(v[off:], []byte("c0-"))
		if x < 0 {
			return ids
		}
		off += x
		var k, j int
		if off+10 <= len(v) {
			if _, err := fmt.Sscanf(string(v[off:off+10]), rawIDFormat, &k, &j); err == nil {
				ids = append(ids, rawID{off: off, k: k, j: j})
				off += 10
				continue
			}
		}
		off++
	}
}

const rawSeriesLen = 256

// append returns the batch for client c's i-th append, and its index, the (i/8)-th of its stream i%8
// (the Strata clients spread their appends over 8 streams each): the stream's first
// appends have heads with fewer recents, as Strata's do; every later one is one of the
// series' full-head appends, picked so that neighbouring appends write different bytes.
func (r *rawSeries) append(c, i int) (int, []rawKV) {
	k := i / 8
	if k >= r.full {
		k = r.full + (c*7919+i)%(len(r.batches)-r.full)
	}
	return k, r.batches[k]
}

var (
	rawSeriesMu    sync.Mutex
	rawSeriesCache = map[int]*rawSeries{}
)

// appendKVs returns the rawSeries of appends of n events, built once per process.
func appendKVs(b testing.TB, n int) *rawSeries {
	b.Helper()
	rawSeriesMu.Lock()
	defer rawSeriesMu.Unlock()
	if r, ok := rawSeriesCache[n]; ok {
		return r
	}
	e := openTest(b, b.TempDir(), 1)
	p := openPartition(b, e, 0)
	s := streamsIn("order", 0, 1, 1)[0]
	var head stream.Head
	r := &rawSeries{full: (stream.RecentWindow + n - 1) / n}
	for k := range rawSeriesLen {
		a := appender.StreamAppend{Stream: s, Prior: head}
		for j := range n {
			ev := benchEvent(fmt.Sprintf(rawIDFormat, k, j))
			event.Stamp(ev, s.Type, s.ID, head.Version+int64(j)+1)
			a.Events = append(a.Events, ev)
		}
		group := []appender.StreamAppend{a}
		batch := e.db.NewBatch()
		if _, _, err := p.(*writer).build(e.db, batch, group, time.Now()); err != nil {
			b.Fatal(err)
		}
		var kvs []rawKV
		for rd := batchrepr.Read(batch.Repr()); ; {
			_, k, v, ok, err := rd.Next()
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				break
			}
			kvs = append(kvs, rawKV{key: bytes.Clone(k), value: bytes.Clone(v), ids: findIDs(v)})
		}
		_ = batch.Close()
		r.batches = append(r.batches, kvs)
		pos, err := p.Commit(context.Background(), group)
		if err != nil {
			b.Fatal(err)
		}
		heads := map[stream.ID]stream.Head{}
		advance(heads, group, pos)
		head = heads[s]
	}
	rawSeriesCache[n] = r
	return r
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

// TestRawSeries_DistinctValues checks the baseline of BenchmarkAppendClients: each event's
// record and each full head hold the ids valueFor replaces, and two clients, or one
// client's two appends, never write the same bytes.
func TestRawSeries_DistinctValues(t *testing.T) {
	for _, n := range []int{1, 10} {
		r := appendKVs(t, n)
		seen := map[string]string{}
		for c := range 3 {
			for i := range 8 * (r.full + 3) {
				at, kvs := r.append(c, i)
				for _, kv := range kvs {
					switch kv.key[0] {
					case kindEvent:
						if len(kv.ids) == 0 {
							t.Fatalf("n=%d: append %d: an event record without an id", n, at)
						}
					case kindHead:
						if want := min((at+1)*n, stream.RecentWindow); len(kv.ids) < want {
							t.Fatalf("n=%d: append %d: head holds %d ids, want at least %d", n, at, len(kv.ids), want)
						}
					default:
						continue
					}
					v := string(kv.valueFor(nil, c, i, at))
					if len(v) != len(kv.value) {
						t.Fatalf("valueFor changed the length: %d, want %d", len(v), len(kv.value))
					}
					who := fmt.Sprintf("client %d append %d", c, i)
					if prev, ok := seen[v]; ok {
						t.Fatalf("n=%d: %s writes the same value as %s", n, who, prev)
					}
					seen[v] = who
				}
			}
		}
	}
}
