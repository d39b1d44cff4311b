package query_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/query"
	"github.com/strata-platform/strata/pkg/query/querytest"
	"github.com/strata-platform/strata/pkg/stream"
)

// Reading one stream spread through a big partition fetches records in proportion to the
// stream, not the partition.
func TestReader_ReadTouchesStreamNotPartition(t *testing.T) {
	querytest.Each(t, querytest.Options{Partitions: 2, CatchUp: 5 * time.Minute}, func(t *testing.T, e *querytest.Engine) {
		testTouches(t, e, 20_000, 100)
	})
}

// The same with a partition of a million events (STRATA_HEAVY=1).
func TestHeavy_ReadTouchesStreamNotPartition(t *testing.T) {
	if os.Getenv("STRATA_HEAVY") != "1" {
		t.Skip("heavy test: set STRATA_HEAVY=1 (scripts/test runs it without -race)")
	}
	querytest.Each(t, querytest.Options{Partitions: 2, CatchUp: 5 * time.Minute}, func(t *testing.T, e *querytest.Engine) {
		testTouches(t, e, 1_000_000, 100)
	})
}

// idsIn returns n stream ids of type order that live in partition p (prefix-k, k = 0, 1, ...).
func idsIn(prefix string, p, partitions, n int) []string {
	var out []string
	for k := 0; len(out) < n; k++ {
		id := prefix + strconv.Itoa(k)
		if stream.PartitionFor(id, partitions) == p {
			out = append(out, id)
		}
	}
	return out
}

func testTouches(t *testing.T, e *querytest.Engine, filler, streamLen int) {
	ctx := context.Background()
	target := stream.ID{Type: "order", ID: idsIn("target-", 0, e.Log.Partitions(), 1)[0]}
	fillers := idsIn("filler-", 0, e.Log.Partitions(), streamLen)
	const perAppend = 500
	start := time.Now()
	for i := 0; i < streamLen; i++ {
		// The filler between two target events goes in appends of up to 500 events.
		chunk := filler / streamLen
		for done := 0; done < chunk; done += perAppend {
			n := min(perAppend, chunk-done)
			evs := make([]*event.Event, n)
			for j := range evs {
				ev := event.New()
				ev.SetID(fmt.Sprintf("f%d-%d", i, done+j))
				ev.SetSource("/filler")
				ev.SetType("com.example.order.noise")
				_ = ev.SetData("application/json", map[string]int{"n": j})
				evs[j] = &ev
			}
			if _, err := e.App.Append(ctx, appender.Request{Stream: stream.ID{Type: "order", ID: fillers[i]}, Expected: stream.Any, Events: evs}); err != nil {
				t.Fatal(err)
			}
		}
		appendN(t, e.App, target, 1, nil)
	}
	end, err := e.Log.End(ctx, e.Topic("order"), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: partition 0 holds %d offsets (written in %v)", e.Name, end, time.Since(start).Round(time.Millisecond))
	before := e.Log.RecordsFetched()
	readStart := time.Now()
	p, err := e.Reader.ReadStream(ctx, target, 1, streamLen) // waits for the index to reach the stream
	if err != nil {
		t.Fatal(err)
	}
	checkVersions(t, p.Records, target, 1, int64(streamLen))
	touched := e.Log.RecordsFetched() - before
	t.Logf("%s: read %d events of a stream in a partition of %d records (index caught up and read in %v): %d records fetched",
		e.Name, streamLen, end, time.Since(readStart).Round(time.Millisecond), touched)
	// Each event of the target stream is its own append, so its own record batch: one
	// record each, plus at most one more per event for batches shared with nothing else.
	if touched > int64(2*streamLen) {
		t.Fatalf("%d records fetched to read %d events: not proportional to the stream", touched, streamLen)
	}
	// A second read (index warm) touches the same amount.
	before = e.Log.RecordsFetched()
	if _, err := e.Reader.ReadStream(ctx, target, 1, streamLen); err != nil {
		t.Fatal(err)
	}
	if again := e.Log.RecordsFetched() - before; again != touched {
		t.Fatalf("second read fetched %d records, first %d", again, touched)
	}
	var _ query.Log = e.Log
}
