package query_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/query"
	"github.com/strata-platform/strata/pkg/query/querytest"
	"github.com/strata-platform/strata/pkg/stream"
)

// newEvent is an event whose data is the merge patch {"n": n, "<id>": n}.
func newEvent(id string, n int, at time.Time) *event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource("/test")
	e.SetType("com.example.order.changed")
	if !at.IsZero() {
		e.SetTime(at)
	}
	_ = e.SetData("application/json", map[string]int{"n": n, id: n})
	return &e
}

// appendN appends n single-event appends to s, numbering events from the stream's version.
func appendN(t testing.TB, app *appender.Appender, s stream.ID, n int, at func(v int) time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		h, err := app.Head(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		v := int(h.Version) + 1
		var ts time.Time
		if at != nil {
			ts = at(v)
		}
		_, err = app.Append(ctx, appender.Request{Stream: s, Expected: stream.ExactVersion(h.Version),
			Events: []*event.Event{newEvent(fmt.Sprintf("%s-e%d", s.ID, v), v, ts)}})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func checkVersions(t *testing.T, recs []query.Record, s stream.ID, from, to int64) {
	t.Helper()
	if len(recs) != int(to-from+1) {
		t.Fatalf("%s: got %d events, want versions %d..%d", s, len(recs), from, to)
	}
	for i, r := range recs {
		v, _, _ := event.AggregateVersion(&r.Event)
		if v != from+int64(i) || r.Event.ID() != fmt.Sprintf("%s-e%d", s.ID, v) {
			t.Fatalf("%s: event %d is v%d %s", s, i, v, r.Event.ID())
		}
	}
}

func TestReader_ReadStream(t *testing.T) {
	querytest.Each(t, querytest.Options{}, func(t *testing.T, e *querytest.Engine) {
		ctx := context.Background()
		a, b := stream.ID{Type: "order", ID: "a"}, stream.ID{Type: "order", ID: "b"}
		for round := 0; round < 3; round++ { // interleave two streams
			appendN(t, e.App, a, 50, nil)
			appendN(t, e.App, b, 10, nil)
		}
		// Read your writes: 150 events is more than a head's recent window, so the oldest
		// come from the index (two of its chunks), which the read waits for.
		p, err := e.Reader.ReadStream(ctx, a, 1, 1000)
		if err != nil {
			t.Fatal(err)
		}
		checkVersions(t, p.Records, a, 1, 150)
		if p.Head != 150 {
			t.Fatalf("head %d, want 150", p.Head)
		}
		p, err = e.Reader.ReadStream(ctx, a, 61, 7) // across the index's first two chunks
		if err != nil {
			t.Fatal(err)
		}
		checkVersions(t, p.Records, a, 61, 67)
		p, err = e.Reader.ReadStream(ctx, a, 151, 10)
		if err != nil || len(p.Records) != 0 || p.Head != 150 {
			t.Fatalf("past the head: %d events, head %d, %v", len(p.Records), p.Head, err)
		}
		p, err = e.Reader.ReadStream(ctx, stream.ID{Type: "order", ID: "none"}, 1, 10)
		if err != nil || len(p.Records) != 0 || p.Head != 0 {
			t.Fatalf("empty stream: %d events, head %d, %v", len(p.Records), p.Head, err)
		}
		// Every append is visible to the read that follows its acknowledgement.
		for i := 0; i < 5; i++ {
			appendN(t, e.App, b, 1, nil)
			p, err := e.Reader.ReadStream(ctx, b, 1, 1000)
			if err != nil {
				t.Fatal(err)
			}
			checkVersions(t, p.Records, b, 1, int64(31+i))
		}
		for _, bad := range []struct {
			from  int64
			limit int
		}{{0, 10}, {1, 0}, {1, 1001}, {-3, 1}} {
			if _, err := e.Reader.ReadStream(ctx, a, bad.from, bad.limit); !errors.Is(err, query.ErrBadRequest) {
				t.Errorf("from %d limit %d: %v, want ErrBadRequest", bad.from, bad.limit, err)
			}
		}
	})
}

func TestReader_State(t *testing.T) {
	querytest.Each(t, querytest.Options{}, func(t *testing.T, e *querytest.Engine) {
		ctx := context.Background()
		s := stream.ID{Type: "order", ID: "st"}
		t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		appendN(t, e.App, s, 23, func(v int) time.Time { return t0.Add(time.Duration(v-1) * time.Minute) })
		want := func(v int) string { // the merge of {"n": i, "st-e<i>": i} for i in 1..v
			m := map[string]int{}
			for i := 1; i <= v; i++ {
				m["n"] = i
				m[fmt.Sprintf("st-e%d", i)] = i
			}
			b, _ := json.Marshal(m)
			return string(b)
		}
		check := func(at query.At, wantV int) query.State {
			t.Helper()
			st, err := e.Reader.State(ctx, s, at)
			if err != nil {
				t.Fatal(err)
			}
			if st.Version != int64(wantV) || st.Head != 23 {
				t.Fatalf("state at %+v: version %d head %d, want %d", at, st.Version, st.Head, wantV)
			}
			if wantV == 0 {
				if st.State != nil {
					t.Fatalf("state at %+v: %s, want none", at, st.State)
				}
				return st
			}
			var got, exp any
			_ = json.Unmarshal(st.State, &got)
			_ = json.Unmarshal([]byte(want(wantV)), &exp)
			if fmt.Sprint(got) != fmt.Sprint(exp) {
				t.Fatalf("state at %+v: %s, want %s", at, st.State, want(wantV))
			}
			return st
		}
		check(query.At{}, 23)
		check(query.At{Version: 7}, 7)
		check(query.At{Version: 1}, 1)
		// At a time: exact event time, between two events, before the first, after the last.
		check(query.At{Time: t0.Add(3 * time.Minute)}, 4)
		check(query.At{Time: t0.Add(3*time.Minute + 30*time.Second)}, 4)
		check(query.At{Time: t0.Add(-time.Second)}, 0)
		check(query.At{Time: t0.Add(time.Hour)}, 23)
		// Once the snapshots projection caught up (every 5 events: v20 is the newest),
		// loads start from it.
		deadline := time.Now().Add(60 * time.Second)
		for {
			st := check(query.At{}, 23)
			if st.FromSnapshot == 20 && st.Folded == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no load from the v20 snapshot: %+v", st)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if st := check(query.At{Version: 22}, 22); st.FromSnapshot != 20 || st.Folded != 2 {
			t.Fatalf("at v22: %+v, want the v20 snapshot and 2 events", st)
		}
		if st := check(query.At{Version: 12}, 12); st.FromSnapshot != 0 || st.Folded != 12 {
			t.Fatalf("at v12 (before the newest snapshot): %+v, want a fold from v1", st)
		}
		if st := check(query.At{Time: t0.Add(21 * time.Minute)}, 22); st.FromSnapshot != 20 {
			t.Fatalf("at a time after the snapshot: %+v, want the v20 snapshot", st)
		}
		check(query.At{Time: t0.Add(19*time.Minute - time.Second)}, 19)
		if _, err := e.Reader.State(ctx, s, query.At{Version: 24}); !errors.Is(err, query.ErrVersionNotFound) {
			t.Fatalf("at v24: %v, want ErrVersionNotFound", err)
		}
	})
}

func TestReader_TopicSlice(t *testing.T) {
	querytest.Each(t, querytest.Options{}, func(t *testing.T, e *querytest.Engine) {
		ctx := context.Background()
		s := stream.ID{Type: "order", ID: "sl"}
		appendN(t, e.App, s, 12, nil)
		p := int32(stream.PartitionFor(s.ID, e.Log.Partitions()))
		var all []query.Record
		next := int64(0)
		for {
			sl, err := e.Reader.TopicSlice(ctx, query.SliceRequest{Type: "order", Partition: p, Offset: next, Limit: 5})
			if err != nil {
				t.Fatal(err)
			}
			if len(sl.Records) == 0 {
				break
			}
			all = append(all, sl.Records...)
			next = sl.Next
		}
		checkVersions(t, all, s, 1, 12)
		// From a time: the record timestamps of the 7th event on.
		sl, err := e.Reader.TopicSlice(ctx, query.SliceRequest{Type: "order", Partition: p, Time: all[6].Timestamp, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(sl.Records) == 0 || sl.Records[0].Position.Offset > all[6].Position.Offset {
			t.Fatalf("slice from %v starts at %+v, want at most offset %d", all[6].Timestamp, sl.Records, all[6].Position.Offset)
		}
		sl, err = e.Reader.TopicSlice(ctx, query.SliceRequest{Type: "nothing", Partition: 0, Limit: 5})
		if err != nil || len(sl.Records) != 0 {
			t.Fatalf("slice of a type with no topic: %+v %v", sl, err)
		}
		if _, err := e.Reader.TopicSlice(ctx, query.SliceRequest{Type: "order", Partition: 99, Limit: 5}); !errors.Is(err, query.ErrBadRequest) {
			t.Fatalf("partition 99: %v", err)
		}
	})
}

// tailed collects a tail's events.
type tailed struct {
	mu      sync.Mutex
	ids     []string
	cursors []string
	start   string
	seen    map[string]time.Time
}

func (c *tailed) count() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.ids) }

func runTail(t *testing.T, r *query.Reader, q query.TailRequest, stopAfter int) (*tailed, func()) {
	c := &tailed{seen: map[string]time.Time{}}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- r.Tail(ctx, q, func(cur string) error { c.start = cur; close(started); return nil },
			func(rec query.Record, cur string) error {
				c.mu.Lock()
				defer c.mu.Unlock()
				c.ids = append(c.ids, rec.Event.ID())
				c.cursors = append(c.cursors, cur)
				c.seen[rec.Event.ID()] = time.Now()
				if stopAfter > 0 && len(c.ids) == stopAfter {
					return errStop
				}
				return nil
			})
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("tail: %v", err)
	}
	return c, func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, errStop) {
			t.Errorf("tail: %v", err)
		}
	}
}

var errStop = errors.New("stop")

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReader_Tail(t *testing.T) {
	querytest.Each(t, querytest.Options{Types: []string{"order", "payment"}}, func(t *testing.T, e *querytest.Engine) {
		pre := stream.ID{Type: "order", ID: "before"}
		appendN(t, e.App, pre, 3, nil) // before the tail: not delivered
		all, stopAll := runTail(t, e.Reader, query.TailRequest{Discover: 100 * time.Millisecond}, 0)
		defer stopAll()
		first, stopFirst := runTail(t, e.Reader, query.TailRequest{Type: "order"}, 10)
		var latency []time.Duration
		streams := []stream.ID{{Type: "order", ID: "t1"}, {Type: "order", ID: "t2"}, {Type: "order", ID: "t3"}}
		for i := 0; i < 10; i++ {
			want := first.count() + 1
			appendN(t, e.App, streams[i%3], 1, nil)
			acked := time.Now()
			waitFor(t, "the tail to deliver an append", func() bool { return first.count() >= want })
			first.mu.Lock()
			latency = append(latency, max(0, first.seen[first.ids[want-1]].Sub(acked)))
			first.mu.Unlock()
		}
		stopFirst()
		t.Logf("%s: tail delivery after the acknowledgement: %v", e.Name, latency)
		// Resume from the 6th event's cursor: events 7.. exactly once, including appends
		// made while no tail ran.
		for i := 0; i < 7; i++ {
			appendN(t, e.App, streams[i%3], 1, nil)
		}
		resumed, stopResumed := runTail(t, e.Reader, query.TailRequest{Type: "order", From: first.cursors[5]}, 0)
		defer stopResumed()
		waitFor(t, "the resumed tail", func() bool { return resumed.count() >= 4+7 })
		appendN(t, e.App, stream.ID{Type: "payment", ID: "p1"}, 2, nil) // another type: not in this tail
		appendN(t, e.App, streams[0], 1, nil)
		waitFor(t, "the resumed tail", func() bool { return resumed.count() >= 12 })
		time.Sleep(200 * time.Millisecond)
		resumed.mu.Lock()
		got := append([]string(nil), resumed.ids...)
		resumed.mu.Unlock()
		want := append([]string(nil), first.ids[6:]...)
		all.mu.Lock()
		for _, id := range all.ids[10:] {
			if id[0] != 'p' {
				want = append(want, id)
			}
		}
		allCount := len(all.ids)
		all.mu.Unlock()
		if fmt.Sprint(sortedCopy(got)) != fmt.Sprint(sortedCopy(want)) {
			t.Fatalf("resumed tail delivered %v, want %v", got, want)
		}
		waitFor(t, "the tail of every type", func() bool { return all.count() >= 10+7+2+1 })
		if allCount > 10+7+2+1 {
			t.Fatalf("the tail of every type delivered %d events, want 20", allCount)
		}
		if _, err := query.ParseCursor("order=1.2", 3); !errors.Is(err, query.ErrBadRequest) {
			t.Fatalf("short cursor: %v", err)
		}
	})
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
