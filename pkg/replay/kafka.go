package replay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/stream"
)

// DefaultQuietPeriod is how long KafkaSource.Read waits with nothing delivered before it
// takes the partitions it still reads as ended (see KafkaSource).
const DefaultQuietPeriod = 3 * time.Second

// KafkaSource reads event topics from Kafka, read_committed.
//
// Read stops a partition when it sees a record at or past End-1. It keeps control records
// (transaction markers) to see them, and skips them, so a partition whose last offset
// below the end is a commit or abort marker ends exactly there. A partition whose last
// offsets below the end are aborted records (their abort marker lies past the end) shows
// nothing at End-1: after QuietPeriod with nothing delivered, Read takes the partitions it
// still reads as ended. That is correct (the broker had delivered everything committed below
// the end before the quiet period), only slower.
type KafkaSource struct {
	seeds []string
	cl    *kgo.Client
	adm   *kadm.Client
	// QuietPeriod; DefaultQuietPeriod when zero.
	QuietPeriod time.Duration
}

var _ Source = (*KafkaSource)(nil)

// NewKafkaSource returns a source over the brokers seeds; Close releases it.
func NewKafkaSource(seeds []string) (*KafkaSource, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("replay: kafka client: %w", err)
	}
	return &KafkaSource{seeds: seeds, cl: cl, adm: kadm.NewClient(cl)}, nil
}

// Close closes the admin client.
func (k *KafkaSource) Close() { k.cl.Close() }

// Bounds returns the log start offsets and the last stable offsets of topic.
func (k *KafkaSource) Bounds(ctx context.Context, topic string) (start, end []int64, err error) {
	starts, err := k.adm.ListStartOffsets(ctx, topic)
	if err == nil {
		start, err = perPartition(starts, topic)
	}
	if err != nil {
		return nil, nil, err
	}
	ends, err := k.adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		end, err = perPartition(ends, topic)
	}
	if err != nil {
		return nil, nil, err
	}
	if len(start) != len(end) {
		return nil, nil, fmt.Errorf("replay: %s: partition count changed while listing offsets", topic)
	}
	return start, end, nil
}

// OffsetsAfter lists, per partition, the first offset at or after t (ListOffsets by time).
func (k *KafkaSource) OffsetsAfter(ctx context.Context, topic string, t time.Time) ([]int64, error) {
	listed, err := k.adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), topic)
	if err != nil {
		return nil, fmt.Errorf("replay: offsets of %s at %s: %w", topic, t.Format(time.RFC3339Nano), err)
	}
	return perPartition(listed, topic)
}

// perPartition turns listed offsets into a slice indexed by partition.
func perPartition(listed kadm.ListedOffsets, topic string) ([]int64, error) {
	if err := listed.Error(); err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("%w: %s", ErrReplayNoTopic, topic)
		}
		return nil, fmt.Errorf("replay: list offsets of %s: %w", topic, err)
	}
	ps := listed[topic]
	if len(ps) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrReplayNoTopic, topic)
	}
	out := make([]int64, len(ps))
	for p, o := range ps {
		if p < 0 || int(p) >= len(ps) {
			return nil, fmt.Errorf("replay: %s: partition %d out of range 0..%d", topic, p, len(ps)-1)
		}
		out[p] = o.Offset
	}
	return out, nil
}

// Read consumes the ranges with a client of its own, closed before it returns.
func (k *KafkaSource) Read(ctx context.Context, topic string, ranges []Range, fn func(*Record) error) error {
	offsets := map[int32]kgo.Offset{}
	ends := map[int32]int64{}
	for _, r := range ranges {
		if r.Next < r.End {
			offsets[r.Partition] = kgo.NewOffset().At(r.Next)
			ends[r.Partition] = r.End
		}
	}
	if len(ends) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		return fmt.Errorf("replay: kafka consumer: %w", err)
	}
	defer cl.Close()
	quiet := k.QuietPeriod
	if quiet <= 0 {
		quiet = DefaultQuietPeriod
	}
	lastDelivery := time.Now()
	for len(ends) > 0 {
		pctx, cancel := context.WithTimeout(ctx, quiet)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fetchError(fs); err != nil {
			return err
		}
		delivered := false
		var cbErr error
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			if cbErr != nil {
				return
			}
			n, err := k.partition(cl, topic, fp, ends, fn)
			delivered = delivered || n > 0
			cbErr = err
		})
		if cbErr != nil {
			return cbErr
		}
		if delivered {
			lastDelivery = time.Now()
		} else if time.Since(lastDelivery) >= quiet {
			return nil
		}
	}
	return nil
}

// partition hands one fetched partition's records below its end to fn; it returns how
// many records (markers included) it saw.
func (k *KafkaSource) partition(cl *kgo.Client, topic string, fp kgo.FetchTopicPartition,
	ends map[int32]int64, fn func(*Record) error) (int, error) {
	end, ok := ends[fp.Partition]
	if !ok || fp.Topic != topic {
		return 0, nil
	}
	for i, rec := range fp.Records {
		if rec.Offset >= end {
			k.stop(cl, topic, fp.Partition, ends)
			return i, nil
		}
		if !rec.Attrs.IsControl() {
			r, err := decode(rec)
			if err != nil {
				return i, err
			}
			if err := fn(r); err != nil {
				return i, err
			}
		}
		if rec.Offset >= end-1 {
			k.stop(cl, topic, fp.Partition, ends)
			return i + 1, nil
		}
	}
	return len(fp.Records), nil
}

func (k *KafkaSource) stop(cl *kgo.Client, topic string, p int32, ends map[int32]int64) {
	delete(ends, p)
	cl.PauseFetchPartitions(map[string][]int32{topic: {p}})
}

// decode turns a record into a Record. The Kafka binding carries aggregateversion as a
// string; it gets its canonical Integer type back, as the embedded engine gives it.
func decode(rec *kgo.Record) (*Record, error) {
	e, err := eventkafka.Decode(rec)
	if err != nil {
		return nil, fmt.Errorf("replay: record %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
	}
	if v, ok, err := event.AggregateVersion(&e); ok && err == nil {
		e.SetExtension(event.ExtAggregateVersion, int32(v))
	}
	return &Record{
		Position:  stream.Position{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset},
		Timestamp: rec.Timestamp.UTC(),
		Event:     e,
	}, nil
}

func fetchError(fs kgo.Fetches) error {
	var out error
	fs.EachError(func(t string, p int32, err error) {
		if out == nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			out = fmt.Errorf("replay: fetch %s/%d: %w", t, p, err)
		}
	})
	return out
}
