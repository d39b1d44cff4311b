package replay

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/testrig"
)

// txnProducer is a transactional producer on partition 0 of a test topic.
type txnProducer struct {
	t     *testing.T
	cl    *kgo.Client
	topic string
	items []item
}

func newTxnProducer(t *testing.T, topic, id string, items []item) *txnProducer {
	cl, err := kgo.NewClient(kgo.SeedBrokers(testrig.Kafka(t)...), kgo.TransactionalID(id),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &txnProducer{t: t, cl: cl, topic: topic, items: items}
}

func (p *txnProducer) begin() {
	if err := p.cl.BeginTransaction(); err != nil {
		p.t.Fatal(err)
	}
}

// send produces item i (its offset is the next one of the partition).
func (p *txnProducer) send(i int) {
	rec, err := eventkafka.Encode(p.items[i].ev, p.topic)
	if err != nil {
		p.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		p.t.Fatal(err)
	}
}

func (p *txnProducer) end(commit bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		p.t.Fatal(err)
	}
}

// TestKafka_Transactions interleaves two transactional producers and a plain one on one
// partition, leaves a transaction open (so the last stable offset stops before it), and
// checks that a replay delivers exactly the committed records in offset order and ends.
// The second case ends on an aborted record whose abort marker lies past the end: a
// read_committed consumer would show nothing at End-1 there.
func TestKafka_Transactions(t *testing.T) {
	items := corpus("order", 20, 1, 1, time.Millisecond, true)
	ids := func(recs []*Record) string {
		var out []string
		for _, r := range recs {
			out = append(out, r.Event.ID())
		}
		return fmt.Sprint(out)
	}
	replayAll := func(t *testing.T, topic string) []*Record {
		ks, err := NewKafkaSource(testrig.Kafka(t))
		if err != nil {
			t.Fatal(err)
		}
		defer ks.Close()
		var sink collect
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := Run(ctx, Config{Source: ks, Topic: topic, Sink: &sink}); err != nil {
			t.Fatal(err)
		}
		return sink.recs
	}
	t.Run("interleaved", func(t *testing.T) {
		topic := testrig.Name(t, "rptx") + ".order.events"
		testrig.CreateTopic(t, topic, 1, nil)
		t.Cleanup(func() { testrig.DeleteTopic(t, topic) })
		name := testrig.Name(t, "tx")
		a, b, c := newTxnProducer(t, topic, name+"-a", items), newTxnProducer(t, topic, name+"-b", items),
			newTxnProducer(t, topic, name+"-c", items)
		a.begin()
		a.send(0)
		a.send(1)
		a.end(true) // ev-0, ev-1 committed
		b.begin()
		b.send(2)
		b.end(false) // ev-2 aborted
		produce(t, topic, 0, items[3:4])
		a.begin()
		a.send(4)
		b.begin()
		b.send(5)
		a.end(false) // ev-4 aborted, after ev-5 of an open transaction
		b.end(true)  // ev-5 committed
		c.begin()
		c.send(6) // left open: the end stops before it
		if got, want := ids(replayAll(t, topic)), "[ev-0 ev-1 ev-3 ev-5]"; got != want {
			t.Fatalf("replayed %s, want %s", got, want)
		}
		c.end(false)
	})
	t.Run("aborted tail", func(t *testing.T) {
		topic := testrig.Name(t, "rptx") + ".order.events"
		testrig.CreateTopic(t, topic, 1, nil)
		t.Cleanup(func() { testrig.DeleteTopic(t, topic) })
		name := testrig.Name(t, "tx")
		a, b := newTxnProducer(t, topic, name+"-a", items), newTxnProducer(t, topic, name+"-b", items)
		produce(t, topic, 0, items[0:1])
		a.begin()
		a.send(1) // offset 1: aborted below, its marker after ev-2
		b.begin()
		b.send(2) // offset 2: open, so the last stable offset is 2
		a.end(false)
		if got, want := ids(replayAll(t, topic)), "[ev-0]"; got != want {
			t.Fatalf("replayed %s, want %s", got, want)
		}
		b.end(true)
		if got, want := ids(replayAll(t, topic)), "[ev-0 ev-2]"; got != want {
			t.Fatalf("after the commit: replayed %s, want %s", got, want)
		}
	})
}
