package appender

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/strata-platform/strata/pkg/stream"
)

// TestCachedHead_Advance: advancing a cache entry gives stream.Head.Advance's head, and
// never changes a head it returned before (holders keep heads: groups in flight, the
// Kafka partition's heads write), across window edges and the array's refills.
func TestCachedHead_Advance(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		recent := func(v int64) stream.Recent {
			return stream.Recent{Source: "s", EventID: fmt.Sprintf("e%d", v), Version: v,
				Position: stream.Position{Topic: "t", Partition: 1, Offset: v}}
		}
		var start stream.Head
		if r.IntN(2) == 0 { // as read from the partition: no spare room
			for v := int64(1); v <= int64(r.IntN(80)); v++ {
				start = start.Advance([]stream.Recent{recent(v)})
			}
		}
		c, want := cachedHead{head: start}, start
		if r.IntN(2) == 0 { // as cachedOf makes it
			c.sums = idSums(start.Recent)
		}
		type seen struct{ got, want stream.Head }
		var history []seen
		for range 300 {
			n := []int{0, 1, 1, 1, 2, 5, 63, 64, 65, 130}[r.IntN(10)]
			added := make([]stream.Recent, n)
			for j := range added {
				added[j] = recent(want.Version + int64(j) + 1)
			}
			c, want = c.advance(added), want.Advance(added)
			if !reflect.DeepEqual(c.head, want) {
				t.Fatalf("seed %d: advance gives %+v, want %+v", seed, c.head, want)
			}
			if sums := c.headSums(); !reflect.DeepEqual(sums, idSums(want.Recent)) {
				t.Fatalf("seed %d: the entry's sums %v are not its recents' %v", seed, sums, idSums(want.Recent))
			}
			if cap(c.head.Recent) != len(c.head.Recent) {
				t.Fatalf("seed %d: a cached head's recents have spare room (len %d, cap %d)", seed, len(c.head.Recent), cap(c.head.Recent))
			}
			history = append(history, seen{c.head, want})
			for _, h := range history {
				if !reflect.DeepEqual(h.got, h.want) {
					t.Fatalf("seed %d: an earlier head changed: %+v, want %+v", seed, h.got, h.want)
				}
			}
		}
	}
}

// TestRunning_Find: a running head finds what stream.Pending.Find finds, for ids in and
// out of the window, in the committed head and among the appends of the round.
func TestRunning_Find(t *testing.T) {
	for seed := range uint64(50) {
		r := rand.New(rand.NewPCG(seed, 2))
		recent := func(v int64) stream.Recent {
			return stream.Recent{Source: fmt.Sprintf("s%d", v%3), EventID: fmt.Sprintf("e%d", v%97), Version: v}
		}
		var prior stream.Head
		for v := int64(1); v <= int64(r.IntN(150)); v++ {
			prior = prior.Advance([]stream.Recent{recent(v)})
		}
		p := stream.Pending{Prior: prior}
		for j := range r.IntN(80) {
			p.Added = append(p.Added, recent(prior.Version+int64(j)+1))
		}
		run := &running{Pending: p, sums: idSums(prior.Recent)}
		for v := range int64(300) {
			q := recent(v)
			want, wantOK := p.Find(q.Source, q.EventID)
			got, ok := run.Find(q.Source, q.EventID)
			if ok != wantOK || got != want {
				t.Fatalf("seed %d: Find(%q, %q) = %+v, %v; want %+v, %v", seed, q.Source, q.EventID, got, ok, want, wantOK)
			}
		}
	}
}
