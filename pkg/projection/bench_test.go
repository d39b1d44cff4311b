package projection

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/pkg/testrig"
)

// The benchmarks run on the real rig (Kafka + Redis from testrig); see docs/BENCHMARKS.md
// ("Projection runtime and aggregate loading") for the method and results. Run them with
// -run='^$'.
//
//	BenchmarkProjectionThroughput  one corpus (200,000 events over 2,000 streams, 3 partitions);
//	                               each op is one whole pass over it:
//	    raw                  plain franz-go consumer, read_committed, counts records
//	    decode               the same, and decodes each record into an Envelope
//	    projection/<name>    a Runner of a fresh projection version from offset 0 until
//	                         Measure reports lag 0 (tally, index, stats, snapshots)
//	BenchmarkLoad                  one stream per topic of 10 … 100,099 events; loads its
//	                               state by full replay and with the newest snapshot + tail
//
// Every op reports events/s (or ms/load) computed from its own clock; decode and each
// projection also report of-raw, their events/s over raw's in the same run (run raw too). Setup (producing, the
// index and snapshot projections of BenchmarkLoad, dropping keyspaces) is untimed.

const (
	benchCorpusEvents  = 200_000
	benchCorpusStreams = 2_000
	benchPartitions    = 3
	benchSnapshotEvery = 100
)

// newBenchEnv is newEnv for benchmarks: a namespace of its own whose topics, Redis keys and
// consumer groups are deleted when tb ends. tb must be the top-level benchmark. The runtime
// uses its default MaxBatch (12000).
func newBenchEnv(tb testing.TB) *env {
	a := testrig.Get(tb)
	name := testrig.Name(tb, "p")
	e := &env{name: name, addrs: a, rdb: redis.NewClient(&redis.Options{Addr: a.Redis})}
	var err error
	if e.cl, err = kgo.NewClient(kgo.SeedBrokers(a.Kafka...)); err != nil {
		tb.Fatal(err)
	}
	e.adm = kadm.NewClient(e.cl)
	e.store = NewRedisStore(e.rdb, name)
	e.cfg = Config{Kafka: a.Kafka, Group: name, TopicPrefix: name}
	tb.Cleanup(func() {
		ctx := context.Background()
		if groups, err := e.adm.ListGroups(ctx); err == nil {
			var mine []string
			for _, g := range groups.Groups() {
				if len(g) > len(name) && g[:len(name)+1] == name+"." {
					mine = append(mine, g)
				}
			}
			_, _ = e.adm.DeleteGroups(ctx, mine...)
		}
		topics, _ := e.adm.ListTopics(ctx)
		for _, tp := range topics.Names() {
			if len(tp) > len(name) && tp[:len(name)+1] == name+"." {
				testrig.DeleteTopic(tb, tp)
			}
		}
		keys, _ := e.rdb.Keys(ctx, name+":*").Result()
		for len(keys) > 0 {
			n := min(len(keys), 10_000)
			e.rdb.Unlink(ctx, keys[:n]...)
			keys = keys[n:]
		}
		e.cl.Close()
		e.rdb.Close()
	})
	return e
}

// benchRecord encodes event i of a corpus: version v of stream s, whose data is a merge patch
// like produceCorpus's, placed in the aggregate's partition as Strata places it.
func benchRecord(rng *rand.Rand, topic string, s stream.ID, v int64, i int) (*kgo.Record, error) {
	ev := event.New()
	ev.SetID("c-" + strconv.Itoa(i))
	ev.SetSource("/bench")
	ev.SetType("com.example.order.updated")
	patch := map[string]any{"n": i, fmt.Sprintf("k%d", rng.IntN(8)): rng.IntN(1000)}
	if rng.IntN(10) == 0 {
		patch["k0"] = nil // merge patch deletes
	}
	if err := ev.SetData("application/json", patch); err != nil {
		return nil, err
	}
	event.Stamp(&ev, s.Type, s.ID, v)
	rec, err := eventkafka.Encode(&ev, topic)
	if err != nil {
		return nil, err
	}
	rec.Partition = int32(stream.PartitionFor(s.ID, benchPartitions))
	return rec, nil
}

// produceBench creates the topic of aggType (benchPartitions partitions) and writes n events
// to it; pick(rng) names the stream of each. It returns the number of events per stream.
func (e *env) produceBench(tb testing.TB, aggType string, n int, seed uint64, pick func(*rand.Rand) string) map[string]int64 {
	topic := e.cfg.Topic(aggType)
	testrig.CreateTopic(tb, topic, benchPartitions, nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addrs.Kafka...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	rng := rand.New(rand.NewPCG(seed, 3))
	counts := map[string]int64{}
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	for i := 0; i < n; i++ {
		id := pick(rng)
		counts[id]++
		rec, err := benchRecord(rng, topic, stream.ID{Type: aggType, ID: id}, counts[id], i)
		if err != nil {
			tb.Fatal(err)
		}
		wg.Add(1)
		cl.Produce(context.Background(), rec, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				firstErr.CompareAndSwap(nil, &err)
			}
		})
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		tb.Fatal(*p)
	}
	return counts
}

// lastStable returns the last stable offset of each partition of topic.
func (e *env) lastStable(tb testing.TB, topic string) map[int32]int64 {
	ends, err := e.adm.ListCommittedOffsets(context.Background(), topic)
	if err != nil {
		tb.Fatal(err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

func BenchmarkProjectionThroughput(b *testing.B) {
	e := newBenchEnv(b)
	seed := rand.Uint64()
	start := time.Now()
	e.produceBench(b, "order", benchCorpusEvents, seed, func(rng *rand.Rand) string {
		return "o-" + strconv.Itoa(rng.IntN(benchCorpusStreams))
	})
	topic := e.cfg.Topic("order")
	ends := e.lastStable(b, topic)
	b.Logf("seed %d: produced %d events over %d streams in %v", seed, benchCorpusEvents, benchCorpusStreams, time.Since(start).Round(time.Millisecond))
	producer, err := kgo.NewClient(kgo.SeedBrokers(e.addrs.Kafka...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(producer.Close)

	var raw float64 // raw's events/s in this run (0: not run)
	ofRaw := func(b *testing.B, rate float64) {
		if raw > 0 {
			b.ReportMetric(rate/raw, "of-raw")
		}
	}
	b.Run("raw", func(b *testing.B) { raw = benchConsume(b, e, topic, ends, false) })
	b.Run("decode", func(b *testing.B) { ofRaw(b, benchConsume(b, e, topic, ends, true)) })
	types := []string{"order"}
	version := 0 // every pass gets a fresh version: its own keyspace, checkpoints and group
	projs := []struct {
		name string
		make func(v int) Projection
	}{
		{"tally", func(v int) Projection {
			return Projection{Name: "tally", Version: v, Types: types, Handler: Fold(tallyFold)}
		}},
		{"index", func(v int) Projection { return Index(types, v) }},
		{"stats", func(v int) Projection { return Stats(types, v) }},
		{"snapshots", func(v int) Projection {
			return Snapshots(types, v, Reducers{"order": MergePatch}, SnapshotPolicy{Every: benchSnapshotEvery}, producer, e.cfg.TopicPrefix)
		}},
	}
	b.Run("projection", func(b *testing.B) {
		for _, p := range projs {
			b.Run(p.name, func(b *testing.B) {
				b.ReportAllocs()
				var total, startup time.Duration
				var cpu cpuMeter
				passes := 0
				for b.Loop() {
					version++
					proj := p.make(version)
					cpu.start(e)
					d, first := e.runPass(b, proj, ends)
					cpu.stop(e)
					total, startup, passes = total+d, startup+first, passes+1
					b.StopTimer()
					e.dropPass(b, proj)
					b.StartTimer()
				}
				rate := float64(benchCorpusEvents*passes) / total.Seconds()
				b.ReportMetric(rate, "events/s")
				ofRaw(b, rate)
				b.ReportMetric(float64(startup.Milliseconds())/float64(passes), "first-ms")
				cpu.report(b, benchCorpusEvents*passes)
			})
		}
	})
}

// benchConsume reads the whole topic with a plain read_committed consumer, once per op, and
// returns the events/s it reported.
func benchConsume(b *testing.B, e *env, topic string, ends map[int32]int64, decode bool) float64 {
	b.ReportAllocs()
	var total, startup time.Duration
	var cpu cpuMeter
	passes := 0
	for b.Loop() {
		cpu.start(e)
		n, d, first := e.consumeAll(b, topic, ends, decode)
		cpu.stop(e)
		if n != benchCorpusEvents {
			b.Fatalf("read %d events, want %d", n, benchCorpusEvents)
		}
		total, startup, passes = total+d, startup+first, passes+1
	}
	rate := float64(benchCorpusEvents*passes) / total.Seconds()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(float64(startup.Milliseconds())/float64(passes), "first-ms")
	cpu.report(b, benchCorpusEvents*passes)
	return rate
}

// cpuMeter adds up the CPU time of passes: this process's (user + system, getrusage) and
// Redis's (INFO cpu). On a shared machine CPU per event varies much less than wall time.
type cpuMeter struct {
	proc, redis   time.Duration
	proc0, redis0 time.Duration
}

func (m *cpuMeter) start(e *env) { m.proc0, m.redis0 = procCPU(), redisCPU(e) }
func (m *cpuMeter) stop(e *env) {
	m.proc += procCPU() - m.proc0
	m.redis += redisCPU(e) - m.redis0
}

// report adds the metrics cpu-µs/event (this process) and redis-µs/event.
func (m *cpuMeter) report(b *testing.B, events int) {
	b.ReportMetric(float64(m.proc.Microseconds())/float64(events), "cpu-µs/event")
	b.ReportMetric(float64(m.redis.Microseconds())/float64(events), "redis-µs/event")
}

func procCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU is Redis's used_cpu_user + used_cpu_sys.
func redisCPU(e *env) time.Duration {
	total := redisInfo(e, "cpu", "used_cpu_user") + redisInfo(e, "cpu", "used_cpu_sys")
	return time.Duration(total * float64(time.Second))
}

// redisInfo returns a numeric field of a section of Redis's INFO (0 when absent).
func redisInfo(e *env, section, field string) float64 {
	info, err := e.rdb.Info(context.Background(), section).Result()
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(info, "\n") {
		if k, v, _ := strings.Cut(strings.TrimSpace(line), ":"); k == field {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// consumeAll reads topic from the start to ends and returns the number of events, the time
// taken and the time to the first record.
func (e *env) consumeAll(b *testing.B, topic string, ends map[int32]int64, decode bool) (int, time.Duration, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addrs.Kafka...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	var first time.Duration
	n := 0
	next := map[int32]int64{}
	var dec eventkafka.Decoder // as the Runner decodes
	for done := false; !done; {
		fs := cl.PollFetches(ctx)
		if err := fetchErr(fs); err != nil || ctx.Err() != nil {
			b.Fatalf("consume %s: %v %v", topic, err, ctx.Err())
		}
		if first == 0 && fs.NumRecords() > 0 {
			first = time.Since(start)
		}
		fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
			for _, r := range ftp.Records {
				next[r.Partition] = r.Offset + 1
				if r.Attrs.IsControl() {
					continue
				}
				if decode {
					if _, err := envelope(&dec, r); err != nil {
						b.Fatal(err)
					}
				}
				n++
			}
		})
		done = true
		for p, end := range ends {
			done = done && next[p] >= end
		}
	}
	return n, time.Since(start), first
}

// timedStore notes when the first batch was committed and, given the partitions' ends, when
// the commit that brought the last of them to its end succeeded: the moment the projection
// caught up, which polling Measure would only see up to a poll interval later.
type timedStore struct {
	Store
	start time.Time
	first atomic.Int64 // ns after start; 0: none yet
	ends  map[int32]int64
	mu    sync.Mutex
	at    map[int32]int64 // committed checkpoint per partition
	done  atomic.Int64    // ns after start when every partition reached its end; 0: not yet
}

// GetMany forwards to the store's MultiReader, so that the wrapper does not hide it.
func (s *timedStore) GetMany(ctx context.Context, keyspace string, keys []string) ([][]byte, []bool, error) {
	return s.Store.(MultiReader).GetMany(ctx, keyspace, keys)
}

func (s *timedStore) Commit(ctx context.Context, keyspace string, b Batch) error {
	err := s.Store.Commit(ctx, keyspace, b)
	if err != nil {
		return err
	}
	now := int64(time.Since(s.start))
	s.first.CompareAndSwap(0, now)
	if s.ends != nil {
		s.mu.Lock()
		s.at[b.Partition] = b.To
		all := true
		for p, end := range s.ends {
			all = all && s.at[p] >= end
		}
		s.mu.Unlock()
		if all {
			s.done.CompareAndSwap(0, now)
		}
	}
	return nil
}

// runPass runs a Runner of p from its (empty) checkpoints until Measure reports lag 0 and
// returns the time that took (with ends, the last offsets of p's one topic: until the commit
// that reached them) and the time to its first commit.
func (e *env) runPass(tb testing.TB, p Projection, ends map[int32]int64) (time.Duration, time.Duration) {
	ts := &timedStore{Store: e.store, start: time.Now(), ends: ends, at: map[int32]int64{}}
	r, err := NewRunner(e.cfg, p, ts)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	for {
		pr, err := Measure(ctx, e.adm, e.store, e.cfg, p)
		if err == nil && len(pr.Partitions) > 0 && pr.Lag() == 0 {
			break
		}
		if time.Since(ts.start) > 15*time.Minute {
			tb.Fatalf("projection %s not caught up: %+v %v", p.Keyspace(), pr, err)
		}
		select {
		case err := <-done:
			tb.Fatalf("runner %s stopped: %v", p.Keyspace(), err)
		case <-time.After(25 * time.Millisecond):
		}
	}
	elapsed := time.Since(ts.start)
	if ends != nil {
		if ts.done.Load() == 0 {
			tb.Fatalf("projection %s: caught up, but no commit reached %v", p.Keyspace(), ends)
		}
		elapsed = time.Duration(ts.done.Load())
	}
	cancel()
	if err := <-done; err != nil {
		tb.Fatalf("runner %s: %v", p.Keyspace(), err)
	}
	return elapsed, time.Duration(ts.first.Load())
}

// dropPass deletes a pass's keyspace and consumer group.
func (e *env) dropPass(tb testing.TB, p Projection) {
	ctx := context.Background()
	if err := e.store.DropKeyspace(ctx, p.Keyspace()); err != nil {
		tb.Fatal(err)
	}
	r, _ := NewRunner(e.cfg, p, e.store)
	_, _ = e.adm.DeleteGroups(ctx, r.GroupID())
}

// loadSizes are the stream lengths of BenchmarkLoad: 10, 1,000 and 100,000 as asked, whose
// newest snapshot (every 100) is at the head, and 1,099 and 100,099 whose snapshot is 99
// events behind the head, the longest tail the policy allows.
var loadSizes = []int{10, 1_000, 1_099, 100_000, 100_099}

// loadsPerOp keeps an op of BenchmarkLoad long enough to time with -benchtime=1x.
func loadsPerOp(events int) int {
	switch {
	case events <= 100:
		return 50
	case events <= 10_000:
		return 20
	default:
		return 3
	}
}

func BenchmarkLoad(b *testing.B) {
	e := newBenchEnv(b)
	seed := rand.Uint64()
	types := make([]string, len(loadSizes))
	reducers := Reducers{}
	for i, n := range loadSizes {
		types[i] = "load" + strconv.Itoa(n)
		reducers[types[i]] = MergePatch
		e.produceBench(b, types[i], n, seed+uint64(i), func(*rand.Rand) string { return "s-1" })
	}
	start := time.Now()
	idx := Index(types, 1)
	snaps := Snapshots(types, 1, reducers, SnapshotPolicy{Every: benchSnapshotEvery}, nil, e.cfg.TopicPrefix)
	for _, p := range []Projection{idx, snaps} {
		e.runPass(b, p, nil)
	}
	b.Logf("seed %d: index and snapshot projections caught up in %v", seed, time.Since(start).Round(time.Millisecond))
	l := loader{e: e, index: idx.Keyspace(), snapshots: snaps.Keyspace()}
	for i, n := range loadSizes {
		s := stream.ID{Type: types[i], ID: "s-1"}
		b.Run("events="+strconv.Itoa(n), func(b *testing.B) { benchLoad(b, l, s, int64(n)) })
	}
}

// benchLoad loads s by full replay and with its snapshot, alternately, loadsPerOp times
// each per op, after checking once that both give the same state.
func benchLoad(b *testing.B, l loader, s stream.ID, n int64) {
	ctx := context.Background()
	full, v, err := l.replay(ctx, s)
	if err != nil || v != n {
		b.Fatalf("full replay of %s: version %d (want %d): %v", s, v, n, err)
	}
	snap, v2, tail, err := l.withSnapshot(ctx, s)
	if err != nil || v2 != n || !jsonEqual(full, snap) {
		b.Fatalf("snapshot load of %s: version %d, %s; full replay %s: %v", s, v2, snap, full, err)
	}
	k := loadsPerOp(int(n))
	var dReplay, dSnap time.Duration
	var aReplay, aSnap uint64
	loads := 0
	b.ReportAllocs()
	for b.Loop() {
		for range k {
			d, a := measureLoad(b, func() error { _, _, err := l.replay(ctx, s); return err })
			dReplay, aReplay = dReplay+d, aReplay+a
			d, a = measureLoad(b, func() error { _, _, _, err := l.withSnapshot(ctx, s); return err })
			dSnap, aSnap = dSnap+d, aSnap+a
			loads++
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(loads) }
	b.ReportMetric(ms(dReplay), "replay-ms/load")
	b.ReportMetric(ms(dSnap), "snap-ms/load")
	b.ReportMetric(dReplay.Seconds()/dSnap.Seconds(), "speedup")
	b.ReportMetric(float64(aReplay)/float64(loads), "replay-allocs/load")
	b.ReportMetric(float64(aSnap)/float64(loads), "snap-allocs/load")
	b.ReportMetric(float64(tail), "tail-events")
}

// measureLoad times one load and counts the process's allocations during it.
func measureLoad(b *testing.B, load func() error) (time.Duration, uint64) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	err := load()
	d := time.Since(start)
	runtime.ReadMemStats(&after)
	if err != nil {
		b.Fatal(err)
	}
	return d, after.Mallocs - before.Mallocs
}

// loader loads an aggregate's state (MergePatch) from the log, as a command handler would.
type loader struct {
	e                *env
	index, snapshots string // keyspaces of the index and snapshot projections
}

// replay reads the stream's partition from offset 0 to its last stable offset, keeps the
// stream's records (by key) and folds them.
func (l loader) replay(ctx context.Context, s stream.ID) (json.RawMessage, int64, error) {
	p := int32(stream.PartitionFor(s.ID, benchPartitions))
	return l.fold(ctx, s, stream.Position{Topic: l.e.cfg.Topic(s.Type), Partition: p}, -1, nil, 0)
}

// withSnapshot reads the newest snapshot and the index head of the stream, then folds the
// events after the snapshot, read from the position the index gives for the next version.
// It also returns the number of events folded after the snapshot.
func (l loader) withSnapshot(ctx context.Context, s stream.ID) (json.RawMessage, int64, int64, error) {
	var snap Snapshot
	raw, ok, err := l.e.store.Get(ctx, l.snapshots, SnapshotKey(s))
	if err != nil {
		return nil, 0, 0, err
	}
	if ok {
		if err := json.Unmarshal(raw, &snap); err != nil {
			return nil, 0, 0, err
		}
	}
	raw, ok, err = l.e.store.Get(ctx, l.index, IndexHeadKey(s))
	if err != nil || !ok {
		return nil, 0, 0, fmt.Errorf("index head of %s: %v (found %v)", s, err, ok)
	}
	head, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || head == snap.Version {
		return snap.State, snap.Version, 0, err
	}
	from, err := l.position(ctx, s, snap.Version+1)
	if err != nil {
		return nil, 0, 0, err
	}
	last, err := l.position(ctx, s, head)
	if err != nil {
		return nil, 0, 0, err
	}
	state, v, err := l.fold(ctx, s, from, last.Offset, snap.State, snap.Version)
	return state, v, v - snap.Version, err
}

// position reads where version v of s is from the index projection.
func (l loader) position(ctx context.Context, s stream.ID, v int64) (stream.Position, error) {
	var pos stream.Position
	raw, ok, err := l.e.store.Get(ctx, l.index, IndexKey(s, v))
	if err == nil && ok {
		pos, ok, err = IndexPosition(raw, v)
	}
	if err == nil && !ok {
		err = fmt.Errorf("index has no version %d of %s", v, s)
	}
	return pos, err
}

// fold consumes one partition from pos.Offset through offset last (-1: to the partition's
// last stable offset, as a fetch reports it) with a new read_committed client, and folds
// the records of s with versions above version into state.
func (l loader) fold(ctx context.Context, s stream.ID, pos stream.Position, last int64, state json.RawMessage, version int64) (json.RawMessage, int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(l.e.addrs.Kafka...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{pos.Topic: {pos.Partition: kgo.NewOffset().At(pos.Offset)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		return nil, 0, err
	}
	defer cl.Close()
	key := []byte(s.ID)
	var dec eventkafka.Decoder
	for done := false; !done; {
		fs := cl.PollFetches(ctx)
		if err := fetchErr(fs); err != nil {
			return nil, 0, err
		}
		var ferr error
		fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
			for _, r := range ftp.Records {
				if done = last >= 0 && r.Offset > last; done || ferr != nil {
					return
				}
				if !r.Attrs.IsControl() && bytes.Equal(r.Key, key) {
					state, version, ferr = foldRecord(&dec, r, state, version)
				}
				done = r.Offset == last || last < 0 && r.Offset+1 >= ftp.LastStableOffset
			}
		})
		if ferr != nil {
			return nil, 0, ferr
		}
	}
	return state, version, nil
}

// foldRecord folds r into state unless its version is at or below version.
func foldRecord(dec *eventkafka.Decoder, r *kgo.Record, state json.RawMessage, version int64) (json.RawMessage, int64, error) {
	env, err := envelope(dec, r)
	if err != nil || env.Version <= version {
		return state, version, err
	}
	state, err = MergePatch(state, env)
	return state, env.Version, err
}
