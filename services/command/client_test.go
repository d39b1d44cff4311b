package command_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/strata-platform/strata/pkg/client"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/query/querytest"
	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/services/command"
)

// These tests run the Go client against the real API in-process, over the embedded engine
// and over Kafka + Redis.

func serve(t *testing.T, e *querytest.Engine) (*client.Client, *httptest.Server) {
	t.Helper()
	api, err := command.New(e.App, command.Config{Reads: e.Reader})
	if err != nil {
		t.Fatal(err)
	}
	api.SetReady(true)
	srv := httptest.NewServer(api)
	t.Cleanup(func() { api.EndTails(); srv.Close() })
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

func ev(id string, data any) event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource("/client-test")
	e.SetType("com.example.order.changed")
	_ = e.SetData("application/json", data)
	return e
}

func TestClient_AppendLoadRead(t *testing.T) {
	querytest.Each(t, querytest.Options{}, func(t *testing.T, e *querytest.Engine) {
		c, _ := serve(t, e)
		ctx := context.Background()
		s := stream.ID{Type: "order", ID: "c-1"}
		agg, err := c.Load(ctx, s, nil)
		if err != nil || agg.Version != 0 || agg.State != nil {
			t.Fatalf("new stream: %+v %v", agg, err)
		}
		res, err := c.Append(ctx, s, stream.ExactVersion(0), ev("a1", map[string]any{"status": "placed", "items": 1}), ev("a2", map[string]any{"items": 2}))
		if err != nil || res.Version != 2 || len(res.Positions) != 2 {
			t.Fatalf("append: %+v %v", res, err)
		}
		_, err = c.Append(ctx, s, stream.ExactVersion(1), ev("a3", map[string]any{"items": 3}))
		var ce *client.ConflictError
		if !errors.As(err, &ce) || ce.Current != 2 || ce.Problem.Code != "conflict" {
			t.Fatalf("stale append: %v, want a conflict at version 2", err)
		}
		for i := 3; i <= 12; i++ {
			if _, err := c.Append(ctx, s, stream.Any, ev(fmt.Sprintf("a%d", i), map[string]any{"items": i})); err != nil {
				t.Fatal(err)
			}
		}
		agg, err = c.Load(ctx, s, nil)
		if err != nil || agg.Version != 12 || !jsonIs(agg.State, `{"status":"placed","items":12}`) {
			t.Fatalf("load: %+v (%s) %v", agg, agg.State, err)
		}
		at, err := c.State(ctx, s, client.At{Version: 2})
		if err != nil || at.Version != 2 || !jsonIs(at.State, `{"status":"placed","items":2}`) {
			t.Fatalf("state at v2: %+v (%s) %v", at, at.State, err)
		}
		evs, err := c.ReadStream(ctx, s, 4, 3)
		if err != nil || len(evs) != 3 || evs[0].ID() != "a4" || evs[2].ID() != "a6" {
			t.Fatalf("read v4..6: %d events %v", len(evs), err)
		}
		all, err := c.ReadAll(ctx, s, 1)
		if err != nil || len(all) != 12 {
			t.Fatalf("read all: %d events %v", len(all), err)
		}
		if v, _, _ := event.AggregateVersion(&all[11]); v != 12 {
			t.Fatalf("last event has version %d", v)
		}
		_, err = c.ReadStream(ctx, s, 0, 10)
		var pe *client.ProblemError
		if !errors.As(err, &pe) || pe.Status != 400 || pe.Code != command.CodeBadParameter {
			t.Fatalf("from=0: %v, want 400 %s", err, command.CodeBadParameter)
		}
		_, err = c.State(ctx, s, client.At{Version: 13})
		if !errors.As(err, &pe) || pe.Status != 404 || pe.Code != command.CodeVersionNotFound {
			t.Fatalf("state at v13: %v, want 404 %s", err, command.CodeVersionNotFound)
		}
		err = c.Subscribe(ctx, client.Subscription{Type: "order", From: "order=1.2"}, func(event.Event, string) error { return nil })
		if !errors.As(err, &pe) || pe.Status != 400 || pe.Code != command.CodeBadParameter {
			t.Fatalf("subscribe from a malformed cursor: %v, want 400 %s", err, command.CodeBadParameter)
		}
	})
}

func jsonIs(got json.RawMessage, want string) bool {
	var a, b any
	return json.Unmarshal(got, &a) == nil && json.Unmarshal([]byte(want), &b) == nil && fmt.Sprint(a) == fmt.Sprint(b)
}

// Concurrent read-decide-append loops lose no update: conflicts are retried on fresh state.
func TestClient_AppendWithRetry(t *testing.T) {
	querytest.Each(t, querytest.Options{}, func(t *testing.T, e *querytest.Engine) {
		c, _ := serve(t, e)
		s := stream.ID{Type: "order", ID: "counter"}
		const workers, each = 4, 5
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					_, err := c.AppendWithRetry(context.Background(), s, nil, func(agg client.Aggregate) ([]event.Event, error) {
						var st struct{ N int }
						if agg.State != nil {
							if err := json.Unmarshal(agg.State, &st); err != nil {
								return nil, err
							}
						}
						return []event.Event{ev(fmt.Sprintf("w%d-%d-v%d", w, i, agg.Version+1), map[string]int{"n": st.N + 1})}, nil
					}, 100)
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		agg, err := c.Load(context.Background(), s, nil)
		if err != nil || agg.Version != workers*each || !jsonIs(agg.State, fmt.Sprintf(`{"n":%d}`, workers*each)) {
			t.Fatalf("after %d increments: %+v (%s) %v", workers*each, agg, agg.State, err)
		}
	})
}

// subscriber collects what a subscription delivers.
type subscriber struct {
	mu       sync.Mutex
	ids      []string
	at       map[string]time.Time
	connects int
}

func (s *subscriber) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.ids) }

func waitCount(t *testing.T, s *subscriber, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for s.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("subscription delivered %d events, want %d", s.count(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// The tail delivers new events within a second, and after forced disconnects the
// subscription resumes with no event lost or repeated.
func TestClient_SubscribeResumes(t *testing.T) {
	querytest.Each(t, querytest.Options{}, func(t *testing.T, e *querytest.Engine) {
		c, srv := serve(t, e)
		ctx, cancel := context.WithCancel(context.Background())
		sub := &subscriber{at: map[string]time.Time{}}
		connected := make(chan struct{}, 100)
		done := make(chan error, 1)
		go func() {
			done <- c.Subscribe(ctx, client.Subscription{Type: "order", OnConnect: func(string) {
				sub.mu.Lock()
				sub.connects++
				sub.mu.Unlock()
				connected <- struct{}{}
			}}, func(ev event.Event, _ string) error {
				sub.mu.Lock()
				defer sub.mu.Unlock()
				sub.ids = append(sub.ids, ev.ID())
				sub.at[ev.ID()] = time.Now()
				return nil
			})
		}()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("subscribe: %v", err)
			}
		}()
		<-connected
		streams := []stream.ID{{Type: "order", ID: "s1"}, {Type: "order", ID: "s2"}, {Type: "order", ID: "s3"}}
		var want []string
		var latency []time.Duration
		appendOne := func(i int) {
			id := fmt.Sprintf("e%03d", i)
			if _, err := c.Append(context.Background(), streams[i%3], stream.Any, ev(id, map[string]int{"i": i})); err != nil {
				t.Fatal(err)
			}
			want = append(want, id)
		}
		for i := 0; i < 10; i++ { // one at a time: delivery latency
			appendOne(i)
			acked := time.Now()
			waitCount(t, sub, len(want))
			sub.mu.Lock()
			latency = append(latency, max(0, sub.at[want[len(want)-1]].Sub(acked)))
			sub.mu.Unlock()
		}
		for round := 0; round < 3; round++ { // drop the connection with appends in flight
			for i := 0; i < 5; i++ {
				appendOne(len(want))
			}
			srv.CloseClientConnections()
			for i := 0; i < 5; i++ {
				appendOne(len(want))
			}
			<-connected
		}
		waitCount(t, sub, len(want))
		time.Sleep(300 * time.Millisecond) // room for a duplicate to show up
		sub.mu.Lock()
		got := append([]string(nil), sub.ids...)
		connects := sub.connects
		sub.mu.Unlock()
		sort.Strings(got)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("delivered %v\nwant      %v", got, want)
		}
		if connects < 4 {
			t.Fatalf("%d connections, want 4 (three forced reconnects)", connects)
		}
		sort.Slice(latency, func(i, j int) bool { return latency[i] < latency[j] })
		t.Logf("%s: %d events over %d connections; delivery after the append's acknowledgement: p50 %v, max %v",
			e.Name, len(want), connects, latency[len(latency)/2], latency[len(latency)-1])
		if latency[len(latency)-1] > 10*time.Second {
			t.Fatalf("an event took %v to arrive", latency[len(latency)-1])
		}
	})
}
