package export

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/cluster"
	"github.com/strata-platform/strata/pkg/embedded"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/pkg/testrig"
)

var types = []string{"order", "customer", "invoice"}

// testConfig returns a cluster config on the real rig with a namespace and topic prefix of
// its own, and removes its topics and Redis keys when the test ends.
func testConfig(t *testing.T, partitions int) cluster.Config {
	a := testrig.Get(t)
	name := testrig.Name(t, "x")
	t.Cleanup(func() {
		for _, typ := range types {
			testrig.DeleteTopic(t, name+"."+typ+".events")
		}
		rdb := redis.NewClient(&redis.Options{Addr: a.Redis})
		defer rdb.Close()
		keys, _ := rdb.Keys(context.Background(), name+":*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	return cluster.Config{Kafka: a.Kafka, Redis: a.Redis, Cluster: name, TopicPrefix: name,
		Partitions: partitions, Address: "test"}
}

func openSource(t testing.TB, prefix string, partitions int) *embedded.Engine {
	t.Helper()
	e, err := embedded.Open(embedded.Config{Dir: t.TempDir(), Partitions: partitions, TopicPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func openCluster(t testing.TB, cfg cluster.Config) *cluster.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := cluster.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func newEvent(id string) *event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource("/export-test")
	e.SetType("com.example.changed")
	_ = e.SetData("application/json", map[string]any{"id": id})
	return &e
}

// fill appends perStream events to each of streams streams of every type, in appends of up
// to batch events, workers at a time; it returns the streams.
func fill(t testing.TB, store appender.Store, cfg appender.Config, streams, perStream, batch, workers int) []stream.ID {
	t.Helper()
	ctx := context.Background()
	a, err := appender.New(ctx, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var ids []stream.ID
	for i := range streams {
		ids = append(ids, stream.ID{Type: types[i%len(types)], ID: fmt.Sprintf("s-%d", i)})
	}
	work := make(chan stream.ID)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				for v := 0; v < perStream; v += batch {
					var evs []*event.Event
					for i := v; i < min(v+batch, perStream); i++ {
						evs = append(evs, newEvent(fmt.Sprintf("%s-%d", s, i+1)))
					}
					_, err := a.Append(ctx, appender.Request{Stream: s, Expected: stream.ExactVersion(int64(v)), Events: evs})
					if err != nil {
						errs <- fmt.Errorf("append %s: %w", s, err)
						return
					}
				}
			}
		}()
	}
	for _, s := range ids {
		work <- s
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return ids
}

// fillDirect commits perStream events to each of streams streams through the partitions
// directly, in groups of 100 appends of batch events, one goroutine per partition.
func fillDirect(t testing.TB, src *embedded.Engine, streams, perStream, batch int) []stream.ID {
	t.Helper()
	ctx := context.Background()
	byPart := make([][]stream.ID, src.Partitions())
	var ids []stream.ID
	for i := range streams {
		s := stream.ID{Type: types[i%len(types)], ID: fmt.Sprintf("s-%d", i)}
		p := stream.PartitionFor(s.ID, src.Partitions())
		byPart[p] = append(byPart[p], s)
		ids = append(ids, s)
	}
	errs := make(chan error, len(byPart))
	var wg sync.WaitGroup
	for p, part := range byPart {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- commitAll(ctx, src, p, part, perStream, batch)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func commitAll(ctx context.Context, src *embedded.Engine, p int, streams []stream.ID, perStream, batch int) error {
	w, err := src.OpenPartition(ctx, p)
	if err != nil {
		return err
	}
	defer w.Close()
	for v := 0; v < perStream; v += batch {
		for lo := 0; lo < len(streams); lo += 100 {
			var group []appender.StreamAppend
			for _, s := range streams[lo:min(lo+100, len(streams))] {
				h, err := w.Head(ctx, s)
				if err != nil {
					return err
				}
				sa := appender.StreamAppend{Stream: s, Prior: h}
				for i := v; i < min(v+batch, perStream); i++ {
					e := newEvent(fmt.Sprintf("%s-%d", s, i+1))
					event.Stamp(e, s.Type, s.ID, int64(i+1))
					sa.Events = append(sa.Events, e)
				}
				group = append(group, sa)
			}
			if _, err := w.Commit(ctx, group); err != nil {
				return err
			}
		}
	}
	return nil
}

// consume reads every partition of every topic to its end offset with a plain
// read_committed consumer and calls fn with each record, in offset order per partition.
func consume(t testing.TB, seeds []string, topics []string, fn func(*kgo.Record)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[int32]int64{}
	parts := map[string]map[int32]kgo.Offset{}
	left := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		if o.Offset == 0 {
			return
		}
		if want[o.Topic] == nil {
			want[o.Topic], parts[o.Topic] = map[int32]int64{}, map[int32]kgo.Offset{}
		}
		want[o.Topic][o.Partition] = o.Offset
		parts[o.Topic][o.Partition] = kgo.NewOffset().AtStart()
		left++
	})
	cl, err = kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumePartitions(parts),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume: %v with %d partitions unread", ctx.Err(), left)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			fn(r)
			if r.Offset == want[r.Topic][r.Partition]-1 {
				left--
			}
		})
	}
}

// entries is a stream's events as "version:id" in log order.
type entries map[stream.ID][]string

func sourceEntries(t testing.TB, src *embedded.Engine) entries {
	t.Helper()
	out := entries{}
	for _, topic := range src.Topics() {
		for p := range int32(src.Partitions()) {
			recs, err := src.Read(context.Background(), topic, p, 0, 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			for i := range recs {
				add(t, out, &recs[i].Event)
			}
		}
	}
	return out
}

func add(t testing.TB, out entries, e *event.Event) {
	v, _, err := event.AggregateVersion(e)
	if err != nil {
		t.Fatal(err)
	}
	s := stream.ID{Type: event.AggregateType(e), ID: event.AggregateID(e)}
	out[s] = append(out[s], fmt.Sprintf("%d:%s", v, e.ID()))
}

func kafkaTopics(dst *cluster.Store) []string {
	var out []string
	for _, typ := range types {
		out = append(out, dst.Topic(typ))
	}
	return out
}

func kafkaEntries(t testing.TB, seeds []string, dst *cluster.Store) entries {
	t.Helper()
	out := entries{}
	consume(t, seeds, kafkaTopics(dst), func(r *kgo.Record) {
		e, err := eventkafka.Decode(r)
		if err != nil {
			t.Fatalf("%s/%d offset %d: %v", r.Topic, r.Partition, r.Offset, err)
		}
		add(t, out, &e)
	})
	return out
}

// checkExport compares Kafka's streams and Redis's heads with the source's, then appends
// to every exported stream through the cluster.
func checkExport(t *testing.T, cfg cluster.Config, src *embedded.Engine, ids []stream.ID) {
	t.Helper()
	want, got := sourceEntries(t, src), kafkaEntries(t, cfg.Kafka, openCluster(t, cfg))
	if len(want) != len(ids) || !reflect.DeepEqual(got, want) {
		t.Fatalf("Kafka holds %d streams, the source %d (%d appended); they differ", len(got), len(want), len(ids))
	}
	ctx := context.Background()
	dst := openCluster(t, cfg)
	a, err := appender.New(ctx, dst, appender.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, s := range ids {
		h, err := a.Head(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		sh, err := src.Head(s)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(h, sh) {
			t.Fatalf("head of %s: Redis %+v, source %+v", s, h, sh)
		}
		res, err := a.Append(ctx, appender.Request{Stream: s, Expected: stream.ExactVersion(h.Version),
			Events: []*event.Event{newEvent(s.String() + "-next")}})
		if err != nil || res.Version != h.Version+1 {
			t.Fatalf("append to exported %s after version %d: %+v, %v", s, h.Version, res, err)
		}
	}
}

func TestRun_CopiesStreamsAndHeads(t *testing.T) {
	cfg := testConfig(t, 3)
	src := openSource(t, cfg.TopicPrefix, 3)
	ids := fill(t, src, appender.Config{}, 90, 55, 5, 32) // 4,950 events
	dst := openCluster(t, cfg)
	start := time.Now()
	rep, err := Run(context.Background(), src, dst, cfg.Kafka, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("export: %+v in %s", rep, time.Since(start))
	if rep.Topics != 3 || rep.Events != 90*55 || rep.Skipped != 0 {
		t.Fatalf("report %+v", rep)
	}
	rep, err = Run(context.Background(), src, dst, cfg.Kafka, nil)
	if err != nil || rep.Events != 0 || rep.Skipped != 90*55 {
		t.Fatalf("second run: %+v, %v", rep, err)
	}
	checkExport(t, cfg, src, ids)
}

func TestRun_Resumes(t *testing.T) {
	cfg := testConfig(t, 3)
	src := openSource(t, cfg.TopicPrefix, 3)
	ids := fill(t, src, appender.Config{}, 60, 80, 8, 32) // 4,800 events
	dst := openCluster(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := Run(ctx, src, dst, cfg.Kafka, func(done, total int64) {
		if done >= total/2 {
			cancel()
		}
	})
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled run: %v", err)
	}
	var last int64
	rep, err := Run(context.Background(), src, dst, cfg.Kafka, func(done, total int64) {
		if done < last || done > total {
			t.Errorf("progress %d of %d after %d", done, total, last)
		}
		last = done
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("resumed: %+v", rep)
	if rep.Skipped == 0 || rep.Events == 0 || rep.Skipped+rep.Events != 60*80 || last != 60*80 {
		t.Fatalf("report %+v, last progress %d", rep, last)
	}
	checkExport(t, cfg, src, ids)
}

func TestRun_RefusesForeignData(t *testing.T) {
	cfg := testConfig(t, 3)
	src := openSource(t, cfg.TopicPrefix, 3)
	fill(t, src, appender.Config{}, 30, 10, 5, 8)
	dst := openCluster(t, cfg)
	if _, err := Run(context.Background(), src, dst, cfg.Kafka, nil); err != nil {
		t.Fatal(err)
	}
	// Another store with other events at the same offsets (and more of them).
	other := openSource(t, cfg.TopicPrefix, 3)
	a, err := appender.New(context.Background(), other, appender.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		s := stream.ID{Type: types[i%3], ID: fmt.Sprintf("o-%d", i)}
		if _, err := a.Append(context.Background(), appender.Request{Stream: s, Expected: stream.Any,
			Events: []*event.Event{newEvent(fmt.Sprintf("o-%d-a", i)), newEvent(fmt.Sprintf("o-%d-b", i))}}); err != nil {
			t.Fatal(err)
		}
	}
	_ = a.Close()
	if _, err := Run(context.Background(), other, dst, cfg.Kafka, nil); !errors.Is(err, ErrForeignData) {
		t.Fatalf("export over other data: %v, want ErrForeignData", err)
	}
	// A shorter source than the topic.
	short := openSource(t, cfg.TopicPrefix, 3)
	fill(t, short, appender.Config{}, 3, 1, 1, 1)
	if _, err := Run(context.Background(), short, dst, cfg.Kafka, nil); !errors.Is(err, ErrForeignData) {
		t.Fatalf("export of a shorter store: %v, want ErrForeignData", err)
	}
}

func TestRun_RefusesOtherPartitionCount(t *testing.T) {
	cfg := testConfig(t, 4)
	src := openSource(t, cfg.TopicPrefix, 3)
	_, err := Run(context.Background(), src, openCluster(t, cfg), cfg.Kafka, nil)
	if !errors.Is(err, ErrPartitions) {
		t.Fatalf("Run: %v, want ErrPartitions", err)
	}
}

// TestHeavy_Export1M exports 1,000,000 events over 10,000 streams and checks every stream.
func TestHeavy_Export1M(t *testing.T) {
	if os.Getenv("STRATA_HEAVY") != "1" {
		t.Skip("set STRATA_HEAVY=1")
	}
	const streams, perStream = 10_000, 100
	cfg := testConfig(t, 8)
	src := openSource(t, cfg.TopicPrefix, 8)
	start := time.Now()
	ids := fillDirect(t, src, streams, perStream, 50)
	t.Logf("built %d events in %s", streams*perStream, time.Since(start))
	dst := openCluster(t, cfg)
	start = time.Now()
	rep, err := Run(context.Background(), src, dst, cfg.Kafka, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("export: %+v in %s", rep, time.Since(start))
	if rep.Events != streams*perStream {
		t.Fatalf("report %+v", rep)
	}
	start = time.Now()
	last := map[stream.ID]int64{}
	consume(t, cfg.Kafka, kafkaTopics(dst), func(r *kgo.Record) {
		e, err := eventkafka.Decode(r)
		if err != nil {
			t.Fatalf("%s/%d offset %d: %v", r.Topic, r.Partition, r.Offset, err)
		}
		v, _, _ := event.AggregateVersion(&e)
		s := stream.ID{Type: event.AggregateType(&e), ID: event.AggregateID(&e)}
		if v != last[s]+1 {
			t.Fatalf("%s: version %d after %d at %s/%d offset %d", s, v, last[s], r.Topic, r.Partition, r.Offset)
		}
		last[s] = v
	})
	if len(last) != streams {
		t.Fatalf("Kafka holds %d streams, want %d", len(last), streams)
	}
	for _, s := range ids {
		h, err := src.Head(s)
		if err != nil || last[s] != h.Version || h.Version != perStream {
			t.Fatalf("%s: Kafka's last version %d, source head %d (%v)", s, last[s], h.Version, err)
		}
	}
	t.Logf("checked in %s", time.Since(start))
}
