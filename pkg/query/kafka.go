package query

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/stream"
)

// KafkaConfig configures the Kafka log adapter.
type KafkaConfig struct {
	Seeds       []string // seed brokers
	TopicPrefix string   // event topics are <prefix>.<type>.events; default "strata"
	Partitions  int      // P; default 8
	// RangeBytes bounds one fetch of Range and Follow; default 1 MiB.
	RangeBytes int32
}

// KafkaLog reads event topics with direct Fetch requests to each partition's leader,
// read_committed. Fetch asks for one record batch at a time (a partition limit of one byte:
// the broker still returns the first batch whole), so reading a stream by its index touches
// the batches that hold its events and nothing else; where the wanted offsets are dense
// (at most 4 offsets per wanted record) it asks for 64 KiB at a time instead, touching at
// most 4 records per event but saving round trips.
type KafkaLog struct {
	cfg KafkaConfig
	cl  *kgo.Client
	adm *kadm.Client

	fetched atomic.Int64 // records decoded from fetch responses, markers and skipped ones included

	mu      sync.Mutex // guards leaders
	leaders map[TopicPartition]int32
}

var _ Log = (*KafkaLog)(nil)

// NewKafkaLog connects to the brokers. Close releases it.
func NewKafkaLog(cfg KafkaConfig) (*KafkaLog, error) {
	if len(cfg.Seeds) == 0 {
		return nil, errors.New("query: no Kafka seed brokers")
	}
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = "strata"
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 8
	}
	if cfg.RangeBytes == 0 {
		cfg.RangeBytes = 1 << 20
	}
	// Fetch v12 names topics (v13+ wants topic ids); Kafka 4 brokers still serve it.
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Seeds...), kgo.MaxVersions(kversion.V3_0_0()),
		kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		return nil, err
	}
	return &KafkaLog{cfg: cfg, cl: cl, adm: kadm.NewClient(cl), leaders: map[TopicPartition]int32{}}, nil
}

// Close releases the client.
func (l *KafkaLog) Close() { l.cl.Close() }

// RecordsFetched is how many records this log has decoded from the broker's answers so far
// (transaction markers and records before the asked offset included).
func (l *KafkaLog) RecordsFetched() int64 { return l.fetched.Load() }

// Partitions returns P.
func (l *KafkaLog) Partitions() int { return l.cfg.Partitions }

// Topic returns <prefix>.<type>.events.
func (l *KafkaLog) Topic(aggType string) string { return l.cfg.TopicPrefix + "." + aggType + ".events" }

// Topics lists the event topics under the prefix.
func (l *KafkaLog) Topics(ctx context.Context) ([]string, error) {
	td, err := l.adm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: list topics: %v", ErrUnavailable, err)
	}
	var out []string
	for _, t := range td.Sorted() {
		if strings.HasPrefix(t.Topic, l.cfg.TopicPrefix+".") && strings.HasSuffix(t.Topic, ".events") {
			out = append(out, t.Topic)
		}
	}
	return out, nil
}

func (l *KafkaLog) leader(ctx context.Context, tp TopicPartition, fresh bool) (int32, error) {
	l.mu.Lock()
	id, ok := l.leaders[tp]
	l.mu.Unlock()
	if ok && !fresh {
		return id, nil
	}
	td, err := l.adm.ListTopics(ctx, tp.Topic)
	if err != nil {
		return 0, fmt.Errorf("%w: metadata of %s: %v", ErrUnavailable, tp.Topic, err)
	}
	d, ok := td[tp.Topic]
	if !ok || d.Err != nil {
		return 0, fmt.Errorf("%w: topic %s does not exist", ErrBadRequest, tp.Topic)
	}
	pd, ok := d.Partitions[tp.Partition]
	if !ok {
		return 0, fmt.Errorf("%w: topic %s has no partition %d", ErrBadRequest, tp.Topic, tp.Partition)
	}
	l.mu.Lock()
	l.leaders[tp] = pd.Leader
	l.mu.Unlock()
	return pd.Leader, nil
}

// fetched is one answer of a partition's leader.
type fetchAnswer struct {
	recs []*kgo.Record
	next int64 // offset after the last record processed (markers and aborted ones included)
	lso  int64
}

// fetchAt sends one Fetch for topic/partition at offset, read_committed, with a byte limit.
func (l *KafkaLog) fetchAt(ctx context.Context, tp TopicPartition, offset int64, maxBytes int32) (fetchAnswer, error) {
	for attempt := 0; ; attempt++ {
		leader, err := l.leader(ctx, tp, attempt > 0)
		if err != nil {
			return fetchAnswer{}, err
		}
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.MaxWaitMillis = 0
		req.MinBytes = 1
		req.MaxBytes = maxBytes
		req.IsolationLevel = 1
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = tp.Topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = tp.Partition
		rp.FetchOffset = offset
		rp.PartitionMaxBytes = maxBytes
		rp.CurrentLeaderEpoch = -1
		rp.LogStartOffset = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		raw, err := l.cl.Broker(int(leader)).Request(ctx, req)
		if err != nil {
			if ctx.Err() != nil {
				return fetchAnswer{}, ctx.Err()
			}
			if attempt < 3 {
				continue
			}
			return fetchAnswer{}, fmt.Errorf("%w: fetch %s/%d@%d: %v", ErrUnavailable, tp.Topic, tp.Partition, offset, err)
		}
		resp := raw.(*kmsg.FetchResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return fetchAnswer{}, fmt.Errorf("%w: fetch %s/%d@%d: %v", ErrUnavailable, tp.Topic, tp.Partition, offset, err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return fetchAnswer{}, fmt.Errorf("%w: fetch %s/%d: malformed answer", ErrUnavailable, tp.Topic, tp.Partition)
		}
		p := &resp.Topics[0].Partitions[0]
		fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
			IsolationLevel: kgo.ReadCommitted(), Topic: tp.Topic, Partition: tp.Partition, Offset: offset,
		}, p, kgo.DefaultDecompressor(), func(m kgo.FetchBatchMetrics) { l.fetched.Add(int64(m.NumRecords)) })
		if fp.Err != nil {
			var ke *kerr.Error
			if errors.As(fp.Err, &ke) && ke.Retriable && attempt < 3 {
				continue // a moved leader: refresh it and ask again
			}
			return fetchAnswer{}, fmt.Errorf("%w: fetch %s/%d@%d: %v", ErrUnavailable, tp.Topic, tp.Partition, offset, fp.Err)
		}
		return fetchAnswer{recs: fp.Records, next: max(next, offset), lso: p.LastStableOffset}, nil
	}
}

// Fetch sizes: a stream whose next events are dense in the partition (the next 64 span at
// most denseSpan times their count in offsets) is read denseBytes at a time, touching the
// records between them too (at most denseSpan per event); a sparse one one record batch per
// request (a byte limit of 1: the broker still answers the first batch whole).
const (
	denseWindow = 64
	denseSpan   = 4
	denseBytes  = 64 << 10
)

func fetchBytes(offsets []int64) int32 {
	w := min(denseWindow, len(offsets))
	if w > 1 && offsets[w-1]-offsets[0]+1 <= int64(denseSpan*w) {
		return denseBytes
	}
	return 1
}

// lsoWait bounds how long Fetch waits for the last stable offset to pass an offset.
const lsoWait = 5 * time.Second

// Fetch returns the records at offsets, one batch per request.
func (l *KafkaLog) Fetch(ctx context.Context, topic string, partition int32, offsets []int64) ([]Record, error) {
	tp := TopicPartition{topic, partition}
	out := make([]Record, 0, len(offsets))
	wait, waited := time.Millisecond, time.Duration(0)
	for i := 0; i < len(offsets); {
		ans, err := l.fetchAt(ctx, tp, offsets[i], fetchBytes(offsets[i:]))
		if err != nil {
			return nil, err
		}
		if len(ans.recs) == 0 && offsets[i] >= ans.lso && waited < lsoWait {
			// An acknowledged append's record becomes readable (read_committed) only once
			// its transaction marker is written, which Kafka does after answering the
			// commit: wait for the last stable offset to pass it.
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(wait):
			}
			waited += wait
			wait = min(2*wait, 50*time.Millisecond)
			continue
		}
		start := i
		for _, r := range ans.recs {
			for i < len(offsets) && offsets[i] < r.Offset {
				return nil, fmt.Errorf("%w: %s/%d has no committed record at %d", ErrCorrupt, topic, partition, offsets[i])
			}
			if i < len(offsets) && offsets[i] == r.Offset {
				rec, err := kafkaRecord(r)
				if err != nil {
					return nil, err
				}
				out = append(out, rec)
				i++
			}
		}
		if i == start {
			if ans.next > offsets[i] || offsets[i] < ans.lso {
				return nil, fmt.Errorf("%w: %s/%d has no committed record at %d", ErrCorrupt, topic, partition, offsets[i])
			}
			return nil, fmt.Errorf("%w: %s/%d@%d is past the last stable offset %d", ErrUnavailable, topic, partition, offsets[i], ans.lso)
		}
	}
	return out, nil
}

func kafkaRecord(r *kgo.Record) (Record, error) {
	e, err := eventkafka.Decode(r)
	if err != nil {
		return Record{}, fmt.Errorf("record %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	return Record{Position: stream.Position{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset},
		Timestamp: r.Timestamp, Event: e}, nil
}

// Range returns up to limit committed records from offset from on.
func (l *KafkaLog) Range(ctx context.Context, topic string, partition int32, from int64, limit int) ([]Record, int64, error) {
	tp := TopicPartition{topic, partition}
	var out []Record
	next := from
	for len(out) < limit {
		ans, err := l.fetchAt(ctx, tp, next, l.cfg.RangeBytes)
		if err != nil {
			return nil, 0, err
		}
		for _, r := range ans.recs {
			if len(out) == limit {
				break
			}
			rec, err := kafkaRecord(r)
			if err != nil {
				return nil, 0, err
			}
			out = append(out, rec)
			next = r.Offset + 1
		}
		if len(out) == limit {
			break
		}
		if ans.next <= next || ans.next >= ans.lso && len(ans.recs) == 0 {
			next = max(next, ans.next)
			break
		}
		next = ans.next
	}
	return out, next, nil
}

// OffsetAt is Kafka's offsets-for-times.
func (l *KafkaLog) OffsetAt(ctx context.Context, topic string, partition int32, t time.Time) (int64, error) {
	res, err := l.adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), topic)
	if err != nil {
		return 0, fmt.Errorf("%w: offsets for time: %v", ErrUnavailable, err)
	}
	o, ok := res.Lookup(topic, partition)
	if !ok {
		return 0, fmt.Errorf("%w: topic %s has no partition %d", ErrBadRequest, topic, partition)
	}
	if o.Err != nil {
		return 0, fmt.Errorf("%w: offsets for time of %s/%d: %v", ErrUnavailable, topic, partition, o.Err)
	}
	if o.Offset < 0 { // no record at or after t
		return l.End(ctx, topic, partition)
	}
	return o.Offset, nil
}

// End returns the partition's last stable offset.
func (l *KafkaLog) End(ctx context.Context, topic string, partition int32) (int64, error) {
	res, err := l.adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("%w: end offsets: %v", ErrUnavailable, err)
	}
	o, ok := res.Lookup(topic, partition)
	if !ok {
		return 0, fmt.Errorf("%w: topic %s has no partition %d", ErrBadRequest, topic, partition)
	}
	if o.Err != nil {
		return 0, fmt.Errorf("%w: end offset of %s/%d: %v", ErrUnavailable, topic, partition, o.Err)
	}
	return o.Offset, nil
}

// Follow consumes the partitions directly (no group), read_committed, waiting for new records.
func (l *KafkaLog) Follow(ctx context.Context, from map[TopicPartition]int64, add <-chan map[TopicPartition]int64, fn func(Record) error) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(l.cfg.Seeds...),
		kgo.ConsumePartitions(kafkaOffsets(from)),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(250*time.Millisecond),
		kgo.FetchMaxBytes(l.cfg.RangeBytes), kgo.FetchMaxPartitionBytes(l.cfg.RangeBytes),
		kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Add(1)
	go func() { // adds partitions while the loop below polls
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-add:
				cl.AddConsumePartitions(kafkaOffsets(m))
			}
		}
	}()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			var ke *kerr.Error
			if errors.As(err, &ke) && ke.Retriable || errors.Is(err, context.Canceled) {
				return
			}
			ferr = fmt.Errorf("%w: follow %s/%d: %v", ErrUnavailable, t, p, err)
		})
		if ferr != nil {
			return ferr
		}
		for _, r := range fs.Records() {
			rec, err := kafkaRecord(r)
			if err != nil {
				return err
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
	}
}

func kafkaOffsets(m map[TopicPartition]int64) map[string]map[int32]kgo.Offset {
	out := map[string]map[int32]kgo.Offset{}
	for tp, off := range m {
		if out[tp.Topic] == nil {
			out[tp.Topic] = map[int32]kgo.Offset{}
		}
		out[tp.Topic][tp.Partition] = kgo.NewOffset().At(off)
	}
	return out
}
