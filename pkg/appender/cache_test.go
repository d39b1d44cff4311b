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
