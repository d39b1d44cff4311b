package replay

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestReplay_StartAtTime checks, on both sources, that a replay starting from a time begins
// on every partition at the first record whose timestamp is at or after it: before the
// first record, at an exact match, between two records, after the last.
func TestReplay_StartAtTime(t *testing.T) {
	const partitions = 3
	items := corpus("order", 60, 12, partitions, 10*time.Second, true)
	// Per partition, the record timestamps in offset order.
	stamps := map[int32][]time.Time{}
	for _, it := range items {
		stamps[it.partition] = append(stamps[it.partition], it.ts)
	}
	expect := func(at time.Time) []int64 {
		out := make([]int64, partitions)
		for p := range out {
			ts := stamps[int32(p)]
			out[p] = int64(len(ts))
			for i, s := range ts {
				if !s.Before(at) {
					out[p] = int64(i)
					break
				}
			}
		}
		return out
	}
	p0 := stamps[items[0].partition]
	for p := range partitions {
		if len(stamps[int32(p)]) < 4 {
			t.Fatalf("partition %d has %d events; the corpus needs at least 4 in each", p, len(stamps[int32(p)]))
		}
	}
	cases := []struct {
		name string
		at   time.Time
	}{
		{"before the first", base.Add(-time.Hour)},
		{"at the first", base},
		{"exact match", p0[2]},
		{"between", p0[2].Add(-time.Millisecond)},
		{"just after", p0[2].Add(time.Millisecond)},
		{"at the last", items[len(items)-1].ts},
		{"after the last", items[len(items)-1].ts.Add(time.Millisecond)},
	}
	for _, src := range sources(t, "order", partitions, items) {
		t.Run(src.name, func(t *testing.T) {
			ctx := context.Background()
			for _, c := range cases {
				want := expect(c.at)
				got, err := src.src.OffsetsAfter(ctx, src.topic, c.at)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s: OffsetsAfter(%s) = %v, want %v", c.name, c.at.Format(time.RFC3339Nano), got, want)
				}
				var sink collect
				rep, err := Run(ctx, Config{Source: src.src, Topic: src.topic, Sink: &sink, Start: Start{Time: c.at}})
				if err != nil {
					t.Fatal(err)
				}
				first := sink.first()
				for p := range partitions {
					n := int64(len(stamps[int32(p)]))
					if rep.Partitions[p].Next != want[p] || rep.Partitions[p].End != n {
						t.Errorf("%s: partition %d range %+v, want [%d, %d)", c.name, p, rep.Partitions[p], want[p], n)
					}
					if off, ok := first[int32(p)]; want[p] < n && (!ok || off != want[p]) {
						t.Errorf("%s: partition %d: first record at %d (seen %v), want %d", c.name, p, off, ok, want[p])
					} else if want[p] == n && ok {
						t.Errorf("%s: partition %d: got a record at %d after the last", c.name, p, off)
					}
				}
				if wantN := sumRemaining(want, stamps); int64(len(sink.recs)) != wantN {
					t.Errorf("%s: %d records, want %d", c.name, len(sink.recs), wantN)
				}
			}
		})
	}
}

func sumRemaining(from []int64, stamps map[int32][]time.Time) int64 {
	n := int64(0)
	for p, f := range from {
		n += int64(len(stamps[int32(p)])) - f
	}
	return n
}

// TestReplay_EndTime checks that an end time ends each partition before its first record
// at or after it, and that filters apply.
func TestReplay_EndTimeAndFilters(t *testing.T) {
	items := corpus("order", 90, 5, 2, time.Second, true)
	end := items[60].ts
	for _, src := range sources(t, "order", 2, items) {
		t.Run(src.name, func(t *testing.T) {
			var sink collect
			f := Filter{Types: []string{"order.changed"}, AggregateID: "a-1",
				TimeFrom: items[10].ts, TimeTo: items[80].ts}
			if _, err := Run(context.Background(), Config{Source: src.src, Topic: src.topic, Sink: &sink,
				EndTime: end, Filter: f}); err != nil {
				t.Fatal(err)
			}
			var want []string
			for i, it := range items[:60] {
				if i >= 10 && it.ev.Type() == "order.changed" && i%5 == 1 {
					want = append(want, it.ev.ID())
				}
			}
			var got []string
			for _, r := range sink.recs {
				got = append(got, r.Event.ID())
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}
