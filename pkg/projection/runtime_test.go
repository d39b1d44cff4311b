package projection

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/cluster"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/pkg/testrig"
)

// env is a namespace on the real rig: its own topic prefix, Redis keys and groups.
type env struct {
	name  string
	addrs testrig.Addrs
	rdb   *redis.Client
	cl    *kgo.Client
	adm   *kadm.Client
	store *RedisStore
	cfg   Config
}

func newEnv(t *testing.T) *env {
	a := testrig.Get(t)
	name := testrig.Name(t, "p")
	e := &env{name: name, addrs: a, rdb: redis.NewClient(&redis.Options{Addr: a.Redis})}
	var err error
	if e.cl, err = kgo.NewClient(kgo.SeedBrokers(a.Kafka...)); err != nil {
		t.Fatal(err)
	}
	e.adm = kadm.NewClient(e.cl)
	e.store = NewRedisStore(e.rdb, name)
	e.cfg = Config{Kafka: a.Kafka, Group: name, TopicPrefix: name, MaxBatch: 200}
	t.Cleanup(func() {
		ctx := context.Background()
		topics, _ := e.adm.ListTopics(ctx)
		for _, tp := range topics.Names() {
			if len(tp) > len(name) && tp[:len(name)+1] == name+"." {
				testrig.DeleteTopic(t, tp)
			}
		}
		keys, _ := e.rdb.Keys(ctx, name+":*").Result()
		if len(keys) > 0 {
			e.rdb.Del(ctx, keys...)
		}
		e.cl.Close()
		e.rdb.Close()
	})
	return e
}

// appendEvents appends n events over streams through the real append path, each event's
// data a merge patch {"n": i, "last": "<id>"}; it returns the number of events per stream.
func (e *env) appendEvents(t *testing.T, n, streams int, seed uint64) map[stream.ID]int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	st, err := cluster.Open(ctx, cluster.Config{Kafka: e.addrs.Kafka, Redis: e.addrs.Redis, Cluster: e.name, TopicPrefix: e.name, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	app, err := appender.New(ctx, st, appender.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	rng := rand.New(rand.NewPCG(seed, 1))
	counts := map[stream.ID]int64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				mu.Lock()
				s := stream.ID{Type: "order", ID: fmt.Sprintf("o-%d", rng.IntN(streams))}
				mu.Unlock()
				ev := event.New()
				ev.SetID(fmt.Sprintf("e-%d-%d", seed, i))
				ev.SetSource("/test")
				ev.SetType("com.example.order.updated")
				_ = ev.SetData("application/json", map[string]any{"n": i, "last": ev.ID()})
				if _, err := app.Append(ctx, appender.Request{Stream: s, Expected: stream.Any, Events: []*event.Event{&ev}}); err != nil {
					t.Errorf("append: %v", err)
					return
				}
				mu.Lock()
				counts[s]++
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	return counts
}

// waitCaughtUp polls until every projection's lag is 0.
func (e *env) waitCaughtUp(t *testing.T, projs ...Projection) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for _, p := range projs {
		for {
			pr, err := Measure(context.Background(), e.adm, e.store, e.cfg, p)
			if err == nil && len(pr.Partitions) > 0 && pr.Lag() == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("projection %s not caught up: %+v %v", p.Keyspace(), pr, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// readLog reads a topic with a plain read_committed consumer and folds it independently.
func (e *env) readLog(t *testing.T, aggType string) map[stream.ID][]*Envelope {
	topic := e.cfg.Topic(aggType)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ends, err := e.adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addrs.Kafka...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[stream.ID][]*Envelope{}
	seen := map[int32]int64{}
	var dec eventkafka.Decoder
	for done := false; !done; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("timed out reading the log")
		}
		for _, r := range fs.Records() {
			seen[r.Partition] = r.Offset + 1
			if r.Attrs.IsControl() {
				continue
			}
			env, err := envelope(&dec, r)
			if err != nil {
				t.Fatal(err)
			}
			out[env.Stream] = append(out[env.Stream], env)
		}
		done = true
		for p, end := range want {
			done = done && seen[p] >= end
		}
	}
	return out
}

// foldLog folds envs with json-patch's MergePatch, independently of the package's.
func foldLog(t *testing.T, envs []*Envelope) json.RawMessage {
	state := json.RawMessage(`{}`)
	for _, env := range envs {
		if len(env.Event.Data()) == 0 {
			continue
		}
		var err error
		if state, err = jsonpatch.MergePatch(state, env.Event.Data()); err != nil {
			t.Fatal(err)
		}
	}
	return state
}

func runFor(t *testing.T, e *env, p Projection) (stop func()) {
	r, err := NewRunner(e.cfg, p, e.store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runner %s: %v", p.Keyspace(), err)
		}
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// abortedTransaction writes events into the topic inside a transaction that is aborted.
func (e *env) abortedTransaction(t *testing.T, aggType string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addrs.Kafka...), kgo.TransactionalID(e.name+"-aborter"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 3; p++ {
		ev := event.New()
		ev.SetID(fmt.Sprintf("aborted-%d", p))
		ev.SetSource("/zombie")
		ev.SetType("com.example.order.updated")
		_ = ev.SetData("application/json", map[string]any{"aborted": true})
		event.Stamp(&ev, aggType, "o-aborted", 1)
		rec, err := eventkafka.Encode(&ev, e.cfg.Topic(aggType))
		if err != nil {
			t.Fatal(err)
		}
		rec.Partition = p
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
}

func TestSplit(t *testing.T) {
	for n := 0; n <= 60; n++ {
		recs := make([]*kgo.Record, n)
		for i := range recs {
			recs[i] = &kgo.Record{Offset: int64(i)}
		}
		for max := 1; max <= 13; max++ {
			parts := split(recs, max)
			if want := (n + max - 1) / max; len(parts) != want {
				t.Fatalf("split(%d, %d): %d batches, want %d", n, max, len(parts), want)
			}
			next := int64(0)
			for _, p := range parts {
				if len(p) == 0 || len(p) > max || len(p) < len(parts[0])-1 || len(p) > len(parts[0])+1 {
					t.Fatalf("split(%d, %d): batch sizes %d and %d", n, max, len(parts[0]), len(p))
				}
				for _, r := range p {
					if r.Offset != next {
						t.Fatalf("split(%d, %d): offset %d where %d", n, max, r.Offset, next)
					}
					next++
				}
			}
			if next != int64(n) {
				t.Fatalf("split(%d, %d): %d records out", n, max, next)
			}
		}
	}
}
