package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/appender/appendertest"
	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/pkg/testrig"
)

// TestConformance runs the append suite on the real Kafka broker and Redis.
func TestConformance(t *testing.T) {
	appendertest.Run(t, appendertest.Harness{
		Open: func(t *testing.T) (appender.Store, func(*testing.T) appender.Store, func()) {
			cfg := testConfig(t)
			t.Cleanup(func() { testrig.DeleteTopic(t, cfg.TopicPrefix+".order.events") })
			var cur *Store
			open := func(t *testing.T) appender.Store {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				s, err := Open(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				cur = s
				return s
			}
			s := open(t)
			return s, open, func() { cur.Close() }
		},
		Log: func(t *testing.T, s appender.Store, aggType string) []appendertest.Stored {
			return plainRead(t, s.(*Store).cfg.Kafka, s.(*Store).Topic(aggType))
		},
	})
}

// plainRead reads a whole topic with a plain read_committed consumer, partition by partition.
func plainRead(t *testing.T, seeds []string, topic string) []appendertest.Stored {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []appendertest.Stored
	for p := int32(0); ; p++ {
		var recs []*kgo.Record
		end, ok := lso(ctx, t, cl, topic, p)
		if !ok {
			break
		}
		if end > 0 {
			if err := readRange(ctx, seeds, topic, p, 0, end, func(_ context.Context, r *kgo.Record) error {
				recs = append(recs, r)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range recs {
			e, err := eventkafka.Decode(r)
			if err != nil {
				t.Fatalf("record %s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err)
			}
			pos := stream.Position{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
			out = append(out, appendertest.Stored{Position: pos, Event: e})
		}
	}
	return out
}

func lso(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, p int32) (int64, bool) {
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := ends.Lookup(topic, p)
	if !ok || o.Err != nil {
		return 0, false
	}
	return o.Offset, true
}
