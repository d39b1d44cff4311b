package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
//
// The pipeline calls one method at a time. Besides it, only the goroutine of a failed heads
// write touches the partition's state, to heal the heads (healAfter); mu serialises the
// two. Lock order: pt.mu before Store.mu.
type partition struct {
	s   *Store
	p   int
	log *zap.Logger

	txnLog *txnLog // the producer's logger; tells Commit which EndTxn request it sent

	mu     sync.Mutex // guards the fields below; every method holds it for its whole run
	cl     *kgo.Client
	gen    string
	epoch  int64
	dirty  bool // heads in Redis may lag the log: catch up before the next commit
	closed bool
	ended  time.Time // when the last transaction ended (Config.TxnGap)

	// pending is the heads write started after the last commit, or nil when none is in
	// flight. It runs in its own goroutine while the pipeline answers the appends, gathers
	// the next group and commits that group's transaction: it reads nothing of the
	// partition that changes and reports its error on the headsWrite. Commit waits for it
	// (settle) after its own transaction and before it starts the next heads write, so
	// heads writes happen in commit order; every other method waits for it first.
	pending *headsWrite
	writes  sync.WaitGroup // heads-write goroutines; Close waits for them

	// written is, per topic, the end offset of the last transaction this process committed
	// to partition p. A catch-up reads at least that far, waiting for the last stable
	// offset to pass it: EndTxn returns before the transaction's markers are written, and
	// a catch-up that stopped short would leave heads behind the log.
	written map[string]int64
}

// headsWrite is one heads write in flight; err is set before done is closed.
type headsWrite struct {
	done chan struct{}
	err  error
}

// settle waits for the heads write in flight, if any. If it failed, the heads may lag the
// log: they are marked dirty, and are caught up before the next Head or Commit, or by the
// failed write's goroutine as soon as the pipeline leaves the partition alone.
func (pt *partition) settle() {
	if pt.pending == nil {
		return
	}
	<-pt.pending.done
	if err := pt.pending.err; err != nil {
		pt.log.Warn("heads not written after commit; catching up from the log", zap.Error(err))
		pt.dirty = true
	}
	pt.pending = nil
}

// OpenPartition takes ownership of p and catches its heads up with the log.
func (s *Store) OpenPartition(ctx context.Context, p int) (appender.Partition, error) {
	log := s.cfg.Logger.With(zap.Int("partition", p))
	pt := &partition{s: s, p: p, log: log, txnLog: &txnLog{log: log}, written: map[string]int64{}}
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
		kgo.WithLogger(pt.txnLog),
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
	pt.mu.Lock()
	pt.settle()
	pt.closed = true
	pt.s.cfg.Metrics.setEpoch(pt.p, 0)
	if pt.cl != nil {
		pt.cl.Close()
		pt.cl = nil
	}
	pt.mu.Unlock()
	pt.writes.Wait()
	return nil
}

// Head reads a stream's head from Redis, first catching the heads up with the log if a
// write of heads failed after a commit: a head read while Redis lags the log would let a
// stale expectation pass.
func (pt *partition) Head(ctx context.Context, s stream.ID) (stream.Head, error) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
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
	pt.settle() // none is in flight while dirty (Commit starts none then); this keeps it so
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
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pt.reopen(ctx)
}

// reopen is Recover with pt.mu held: a new producer, unless a newer owner holds p.
func (pt *partition) reopen(ctx context.Context) error {
	pt.settle()
	if pt.superseded(ctx) {
		return fmt.Errorf("%w: partition %d has a newer owner", appender.ErrNotOwner, pt.p)
	}
	return pt.open(ctx)
}

// Confirm checks that this process still owns the partition under the current generation.
func (pt *partition) Confirm(ctx context.Context) error {
	pt.mu.Lock()
	defer pt.mu.Unlock()
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

// Commit writes the group in one Kafka transaction, then starts writing its heads in one
// Redis script, which runs while the pipeline answers and commits the next group.
//
// Steps, and why each is safe:
//  1. If the heads are known to lag the log (dirty), catch them up first.
//  2. Commit the group's transaction (its first produce no sooner than Config.TxnGap after
//     the previous transaction ended) while the previous group's heads write may still be
//     in flight. The group was checked against the pipeline's own heads, which include
//     the previous group whether or not Redis has it yet; Kafka fences a stale owner.
//     The group counts as committed only if the client sent an EndTxn commit for it
//     (txnLog, transact): a failed produce, a failed EndTxn, or a nil return without that
//     request is an unknown outcome, which Recover settles from the log.
//  3. Wait for the previous heads write (settle). If it failed, the heads are dirty: write
//     nothing now. The failed write's goroutine catches the heads up from the log as soon
//     as Commit returns (healAfter), this group included (see written), and the next Head
//     or Commit does if that fails. Otherwise start this group's heads write; each write
//     checks the heads the one before it left (compare-and-set on the prior version).
func (pt *partition) Commit(ctx context.Context, group []appender.StreamAppend) ([][]stream.Position, error) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if err := pt.ensureHeads(ctx); err != nil {
		return nil, err
	}
	records, err := pt.transact(ctx, group)
	if err != nil {
		return nil, err
	}
	positions, ups, ckpt := pt.outcome(group, records)
	for t, end := range ckpt {
		pt.written[t] = max(pt.written[t], end)
	}
	pt.settle()
	if !pt.dirty {
		pt.pending = pt.writeHeads(ups, ckpt)
	}
	return positions, nil
}

// transact writes the group in one Kafka transaction and returns its records, offsets set,
// once the client has sent the EndTxn commit and the broker accepted it.
//
// If the client answers the commit with an EndTxn abort that the broker accepted (txnLog:
// franz-go does so when its state misses a successful produce, seen on a fresh client's
// first transaction), the group is known not to be in the log: the producer is re-opened
// and the group written once more, in a new transaction, from newly encoded records. Any
// other end without a commit request is an unknown outcome (ErrUncertain).
func (pt *partition) transact(ctx context.Context, group []appender.StreamAppend) ([]*kgo.Record, error) {
	for attempt := 0; ; attempt++ {
		records, err := pt.records(ctx, group)
		if err != nil {
			return nil, err
		}
		pt.pace(ctx)
		if err := pt.cl.BeginTransaction(); err != nil {
			return nil, fmt.Errorf("%w: begin transaction: %v", appender.ErrUncertain, err)
		}
		if err := pt.cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
			// Part of the group may be written. Nothing commits without an EndTxn commit,
			// but the client's abort is not to be trusted either (it may send no request):
			// Recover re-opens the producer, which aborts whatever is open, and reads the
			// outcome from the log. A newer owner has already fenced it.
			pt.ended = time.Now()
			if fenced(err) && pt.superseded(ctx) {
				return nil, fmt.Errorf("%w: produce: %v", appender.ErrNotOwner, err)
			}
			return nil, fmt.Errorf("%w: produce: %v", appender.ErrUncertain, err)
		}
		pt.txnLog.begin()
		err = pt.cl.EndTransaction(context.Background(), kgo.TryCommit)
		pt.ended = time.Now()
		switch {
		case err != nil:
			if fenced(err) && pt.superseded(ctx) {
				return nil, fmt.Errorf("%w: %w: commit: %v", appender.ErrUncertain, appender.ErrNotOwner, err)
			}
			return nil, fmt.Errorf("%w: commit: %v", appender.ErrUncertain, err)
		case pt.txnLog.sentCommit():
			return records, nil
		case pt.txnLog.sentAbort() && attempt == 0:
			pt.s.cfg.Metrics.clientAborted(pt.p)
			pt.log.Warn("the Kafka client aborted a transaction it was asked to commit; writing the group again with a new producer",
				zap.Int("records", len(records)), zap.Int64("first_offset", records[0].Offset))
			// The client's state missed a produce, so it is not trusted further (its
			// sequence numbers were seen to be off after this): a new producer, as in
			// Recover, unless a newer owner holds the partition.
			if err := pt.reopen(ctx); errors.Is(err, appender.ErrNotOwner) {
				return nil, err
			} else if err != nil {
				return nil, fmt.Errorf("%w: re-open after the client aborted the commit: %v", appender.ErrUncertain, err)
			}
		default:
			return nil, fmt.Errorf("%w: commit: the Kafka client ended the transaction without an EndTxn commit", appender.ErrUncertain)
		}
	}
}

// pace waits, if the previous transaction ended less than Config.TxnGap ago, until it has
// been that long: a produce sent while that transaction's markers are still being written
// would wait far longer on the broker.
func (pt *partition) pace(ctx context.Context) {
	wait := pt.s.cfg.TxnGap - time.Since(pt.ended)
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// writeHeads starts writing the heads of a committed group in a goroutine of its own. The
// events are committed and their answers stand whatever happens there: the pipeline's own
// cache has the new heads. If the write fails, the heads are caught up from the log
// (healAfter), and again before the next Head or Commit if that failed too.
func (pt *partition) writeHeads(ups []headUpdate, ckpt map[string]int64) *headsWrite {
	w := &headsWrite{done: make(chan struct{})}
	h, p, gen, epoch := pt.s.heads, pt.p, pt.gen, pt.epoch
	pt.writes.Add(1)
	go func() {
		defer pt.writes.Done()
		ctx, cancel := context.WithTimeout(context.Background(), pt.s.cfg.TxnTimeout)
		defer cancel()
		w.err = h.apply(ctx, p, gen, epoch, ups, ckpt)
		close(w.done)
		if w.err != nil {
			pt.healAfter(w)
		}
	}()
	return w
}

// healAfter catches the heads up with the log after the heads write w failed, as soon as
// the pipeline is not in a method of the partition (it may have settled w meanwhile, and
// then either healed already or left the heads dirty). Best effort: if it fails, the
// heads stay dirty and the next Head or Commit tries again.
func (pt *partition) healAfter(w *headsWrite) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.closed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), pt.s.cfg.TxnTimeout)
	defer cancel()
	if pt.pending == w {
		pt.settle()
	}
	if err := pt.ensureHeads(ctx); err != nil {
		pt.log.Warn("catch-up after a failed heads write failed; will retry", zap.Error(err))
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
	end, err := pt.stableEnd(ctx, topic)
	if err != nil {
		return 0, err
	}
	if from >= end {
		return 0, nil
	}
	app := newApplier(pt, topic, end)
	err = readRange(ctx, pt.s.cfg.Kafka, topic, int32(pt.p), from, end, app.add)
	if err == nil {
		err = app.flush(ctx)
	}
	if err != nil {
		return 0, fmt.Errorf("%w: catch up %s/%d: %w", appender.ErrUnavailable, topic, pt.p, err)
	}
	return app.n, nil
}

// stableEnd returns the last stable offset of topic's partition p once it has reached the
// end of this process's last committed transaction there (written): EndTxn returns before
// the transaction's markers are written, and until they are the LSO stays below it.
func (pt *partition) stableEnd(ctx context.Context, topic string) (int64, error) {
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		ends, err := pt.s.adm.ListCommittedOffsets(ctx, topic) // read_committed: the last stable offset
		if err != nil {
			return 0, fmt.Errorf("%w: end offsets of %s: %v", appender.ErrUnavailable, topic, err)
		}
		end, ok := ends.Lookup(topic, int32(pt.p))
		if !ok || end.Err != nil {
			return 0, fmt.Errorf("%w: end offset of %s/%d: %v", appender.ErrUnavailable, topic, pt.p, end.Err)
		}
		if end.Offset >= pt.written[topic] {
			return end.Offset, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: %s/%d: last stable offset %d stays below our last commit's end %d: %v",
				appender.ErrUnavailable, topic, pt.p, end.Offset, pt.written[topic], ctx.Err())
		case <-time.After(wait):
		}
	}
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
