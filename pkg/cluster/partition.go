package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/stream"
)

var kerrTopicExists = kerr.TopicAlreadyExists

// partition is the owner of partition p: one transactional producer, fenced by its
// transactional id <cluster>-p<p>, and the Redis epoch claimed after the producer was
// initialised (so a zombie is fenced in Kafka before it is fenced in Redis).
type partition struct {
	s     *Store
	p     int
	cl    *kgo.Client
	gen   string
	epoch int64
	dirty bool // heads in Redis may lag the log: catch up before the next commit
	log   *zap.Logger

	// headsDone receives the outcome of the heads write started after the last commit, or
	// is nil when none is in flight. That write runs in its own goroutine while the
	// pipeline answers the appends and gathers the next group; it has the partition to
	// itself, because every method below waits for it first (settle).
	headsDone chan struct{}
}

// settle waits for the heads write in flight, if any.
func (pt *partition) settle() {
	if pt.headsDone != nil {
		<-pt.headsDone
		pt.headsDone = nil
	}
}

// OpenPartition takes ownership of p and catches its heads up with the log.
func (s *Store) OpenPartition(ctx context.Context, p int) (appender.Partition, error) {
	pt := &partition{s: s, p: p, log: s.cfg.Logger.With(zap.Int("partition", p))}
	if err := pt.open(ctx); err != nil {
		pt.Close()
		return nil, err
	}
	return pt, nil
}

// open (re)creates the producer, which fences every earlier producer of p and aborts its
// open transaction, claims the Redis epoch and catches the heads up with the log.
func (pt *partition) open(ctx context.Context) error {
	if pt.cl != nil {
		pt.cl.Close()
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(pt.s.cfg.Kafka...),
		kgo.TransactionalID(fmt.Sprintf("%s-p%d", pt.s.cfg.Cluster, pt.p)),
		kgo.TransactionTimeout(pt.s.cfg.TxnTimeout),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(20*time.Second),
	)
	if err != nil {
		return fmt.Errorf("%w: producer: %v", appender.ErrUnavailable, err)
	}
	pt.cl = cl
	if _, _, err := cl.ProducerID(ctx); err != nil {
		return fmt.Errorf("%w: init producer of partition %d: %v", appender.ErrUnavailable, pt.p, err)
	}
	gen, fresh, err := pt.s.heads.generation(ctx)
	if err != nil {
		return fmt.Errorf("%w: redis: %v", appender.ErrUnavailable, err)
	}
	if fresh {
		pt.log.Warn("redis holds no generation: rebuilding heads from the log")
	}
	pt.gen = gen
	if pt.epoch, err = pt.s.heads.claim(ctx, pt.p, gen, pt.s.cfg.Address); err != nil {
		return fmt.Errorf("%w: claim partition %d: %v", appender.ErrUnavailable, pt.p, err)
	}
	pt.s.cfg.Metrics.setEpoch(pt.p, pt.epoch)
	return pt.catchUp(ctx)
}

func (pt *partition) Close() error {
	pt.settle()
	pt.s.cfg.Metrics.setEpoch(pt.p, 0)
	if pt.cl != nil {
		pt.cl.Close()
		pt.cl = nil
	}
	return nil
}

// Head reads a stream's head from Redis, first catching the heads up with the log if a
// write of heads failed after a commit: a head read while Redis lags the log would let a
// stale expectation pass.
func (pt *partition) Head(ctx context.Context, s stream.ID) (stream.Head, error) {
	pt.settle()
	if err := pt.ensureHeads(ctx); err != nil {
		return stream.Head{}, err
	}
	h, err := pt.s.heads.get(ctx, pt.gen, s)
	if errors.Is(err, errGeneration) {
		// Redis lost the heads since the last check: rebuild them before answering.
		pt.dirty = true
		if err := pt.ensureHeads(ctx); err != nil {
			return stream.Head{}, err
		}
		h, err = pt.s.heads.get(ctx, pt.gen, s)
	}
	return h, err
}

// ensureHeads makes the heads in Redis reflect the log again after a failed heads write.
// If Redis lost its generation (flushed, restarted empty), the partition is opened anew:
// a new generation, a new owner epoch and a rebuild of the heads from the log (I7).
func (pt *partition) ensureHeads(ctx context.Context) error {
	if !pt.dirty {
		return nil
	}
	err := pt.catchUp(ctx)
	if errors.Is(err, errGeneration) {
		pt.log.Warn("redis lost the heads (generation changed); rebuilding from the log")
		pt.s.cfg.Metrics.rebuilt(pt.p)
		err = pt.open(ctx)
	}
	if errors.Is(err, errFenced) {
		return fmt.Errorf("%w: %v", appender.ErrNotOwner, err)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", appender.ErrUnavailable, err)
	}
	return nil
}

// Recover re-opens the producer (fencing our own open transaction, if any) and catches the
// heads up with the log, which then says what the unknown commit did. If a newer owner has
// claimed the partition meanwhile, it does not re-open (that would fence the rightful
// owner) and returns ErrNotOwner.
func (pt *partition) Recover(ctx context.Context) error {
	pt.settle()
	if pt.superseded(ctx) {
		return fmt.Errorf("%w: partition %d has a newer owner", appender.ErrNotOwner, pt.p)
	}
	return pt.open(ctx)
}

// Confirm checks that this process still owns the partition under the current generation.
func (pt *partition) Confirm(ctx context.Context) error {
	pt.settle()
	gen, epoch, err := pt.s.heads.owner(ctx, pt.p)
	switch {
	case err != nil:
		return err
	case gen != pt.gen:
		pt.dirty = true // heads lost: the next Head or Commit re-opens and rebuilds them
		return fmt.Errorf("%w: redis lost the heads; rebuilding", appender.ErrUnavailable)
	case epoch != pt.epoch:
		return fmt.Errorf("%w: partition %d is owned at epoch %d, not %d", appender.ErrNotOwner, pt.p, epoch, pt.epoch)
	}
	return nil
}

// superseded reports whether Redis names a newer owner of the partition under the same
// generation. Errors and a changed generation say no: the caller may then re-open, which is
// safe (a re-open fences and catches up) though it may fence a newer owner for a moment.
func (pt *partition) superseded(ctx context.Context) bool {
	gen, epoch, err := pt.s.heads.owner(ctx, pt.p)
	return err == nil && gen == pt.gen && epoch != pt.epoch
}

// fenced reports whether a Kafka error says a newer producer holds the transactional id.
func fenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed)
}

// Commit writes the group in one Kafka transaction, then the heads in one Redis script.
func (pt *partition) Commit(ctx context.Context, group []appender.StreamAppend) ([][]stream.Position, error) {
	pt.settle()
	if err := pt.ensureHeads(ctx); err != nil {
		return nil, err
	}
	records, err := pt.records(ctx, group)
	if err != nil {
		return nil, err
	}
	if err := pt.cl.BeginTransaction(); err != nil {
		return nil, fmt.Errorf("%w: begin transaction: %v", appender.ErrUncertain, err)
	}
	if err := pt.cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		// Nothing can commit without EndTransaction(TryCommit); abort, and if even that
		// fails let Recover fence the transaction (unless a newer owner already did).
		if fenced(err) && pt.superseded(ctx) {
			return nil, fmt.Errorf("%w: produce: %v", appender.ErrNotOwner, err)
		}
		if aerr := pt.cl.EndTransaction(context.Background(), kgo.TryAbort); aerr != nil {
			return nil, fmt.Errorf("%w: produce: %v; abort: %v", appender.ErrUncertain, err, aerr)
		}
		return nil, fmt.Errorf("produce: %w", err)
	}
	if err := pt.cl.EndTransaction(context.Background(), kgo.TryCommit); err != nil {
		if fenced(err) && pt.superseded(ctx) {
			return nil, fmt.Errorf("%w: %w: commit: %v", appender.ErrUncertain, appender.ErrNotOwner, err)
		}
		return nil, fmt.Errorf("%w: commit: %v", appender.ErrUncertain, err)
	}
	positions, ups, ckpt := pt.outcome(group, records)
	pt.headsDone = make(chan struct{})
	go pt.writeHeads(ups, ckpt, pt.headsDone)
	return positions, nil
}

// writeHeads writes the heads of a committed group. The events are committed and their
// answers stand whatever happens here: the pipeline's own cache has the new heads, and if
// the write fails the heads are healed from the log (now, best effort, and again before the
// next Head or Commit if Redis is still away).
func (pt *partition) writeHeads(ups []headUpdate, ckpt map[string]int64, done chan struct{}) {
	defer close(done)
	ctx, cancel := context.WithTimeout(context.Background(), pt.s.cfg.TxnTimeout)
	defer cancel()
	if err := pt.s.heads.apply(ctx, pt.p, pt.gen, pt.epoch, ups, ckpt); err != nil {
		pt.log.Warn("heads not written after commit; catching up from the log", zap.Error(err))
		pt.dirty = true
		if err := pt.ensureHeads(ctx); err != nil {
			pt.log.Warn("catch-up after a failed heads write failed; will retry", zap.Error(err))
		}
	}
}

// records encodes the group, creating missing topics.
func (pt *partition) records(ctx context.Context, group []appender.StreamAppend) ([]*kgo.Record, error) {
	var out []*kgo.Record
	for _, sa := range group {
		topic := pt.s.Topic(sa.Stream.Type)
		if err := pt.s.ensureTopic(ctx, topic); err != nil {
			return nil, fmt.Errorf("%w: %v", appender.ErrUnavailable, err)
		}
		for _, e := range sa.Events {
			r, err := eventkafka.Encode(e, topic)
			if err != nil {
				return nil, fmt.Errorf("encode %s: %w", sa.Stream, err)
			}
			r.Partition = int32(pt.p)
			out = append(out, r)
		}
	}
	return out, nil
}

// outcome maps the produced records back to positions, head updates and checkpoints.
func (pt *partition) outcome(group []appender.StreamAppend, records []*kgo.Record) ([][]stream.Position, []headUpdate, map[string]int64) {
	positions := make([][]stream.Position, len(group))
	ups := make([]headUpdate, len(group))
	ckpt := map[string]int64{}
	i := 0
	for g, sa := range group {
		recents := make([]stream.Recent, len(sa.Events))
		for j, e := range sa.Events {
			r := records[i]
			i++
			pos := stream.Position{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
			positions[g] = append(positions[g], pos)
			recents[j] = stream.Recent{Source: e.Source(), EventID: e.ID(), Version: sa.Prior.Version + int64(j) + 1, Position: pos}
			ckpt[r.Topic] = max(ckpt[r.Topic], r.Offset+1)
		}
		ups[g] = headUpdate{stream: sa.Stream, prior: sa.Prior.Version, next: sa.Prior.Advance(recents)}
	}
	return positions, ups, ckpt
}

// catchUp reads partition p of every event topic, read_committed, from the heads'
// checkpoint to the last stable offset, and applies the events it finds to the heads.
func (pt *partition) catchUp(ctx context.Context) error {
	start := time.Now()
	ckpt, err := pt.s.heads.checkpoint(ctx, pt.p)
	if err != nil {
		return fmt.Errorf("%w: read checkpoint: %v", appender.ErrUnavailable, err)
	}
	topics, err := pt.s.eventTopics(ctx)
	if err != nil {
		return fmt.Errorf("%w: list topics: %v", appender.ErrUnavailable, err)
	}
	n := 0
	for _, t := range topics {
		c, err := pt.catchUpTopic(ctx, t, ckpt[t])
		if err != nil {
			return err
		}
		n += c
	}
	pt.dirty = false
	pt.s.cfg.Metrics.caughtUpEvents(pt.p, n)
	pt.log.Debug("caught up", zap.Int("events", n), zap.Strings("topics", topics), zap.Any("from", ckpt), zap.Duration("took", time.Since(start)))
	return nil
}

// catchUpTopic applies one topic's partition p from offset from to its last stable offset.
func (pt *partition) catchUpTopic(ctx context.Context, topic string, from int64) (int, error) {
	ends, err := pt.s.adm.ListCommittedOffsets(ctx, topic) // read_committed: the last stable offset
	if err != nil {
		return 0, fmt.Errorf("%w: end offsets of %s: %v", appender.ErrUnavailable, topic, err)
	}
	end, ok := ends.Lookup(topic, int32(pt.p))
	if !ok || end.Err != nil {
		return 0, fmt.Errorf("%w: end offset of %s/%d: %v", appender.ErrUnavailable, topic, pt.p, end.Err)
	}
	if from >= end.Offset {
		return 0, nil
	}
	app := newApplier(pt, topic, end.Offset)
	err = readRange(ctx, pt.s.cfg.Kafka, topic, int32(pt.p), from, end.Offset, app.add)
	if err == nil {
		err = app.flush(ctx)
	}
	if err != nil {
		return 0, fmt.Errorf("%w: catch up %s/%d: %w", appender.ErrUnavailable, topic, pt.p, err)
	}
	return app.n, nil
}

// applier accumulates heads from log records and writes them in batches.
type applier struct {
	pt      *partition
	topic   string
	end     int64
	ups     map[stream.ID]*headUpdate
	order   []stream.ID
	n       int
	lastOff int64
}

func newApplier(pt *partition, topic string, end int64) *applier {
	return &applier{pt: pt, topic: topic, end: end, ups: map[stream.ID]*headUpdate{}}
}

func (a *applier) add(ctx context.Context, r *kgo.Record) error {
	e, err := eventkafka.Decode(r)
	if err != nil {
		return fmt.Errorf("offset %d: %w", r.Offset, err)
	}
	s := stream.ID{Type: event.AggregateType(&e), ID: event.AggregateID(&e)}
	v, _, err := event.AggregateVersion(&e)
	if err != nil {
		return fmt.Errorf("offset %d: %w", r.Offset, err)
	}
	u, ok := a.ups[s]
	if !ok {
		h, err := a.pt.s.heads.get(ctx, a.pt.gen, s)
		if err != nil {
			return err
		}
		u = &headUpdate{stream: s, prior: h.Version, next: h}
		a.ups[s] = u
		a.order = append(a.order, s)
	}
	switch {
	case v <= u.next.Version: // already reflected
	case v == u.next.Version+1:
		pos := stream.Position{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
		u.next = u.next.Advance([]stream.Recent{{Source: e.Source(), EventID: e.ID(), Version: v, Position: pos}})
	default:
		return fmt.Errorf("offset %d: %s version %d follows version %d: the log has a gap", r.Offset, s, v, u.next.Version)
	}
	a.n++
	a.lastOff = r.Offset
	if len(a.ups) >= 1000 {
		return a.write(ctx, r.Offset+1)
	}
	return nil
}

func (a *applier) flush(ctx context.Context) error { return a.write(ctx, a.end) }

func (a *applier) write(ctx context.Context, ckpt int64) error {
	ups := make([]headUpdate, 0, len(a.order))
	for _, s := range a.order {
		ups = append(ups, *a.ups[s])
	}
	err := a.pt.s.heads.apply(ctx, a.pt.p, a.pt.gen, a.pt.epoch, ups, map[string]int64{a.topic: ckpt})
	if errors.Is(err, errGeneration) || errors.Is(err, errFenced) {
		return err
	}
	clear(a.ups)
	a.order = a.order[:0]
	return err
}
