package appender

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memStore is an in-memory Store for unit tests of the pipeline's logic. It can make the
// next commit fail definitely, or fail with an unknown outcome after (or without) writing.
type memStore struct {
	mu    sync.Mutex
	heads map[stream.ID]stream.Head
	log   map[stream.ID][]*event.Event
	next  int64
	fault func() (write bool, err error) // consulted once per commit when set
}

func newMemStore() *memStore {
	return &memStore{heads: map[stream.ID]stream.Head{}, log: map[stream.ID][]*event.Event{}}
}

func (m *memStore) Partitions() int { return 3 }
func (m *memStore) OpenPartition(context.Context, int) (Partition, error) {
	return memPartition{m}, nil
}

type memPartition struct{ m *memStore }

func (p memPartition) Head(_ context.Context, s stream.ID) (stream.Head, error) {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	return p.m.heads[s], nil
}

func (p memPartition) Commit(_ context.Context, group []StreamAppend) ([][]stream.Position, error) {
	m := p.m
	m.mu.Lock()
	defer m.mu.Unlock()
	write, ferr := true, error(nil)
	if m.fault != nil {
		write, ferr = m.fault()
		m.fault = nil
	}
	out := make([][]stream.Position, len(group))
	if !write {
		return nil, ferr
	}
	for i, sa := range group {
		if m.heads[sa.Stream].Version != sa.Prior.Version {
			return nil, fmt.Errorf("head CAS failed for %s", sa.Stream)
		}
		recents := make([]stream.Recent, len(sa.Events))
		for j, e := range sa.Events {
			m.next++
			pos := stream.Position{Topic: sa.Stream.Type, Offset: m.next}
			out[i] = append(out[i], pos)
			v, _, _ := event.AggregateVersion(e)
			recents[j] = stream.Recent{Source: e.Source(), EventID: e.ID(), Version: v, Position: pos}
			m.log[sa.Stream] = append(m.log[sa.Stream], e)
		}
		m.heads[sa.Stream] = sa.Prior.Advance(recents)
	}
	return out, ferr
}

func (p memPartition) Recover(context.Context) error { return nil }
func (p memPartition) Close() error                  { return nil }

func newEvent(id string) *event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource("/test")
	e.SetType("com.example.thing")
	return &e
}

func open(t *testing.T, s Store) *Appender {
	a, err := New(context.Background(), s, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func TestAppend_VersionsAndConflicts(t *testing.T) {
	ms := newMemStore()
	a := open(t, ms)
	ctx := context.Background()
	s := stream.ID{Type: "order", ID: "o-1"}
	res, err := a.Append(ctx, Request{s, stream.ExactVersion(0), []*event.Event{newEvent("a"), newEvent("b")}})
	if err != nil || res.Version != 2 || len(res.Positions) != 2 {
		t.Fatalf("first append = %+v, %v", res, err)
	}
	_, err = a.Append(ctx, Request{s, stream.ExactVersion(0), []*event.Event{newEvent("c")}})
	var ce *stream.ConflictError
	if !errors.As(err, &ce) || ce.Current != 2 {
		t.Fatalf("stale append err = %v, want conflict at 2", err)
	}
	if _, err := a.Append(ctx, Request{stream.ID{Type: "order", ID: "o-2"}, stream.Exists, []*event.Event{newEvent("d")}}); !errors.As(err, &ce) || ce.Current != 0 {
		t.Fatalf("exists on a new stream err = %v", err)
	}
	h, err := a.Head(ctx, s)
	if err != nil || h.Version != 2 {
		t.Fatalf("head = %+v, %v", h, err)
	}
}

func TestAppend_Idempotent(t *testing.T) {
	a := open(t, newMemStore())
	ctx := context.Background()
	s := stream.ID{Type: "order", ID: "o-1"}
	first, err := a.Append(ctx, Request{s, stream.ExactVersion(0), []*event.Event{newEvent("a"), newEvent("b")}})
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.Append(ctx, Request{s, stream.ExactVersion(0), []*event.Event{newEvent("a"), newEvent("b")}})
	if err != nil || !again.Duplicate || again.Version != first.Version || again.Positions[1] != first.Positions[1] {
		t.Fatalf("retry = %+v, %v; first %+v", again, err, first)
	}
	if _, err := a.Append(ctx, Request{s, stream.Any, []*event.Event{newEvent("a"), newEvent("z")}}); !errors.Is(err, ErrPartialRetry) {
		t.Fatalf("partial retry err = %v", err)
	}
	if _, err := a.Append(ctx, Request{s, stream.Any, []*event.Event{newEvent("q"), newEvent("q")}}); err == nil {
		t.Fatal("duplicate ids in one append accepted")
	}
}

func TestAppend_Uncertain(t *testing.T) {
	ms := newMemStore()
	a := open(t, ms)
	ctx := context.Background()
	s := stream.ID{Type: "order", ID: "o-1"}
	ms.mu.Lock()
	ms.fault = func() (bool, error) { return true, fmt.Errorf("%w: timeout", ErrUncertain) }
	ms.mu.Unlock()
	res, err := a.Append(ctx, Request{s, stream.ExactVersion(0), []*event.Event{newEvent("a")}})
	if err != nil || res.Version != 1 {
		t.Fatalf("uncertain but committed = %+v, %v", res, err)
	}
	ms.mu.Lock()
	ms.fault = func() (bool, error) { return false, fmt.Errorf("%w: timeout", ErrUncertain) }
	ms.mu.Unlock()
	if _, err := a.Append(ctx, Request{s, stream.ExactVersion(1), []*event.Event{newEvent("b")}}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("uncertain and not committed err = %v", err)
	}
	ms.mu.Lock()
	ms.fault = func() (bool, error) { return false, errors.New("broker down") }
	ms.mu.Unlock()
	if _, err := a.Append(ctx, Request{s, stream.ExactVersion(1), []*event.Event{newEvent("c")}}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("failed commit err = %v", err)
	}
	res, err = a.Append(ctx, Request{s, stream.ExactVersion(1), []*event.Event{newEvent("c")}})
	if err != nil || res.Version != 2 {
		t.Fatalf("after faults = %+v, %v", res, err)
	}
}

func TestAppend_ConcurrentStreams(t *testing.T) {
	ms := newMemStore()
	a := open(t, ms)
	var wg sync.WaitGroup
	for c := 0; c < 16; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				s := stream.ID{Type: "order", ID: fmt.Sprintf("o-%d", i%7)}
				_, _ = a.Append(context.Background(), Request{s, stream.Any, []*event.Event{newEvent(fmt.Sprintf("%d-%d", c, i))}})
			}
		}()
	}
	wg.Wait()
	total := 0
	for s, evs := range ms.log {
		for i, e := range evs {
			if v, _, _ := event.AggregateVersion(e); v != int64(i+1) {
				t.Fatalf("%s: event %d has version %d", s, i, v)
			}
		}
		total += len(evs)
	}
	if total != 16*200 {
		t.Fatalf("committed %d events, want %d", total, 16*200)
	}
}
