package export

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

	"github.com/strata-platform/strata/pkg/cluster"
	"github.com/strata-platform/strata/pkg/embedded"
	"github.com/strata-platform/strata/pkg/eventkafka"
)

var (
	// ErrPartitions is returned when the source and the cluster have different partition counts.
	ErrPartitions = errors.New("export: partition counts differ")
	// ErrForeignData is returned when a Kafka topic holds records the source does not.
	ErrForeignData = errors.New("export: the Kafka topic holds data the source does not")
	// ErrIncomplete is returned when Kafka does not hold every source record after the copy.
	ErrIncomplete = errors.New("export: Kafka does not hold every source event")
)

// readBatch is the number of source records read at a time.
const readBatch = 2000

// Report says what an export did.
type Report struct {
	Topics   int           `json:"topics"`   // event topics of the source
	Events   int64         `json:"events"`   // records copied by this run
	Skipped  int64         `json:"skipped"`  // records Kafka held already (an earlier run's)
	Duration time.Duration `json:"duration"` // of the whole run, in nanoseconds
}

// span is the part of one topic-partition left to copy.
type span struct {
	src, dst string // source and Kafka topic
	p        int32
	from     int64 // Kafka's end offset when the run started
	end      int64 // the source's end offset
}

// Run copies every event topic of src into dst's Kafka topics (seeds are dst's brokers),
// then catches dst's Redis heads up and checks the copy. progress, when not nil, is called
// from Run's goroutine with the records Kafka holds (done) out of the source's (total).
// Canceling ctx stops the copy; a later Run resumes it.
func Run(ctx context.Context, src *embedded.Engine, dst *cluster.Store, seeds []string,
	progress func(done, total int64)) (Report, error) {
	start := time.Now()
	var rep Report
	if src.Partitions() != dst.Partitions() {
		return rep, fmt.Errorf("%w: the embedded store has %d partitions, the cluster %d; "+
			"run the cluster with --partitions %d", ErrPartitions, src.Partitions(), dst.Partitions(), src.Partitions())
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent writes are franz-go's default
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.UnknownTopicRetries(-1),
		// No RecordDeliveryTimeout: franz-go measures it from the record's timestamp, which
		// here is the event's original time. Records retry until ctx is done.
	)
	if err != nil {
		return rep, fmt.Errorf("export: kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	spans, err := plan(ctx, src, dst, adm, seeds)
	if err != nil {
		return rep, err
	}
	var total int64
	for _, sp := range spans {
		total += sp.end
		rep.Skipped += sp.from
	}
	rep.Topics = len(src.Topics())
	c := &copier{cl: cl, src: src}
	report := func() {
		if progress != nil {
			progress(rep.Skipped+c.acked.Load(), total)
		}
	}
	report()
	for _, sp := range spans {
		if err := c.copy(ctx, sp, report); err != nil {
			rep.Events = c.acked.Load()
			return rep, err
		}
	}
	err = cl.Flush(ctx)
	rep.Events = c.acked.Load()
	if err == nil {
		err = c.firstErr()
	}
	if err != nil {
		return rep, fmt.Errorf("export: produce: %w", err)
	}
	report()
	if err := catchUpHeads(ctx, dst); err != nil {
		return rep, err
	}
	if err := check(ctx, src, adm, spans); err != nil {
		return rep, err
	}
	rep.Duration = time.Since(start)
	return rep, nil
}

// plan creates the Kafka topics and finds where each partition's copy starts, refusing
// topics that hold foreign data.
func plan(ctx context.Context, src *embedded.Engine, dst *cluster.Store, adm *kadm.Client, seeds []string) ([]span, error) {
	prefix := strings.TrimSuffix(src.Topic(""), ".events") // "<prefix>."
	var spans []span
	for _, topic := range src.Topics() {
		aggType := strings.TrimSuffix(strings.TrimPrefix(topic, prefix), ".events")
		if err := dst.EnsureTopic(ctx, aggType); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		dt := dst.Topic(aggType)
		ends, err := endOffsets(ctx, adm, dt, src.Partitions())
		if err != nil {
			return nil, err
		}
		for p := range int32(src.Partitions()) {
			end, err := src.EndOffset(topic, p)
			if err != nil {
				return nil, fmt.Errorf("export: %w", err)
			}
			sp := span{src: topic, dst: dt, p: p, from: ends[p], end: end}
			if err := checkResume(ctx, src, seeds, sp); err != nil {
				return nil, err
			}
			spans = append(spans, sp)
		}
	}
	return spans, nil
}

// endOffsets returns the high watermarks of a topic's partitions, waiting for a topic
// created a moment ago to show up whole.
func endOffsets(ctx context.Context, adm *kadm.Client, topic string, partitions int) ([]int64, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		out, lerr := lookupAll(ends, topic, partitions)
		if err == nil && lerr == nil {
			return out, nil
		}
		if err == nil {
			err = lerr
		}
		if time.Now().After(deadline) || ctx.Err() != nil || (!kerr.IsRetriable(err) && !errors.Is(err, kerr.UnknownTopicOrPartition)) {
			return nil, fmt.Errorf("export: end offsets of %s: %w", topic, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lookupAll(ends kadm.ListedOffsets, topic string, partitions int) ([]int64, error) {
	out := make([]int64, partitions)
	for p := range int32(partitions) {
		o, ok := ends.Lookup(topic, p)
		switch {
		case !ok:
			return nil, kerr.UnknownTopicOrPartition
		case o.Err != nil:
			return nil, o.Err
		}
		out[p] = o.Offset
	}
	return out, nil
}

// checkResume refuses a partition whose Kafka log is not a prefix of the source's: one
// longer than the source, or whose last record is not the source's record at that offset.
func checkResume(ctx context.Context, src *embedded.Engine, seeds []string, sp span) error {
	if sp.from == 0 {
		return nil
	}
	if sp.from > sp.end {
		return fmt.Errorf("%w: %s/%d ends at offset %d, the source's %s/%d at %d",
			ErrForeignData, sp.dst, sp.p, sp.from, sp.src, sp.p, sp.end)
	}
	last := sp.from - 1
	recs, err := src.Read(ctx, sp.src, sp.p, last, 1)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if len(recs) != 1 || recs[0].Position.Offset != last {
		return fmt.Errorf("export: source %s/%d has no record at offset %d", sp.src, sp.p, last)
	}
	r, err := readAt(ctx, seeds, sp.dst, sp.p, last)
	if err != nil {
		return err
	}
	want := &recs[0].Event
	if r.Attrs.IsControl() {
		return fmt.Errorf("%w: %s/%d offset %d is a transaction marker", ErrForeignData, sp.dst, sp.p, last)
	}
	got, err := eventkafka.Decode(r)
	if err != nil {
		return fmt.Errorf("%w: %s/%d offset %d: %v", ErrForeignData, sp.dst, sp.p, last, err)
	}
	if got.ID() != want.ID() || got.Source() != want.Source() {
		return fmt.Errorf("%w: %s/%d offset %d holds event %s from %s, the source event %s from %s",
			ErrForeignData, sp.dst, sp.p, last, got.ID(), got.Source(), want.ID(), want.Source())
	}
	return nil
}

// readAt fetches the record at one offset, control records included.
func readAt(ctx context.Context, seeds []string, topic string, p int32, offset int64) (*kgo.Record, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(offset)}}),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()),
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return nil, fmt.Errorf("export: kafka consumer: %w", err)
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(rctx)
		if rctx.Err() != nil {
			return nil, fmt.Errorf("export: read %s/%d offset %d: %w", topic, p, offset, rctx.Err())
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return nil, fmt.Errorf("export: read %s/%d offset %d: %w", topic, p, offset, ferr)
		}
		for _, r := range fs.Records() {
			if r.Offset == offset {
				return r, nil
			}
		}
	}
}

// copier produces source records and counts those Kafka acknowledged.
type copier struct {
	cl    *kgo.Client
	src   *embedded.Engine
	acked atomic.Int64

	mu  sync.Mutex // guards err
	err error      // the first failed record's error
}

func (c *copier) done(_ *kgo.Record, err error) {
	if err == nil {
		c.acked.Add(1)
		return
	}
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

func (c *copier) firstErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// copy produces the records of one span, in offset order. A failed record fails every
// record of its partition after it (idempotent producer), so Kafka never skips one.
func (c *copier) copy(ctx context.Context, sp span, report func()) error {
	for off := sp.from; off < sp.end; {
		recs, err := c.src.Read(ctx, sp.src, sp.p, off, int(min(readBatch, sp.end-off)))
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if len(recs) == 0 {
			return fmt.Errorf("export: source %s/%d ends at %d, before its end offset %d", sp.src, sp.p, off, sp.end)
		}
		for i := range recs {
			rec := &recs[i]
			if rec.Position.Offset != off {
				return fmt.Errorf("export: source %s/%d has offset %d where %d was due", sp.src, sp.p, rec.Position.Offset, off)
			}
			r, err := eventkafka.Encode(&rec.Event, sp.dst)
			if err != nil {
				return fmt.Errorf("export: encode %s/%d offset %d: %w", sp.src, sp.p, off, err)
			}
			r.Partition, r.Timestamp = sp.p, rec.Timestamp
			c.cl.Produce(ctx, r, c.done)
			off++
		}
		if err := c.firstErr(); err != nil {
			return fmt.Errorf("export: produce %s/%d: %w", sp.dst, sp.p, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		report()
	}
	return nil
}

// catchUpHeads opens every partition of dst once: opening catches its Redis heads up
// with the log.
func catchUpHeads(ctx context.Context, dst *cluster.Store) error {
	for p := range dst.Partitions() {
		pt, err := dst.OpenPartition(ctx, p)
		if err != nil {
			return fmt.Errorf("export: catch up heads of partition %d: %w", p, err)
		}
		if err := pt.Close(); err != nil {
			return fmt.Errorf("export: close partition %d: %w", p, err)
		}
	}
	return nil
}

// check compares every partition's Kafka end offset with the source's.
func check(ctx context.Context, src *embedded.Engine, adm *kadm.Client, spans []span) error {
	byTopic := map[string][]int64{}
	for _, sp := range spans {
		ends, ok := byTopic[sp.dst]
		if !ok {
			var err error
			if ends, err = endOffsets(ctx, adm, sp.dst, src.Partitions()); err != nil {
				return err
			}
			byTopic[sp.dst] = ends
		}
		if ends[sp.p] != sp.end {
			return fmt.Errorf("%w: %s/%d ends at offset %d, the source's %s/%d at %d",
				ErrIncomplete, sp.dst, sp.p, ends[sp.p], sp.src, sp.p, sp.end)
		}
	}
	return nil
}
