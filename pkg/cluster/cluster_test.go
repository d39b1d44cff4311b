package cluster

import (
	"go.uber.org/zap/zaptest"
	"strings"

	"context"
	"errors"
	"fmt"
	"github.com/twmb/franz-go/pkg/kadm"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/pkg/testrig"
)

// testConfig returns a config on the real rig with a namespace and topic prefix of its own.
func testConfig(t *testing.T) Config {
	a := testrig.Get(t)
	name := testrig.Name(t, "c")
	t.Cleanup(func() {
		rdb := redis.NewClient(&redis.Options{Addr: a.Redis})
		defer rdb.Close()
		keys, _ := rdb.Keys(context.Background(), name+":*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	return Config{Kafka: a.Kafka, Redis: a.Redis, Cluster: name, TopicPrefix: name, Partitions: 3, Address: "test"}
}

func openAppender(t *testing.T, cfg Config) (*Store, *appender.Appender) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := appender.New(ctx, s, appender.Config{})
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	return s, a
}

func ev(id string) *event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource("/test")
	e.SetType("com.example.order.placed")
	_ = e.SetData("application/json", map[string]any{"n": id})
	return &e
}

func TestStore_AppendConflictAndRebuild(t *testing.T) {
	cfg := testConfig(t)
	for _, typ := range []string{"order", "customer"} {
		t.Cleanup(func() { testrig.DeleteTopic(t, cfg.TopicPrefix+"."+typ+".events") })
	}
	s, a := openAppender(t, cfg)
	ctx := context.Background()
	o1 := stream.ID{Type: "order", ID: "o-1"}
	res, err := a.Append(ctx, appender.Request{Stream: o1, Expected: stream.ExactVersion(0), Events: []*event.Event{ev("a"), ev("b")}})
	if err != nil || res.Version != 2 || res.Positions[1].Offset != res.Positions[0].Offset+1 {
		t.Fatalf("append = %+v, %v", res, err)
	}
	if _, err := a.Append(ctx, appender.Request{Stream: stream.ID{Type: "customer", ID: "c-1"}, Expected: stream.Any, Events: []*event.Event{ev("c")}}); err != nil {
		t.Fatal(err)
	}
	_, err = a.Append(ctx, appender.Request{Stream: o1, Expected: stream.ExactVersion(1), Events: []*event.Event{ev("x")}})
	var ce *stream.ConflictError
	if !errors.As(err, &ce) || ce.Current != 2 {
		t.Fatalf("stale append: %v", err)
	}
	dup, err := a.Append(ctx, appender.Request{Stream: o1, Expected: stream.ExactVersion(0), Events: []*event.Event{ev("a"), ev("b")}})
	if err != nil || !dup.Duplicate || dup.Positions[1] != res.Positions[1] {
		t.Fatalf("retry = %+v, %v", dup, err)
	}
	_ = a.Close()
	s.Close()

	// Redis loses everything: the next owner rebuilds the heads from the log.
	rdb := redis.NewClient(&redis.Options{Addr: cfg.Redis})
	keys, _ := rdb.Keys(ctx, cfg.Cluster+":*").Result()
	rdb.Del(ctx, keys...)
	rdb.Close()
	s, a = openAppender(t, cfg)
	defer s.Close()
	defer a.Close()
	h, err := a.Head(ctx, o1)
	if err != nil || h.Version != 2 || len(h.Recent) != 2 || h.Recent[1].Position != res.Positions[1] {
		t.Fatalf("rebuilt head = %+v, %v", h, err)
	}
	res, err = a.Append(ctx, appender.Request{Stream: o1, Expected: stream.ExactVersion(2), Events: []*event.Event{ev("d")}})
	if err != nil || res.Version != 3 {
		t.Fatalf("append after rebuild = %+v, %v", res, err)
	}
}

func TestStore_RefusesMisshapenTopics(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()
	testrig.CreateTopic(t, cfg.TopicPrefix+".order.events", 5, nil)
	if _, err := Open(ctx, cfg); err == nil || !strings.Contains(err.Error(), "has 5 partitions") {
		t.Fatalf("Open with a 5-partition topic and P=3: %v", err)
	}
	cfg2 := testConfig(t)
	testrig.CreateTopic(t, cfg2.TopicPrefix+".order.events", 3, map[string]*string{"retention.ms": kadm.StringPtr("3600000")})
	if _, err := Open(ctx, cfg2); err == nil || !strings.Contains(err.Error(), "retention.ms=3600000") {
		t.Fatalf("Open with finite retention: %v", err)
	}
}

// TestStore_RedisFlushedWhileRunning empties Redis under a running owner: the owner notices
// the lost generation, rebuilds the heads from the log and keeps versions exact.
func TestStore_RedisFlushedWhileRunning(t *testing.T) {
	cfg := testConfig(t)
	t.Cleanup(func() { testrig.DeleteTopic(t, cfg.TopicPrefix+".order.events") })
	cfg.Logger = zaptest.NewLogger(t)
	s, a := openAppender(t, cfg)
	defer s.Close()
	defer a.Close()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: cfg.Redis})
	defer rdb.Close()
	flush := func() {
		keys, _ := rdb.Keys(ctx, cfg.Cluster+":*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	}
	streams := []stream.ID{{Type: "order", ID: "o-1"}, {Type: "order", ID: "o-2"}, {Type: "order", ID: "o-3"}}
	for round := int64(0); round < 4; round++ {
		for _, sid := range streams {
			res, err := a.Append(ctx, appender.Request{Stream: sid, Expected: stream.ExactVersion(round), Events: []*event.Event{ev(fmt.Sprintf("%s-%d", sid.ID, round))}})
			if err != nil || res.Version != round+1 {
				t.Fatalf("round %d %s: %+v, %v", round, sid, res, err)
			}
		}
		flush()
	}
	// One more append per stream makes every owner notice and rebuild; then Redis agrees.
	for _, sid := range streams {
		_, err := a.Append(ctx, appender.Request{Stream: sid, Expected: stream.ExactVersion(4), Events: []*event.Event{ev(sid.ID + "-last")}})
		if err != nil {
			t.Fatal(err)
		}
		// Heads are written after the answer, in the background: poll.
		var h stream.Head
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			gen, _ := rdb.Get(ctx, s.heads.genKey()).Result()
			if h, err = s.heads.get(ctx, gen, sid); err == nil && h.Version == 5 {
				break
			}
		}
		if err != nil || h.Version != 5 {
			t.Fatalf("%s: redis head after rebuild = %+v, %v", sid, h, err)
		}
	}
}

// TestStore_HeadReadAfterFlush reads a head, through a partition that opened before Redis
// was flushed, of a stream its pipeline never cached. Redis answers "no such head"; taking
// that for version 0 would let an append with expected version 0 commit a second version 1
// (the three-broker fault test found exactly that). The read must notice the lost
// generation and rebuild first.
func TestStore_HeadReadAfterFlush(t *testing.T) {
	cfg := testConfig(t)
	cfg.Partitions = 1
	t.Cleanup(func() { testrig.DeleteTopic(t, cfg.TopicPrefix+".order.events") })
	s, a := openAppender(t, cfg)
	defer s.Close()
	ctx := context.Background()
	sid := stream.ID{Type: "order", ID: "o-1"}
	for i := range 3 {
		if _, err := a.Append(ctx, appender.Request{Stream: sid, Expected: stream.ExactVersion(int64(i)), Events: []*event.Event{ev(fmt.Sprint("e", i))}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	pt, err := s.OpenPartition(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pt.Close()
	rdb := redis.NewClient(&redis.Options{Addr: cfg.Redis})
	defer rdb.Close()
	keys, _ := rdb.Keys(ctx, cfg.Cluster+":*").Result()
	if err := rdb.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	h, err := pt.Head(ctx, sid)
	if err != nil || h.Version != 3 {
		t.Fatalf("head after the flush = v%d, %v; want v3 (rebuilt from the log)", h.Version, err)
	}
}
