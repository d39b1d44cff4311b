package projector

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/cluster"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/projection"
	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/pkg/testrig"
	"github.com/strata-platform/strata/services/projector/orders"
)

// TestRun_OrdersEndToEnd appends sample orders through the real append path, runs the
// projector (built-ins + the orders example) and reads every read model back: summaries,
// index, stats, snapshots in Redis and in the compacted snapshot topic.
func TestRun_OrdersEndToEnd(t *testing.T) {
	a := testrig.Get(t)
	name := testrig.Name(t, "pj")
	rdb := redis.NewClient(&redis.Options{Addr: a.Redis})
	defer rdb.Close()
	t.Cleanup(func() {
		testrig.DeleteTopic(t, name+".order.events")
		testrig.DeleteTopic(t, name+".order.snapshots")
		keys, _ := rdb.Keys(context.Background(), name+":*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	appendOrders(t, a, name, 20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := Config{Kafka: a.Kafka, Redis: a.Redis, Cluster: name, TopicPrefix: name, SnapshotEvery: 2,
		Reducers: map[string]string{"order": ReducerMergePatch}, MetricsAddr: "127.0.0.1:0"}
	go func() { done <- Run(ctx, cfg, []projection.Projection{orders.Projection(1)}, prometheus.NewRegistry()) }()
	store := projection.NewRedisStore(rdb, name)
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.Kafka...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pcfg := projection.Config{Kafka: a.Kafka, TopicPrefix: name}
	for _, p := range append(builtins(cfg.withDefaults(), nil), orders.Projection(1)) {
		waitFor(t, func() bool {
			pr, err := projection.Measure(ctx, kadm.NewClient(cl), store, pcfg, p)
			return err == nil && len(pr.Partitions) > 0 && pr.Lag() == 0
		})
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		s := stream.ID{Type: "order", ID: fmt.Sprintf("o-%d", i)}
		raw, _, _ := store.Get(context.Background(), "order-summaries.v1", projection.DocKey(s))
		var doc projection.Doc[orders.Summary]
		if err := json.Unmarshal(raw, &doc); err != nil || doc.Version != 3 || doc.State.Status != "paid" || doc.State.Total != 2*999+1*500 || doc.State.Items != 3 {
			t.Fatalf("%s summary = %s", s, raw)
		}
		if _, ok, _ := store.Get(context.Background(), "index.v1", projection.IndexKey(s, 3)); !ok {
			t.Fatalf("%s: no index entry for version 3", s)
		}
		if raw, ok, _ := store.Get(context.Background(), "snapshots.v1", projection.SnapshotKey(s)); !ok || !containsVersion(raw, 2) {
			t.Fatalf("%s: snapshot %s", s, raw)
		}
	}
	checkSnapshotTopic(t, a.Kafka, projection.SnapshotTopic(name, "order"), 20)
}

func containsVersion(raw []byte, v int64) bool {
	var d struct {
		Version int64 `json:"version"`
	}
	return json.Unmarshal(raw, &d) == nil && d.Version == v
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// appendOrders appends placed, item-added and paid to n orders through the real append path.
func appendOrders(t *testing.T, a testrig.Addrs, name string, n int) {
	ctx := context.Background()
	st, err := cluster.Open(ctx, cluster.Config{Kafka: a.Kafka, Redis: a.Redis, Cluster: name, TopicPrefix: name, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	app, err := appender.New(ctx, st, appender.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("o-%d", i)
		evs := []*event.Event{
			mk(id+"-1", "com.example.order.placed", map[string]any{"orderId": id, "customerId": "c-1", "currency": "EUR",
				"items": []map[string]any{{"sku": "SKU-1", "quantity": 2, "unitPrice": 999}}}),
			mk(id+"-2", "com.example.order.item-added", map[string]any{"sku": "SKU-2", "quantity": 1, "unitPrice": 500}),
			mk(id+"-3", "com.example.order.paid", map[string]any{"method": "card"}),
		}
		if _, err := app.Append(ctx, appender.Request{Stream: stream.ID{Type: "order", ID: id}, Expected: stream.ExactVersion(0), Events: evs}); err != nil {
			t.Fatal(err)
		}
	}
}

func mk(id, typ string, data any) *event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource("/shop")
	e.SetType(typ)
	_ = e.SetData("application/json", data)
	return &e
}

// checkSnapshotTopic reads the snapshot topic with a plain consumer.
func checkSnapshotTopic(t *testing.T, seeds []string, topic string, streams int) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	latest := map[string]projection.Snapshot{}
	for len(latest) < streams && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var s projection.Snapshot
			if err := json.Unmarshal(r.Value, &s); err != nil {
				t.Errorf("snapshot record: %v", err)
			}
			latest[string(r.Key)] = s
		})
	}
	if len(latest) != streams {
		t.Fatalf("snapshot topic has %d aggregates, want %d", len(latest), streams)
	}
	for id, s := range latest {
		if s.Version != 2 || !json.Valid(s.State) {
			t.Fatalf("%s: snapshot %+v", id, s)
		}
	}
}
