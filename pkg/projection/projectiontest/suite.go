package projectiontest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/projection"
	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/pkg/testrig"
)

// Engine is one engine under test, as the suite drives it.
type Engine struct {
	// Store is the engine's append path; the suite appends through appender.New over it.
	Store appender.Store
	// Models is the read-model store the projections commit to.
	Models projection.Store
	// Run runs one projector worker of proj until ctx ends (then it returns nil) or it fails.
	Run func(ctx context.Context, proj projection.Projection) error
	// Lag is how many committed offsets proj has still to read.
	Lag func(ctx context.Context, proj projection.Projection) (int64, error)
	// Serve runs proj until ctx ends and makes it the active version once it has caught up
	// with the log (a rebuild, when another version is active).
	Serve func(ctx context.Context, proj projection.Projection) error
	// Active returns the active version of a projection (0: none).
	Active func(ctx context.Context, name string) (int, error)
	// Rebalance says two workers of one projection may run at once and share the
	// partitions (a consumer group).
	Rebalance bool
	// ProduceAborted, if set, writes events to the partition of their stream in the event
	// topic inside a transaction that it then aborts.
	ProduceAborted func(t *testing.T, events []*event.Event)
}

// Harness adapts an engine to the suite.
type Harness struct {
	// Open returns a fresh, empty engine; the harness closes it when the test ends.
	Open func(t *testing.T) *Engine
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	t.Run("ExactlyOnceAcrossRestarts", func(t *testing.T) { testRestarts(t, h) })
	t.Run("ExactlyOnceAcrossRebalances", func(t *testing.T) { testRebalance(t, h) })
	t.Run("AbortedNeverApplied", func(t *testing.T) { testAborted(t, h) })
	t.Run("RebuildSwitchesOverComplete", func(t *testing.T) { testRebuild(t, h) })
}

// deadline bounds every wait, so that a broken engine fails the test instead of hanging it.
const deadline = 2 * time.Minute

// errCrash is what the crashing handler returns: a projector dying inside a batch.
var errCrash = errors.New("projectiontest: crash inside a batch")

// seq is the projection under test: per stream, the last version applied; any event that
// is not the next version of its stream is counted under "bad" (and the first described
// under "bad:first"). hook, if set, runs before each event.
func seq(version int, hook func(ctx context.Context) error) projection.Projection {
	return projection.Projection{Name: "seq", Version: version, Types: []string{"order"},
		Handler: projection.HandlerFunc(func(ctx context.Context, tx *projection.Tx, env *projection.Envelope) error {
			if hook != nil {
				if err := hook(ctx); err != nil {
					return err
				}
			}
			key := lastKey(env.Stream)
			raw, _, err := tx.Get(key)
			if err != nil {
				return err
			}
			last, _ := strconv.ParseInt(string(raw), 10, 64)
			if env.Version != last+1 {
				raw, _, err := tx.Get("bad")
				if err != nil {
					return err
				}
				n, _ := strconv.Atoi(string(raw))
				tx.Put("bad", []byte(strconv.Itoa(n+1)))
				if n == 0 {
					tx.Put("bad:first", fmt.Appendf(nil, "%s: version %d applied after %d (%+v)", env.Stream, env.Version, last, env.Position))
				}
			}
			tx.Put(key, []byte(strconv.FormatInt(env.Version, 10)))
			return nil
		})}
}

func lastKey(s stream.ID) string { return "last:" + s.Type + ":" + s.ID }

// acked records the acknowledged version of each stream.
type acked struct {
	mu sync.Mutex
	v  map[stream.ID]int64
}

func (a *acked) snapshot() map[stream.ID]int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[stream.ID]int64, len(a.v))
	for s, v := range a.v {
		out[s] = v
	}
	return out
}

// writer appends through the engine's append path.
type writer struct {
	app   *appender.Appender
	acked acked
	seq   atomic.Int64
}

func newWriter(t *testing.T, e *Engine) *writer {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	app, err := appender.New(ctx, e.Store, appender.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Close() })
	return &writer{app: app, acked: acked{v: map[stream.ID]int64{}}}
}

// append appends n one-event appends to streams o-0..o-<streams-1>, eight at a time.
func (w *writer) append(t *testing.T, n, streams int, rng *rand.Rand) {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = rng.IntN(streams)
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	work := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				s := stream.ID{Type: "order", ID: fmt.Sprintf("o-%d", id)}
				ev := event.New()
				ev.SetID(fmt.Sprintf("e-%d", w.seq.Add(1)))
				ev.SetSource("/projectiontest")
				ev.SetType("com.example.order.updated")
				_ = ev.SetData("application/json", map[string]int{"stream": id})
				res, err := w.app.Append(ctx, appender.Request{Stream: s, Expected: stream.Any, Events: []*event.Event{&ev}})
				if err != nil {
					t.Errorf("append to %s: %v", s, err)
					continue
				}
				w.acked.mu.Lock()
				w.acked.v[s] = max(w.acked.v[s], res.Version)
				w.acked.mu.Unlock()
			}
		}()
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
}

// background appends rounds of n events in the background. appending reports whether it
// is still at it; stop ends it after the current round and waits for it.
func (w *writer) background(t *testing.T, rounds, n, streams int, rng *rand.Rand) (appending func() bool, stop func()) {
	done := make(chan struct{})
	quit := make(chan struct{})
	go func() {
		defer close(done)
		for range rounds {
			select {
			case <-quit:
				return
			default:
			}
			w.append(t, n, streams, rng)
		}
	}()
	var once sync.Once
	appending = func() bool {
		select {
		case <-done:
			return false
		default:
			return true
		}
	}
	return appending, func() { once.Do(func() { close(quit) }); <-done }
}

// worker is one running projector.
type worker struct {
	cancel context.CancelFunc
	done   chan error
}

func start(e *Engine, proj projection.Projection) *worker {
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- e.Run(ctx, proj) }()
	return w
}

// stop cancels the worker and returns its error.
func (w *worker) stop(t *testing.T) error {
	w.cancel()
	select {
	case err := <-w.done:
		return err
	case <-time.After(deadline):
		t.Fatal("projector did not stop")
		return nil
	}
}

// waitCaughtUp waits until proj has no lag, failing the test after the deadline or if one
// of the workers fails.
func waitCaughtUp(t *testing.T, e *Engine, proj projection.Projection, workers ...*worker) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		lag, err := e.Lag(context.Background(), proj)
		if err == nil && lag == 0 {
			return
		}
		for _, w := range workers {
			select {
			case err := <-w.done:
				t.Fatalf("projector stopped: %v", err)
			default:
			}
		}
		if time.Now().After(end) {
			t.Fatalf("projection %s did not catch up (lag %d, %v)", proj.Keyspace(), lag, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkModel checks that the keyspace holds every acknowledged event of every stream,
// each applied exactly once, in order.
func checkModel(t *testing.T, e *Engine, keyspace string, want map[stream.ID]int64) {
	t.Helper()
	ctx := context.Background()
	if raw, ok, err := e.Models.Get(ctx, keyspace, "bad"); err != nil || ok {
		first, _, _ := e.Models.Get(ctx, keyspace, "bad:first")
		t.Fatalf("%s: %s events not applied exactly once in order (%v); first: %s", keyspace, raw, err, first)
	}
	for s, v := range want {
		raw, _, err := e.Models.Get(ctx, keyspace, lastKey(s))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := strconv.ParseInt(string(raw), 10, 64); got != v {
			t.Fatalf("%s: %s applied up to version %d, %d acknowledged", keyspace, s, got, v)
		}
	}
}

// crashes runs the projection several times, each run ending at a random event inside a
// batch: with a handler error (odd rounds) or a cancelled context (even rounds).
func crashes(t *testing.T, e *Engine, rng *rand.Rand, rounds int, appending func() bool) {
	var applied atomic.Int64
	for round := range rounds {
		ctx, cancel := context.WithCancel(context.Background())
		target := applied.Load() + 1 + rng.Int64N(60)
		byCancel := round%2 == 0
		proj := seq(1, func(context.Context) error {
			if applied.Add(1) != target {
				return nil
			}
			if byCancel {
				cancel()
				return nil
			}
			return errCrash
		})
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx, proj) }()
		err := waitRun(t, e, proj, done, appending)
		cancel()
		if err != nil && !errors.Is(err, errCrash) {
			t.Fatalf("round %d: projector failed: %v", round, err)
		}
		t.Logf("round %d: stopped after %d applications (target %d, by %s)", round, applied.Load(), target,
			map[bool]string{true: "cancel", false: "handler error"}[byCancel])
	}
}

// waitRun waits for a run that should end by itself; when there is nothing left for it to
// apply (no appends running, no lag), it is cancelled instead.
func waitRun(t *testing.T, e *Engine, proj projection.Projection, done chan error, appending func() bool) error {
	end := time.Now().Add(deadline)
	for {
		select {
		case err := <-done:
			return err
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(end) {
			t.Fatal("projector run neither crashed nor caught up")
		}
		if !appending() {
			if lag, err := e.Lag(context.Background(), proj); err == nil && lag == 0 {
				return nil // the caller cancels it
			}
		}
	}
}

func testRestarts(t *testing.T, h Harness) {
	e := h.Open(t)
	rng := rand.New(rand.NewPCG(testrig.Seed(t), 5))
	w := newWriter(t, e)
	w.append(t, 100, 20, rng)
	appending, stop := w.background(t, 8, 25, 20, rand.New(rand.NewPCG(rng.Uint64(), 6)))
	defer stop()
	crashes(t, e, rng, 6, appending)
	stop()
	final := start(e, seq(1, nil))
	waitCaughtUp(t, e, seq(1, nil), final)
	if err := final.stop(t); err != nil {
		t.Fatal(err)
	}
	checkModel(t, e, seq(1, nil).Keyspace(), w.acked.snapshot())
}

func testRebalance(t *testing.T, h Harness) {
	e := h.Open(t)
	if !e.Rebalance {
		t.Skip("one worker owns every partition on this engine: nothing to rebalance")
	}
	rng := rand.New(rand.NewPCG(testrig.Seed(t), 7))
	w := newWriter(t, e)
	w.append(t, 60, 20, rng)
	_, stop := w.background(t, 8, 25, 20, rand.New(rand.NewPCG(rng.Uint64(), 8)))
	defer stop()
	var applied atomic.Int64
	count := func(context.Context) error { applied.Add(1); return nil }
	waitApplied := func(n int64) {
		end := time.Now().Add(deadline)
		for applied.Load() < n && time.Now().Before(end) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	a := start(e, seq(1, count))
	b := start(e, seq(1, count))
	waitApplied(40)
	if err := a.stop(t); err != nil { // a's partitions move to b
		t.Fatal(err)
	}
	t.Logf("a stopped after %d applications", applied.Load())
	waitApplied(applied.Load() + 40)
	a = start(e, seq(1, count)) // b's partitions are shared with a again
	waitApplied(applied.Load() + 40)
	if err := b.stop(t); err != nil {
		t.Fatal(err)
	}
	t.Logf("b stopped after %d applications", applied.Load())
	stop()
	waitCaughtUp(t, e, seq(1, nil), a)
	if err := a.stop(t); err != nil {
		t.Fatal(err)
	}
	checkModel(t, e, seq(1, nil).Keyspace(), w.acked.snapshot())
}

func testAborted(t *testing.T, h Harness) {
	e := h.Open(t)
	if e.ProduceAborted == nil {
		t.Skip("this engine has no transactions to abort: an append is one atomic batch")
	}
	rng := rand.New(rand.NewPCG(testrig.Seed(t), 9))
	w := newWriter(t, e)
	w.append(t, 40, 10, rng)
	aborted := stream.ID{Type: "order", ID: "aborted-1"}
	var evs []*event.Event
	for v := int64(1); v <= 3; v++ {
		ev := event.New()
		ev.SetID(fmt.Sprintf("aborted-%d", v))
		ev.SetSource("/projectiontest")
		ev.SetType("com.example.order.updated")
		_ = ev.SetData("application/json", map[string]int64{"v": v})
		event.Stamp(&ev, aborted.Type, aborted.ID, v)
		evs = append(evs, &ev)
	}
	e.ProduceAborted(t, evs)
	w.append(t, 40, 10, rng)
	run := start(e, seq(1, nil))
	waitCaughtUp(t, e, seq(1, nil), run)
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}
	ks := seq(1, nil).Keyspace()
	checkModel(t, e, ks, w.acked.snapshot())
	if raw, ok, err := e.Models.Get(context.Background(), ks, lastKey(aborted)); err != nil || ok {
		t.Fatalf("aborted events were applied: %s has version %s (%v)", aborted, raw, err)
	}
}

func testRebuild(t *testing.T, h Harness) {
	e := h.Open(t)
	rng := rand.New(rand.NewPCG(testrig.Seed(t), 11))
	w := newWriter(t, e)
	w.append(t, 150, 30, rng)
	want := w.acked.snapshot()
	serveUntilActive(t, e, seq(1, nil), nil)
	checkModel(t, e, seq(1, nil).Keyspace(), want)

	// Version 2 is slow, so that a switch before it is complete would be seen.
	slow := func(context.Context) error { time.Sleep(time.Millisecond); return nil }
	serveUntilActive(t, e, seq(2, slow), func(active int) {
		if active == 1 { // readers still read the complete old model
			checkModel(t, e, seq(1, nil).Keyspace(), want)
		}
	})
	// Checked at once after the switch: version 2 must already be complete.
	checkModel(t, e, seq(2, nil).Keyspace(), want)
}

// serveUntilActive serves proj until it is the active version, calling during (if set)
// with the active version while it waits; it returns right after the switch.
func serveUntilActive(t *testing.T, e *Engine, proj projection.Projection, during func(active int)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, proj) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("serve %s: %v", proj.Keyspace(), err)
		}
	}()
	end := time.Now().Add(deadline)
	checked := false
	for {
		active, err := e.Active(ctx, proj.Name)
		if err != nil {
			t.Fatal(err)
		}
		if active == proj.Version {
			if during != nil && !checked {
				t.Logf("%s switched over before the old model was checked", proj.Keyspace())
			}
			return
		}
		if during != nil {
			during(active)
			checked = true
		}
		select {
		case err := <-done:
			t.Fatalf("serve %s stopped before the switch: %v", proj.Keyspace(), err)
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(end) {
			t.Fatalf("%s never became active", proj.Keyspace())
		}
	}
}
