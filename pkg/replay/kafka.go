package replay

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/stream"
)

// KafkaSource reads event topics from Kafka and gives what a read_committed consumer gets:
// the committed records, in offset order per partition, no control records, no aborted
// records. It fetches read_uncommitted with control records kept, and settles transactions
// itself (see partReader), because a read_committed consumer never shows where it is: when
// the last offsets below the end are aborted records, it delivers nothing at End-1 and a
// reader cannot tell "done" from "slow". Seeing every offset, Read ends each partition
// exactly, without timers.
type KafkaSource struct {
	seeds []string
	cl    *kgo.Client
	adm   *kadm.Client
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
	parts := map[int32]*partReader{}
	for _, r := range ranges {
		if r.Next < r.End {
			offsets[r.Partition] = kgo.NewOffset().At(r.Next)
			parts[r.Partition] = &partReader{end: r.End, open: map[int64]bool{}}
		}
	}
	if len(parts) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()), kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())) // records deleted under the replay: go on from the start
	if err != nil {
		return fmt.Errorf("replay: kafka consumer: %w", err)
	}
	defer cl.Close()
	batch := &batcher{fn: fn}
	for len(parts) > 0 {
		pctx, cancel := context.WithTimeout(ctx, idleCheck)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fetchError(fs); err != nil {
			return err
		}
		if fs.NumRecords() == 0 {
			if err := k.dropDeleted(ctx, cl, topic, parts); err != nil {
				return err
			}
			continue
		}
		var cbErr error
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			pr, ok := parts[fp.Partition]
			if cbErr != nil || !ok || fp.Topic != topic {
				return
			}
			for _, rec := range fp.Records {
				if cbErr = pr.add(rec, batch.add); cbErr != nil || pr.done() {
					break
				}
			}
			if cbErr == nil && pr.done() {
				delete(parts, fp.Partition)
				cl.PauseFetchPartitions(map[string][]int32{topic: {fp.Partition}})
			}
		})
		if cbErr == nil {
			cbErr = batch.flush()
		}
		if cbErr != nil {
			return cbErr
		}
	}
	return nil
}

// idleCheck is how long Read waits for records before it checks the log's start.
const idleCheck = 5 * time.Second

// dropDeleted ends the partitions whose records up to the end were deleted (retention)
// while the replay ran: their log starts at or past the end, so nothing below it will come.
// (Deleted records below a later start are skipped by the consumer's reset to the start.)
func (k *KafkaSource) dropDeleted(ctx context.Context, cl *kgo.Client, topic string, parts map[int32]*partReader) error {
	starts, err := k.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("replay: list start offsets of %s: %w", topic, err)
	}
	for p, pr := range parts {
		if o, ok := starts.Lookup(topic, p); ok && o.Err == nil && o.Offset >= pr.end && len(pr.held) == 0 {
			delete(parts, p)
			cl.PauseFetchPartitions(map[string][]int32{topic: {p}})
		}
	}
	return nil
}

// partReader settles one partition's transactions as a read_committed consumer would:
// a transactional record is held until its producer's commit marker (then delivered) or
// abort marker (then dropped), and nothing after a held record is delivered before it, so
// delivery stays in offset order. Every transaction with a record below the end had ended
// when the end was fixed (the end is the last stable offset), so its marker is in the log,
// possibly past the end: the reader reads on past the end until every held record is settled.
type partReader struct {
	end  int64
	seen int64          // the offset after the last record seen
	held []heldRecord   // from the first unsettled record on, in offset order
	open map[int64]bool // producer ids with unsettled held records
}

type heldRecord struct {
	rec     *kgo.Record
	settled bool
	keep    bool
}

func (p *partReader) done() bool { return p.seen >= p.end && len(p.held) == 0 }

// add takes the next record of the partition and delivers what it settles.
func (p *partReader) add(rec *kgo.Record, deliver func(*kgo.Record) error) error {
	p.seen = rec.Offset + 1
	switch {
	case rec.Attrs.IsControl():
		var key kmsg.ControlRecordKey
		if err := key.ReadFrom(rec.Key); err != nil || !p.open[rec.ProducerID] {
			return p.release(deliver)
		}
		commit := key.Type == kmsg.ControlRecordKeyTypeCommit
		for i := range p.held {
			if h := &p.held[i]; !h.settled && h.rec.ProducerID == rec.ProducerID {
				h.settled, h.keep = true, commit
			}
		}
		delete(p.open, rec.ProducerID)
	case rec.Offset >= p.end:
		return nil // past the end: read only for the markers
	case rec.Attrs.IsTransactional():
		p.held = append(p.held, heldRecord{rec: rec})
		p.open[rec.ProducerID] = true
	default:
		p.held = append(p.held, heldRecord{rec: rec, settled: true, keep: true})
	}
	return p.release(deliver)
}

// release hands the settled records at the head of held to deliver.
func (p *partReader) release(deliver func(*kgo.Record) error) error {
	n := 0
	for ; n < len(p.held) && p.held[n].settled; n++ {
		if !p.held[n].keep {
			continue
		}
		if err := deliver(p.held[n].rec); err != nil {
			p.held = p.held[n+1:]
			return err
		}
	}
	p.held = p.held[n:]
	if len(p.held) == 0 {
		p.held = nil // let the backing array go
	}
	return nil
}

// decodeBatch is how many records batcher decodes at once.
const decodeBatch = 2048

// batcher decodes records in batches, in parallel (decoding is most of a replay's CPU),
// and passes them to fn in the order they came. Its goroutines end before flush returns.
type batcher struct {
	fn   func(*Record) error
	recs []*kgo.Record
	out  []*Record
	errs []error
}

func (b *batcher) add(rec *kgo.Record) error {
	b.recs = append(b.recs, rec)
	if len(b.recs) >= decodeBatch {
		return b.flush()
	}
	return nil
}

func (b *batcher) flush() error {
	n := len(b.recs)
	if n == 0 {
		return nil
	}
	b.out, b.errs = append(b.out[:0], make([]*Record, n)...), append(b.errs[:0], make([]error, n)...)
	workers := min(runtime.GOMAXPROCS(0), 4, max(n/256, 1))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				b.out[i], b.errs[i] = decode(b.recs[i])
			}
		}(w*n/workers, (w+1)*n/workers)
	}
	wg.Wait()
	clear(b.recs)
	b.recs = b.recs[:0]
	for i := range n {
		err := b.errs[i]
		if err == nil {
			err = b.fn(b.out[i])
		}
		if err != nil {
			return err
		}
	}
	clear(b.out)
	return nil
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
