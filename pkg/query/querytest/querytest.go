// Package querytest starts an engine with its built-in read models for read tests: the
// embedded engine in a temporary folder, or Kafka + Redis on the real test rig, each with
// an appender, the index and snapshots projections running, and a query.Reader over them.
package querytest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/cluster"
	"github.com/strata-platform/strata/pkg/embedded"
	"github.com/strata-platform/strata/pkg/projection"
	"github.com/strata-platform/strata/pkg/query"
	"github.com/strata-platform/strata/pkg/testrig"
)

// Options shape a test engine.
type Options struct {
	Partitions    int      // default 3
	SnapshotEvery int64    // default 5
	Types         []string // aggregate types whose topics exist before the projections start (Kafka); default {"order"}
	CatchUp       time.Duration
}

func (o Options) withDefaults() Options {
	if o.Partitions == 0 {
		o.Partitions = 3
	}
	if o.SnapshotEvery == 0 {
		o.SnapshotEvery = 5
	}
	if len(o.Types) == 0 {
		o.Types = []string{"order"}
	}
	return o
}

// CountingLog is a query.Log that counts the records it fetched.
type CountingLog interface {
	query.Log
	RecordsFetched() int64
}

// Engine is a running engine with its read side.
type Engine struct {
	Name        string // "embedded" or "kafka"
	App         *appender.Appender
	Store       appender.Store
	Reader      *query.Reader
	Log         CountingLog
	Models      query.Models
	TopicPrefix string
	Kafka       []string         // kafka only
	Redis       *redis.Client    // kafka only
	Cluster     string           // kafka only: the Redis namespace
	Embedded    *embedded.Engine // embedded only
}

// Topic is the event topic of aggType.
func (e *Engine) Topic(aggType string) string { return e.Log.Topic(aggType) }

// Each runs fn as a subtest on the embedded engine and on Kafka + Redis.
func Each(t *testing.T, opts Options, fn func(t *testing.T, e *Engine)) {
	t.Run("embedded", func(t *testing.T) { fn(t, Embedded(t, opts)) })
	t.Run("kafka", func(t *testing.T) { fn(t, Kafka(t, opts)) })
}

// projections are the built-ins the reads use.
func projections(o Options) []projection.Projection {
	return []projection.Projection{
		projection.Index(nil, 1),
		projection.Snapshots(nil, 1, projection.Reducers{"*": projection.MergePatch}, projection.SnapshotPolicy{Every: o.SnapshotEvery}, nil, ""),
	}
}

// Embedded opens an embedded engine in t.TempDir() with the projections running locally.
func Embedded(t testing.TB, opts Options) *Engine {
	t.Helper()
	o := opts.withDefaults()
	eng, err := embedded.Open(embedded.Config{Dir: t.TempDir(), Partitions: o.Partitions})
	if err != nil {
		t.Fatal(err)
	}
	app, err := appender.New(context.Background(), eng, appender.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range projections(o) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := projection.RunLocal(ctx, eng.LocalLog(), eng, p, 1000, 10*time.Millisecond); err != nil && ctx.Err() == nil {
				t.Errorf("projection %s: %v", p.Keyspace(), err)
			}
		}()
	}
	log := query.NewEngineLog(eng, 10*time.Millisecond)
	models := query.NewStoreModels(eng, nil)
	r, err := query.NewReader(query.Config{Log: log, Models: models, Heads: app, CatchUp: o.CatchUp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = app.Close()
		_ = eng.Close()
	})
	return &Engine{Name: "embedded", App: app, Store: eng, Reader: r, Log: log, Models: models, Embedded: eng}
}

// Kafka opens the Kafka + Redis engine on the test rig under a fresh topic prefix and Redis
// namespace, creates the topics of opts.Types and runs the projections as consumer groups.
// Everything it created is deleted when the test ends.
func Kafka(t testing.TB, opts Options) *Engine {
	t.Helper()
	o := opts.withDefaults()
	a := testrig.Get(t)
	name := testrig.Name(t, "q")
	ctx, cancel := context.WithCancel(context.Background())
	st, err := cluster.Open(ctx, cluster.Config{Kafka: a.Kafka, Redis: a.Redis, Cluster: name, TopicPrefix: name, Partitions: o.Partitions})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: a.Redis})
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.Kafka...))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	var wg sync.WaitGroup
	var app *appender.Appender
	var log *query.KafkaLog
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if app != nil {
			_ = app.Close()
		}
		st.Close()
		if log != nil {
			log.Close()
		}
		bg := context.Background()
		topics, _ := adm.ListTopics(bg)
		for _, tp := range topics.Names() {
			if strings.HasPrefix(tp, name+".") {
				testrig.DeleteTopic(t, tp)
			}
		}
		var cursor uint64
		for {
			keys, next, err := rdb.Scan(bg, cursor, name+":*", 1000).Result()
			if err != nil {
				break
			}
			if len(keys) > 0 {
				rdb.Unlink(bg, keys...)
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
		cl.Close()
		rdb.Close()
	})
	for _, typ := range o.Types {
		if err := st.EnsureTopic(ctx, typ); err != nil {
			t.Fatal(err)
		}
	}
	if app, err = appender.New(ctx, st, appender.Config{}); err != nil {
		t.Fatal(err)
	}
	store := projection.NewRedisStore(rdb, name)
	pcfg := projection.Config{Kafka: a.Kafka, Group: name, TopicPrefix: name, SessionTimeout: 6 * time.Second}
	for _, p := range projections(o) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := projection.Serve(ctx, pcfg, store, adm, p, nil); err != nil && ctx.Err() == nil {
				t.Errorf("projection %s: %v", p.Keyspace(), err)
			}
		}()
	}
	if log, err = query.NewKafkaLog(query.KafkaConfig{Seeds: a.Kafka, TopicPrefix: name, Partitions: o.Partitions}); err != nil {
		t.Fatal(err)
	}
	models := query.NewRedisModels(rdb, name)
	r, err := query.NewReader(query.Config{Log: log, Models: models, Heads: app, CatchUp: o.CatchUp})
	if err != nil {
		t.Fatal(err)
	}
	return &Engine{Name: "kafka", App: app, Store: st, Reader: r, Log: log, Models: models, TopicPrefix: name,
		Kafka: a.Kafka, Redis: rdb, Cluster: name}
}
