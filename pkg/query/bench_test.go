package query_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/query/querytest"
	"github.com/strata-platform/strata/pkg/stream"
)

// BenchmarkReadStream measures reading a whole stream of 10 and of 1,000 events (each
// event its own append, with another stream's event between two of them, so the stream's
// offsets are not consecutive) on both engines, beside the floor of the same records
// fetched by known offsets with the raw log adapter (direct Kafka Fetch requests;
// Engine.Read), which skips the head and the index. It reports p50 and p99 latencies.
//
//	go test ./pkg/query -run '^$' -bench BenchmarkReadStream -benchtime 200x
func BenchmarkReadStream(b *testing.B) {
	for _, eng := range []string{"embedded", "kafka"} {
		var e *querytest.Engine
		if eng == "embedded" {
			e = querytest.Embedded(b, querytest.Options{Partitions: 2})
		} else {
			e = querytest.Kafka(b, querytest.Options{Partitions: 2})
		}
		for _, n := range []int{10, 1000} {
			s := stream.ID{Type: "order", ID: fmt.Sprintf("bench-%d", n)}
			other := stream.ID{Type: "order", ID: idsIn(fmt.Sprintf("other-%d-", n), stream.PartitionFor(s.ID, 2), 2, 1)[0]}
			fillStream(b, e.App, s, other, n)
			ctx := context.Background()
			page, err := e.Reader.ReadStream(ctx, s, 1, n) // index warm
			if err != nil || len(page.Records) != n {
				b.Fatalf("read %d events: %v", len(page.Records), err)
			}
			offsets := make([]int64, n)
			for i, r := range page.Records {
				offsets[i] = r.Position.Offset
			}
			pos := page.Records[0].Position
			b.Run(fmt.Sprintf("%s/events=%d/read", eng, n), func(b *testing.B) {
				benchLatency(b, func() error {
					p, err := e.Reader.ReadStream(ctx, s, 1, n)
					if err == nil && len(p.Records) != n {
						err = fmt.Errorf("read %d events", len(p.Records))
					}
					return err
				})
			})
			b.Run(fmt.Sprintf("%s/events=%d/baseline-fetch", eng, n), func(b *testing.B) {
				benchLatency(b, func() error {
					recs, err := e.Log.Fetch(ctx, pos.Topic, pos.Partition, offsets)
					if err == nil && len(recs) != n {
						err = fmt.Errorf("fetched %d records", len(recs))
					}
					return err
				})
			})
		}
	}
}

// fillStream appends n single-event appends to s, each followed by one event of other.
func fillStream(b *testing.B, app *appender.Appender, s, other stream.ID, n int) {
	ctx := context.Background()
	for i := 1; i <= n; i++ {
		for _, sid := range []stream.ID{s, other} {
			e := event.New()
			e.SetID(fmt.Sprintf("%s-%d", sid.ID, i))
			e.SetSource("/bench")
			e.SetType("com.example.order.changed")
			_ = e.SetData("application/json", map[string]any{"n": i, "note": "a modest event body of some sixty bytes"})
			if _, err := app.Append(ctx, appender.Request{Stream: sid, Expected: stream.Any, Events: []*event.Event{&e}}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// benchLatency runs f b.N times and reports the p50 and p99 of its latency.
func benchLatency(b *testing.B, f func() error) {
	b.ReportAllocs()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds()), "p99-µs")
}
