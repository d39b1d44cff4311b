package replay

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/embedded"
	"github.com/strata-platform/strata/pkg/testrig"
)

// benchEvents is the size of the benchmark topic (4 partitions), in Kafka and embedded.
const benchEvents = 20000

// BenchmarkReplay measures replay throughput (events/s) to each sink beside the raw rate
// of its source in the same run: a franz-go consumer reading the same topic read_committed
// without decoding, and Engine.Read over the same events.
//
//	go test -run '^$' -bench BenchmarkReplay -benchtime 5x -count 5 ./pkg/replay/
func BenchmarkReplay(b *testing.B) {
	items := corpus("order", benchEvents, 500, 4, time.Millisecond, true)
	topic := testrig.Name(b, "rpb") + ".order.events"
	produce(b, topic, 4, items)
	b.Cleanup(func() { testrig.DeleteTopic(b, topic) })
	ks, err := NewKafkaSource(testrig.Kafka(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ks.Close)
	eng := openEngine(b, 4)
	commit(b, eng, items)
	b.Run("kafka/raw-franz-go", func(b *testing.B) { benchRaw(b, topic) })
	benchSinks(b, "kafka", ks, topic)
	b.Run("embedded/raw-engine-read", func(b *testing.B) { benchEngineRead(b, eng) })
	benchSinks(b, "embedded", EmbeddedSource{Engine: eng}, eng.Topic("order"))
}

func benchSinks(b *testing.B, name string, src Source, topic string) {
	for _, format := range []string{"discard", "jsonl", "csv", "parquet"} {
		b.Run(name+"/"+format, func(b *testing.B) {
			b.ReportAllocs()
			dir := b.TempDir()
			for i := 0; i < b.N; i++ {
				sink := Discard()
				if format != "discard" {
					var err error
					if sink, err = CreateFile(filepath.Join(dir, fmt.Sprintf("out-%d.%s", i, format)), Format(format), -1); err != nil {
						b.Fatal(err)
					}
				}
				rep, err := Run(context.Background(), Config{Source: src, Topic: topic, Sink: sink})
				if cerr := sink.Close(); err == nil {
					err = cerr
				}
				if err != nil || rep.Written != benchEvents {
					b.Fatalf("wrote %d events, want %d: %v", rep.Written, benchEvents, err)
				}
			}
			b.ReportMetric(float64(benchEvents*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// benchRaw consumes the topic with franz-go, read_committed, counting records.
func benchRaw(b *testing.B, topic string) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		cl, err := kgo.NewClient(kgo.SeedBrokers(testrig.Kafka(b)...), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for n < benchEvents {
			fs := cl.PollFetches(context.Background())
			if err := fs.Err0(); err != nil {
				b.Fatal(err)
			}
			n += fs.NumRecords()
		}
		cl.Close()
	}
	b.ReportMetric(float64(benchEvents*b.N)/b.Elapsed().Seconds(), "events/s")
}

// benchEngineRead reads every partition with Engine.Read in batches of 1024.
func benchEngineRead(b *testing.B, eng *embedded.Engine) {
	b.ReportAllocs()
	topic := eng.Topic("order")
	for i := 0; i < b.N; i++ {
		n := 0
		for p := int32(0); p < 4; p++ {
			end, _ := eng.EndOffset(topic, p)
			for next := int64(0); next < end; {
				recs, err := eng.Read(context.Background(), topic, p, next, 1024)
				if err != nil {
					b.Fatal(err)
				}
				n += len(recs)
				next = recs[len(recs)-1].Position.Offset + 1
			}
		}
		if n != benchEvents {
			b.Fatalf("read %d records, want %d", n, benchEvents)
		}
	}
	b.ReportMetric(float64(benchEvents*b.N)/b.Elapsed().Seconds(), "events/s")
}
