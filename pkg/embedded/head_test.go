package embedded

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/strata-platform/strata/pkg/stream"
)

// TestAppendAdvancedHead: encoding a head from its prior recents and the added ones gives
// the same bytes as encoding stream.Head.Advance's result, across the window's edge.
func TestAppendAdvancedHead(t *testing.T) {
	const topic = "strata.order.events"
	recents := func(from, n int) []stream.Recent {
		out := make([]stream.Recent, n)
		for i := range out {
			v := int64(from + i)
			out[i] = stream.Recent{Source: "s", EventID: fmt.Sprintf("e%d", v), Version: v,
				Position: stream.Position{Topic: topic, Partition: 2, Offset: 10 + v}}
		}
		return out
	}
	for _, older := range []int{0, 1, 30, 63, 64} {
		for _, added := range []int{0, 1, 10, 34, 64, 70} {
			prior := stream.Head{Version: int64(older), Recent: recents(1, older)}
			add := recents(older+1, added)
			want, err := appendHead(nil, prior.Advance(add), topic, 2)
			if err != nil {
				t.Fatal(err)
			}
			got, err := appendAdvancedHead(nil, prior.Version+int64(added), prior.Recent, add, topic, 2)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("older %d, added %d: encodings differ", older, added)
			}
			// The writer's path: copy the older recents from the prior head's stored value.
			stored, err := appendHead(nil, prior, topic, 2)
			if err != nil {
				t.Fatal(err)
			}
			entries, n, ok := headEntries(stored)
			if !ok || n != older {
				t.Fatalf("older %d: headEntries = %d recents, %v", older, n, ok)
			}
			spliced, err := appendSplicedHead(nil, prior.Version+int64(added), entries, n, add, topic, 2)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(spliced, want) {
				t.Fatalf("older %d, added %d: spliced encoding differs", older, added)
			}
		}
	}
}
