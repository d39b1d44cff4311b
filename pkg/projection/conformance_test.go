package projection_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/cluster"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/projection"
	"github.com/strata-platform/strata/pkg/projection/projectiontest"
	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/pkg/testrig"
)

// TestConformance runs the read side's I5 suite on the real Kafka broker and Redis: appends
// through cluster.Store, projections as projection.Runner consumer groups over a
// RedisStore, rebuilds with projection.Serve.
func TestConformance(t *testing.T) {
	projectiontest.Run(t, projectiontest.Harness{Open: openKafka})
}

const conformancePartitions = 3

func openKafka(t *testing.T) *projectiontest.Engine {
	a := testrig.Get(t)
	name := testrig.Name(t, "pc")
	rdb := redis.NewClient(&redis.Options{Addr: a.Redis})
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.Kafka...))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := cluster.Open(ctx, cluster.Config{Kafka: a.Kafka, Redis: a.Redis, Cluster: name, TopicPrefix: name, Partitions: conformancePartitions})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st.Close()
		ctx := context.Background()
		if topics, err := adm.ListTopics(ctx); err == nil {
			for _, tp := range topics.Names() {
				if strings.HasPrefix(tp, name+".") {
					testrig.DeleteTopic(t, tp)
				}
			}
		}
		if keys, _ := rdb.Keys(ctx, name+":*").Result(); len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		cl.Close()
		_ = rdb.Close()
	})
	models := projection.NewRedisStore(rdb, name)
	cfg := projection.Config{Kafka: a.Kafka, Group: name, TopicPrefix: name, MaxBatch: 20, SessionTimeout: 6 * time.Second}
	return &projectiontest.Engine{
		Store:  st,
		Models: models,
		Run: func(ctx context.Context, proj projection.Projection) error {
			r, err := projection.NewRunner(cfg, proj, models)
			if err != nil {
				return err
			}
			return r.Run(ctx)
		},
		Lag: func(ctx context.Context, proj projection.Projection) (int64, error) {
			pr, err := projection.Measure(ctx, adm, models, cfg, proj)
			return pr.Lag(), err
		},
		Serve: func(ctx context.Context, proj projection.Projection) error {
			return projection.Serve(ctx, cfg, models, adm, proj, nil)
		},
		Active:    models.Active,
		Rebalance: true,
		ProduceAborted: func(t *testing.T, events []*event.Event) {
			produceAborted(t, a.Kafka, name+"-aborter", st, events)
		},
	}
}

// produceAborted writes events with a plain franz-go transactional producer, each to its
// stream's partition of the event topic, and aborts the transaction.
func produceAborted(t *testing.T, seeds []string, txnID string, st *cluster.Store, events []*event.Event) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.TransactionalID(txnID),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		typ, id := event.AggregateType(ev), event.AggregateID(ev)
		rec, err := eventkafka.Encode(ev, st.Topic(typ))
		if err != nil {
			t.Fatal(err)
		}
		rec.Partition = int32(stream.PartitionFor(id, conformancePartitions))
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", ev.ID(), err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatalf("abort: %v", err)
	}
}
