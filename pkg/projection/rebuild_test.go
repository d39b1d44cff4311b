package projection

import (
	"context"
	"github.com/strata-platform/strata/pkg/testrig"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// total reads the stats projection's event count from whatever keyspace is active.
func (e *env) total(t *testing.T) (int64, string) {
	ctx := context.Background()
	var n int64
	var used string
	err := ReadActive(ctx, e.store, "stats", func(ks string) error {
		n, used = 0, ks
		for p := int32(0); p < 3 && ks != ""; p++ {
			raw, _, err := e.store.Get(ctx, ks, StatsKey("order", p))
			if err != nil {
				return err
			}
			c, _ := strconv.ParseInt(string(raw), 10, 64)
			n += c
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	return n, used
}

// rebuildTest builds stats v1, then rebuilds it as v2 while a reader keeps reading the
// active model: the reader must always see the complete count, from v1 until the switch
// and from v2 after it, never a half-built v2.
//
// grace is Config.DropGrace: with a nanosecond, ReadActive alone keeps readers consistent.
func rebuildTest(t *testing.T, events int, grace time.Duration) {
	e := newEnv(t)
	e.cfg.DropGrace = grace
	seed := testrig.Seed(t)
	e.produceCorpus(t, "order", events, 1000, seed)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v1 := Stats([]string{"order"}, 1)
	if err := serveUntilActive(ctx, e, v1, nil); err != nil {
		t.Fatal(err)
	}
	if n, ks := e.total(t); n != int64(events) || ks != "stats.v1" {
		t.Fatalf("v1 counts %d in %q, want %d", n, ks, events)
	}
	var reads, bad atomic.Int64
	var wg sync.WaitGroup
	readerCtx, stopReader := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for readerCtx.Err() == nil {
			if n, ks := e.total(t); n != int64(events) {
				bad.Add(1)
				t.Errorf("reader saw %d events in %s, want %d", n, ks, events)
			}
			reads.Add(1)
		}
	}()
	var progress []float64
	v2 := Stats([]string{"order"}, 2)
	err := serveUntilActive(ctx, e, v2, func(p Progress) { progress = append(progress, p.Fraction()) })
	time.Sleep(200 * time.Millisecond) // let the reader see v2 too
	stopReader()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if n, ks := e.total(t); n != int64(events) || ks != "stats.v2" {
		t.Fatalf("after the switch: %d in %q", n, ks)
	}
	if keys, _ := e.rdb.Keys(ctx, e.name+":rm:stats.v1:*").Result(); len(keys) != 0 {
		t.Fatalf("old keyspace not dropped: %v", keys)
	}
	if len(progress) < 2 || progress[len(progress)-1] != 1 {
		t.Fatalf("progress reports %v, want several ending at 1", progress)
	}
	t.Logf("%d reads during the rebuild, %d bad; progress reported %d times", reads.Load(), bad.Load(), len(progress))
}

// serveUntilActive runs Serve until the projection is the active version.
func serveUntilActive(ctx context.Context, e *env, p Projection, onProgress func(Progress)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, e.cfg, e.store, e.adm, p, onProgress) }()
	for {
		if v, _ := e.store.Active(ctx, p.Name); v == p.Version && oldDropped(ctx, e, p) {
			cancel()
			return <-done
		}
		select {
		case err := <-done:
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// oldDropped reports whether no keyspace of p's other versions is left.
func oldDropped(ctx context.Context, e *env, p Projection) bool {
	for v := 1; v < p.Version; v++ {
		keys, err := e.rdb.Keys(ctx, e.name+":rm:"+Projection{Name: p.Name, Version: v}.Keyspace()+":*").Result()
		if err != nil || len(keys) > 0 {
			return false
		}
	}
	return true
}

func TestProjection_Rebuild(t *testing.T) { rebuildTest(t, 20_000, time.Nanosecond) }

func TestHeavy_Rebuild1M(t *testing.T) {
	heavy(t)
	rebuildTest(t, 1_000_000, 0)
}
