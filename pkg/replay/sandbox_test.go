package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/strata-platform/strata/pkg/projection"
	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/pkg/testrig"
)

// TestSandbox_ResumeEqualsOneRun folds a Kafka topic into a Redis sandbox keyspace with the
// merge-patch reducer, interrupted and resumed, and checks that every document equals the
// one an uninterrupted replay into another keyspace builds.
func TestSandbox_ResumeEqualsOneRun(t *testing.T) {
	items := corpus("order", 2000, 30, 4, time.Millisecond, true)
	for i, it := range items { // merge patches need JSON data
		if it.ev.DataContentType() != "application/json" {
			_ = it.ev.SetData("application/json", map[string]any{"other": i})
		}
	}
	src := sources(t, "order", 4, items)[0]
	rdb := redis.NewClient(&redis.Options{Addr: testrig.Redis(t)})
	defer rdb.Close()
	ns := testrig.Name(t, "sb")
	t.Cleanup(func() {
		keys, _ := rdb.Keys(context.Background(), ns+":*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	store := projection.NewRedisStore(rdb, ns)
	run := func(keyspace, state string, cancelAt int) error {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		sb, err := NewSandbox(ctx, store, keyspace, src.topic, projection.MergePatch)
		if err != nil {
			t.Fatal(err)
		}
		var sink Sink = sb
		if cancelAt > 0 {
			sink = &cancelAfter{Sink: sb, n: cancelAt, cancel: cancel}
		}
		st, err := LoadState(state)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Run(ctx, Config{Source: src.src, Topic: src.topic, Sink: sink, StatePath: state,
			SinkName: "sandbox:" + keyspace, State: st, FlushEvery: 150})
		return err
	}
	dir := t.TempDir()
	if err := run("whole", filepath.Join(dir, "whole.json"), 0); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state.json")
	if err := run("resumed", state, 777); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v, want context.Canceled", err)
	}
	if err := run("resumed", state, 0); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		key := projection.DocKey(stream.ID{Type: "order", ID: fmt.Sprintf("a-%d", i)})
		want, ok1, err1 := store.Get(context.Background(), "whole", key)
		got, ok2, err2 := store.Get(context.Background(), "resumed", key)
		var g, w any
		if err1 != nil || err2 != nil || !ok1 || !ok2 || json.Unmarshal(got, &g) != nil ||
			json.Unmarshal(want, &w) != nil || !reflect.DeepEqual(g, w) {
			t.Fatalf("%s: resumed %s (%v %v), one run %s (%v %v)", key, got, ok2, err2, want, ok1, err1)
		}
	}
}
