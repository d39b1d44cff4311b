package embedded

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// openTest opens an engine on dir and closes it when the test ends.
func openTest(t testing.TB, dir string, partitions int) *Engine {
	t.Helper()
	e, err := Open(Config{Dir: dir, Partitions: partitions})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// newEvent returns event version v of stream s, stamped.
func newEvent(s stream.ID, v int64) *event.Event {
	ev := event.New()
	ev.SetID(fmt.Sprintf("%s-%s-%d", s.Type, s.ID, v))
	ev.SetSource("test")
	ev.SetType(s.Type + ".changed")
	if v%2 == 0 {
		ev.SetTime(time.Date(2024, 5, 1, 12, 0, 0, int(v)*int(time.Millisecond), time.UTC))
	}
	_ = ev.SetData("application/json", map[string]any{"stream": s.String(), "v": v})
	event.Stamp(&ev, s.Type, s.ID, v)
	return &ev
}

// appendOf returns an append of n events to s after prior.
func appendOf(s stream.ID, prior stream.Head, n int) appender.StreamAppend {
	a := appender.StreamAppend{Stream: s, Prior: prior}
	for i := 1; i <= n; i++ {
		a.Events = append(a.Events, newEvent(s, prior.Version+int64(i)))
	}
	return a
}

// streamsIn returns n streams of type typ whose aggregates live in partition p of P.
func streamsIn(typ string, p, partitions, n int) []stream.ID {
	var out []stream.ID
	for i := 0; len(out) < n; i++ {
		id := fmt.Sprintf("%s-%d", typ, i)
		if stream.PartitionFor(id, partitions) == p {
			out = append(out, stream.ID{Type: typ, ID: id})
		}
	}
	return out
}

// openPartition opens partition p and closes it when the test ends.
func openPartition(t testing.TB, e *Engine, p int) appender.Partition {
	t.Helper()
	w, err := e.OpenPartition(context.Background(), p)
	if err != nil {
		t.Fatalf("OpenPartition(%d): %v", p, err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// readAll reads a whole topic-partition.
func readAll(t testing.TB, e *Engine, topic string, p int32) []Record {
	t.Helper()
	recs, err := e.Read(context.Background(), topic, p, 0, 1<<30)
	if err != nil {
		t.Fatalf("Read(%s/%d): %v", topic, p, err)
	}
	return recs
}

// mustVerify fails the test unless Verify finds the store sound.
func mustVerify(t testing.TB, e *Engine) VerifyReport {
	t.Helper()
	rep, err := e.Verify(context.Background())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !rep.OK() {
		t.Fatalf("Verify found %d problems, first: %v", len(rep.Problems)+rep.MoreProblems, rep.Problems[0])
	}
	return rep
}
