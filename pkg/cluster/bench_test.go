package cluster

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/pkg/testrig"
)

// The benchmarks compare Strata's append (validation, expected-version check, one Kafka
// transaction per group commit, heads in Redis) with plain franz-go producers writing the
// same records to a topic of the same shape on the same broker:
//
//	BenchmarkAppend         appender.Append; each client appends to its own stream with an
//	                        exact expected version
//	BenchmarkRawProduce     one idempotent producer (acks=all, linger 0) shared by the clients;
//	                        an append is one ProduceSync of its records
//	BenchmarkRawTxnProduce  one transaction per append; min(clients, P) transactional
//	                        producers, each shared by a group of clients under a mutex
//
// An append is 1 or 10 events (~400 bytes each as a record) of one aggregate, so it goes to
// one partition. Each reports appends/s and the per-append latency p50/p99 in ms. Every
// sub-benchmark works in a namespace and topic of its own, opened once for all its b.N
// rounds and deleted afterwards. Run them with -run='^$'.

const benchPartitions = 8 // the engine's default P

var (
	benchClients = []int{1, 16, 64}
	benchEvents  = []int{1, 10}
)

func benchName(clients, events int) string {
	return fmt.Sprintf("clients=%d/events=%d", clients, events)
}

// benchNamespace returns a config in a namespace of its own. Its Redis keys are deleted
// when b ends, so b must be the parent benchmark, not a sub-benchmark (whose cleanups run
// after every b.N round).
func benchNamespace(b *testing.B, prefix string) Config {
	a := testrig.Get(b)
	name := testrig.Name(b, prefix)
	b.Cleanup(func() {
		rdb := redis.NewClient(&redis.Options{Addr: a.Redis})
		defer rdb.Close()
		keys, _ := rdb.Keys(context.Background(), name+":*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	return Config{Kafka: a.Kafka, Redis: a.Redis, Cluster: name, TopicPrefix: name, Partitions: benchPartitions, Address: "bench"}
}

// benchEvent is the event every benchmark writes, with ~90 bytes of JSON data.
func benchEvent(client, seq, i int) *event.Event {
	e := event.New()
	e.SetID(strconv.Itoa(seq) + "-" + strconv.Itoa(i))
	e.SetSource("/bench/c" + strconv.Itoa(client))
	e.SetType("com.example.order.placed")
	_ = e.SetData("application/json", map[string]any{"sku": "SKU-0001", "qty": seq, "note": "benchmark payload 0123456789abcdef"})
	return &e
}

// runClients runs b.N appends spread over clients goroutines; appendOne(client, seq) does
// one. It reports appends/s and the latency percentiles of one append.
func runClients(b *testing.B, clients int, appendOne func(client, seq int) error) {
	b.ReportAllocs()
	var next atomic.Int64
	var failed atomic.Pointer[error]
	lat := make([][]time.Duration, clients)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for seq := 0; next.Add(1) <= int64(b.N) && failed.Load() == nil; seq++ {
				t0 := time.Now()
				if err := appendOne(c, seq); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(p*float64(len(all))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// forEachConfig runs bench as sub-benchmark clients × events. setup runs lazily in the
// sub-benchmark's first round and returns the body of each round and a teardown, which
// runs when the sub-benchmark is done.
func forEachConfig(b *testing.B, setup func(b *testing.B, clients, events int) (round func(*testing.B), teardown func())) {
	for _, clients := range benchClients {
		for _, events := range benchEvents {
			var round func(*testing.B)
			var teardown func()
			b.Run(benchName(clients, events), func(b *testing.B) {
				if round == nil {
					round, teardown = setup(b, clients, events)
				}
				round(b)
			})
			if teardown != nil {
				teardown()
			}
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	parent := b
	forEachConfig(b, func(b *testing.B, clients, events int) (func(*testing.B), func()) {
		cfg := benchNamespace(parent, fmt.Sprintf("ba-c%d-e%d", clients, events))
		s, a := openBenchAppender(b, cfg)
		ids := make([]stream.ID, clients)
		versions := make([]int64, clients) // per client: its stream's version, across rounds
		for c := range ids {
			ids[c] = stream.ID{Type: "order", ID: "c" + strconv.Itoa(c)}
		}
		round := func(b *testing.B) {
			runClients(b, clients, func(c, seq int) error {
				evs := make([]*event.Event, events)
				for i := range evs {
					evs[i] = benchEvent(c, seq, i)
				}
				res, err := a.Append(context.Background(), appender.Request{
					Stream: ids[c], Expected: stream.ExactVersion(versions[c]), Events: evs})
				versions[c] = res.Version
				return err
			})
		}
		return round, func() {
			_ = a.Close()
			s.Close()
			testrig.DeleteTopic(parent, s.Topic("order"))
		}
	})
}

// openBenchAppender opens a Store and an appender and creates the event topic, so that no
// round pays for it: every partition's producer makes one append first (the first produce
// to a new topic waits for its metadata).
func openBenchAppender(b *testing.B, cfg Config) (*Store, *appender.Appender) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Open(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	a, err := appender.New(ctx, s, appender.Config{})
	if err != nil {
		s.Close()
		b.Fatal(err)
	}
	for p := range benchPartitions {
		req := appender.Request{Stream: stream.ID{Type: "order", ID: idInPartition("warm", p)}, Expected: stream.Any,
			Events: []*event.Event{benchEvent(0, 0, 0)}}
		if _, err := a.Append(ctx, req); err != nil {
			_ = a.Close()
			s.Close()
			b.Fatal(err)
		}
	}
	return s, a
}

// idInPartition returns an aggregate id with the given prefix that lives in partition p.
func idInPartition(prefix string, p int) string {
	for i := 0; ; i++ {
		id := prefix + "-" + strconv.Itoa(i)
		if stream.PartitionFor(id, benchPartitions) == p {
			return id
		}
	}
}

// rawTopic creates, on the parent benchmark, a topic shaped like a Strata event topic.
func rawTopic(parent *testing.B, prefix string) string {
	topic := testrig.Name(parent, prefix) + ".order.events"
	testrig.CreateTopic(parent, topic, benchPartitions, map[string]*string{
		"cleanup.policy":      kadm.StringPtr("delete"),
		"retention.ms":        kadm.StringPtr("-1"),
		"min.insync.replicas": kadm.StringPtr("1"),
	})
	return topic
}

// rawRecords returns a function that makes the records of one append of client c: the
// events Strata would store (stamped, binary mode), in c's partition.
func rawRecords(b *testing.B, topic string, clients, events int) func(c int) []*kgo.Record {
	tmpl := make([][]*kgo.Record, clients)
	for c := range clients {
		aggID := "c" + strconv.Itoa(c)
		for i := range events {
			e := benchEvent(c, 0, i)
			event.Stamp(e, "order", aggID, int64(i+1))
			r, err := eventkafka.Encode(e, topic)
			if err != nil {
				b.Fatal(err)
			}
			r.Partition = int32(stream.PartitionFor(aggID, benchPartitions))
			tmpl[c] = append(tmpl[c], r)
		}
	}
	return func(c int) []*kgo.Record {
		out := make([]*kgo.Record, events)
		for i, r := range tmpl[c] { // a record must not be reused while in flight
			out[i] = &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Headers: r.Headers}
		}
		return out
	}
}

// rawProducerOpts are the options both raw benchmarks share with Strata's producer.
func rawProducerOpts(seeds []string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
	}
}

// warmProducer produces one record to every partition, so that no round waits for the
// topic's metadata.
func warmProducer(b *testing.B, cl *kgo.Client, topic string) {
	for p := range benchPartitions {
		r := &kgo.Record{Topic: topic, Partition: int32(p), Value: []byte("warm")}
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawProduce(b *testing.B) {
	parent := b
	forEachConfig(b, func(b *testing.B, clients, events int) (func(*testing.B), func()) {
		topic := rawTopic(parent, fmt.Sprintf("bp-c%d-e%d", clients, events))
		cl, err := kgo.NewClient(rawProducerOpts(testrig.Kafka(b))...) // idempotent by default
		if err != nil {
			b.Fatal(err)
		}
		warmProducer(b, cl, topic)
		records := rawRecords(b, topic, clients, events)
		round := func(b *testing.B) {
			runClients(b, clients, func(c, _ int) error {
				return cl.ProduceSync(context.Background(), records(c)...).FirstErr()
			})
		}
		return round, cl.Close
	})
}

// txnProducer is a transactional producer shared by a group of clients.
type txnProducer struct {
	mu sync.Mutex // serialises the group's transactions: one open at a time
	cl *kgo.Client
}

func (p *txnProducer) append(records []*kgo.Record) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	ctx := context.Background()
	if err := p.cl.BeginTransaction(); err != nil {
		return err
	}
	if err := p.cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		_ = p.cl.EndTransaction(ctx, kgo.TryAbort)
		return err
	}
	return p.cl.EndTransaction(ctx, kgo.TryCommit)
}

func BenchmarkRawTxnProduce(b *testing.B) {
	parent := b
	forEachConfig(b, func(b *testing.B, clients, events int) (func(*testing.B), func()) {
		topic := rawTopic(parent, fmt.Sprintf("bt-c%d-e%d", clients, events))
		producers := make([]*txnProducer, min(clients, benchPartitions))
		closeAll := func() {
			for _, p := range producers {
				if p != nil {
					p.cl.Close()
				}
			}
		}
		for i := range producers {
			opts := append(rawProducerOpts(testrig.Kafka(b)),
				kgo.TransactionalID(topic+"-tx"+strconv.Itoa(i)), kgo.TransactionTimeout(30*time.Second))
			cl, err := kgo.NewClient(opts...)
			if err != nil {
				closeAll()
				b.Fatal(err)
			}
			producers[i] = &txnProducer{cl: cl}
		}
		for _, p := range producers {
			if err := p.append([]*kgo.Record{{Topic: topic, Partition: 0, Value: []byte("warm")}}); err != nil {
				closeAll()
				b.Fatal(err)
			}
		}
		records := rawRecords(b, topic, clients, events)
		round := func(b *testing.B) {
			runClients(b, clients, func(c, _ int) error { return producers[c%len(producers)].append(records(c)) })
		}
		return round, closeAll
	})
}
