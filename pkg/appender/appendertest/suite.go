package appendertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/stream"
)

// Stored is one event as an engine's log holds it.
type Stored struct {
	Position stream.Position
	Event    event.Event
}

// Harness adapts an engine to the suite.
type Harness struct {
	// Open returns a fresh, empty engine for the test. Reopen (called after the previous
	// store was closed) returns the same engine's data opened again.
	Open func(t *testing.T) (store appender.Store, reopen func(t *testing.T) appender.Store, closeStore func())
	// Log returns every event of an aggregate type's topic, partition by partition, in
	// offset order, as any consumer of the log would read it (read_committed for Kafka).
	Log func(t *testing.T, store appender.Store, aggType string) []Stored
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	t.Run("VersionsConflictsRetries", func(t *testing.T) { testVersions(t, h) })
	t.Run("ConcurrentAppends", func(t *testing.T) { testConcurrent(t, h) })
	t.Run("Reopen", func(t *testing.T) { testReopen(t, h) })
}

func newEvent(source, id string) *event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource(source)
	e.SetType("com.example.order.placed")
	_ = e.SetData("application/json", map[string]string{"id": id})
	return &e
}

func events(prefix string, n int) []*event.Event {
	out := make([]*event.Event, n)
	for i := range out {
		out[i] = newEvent("/suite", fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

func openApp(t *testing.T, store appender.Store) *appender.Appender {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, err := appender.New(ctx, store, appender.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testVersions(t *testing.T, h Harness) {
	store, _, closeStore := h.Open(t)
	defer closeStore()
	a := openApp(t, store)
	defer a.Close()
	ctx := context.Background()
	s := stream.ID{Type: "order", ID: "o-1"}
	first, err := a.Append(ctx, appender.Request{Stream: s, Expected: stream.ExactVersion(0), Events: events("a", 3)})
	if err != nil || first.Version != 3 || len(first.Positions) != 3 {
		t.Fatalf("first append = %+v, %v", first, err)
	}
	_, err = a.Append(ctx, appender.Request{Stream: s, Expected: stream.ExactVersion(0), Events: events("b", 1)})
	var ce *stream.ConflictError
	if !errors.As(err, &ce) || ce.Current != 3 {
		t.Fatalf("stale append: %v", err)
	}
	retry, err := a.Append(ctx, appender.Request{Stream: s, Expected: stream.ExactVersion(0), Events: events("a", 3)})
	if err != nil || !retry.Duplicate || retry.Version != 3 || retry.Positions[2] != first.Positions[2] {
		t.Fatalf("retry = %+v, %v (first %+v)", retry, err, first)
	}
	if _, err := a.Append(ctx, appender.Request{Stream: s, Expected: stream.Exists, Events: events("c", 2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, appender.Request{Stream: stream.ID{Type: "order", ID: "o-2"}, Expected: stream.Exists, Events: events("d", 1)}); !errors.As(err, &ce) || ce.Current != 0 {
		t.Fatalf("exists on an empty stream: %v", err)
	}
	checkLog(t, h.Log(t, store, "order"), map[stream.ID]int64{s: 5})
}

// testConcurrent races clients on a few streams and checks the log against the answers.
func testConcurrent(t *testing.T, h Harness) {
	store, _, closeStore := h.Open(t)
	defer closeStore()
	a := openApp(t, store)
	defer a.Close()
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	const clients, perClient, streams = 16, 25, 10
	var mu sync.Mutex
	acked := map[stream.ID]int64{}
	ackedAt := map[string]int64{} // first event id -> version of that event
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(c)))
			for i := 0; i < perClient; i++ {
				s := stream.ID{Type: "order", ID: fmt.Sprintf("o-%d", rng.IntN(streams))}
				n := 1 + rng.IntN(3)
				evs := events(fmt.Sprintf("c%d-%d", c, i), n)
				res, err := a.Append(context.Background(), appender.Request{Stream: s, Expected: stream.Any, Events: evs})
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				mu.Lock()
				acked[s] = max(acked[s], res.Version)
				ackedAt[evs[0].ID()] = res.Version - int64(n) + 1
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	log := h.Log(t, store, "order")
	checkLog(t, log, acked)
	for _, st := range log {
		if v, ok := ackedAt[st.Event.ID()]; ok {
			got, _, _ := event.AggregateVersion(&st.Event)
			if got != v {
				t.Fatalf("event %s stored at version %d, acknowledged at %d", st.Event.ID(), got, v)
			}
		}
	}
}

// testReopen checks heads and events survive closing and reopening the engine.
func testReopen(t *testing.T, h Harness) {
	store, reopen, closeStore := h.Open(t)
	a := openApp(t, store)
	ctx := context.Background()
	s := stream.ID{Type: "order", ID: "o-r"}
	if _, err := a.Append(ctx, appender.Request{Stream: s, Expected: stream.ExactVersion(0), Events: events("r1", 2)}); err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
	closeStore()
	store = reopen(t)
	defer closeStore() // closes the reopened store
	a = openApp(t, store)
	defer a.Close()
	head, err := a.Head(ctx, s)
	if err != nil || head.Version != 2 {
		t.Fatalf("head after reopen = %+v, %v", head, err)
	}
	if res, err := a.Append(ctx, appender.Request{Stream: s, Expected: stream.ExactVersion(0), Events: events("r1", 2)}); err != nil || !res.Duplicate {
		t.Fatalf("retry after reopen = %+v, %v", res, err)
	}
	if res, err := a.Append(ctx, appender.Request{Stream: s, Expected: stream.ExactVersion(2), Events: events("r2", 1)}); err != nil || res.Version != 3 {
		t.Fatalf("append after reopen = %+v, %v", res, err)
	}
	checkLog(t, h.Log(t, store, "order"), map[stream.ID]int64{s: 3})
}

// checkLog checks I1 on the log: per stream, versions 1..n in order, and n as acknowledged.
func checkLog(t *testing.T, log []Stored, want map[stream.ID]int64) {
	t.Helper()
	got := map[stream.ID]int64{}
	for _, st := range log {
		e := st.Event
		if err := event.ValidateStrata(&e, event.Limits{}); err != nil {
			t.Fatalf("stored event at %+v is not a valid Strata event: %v", st.Position, err)
		}
		s := stream.ID{Type: event.AggregateType(&e), ID: event.AggregateID(&e)}
		v, _, _ := event.AggregateVersion(&e)
		if v != got[s]+1 {
			t.Fatalf("%s: version %d at %+v follows %d (gap or duplicate)", s, v, st.Position, got[s])
		}
		got[s] = v
	}
	for s, n := range want {
		if got[s] != n {
			t.Fatalf("%s: log has %d events, %d acknowledged", s, got[s], n)
		}
	}
}
