package embedded

import (
	"context"
	"strings"
	"testing"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/stream"
)

const testPartitions = 4

// commitWorkload commits, in every partition, groups over two types that include a stream
// appended to twice in one group. It returns each stream's expected head version and the
// positions Commit answered, by event id.
func commitWorkload(t *testing.T, e *Engine) (map[stream.ID]int64, map[string]stream.Position) {
	t.Helper()
	ctx := context.Background()
	versions := map[stream.ID]int64{}
	positions := map[string]stream.Position{}
	for p := 0; p < testPartitions; p++ {
		w := openPartition(t, e, p)
		streams := append(streamsIn("order", p, testPartitions, 3), streamsIn("invoice", p, testPartitions, 2)...)
		for round := 0; round < 3; round++ {
			heads := map[stream.ID]stream.Head{}
			var group []appender.StreamAppend
			for i, s := range append(streams, streams[0]) { // streams[0] twice
				prior, ok := heads[s]
				if !ok {
					h, err := w.Head(ctx, s)
					if err != nil {
						t.Fatal(err)
					}
					prior = h
				}
				a := appendOf(s, prior, 1+(i+round)%3)
				group = append(group, a)
				heads[s] = prior.Advance(make([]stream.Recent, len(a.Events)))
				versions[s] = heads[s].Version
			}
			pos, err := w.Commit(ctx, group)
			if err != nil {
				t.Fatalf("Commit partition %d round %d: %v", p, round, err)
			}
			for i, a := range group {
				if len(pos[i]) != len(a.Events) {
					t.Fatalf("append %d: %d positions for %d events", i, len(pos[i]), len(a.Events))
				}
				for j, ev := range a.Events {
					positions[ev.ID()] = pos[i][j]
				}
			}
		}
		_ = w.Close()
	}
	return versions, positions
}

// checkLog reads every topic-partition and checks offsets, events, positions and heads.
func checkLog(t *testing.T, e *Engine, versions map[stream.ID]int64, positions map[string]stream.Position) {
	t.Helper()
	wantTopics := []string{"strata.invoice.events", "strata.order.events"}
	if got := e.Topics(); strings.Join(got, ",") != strings.Join(wantTopics, ",") {
		t.Fatalf("Topics() = %v, want %v", got, wantTopics)
	}
	seen := map[stream.ID]int64{}
	total := 0
	for _, topic := range wantTopics {
		for p := int32(0); p < testPartitions; p++ {
			recs := readAll(t, e, topic, p)
			end, err := e.EndOffset(topic, p)
			if err != nil || end != int64(len(recs)) {
				t.Fatalf("EndOffset(%s, %d) = %d, %v; read %d records", topic, p, end, err, len(recs))
			}
			for i, r := range recs {
				checkRecord(t, r, topic, p, int64(i), positions, seen)
			}
			total += len(recs)
		}
	}
	if total != len(positions) {
		t.Fatalf("read %d events, committed %d", total, len(positions))
	}
	for s, v := range versions {
		h, err := e.Head(s)
		if err != nil || h.Version != v || seen[s] != v {
			t.Fatalf("head of %s = v%d (%v), log has v%d, want v%d", s, h.Version, err, seen[s], v)
		}
		if last := h.Recent[len(h.Recent)-1]; last.Version != v || last.Position != positions[last.EventID] {
			t.Fatalf("head of %s: newest recent %+v", s, last)
		}
	}
}

func checkRecord(t *testing.T, r Record, topic string, p int32, off int64,
	positions map[string]stream.Position, seen map[stream.ID]int64) {
	t.Helper()
	want := stream.Position{Topic: topic, Partition: p, Offset: off}
	if r.Position != want || positions[r.Event.ID()] != want {
		t.Fatalf("record %s at %+v, expected %+v, Commit said %+v", r.Event.ID(), r.Position, want, positions[r.Event.ID()])
	}
	aggType, aggID := event.StreamOf(&r.Event)
	v, ok, err := event.AggregateVersion(&r.Event)
	s := stream.ID{Type: aggType, ID: aggID}
	if !ok || err != nil || v != seen[s]+1 {
		t.Fatalf("record %s: version %d (%t, %v) after %d", r.Event.ID(), v, ok, err, seen[s])
	}
	seen[s] = v
	if orig := newEvent(s, v); string(orig.Data()) != string(r.Event.Data()) || orig.ID() != r.Event.ID() ||
		!orig.Time().Equal(r.Event.Time()) || r.Event.Extensions()[event.ExtAggregateVersion] != int32(v) {
		t.Fatalf("record %s differs from the event appended: %v", r.Event.ID(), r.Event)
	}
	if !r.Event.Time().IsZero() && !r.Timestamp.Equal(r.Event.Time()) {
		t.Fatalf("record %s: timestamp %v, event time %v", r.Event.ID(), r.Timestamp, r.Event.Time())
	}
	if err := event.ValidateStrata(&r.Event, event.Limits{}); err != nil {
		t.Fatalf("record %s: %v", r.Event.ID(), err)
	}
}

func TestEngine_CommitRead(t *testing.T) {
	e := openTest(t, t.TempDir(), testPartitions)
	versions, positions := commitWorkload(t, e)
	checkLog(t, e, versions, positions)
	rep := mustVerify(t, e)
	if rep.Records != int64(len(positions)) || rep.Streams != len(versions) || rep.Heads != len(versions) {
		t.Fatalf("Verify report %+v, want %d records, %d streams", rep, len(positions), len(versions))
	}
	recs, err := e.Read(context.Background(), "strata.order.events", 0, 2, 3)
	if err != nil || len(recs) != 3 || recs[0].Position.Offset != 2 {
		t.Fatalf("Read from 2 limit 3 = %d records from %+v, %v", len(recs), recs[0].Position, err)
	}
}

func TestEngine_ReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, testPartitions)
	versions, positions := commitWorkload(t, e)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openTest(t, dir, testPartitions)
	checkLog(t, e, versions, positions)
	mustVerify(t, e)

	// Offsets continue where they stopped.
	s := streamsIn("order", 1, testPartitions, 1)[0]
	w := openPartition(t, e, 1)
	h, _ := w.Head(context.Background(), s)
	end, _ := e.EndOffset("strata.order.events", 1)
	pos, err := w.Commit(context.Background(), []appender.StreamAppend{appendOf(s, h, 2)})
	if err != nil || pos[0][0].Offset != end || pos[0][1].Offset != end+1 {
		t.Fatalf("Commit after reopen: %v, %v (end offset was %d)", pos, err, end)
	}
	mustVerify(t, e)
}
