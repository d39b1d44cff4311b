package replay

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/embedded"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/pkg/testrig"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// heavy skips a test unless STRATA_HEAVY=1.
func heavy(t *testing.T) {
	if os.Getenv("STRATA_HEAVY") != "1" {
		t.Skip("heavy test: set STRATA_HEAVY=1 (scripts/test runs it without -race)")
	}
}

// base is the record timestamp of the corpus' first event.
var base = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// item is one event of a test corpus with the partition and record timestamp it gets.
type item struct {
	partition int32
	ts        time.Time
	ev        *event.Event
}

// corpus returns n events of aggregate type typ (see corpusItem).
func corpus(typ string, n, streams, partitions int, step time.Duration, allTimes bool) []item {
	out := make([]item, 0, n)
	for i := range n {
		out = append(out, corpusItem(typ, i, streams, partitions, step, allTimes))
	}
	return out
}

// corpusItem returns event i of a corpus over `streams` streams spread over `partitions`
// partitions: id ev-<i>, stream a-<i mod streams>, version i/streams+1, time and record
// timestamp base + i*step. Without allTimes every third event has no time attribute (Kafka
// still has the record timestamp; the embedded engine would take its commit time).
func corpusItem(typ string, i, streams, partitions int, step time.Duration, allTimes bool) item {
	id := fmt.Sprintf("a-%d", i%streams)
	v := int64(i/streams + 1)
	ev := event.New()
	ev.SetID(fmt.Sprintf("ev-%d", i))
	ev.SetSource("replay-test")
	ev.SetType([]string{typ + ".created", typ + ".changed", typ + ".noted"}[i%3])
	if i%5 == 0 {
		ev.SetSubject(fmt.Sprintf("s-%d", i))
	}
	ts := base.Add(time.Duration(i) * step)
	if allTimes || i%3 != 2 {
		ev.SetTime(ts)
	}
	switch i % 4 {
	case 3:
		_ = ev.SetData("text/plain", []byte(fmt.Sprintf("line %d, \"quoted\"\nsecond", i)))
	case 2:
		_ = ev.SetData("application/octet-stream", []byte{0xff, 0x00, byte(i)})
	default:
		_ = ev.SetData("application/json", map[string]any{"i": i, "name": fmt.Sprintf("n%d", v)})
	}
	event.Stamp(&ev, typ, id, v)
	return item{partition: int32(stream.PartitionFor(id, partitions)), ts: ts, ev: &ev}
}

// produce writes items to topic with their partitions and record timestamps, in order,
// creating the topic with the given partition count first (0: the topic exists).
func produce(t testing.TB, topic string, partitions int32, items []item) {
	t.Helper()
	produceN(t, topic, partitions, len(items), func(i int) item { return items[i] })
}

// produceN writes n items made by gen, in order.
func produceN(t testing.TB, topic string, partitions int32, n int, gen func(i int) item) {
	t.Helper()
	if partitions > 0 {
		// Infinite retention, as Strata's event topics have: the corpus' timestamps are in
		// the past, and the broker would delete them by time under the test.
		infinite := "-1"
		testrig.CreateTopic(t, topic, partitions, map[string]*string{"retention.ms": &infinite})
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(testrig.Kafka(t)...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxBufferedRecords(100000), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	errc := make(chan error, 1)
	for i := range n {
		it := gen(i)
		rec, err := eventkafka.Encode(it.ev, topic)
		if err != nil {
			t.Fatal(err)
		}
		rec.Partition, rec.Timestamp = it.partition, it.ts
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		t.Fatalf("produce: %v", err)
	default:
	}
}

// openEngine opens an embedded engine in a temporary folder.
func openEngine(t testing.TB, partitions int) *embedded.Engine {
	t.Helper()
	e, err := embedded.Open(embedded.Config{Dir: t.TempDir(), Partitions: partitions})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// commit stores items in the engine, in order per partition (their offsets are the ones
// Kafka gives the same items).
func commit(t testing.TB, e *embedded.Engine, items []item) {
	t.Helper()
	ctx := context.Background()
	byPart := map[int32][]item{}
	for _, it := range items {
		byPart[it.partition] = append(byPart[it.partition], it)
	}
	for p, its := range byPart {
		w, err := e.OpenPartition(ctx, int(p))
		if err != nil {
			t.Fatal(err)
		}
		var group []appender.StreamAppend
		inGroup := map[stream.ID]bool{}
		flush := func() {
			if len(group) == 0 {
				return
			}
			if _, err := w.Commit(ctx, group); err != nil {
				t.Fatal(err)
			}
			group, inGroup = group[:0], map[stream.ID]bool{}
		}
		for _, it := range its {
			s := stream.ID{Type: event.AggregateType(it.ev), ID: event.AggregateID(it.ev)}
			if inGroup[s] || len(group) == 512 {
				flush()
			}
			v, _, _ := event.AggregateVersion(it.ev)
			group = append(group, appender.StreamAppend{Stream: s, Prior: stream.Head{Version: v - 1},
				Events: []*event.Event{it.ev}})
			inGroup[s] = true
		}
		flush()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// collect is a sink that keeps what it is given.
type collect struct{ recs []*Record }

func (c *collect) Write(r *Record) error                 { c.recs = append(c.recs, r); return nil }
func (c *collect) Commit(map[int32]int64) (int64, error) { return 0, nil }
func (c *collect) Close() error                          { return nil }
func (c *collect) first() map[int32]int64 {
	out := map[int32]int64{}
	for _, r := range c.recs {
		if _, ok := out[r.Position.Partition]; !ok {
			out[r.Position.Partition] = r.Position.Offset
		}
	}
	return out
}

// source is one adapter under test, filled with a corpus.
type source struct {
	name  string
	src   Source
	topic string
}

// sources returns both adapters holding items (topic <prefix>.<typ>.events).
func sources(t *testing.T, typ string, partitions int, items []item) []source {
	t.Helper()
	prefix := testrig.Name(t, "rp")
	ktopic := prefix + "." + typ + ".events"
	produce(t, ktopic, int32(partitions), items)
	t.Cleanup(func() { testrig.DeleteTopic(t, ktopic) })
	ks, err := NewKafkaSource(testrig.Kafka(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ks.Close)
	e := openEngine(t, partitions)
	commit(t, e, items)
	return []source{{"kafka", ks, ktopic}, {"embedded", EmbeddedSource{Engine: e}, e.Topic(typ)}}
}
