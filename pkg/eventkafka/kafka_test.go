package eventkafka_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/testrig"
)

// encoded is a generated event and the record Encode made of it, kept apart from the
// record handed to the producer.
type encoded struct {
	ev     event.Event
	key    []byte
	value  []byte
	header []kgo.RecordHeader
}

func encodeAll(t *testing.T, w *workload, n int, topic string) ([]encoded, []*kgo.Record) {
	t.Helper()
	want := make([]encoded, n)
	recs := make([]*kgo.Record, n)
	for i := range n {
		e := w.next()
		r, err := eventkafka.Encode(&e, topic)
		if err != nil {
			t.Fatalf("Encode event %d: %v", i, err)
		}
		want[i] = encoded{ev: e, key: bytes.Clone(r.Key), value: bytes.Clone(r.Value), header: cloneHeaders(r.Headers)}
		recs[i] = r
	}
	return want, recs
}

func cloneHeaders(hs []kgo.RecordHeader) []kgo.RecordHeader {
	out := make([]kgo.RecordHeader, len(hs))
	for i, h := range hs {
		out[i] = kgo.RecordHeader{Key: h.Key, Value: bytes.Clone(h.Value)}
	}
	return out
}

// produceAll writes records with an idempotent, acks=all producer and waits for every ack.
func produceAll(t *testing.T, seeds []string, recs []*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, r := range recs {
		wg.Add(1)
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("produce: %v", firstErr)
	}
}

// consumeAll reads n records of topic from the start, read_committed, without a group.
func consumeAll(t *testing.T, seeds []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

func TestKafka_RoundTrip10k(t *testing.T) {
	const n = 10_000
	seeds := testrig.Kafka(t)
	topic := testrig.Name(t, "eventkafka")
	testrig.CreateTopic(t, topic, 4, nil)
	start := time.Now()
	want, recs := encodeAll(t, newWorkload(testrig.Seed(t), 300), n, topic)
	t.Logf("generated and encoded %d events in %v", n, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	produceAll(t, seeds, recs)
	got := consumeAll(t, seeds, topic, n)
	t.Logf("produced and consumed %d records in %v", n, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	defer func() { t.Logf("decoded and checked in %v", time.Since(start).Round(time.Millisecond)) }()
	if len(got) != n {
		t.Fatalf("consumed %d records, want %d", len(got), n)
	}
	byID := make(map[string]*encoded, n)
	for i := range want {
		byID[want[i].ev.ID()] = &want[i]
	}
	checker := newOrderChecker()
	for _, r := range got {
		e, err := eventkafka.Decode(r)
		if err != nil {
			t.Fatalf("Decode %s/%d@%d: %v\n%s", r.Topic, r.Partition, r.Offset, err, dumpHeaders(r.Headers))
		}
		w, ok := byID[e.ID()]
		if !ok {
			t.Fatalf("consumed an unknown or duplicate event %s", e.ID())
		}
		delete(byID, e.ID())
		requireSame(t, &w.ev, &e)
		if !sameHeaders(w.header, r.Headers) || !bytes.Equal(w.key, r.Key) || !bytes.Equal(w.value, r.Value) {
			t.Fatalf("record of %s differs from what Encode produced:\n%s---\n%s", e.ID(), dumpHeaders(w.header), dumpHeaders(r.Headers))
		}
		if err := event.ValidateStrata(&e, event.Limits{}); err != nil {
			t.Fatalf("decoded event %s: %v", e.ID(), err)
		}
		if err := checker.check(&e, r.Partition); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d aggregates, versions in order", len(checker.last))
}

// orderChecker checks, per aggregate, that versions arrive as 1, 2, 3, ... from one partition.
type orderChecker struct {
	last      map[string]int64
	partition map[string]int32
}

func newOrderChecker() *orderChecker {
	return &orderChecker{last: map[string]int64{}, partition: map[string]int32{}}
}

func (c *orderChecker) check(e *event.Event, partition int32) error {
	stream := event.StreamString(event.StreamOf(e))
	v, _, err := event.AggregateVersion(e)
	if err != nil {
		return err
	}
	if p, ok := c.partition[stream]; ok && p != partition {
		return fmt.Errorf("%s: version %d on partition %d, earlier ones on %d", stream, v, partition, p)
	}
	c.partition[stream] = partition
	if v != c.last[stream]+1 {
		return fmt.Errorf("%s: version %d after %d", stream, v, c.last[stream])
	}
	c.last[stream] = v
	return nil
}
