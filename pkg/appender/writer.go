package appender

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/stream"
)

// op is one queued request: an append, or a head read.
type op struct {
	ctx   context.Context // the caller's; an op whose caller has gone is not admitted
	req   Request
	read  bool
	start time.Time

	// set by the writer before done is closed
	res  Result
	head stream.Head
	err  error
	done chan struct{}

	// group bookkeeping
	slot  int // index of the stream's StreamAppend in the group
	first int // index of this op's first event in that StreamAppend
}

func (o *op) finish(res Result, err error) {
	o.res, o.err = res, err
	close(o.done)
}

// writer is the single writer of one partition. All of its fields but the channels and
// opened are owned by its goroutine (run); other goroutines only send on queue, or stop it.
//
// Each round of run is one group commit:
//  1. take the first queued op, then every op already queued, up to the group limits;
//  2. check each append in arrival order against its stream's running head (the committed
//     head plus the appends accepted earlier in this group): a retry whose event ids are
//     the stream's latest events is answered with the original outcome and writes nothing;
//     a failed expectation is answered with a *stream.ConflictError;
//  3. stamp the accepted events with their versions and commit them, with the new heads,
//     in one Store commit (one Kafka transaction, or one synced embedded batch);
//  4. answer every accepted append from the commit's positions. If the outcome is unknown,
//     answer nobody until Recover has made the heads reflect the log, then answer each
//     append from its stream's head: committed, or not (ErrUnavailable; retry is safe).
//
// Answers given without a commit (conflicts, head reads, retries) come from the writer's
// own view of the heads; on a Fenceable partition the writer first confirms that it still
// owns the partition, so a writer that was paused while another took over never answers
// from a stale head. A writer that finds itself fenced stops: accepted appends whose
// outcome it cannot learn get ErrOutcomeUnknown, every other op ErrNotOwner.
//
// Invariants: the cache holds only committed heads; an op is answered exactly once; no
// answer says "committed" unless the Store said so or the recovered head shows it.
type writer struct {
	p     int
	part  Partition // nil until opened
	store Store
	cfg   Config
	queue chan *op
	cache map[stream.ID]cachedHead
	log   *zap.Logger
	fence bool // set when the partition turned out to belong to a newer owner

	ctx      context.Context // canceled when a stop's grace period ends
	cancel   context.CancelFunc
	stopCh   chan struct{} // closed by stop: finish the round in progress, then return
	stopOnce sync.Once
	exited   chan struct{} // closed when run returns
	opened   atomic.Bool
	closeErr error
	closed   sync.Once

	// Pipelining (a Pipelined partition that is not Fenceable): rounds are applied by run
	// and their answers given by complete, in order, once each round is durable.
	pipe     Pipelined
	inflight chan *completion
	broken   atomic.Bool // a sync failed: the partition answers nothing more
}

// stopGrace is how long stop lets a round in progress finish before canceling it.
const stopGrace = 10 * time.Second

func newWriter(p int, part Partition, store Store, cfg Config) *writer {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{p: p, part: part, store: store, cfg: cfg, queue: make(chan *op, cfg.QueueDepth),
		cache: make(map[stream.ID]cachedHead), log: cfg.Logger.With(zap.Int("partition", p)),
		ctx: ctx, cancel: cancel, stopCh: make(chan struct{}), exited: make(chan struct{})}
	w.opened.Store(part != nil)
	return w
}

func (w *writer) isOpen() bool { return w.opened.Load() }

// lost reports, after run returned, whether the writer stopped because it was fenced.
func (w *writer) lost() bool { return w.fence }

func (w *writer) run() {
	defer close(w.exited)
	if w.part == nil && !w.open() {
		return
	}
	if p, ok := w.part.(Pipelined); ok {
		if _, fenceable := w.part.(Fenceable); !fenceable {
			w.pipe = p
			w.inflight = make(chan *completion, w.cfg.PipelineDepth)
			completed := make(chan struct{})
			go w.complete(completed)
			defer func() { close(w.inflight); <-completed }() // every answer given before exited
		}
	}
	for !w.fence {
		var first *op
		select {
		case first = <-w.queue:
		case <-w.stopCh:
			return
		}
		if w.pipe != nil {
			// Let the goroutines that are ready to run (callers woken by the last sync,
			// about to append again) queue their ops first, so that one round takes them
			// all. With nothing else ready, this returns at once: a lone caller waits for
			// nothing. (Measured at 64 clients × 1 event on the embedded engine: rounds of
			// ~1.1 appends grew, 40 → 32 allocations per append, +15–25% appends/s.)
			runtime.Gosched()
			w.pipeRound(w.ctx, w.collect(first))
		} else {
			w.round(w.ctx, w.collect(first))
		}
	}
	w.log.Warn("partition lost to a newer owner; stopped writing it")
}

// open opens the partition, retrying until it succeeds or the writer is stopped.
func (w *writer) open() bool {
	start := time.Now()
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(w.ctx, w.cfg.OpenTimeout)
		part, err := w.store.OpenPartition(ctx, w.p)
		cancel()
		if err == nil {
			w.part = part
			w.opened.Store(true)
			w.cfg.Metrics.observeOpen(w.p, time.Since(start))
			w.log.Info("partition open", zap.Duration("took", time.Since(start)))
			return true
		}
		w.log.Warn("open partition failed; retrying", zap.Int("attempt", attempt), zap.Error(err))
		select {
		case <-w.stopCh:
			return false
		case <-w.ctx.Done():
			return false
		case <-time.After(backoff(attempt)):
		}
	}
}

// stop ends the writer: the round in progress may finish (for stopGrace), then every op
// still queued is answered with reason and the partition is closed. The writer must be
// unreachable for new ops (removed from Appender.parts) before stop is called.
func (w *writer) stop(reason error) error {
	w.stopOnce.Do(func() { close(w.stopCh) })
	select {
	case <-w.exited:
	case <-time.After(stopGrace):
		w.cancel()
		<-w.exited
	}
	return w.finish(reason)
}

// finish answers the ops still queued with reason and closes the partition (once).
func (w *writer) finish(reason error) error {
	w.cancel()
	for {
		select {
		case o := <-w.queue:
			o.finish(Result{}, fmt.Errorf("%w: partition %d", reason, w.p))
		default:
			w.closed.Do(func() {
				if w.part != nil {
					w.closeErr = w.part.Close()
				}
			})
			return w.closeErr
		}
	}
}

// collect takes first and then whatever is queued, up to the group limits.
func (w *writer) collect(first *op) []*op {
	ops := []*op{first}
	events := len(first.req.Events)
	for len(ops) < w.cfg.MaxGroupAppends && events < w.cfg.MaxGroupEvents {
		select {
		case o := <-w.queue:
			ops = append(ops, o)
			events += len(o.req.Events)
		default:
			return ops
		}
	}
	return ops
}

// owned turns an error that says the partition has a newer owner into the writer's stop.
func (w *writer) owned(err error) error {
	if errors.Is(err, ErrNotOwner) {
		w.fence = true
	}
	return err
}

func (w *writer) headOf(ctx context.Context, s stream.ID) (stream.Head, error) {
	c, err := w.cachedOf(ctx, s)
	return c.head, err
}

// cachedOf returns the cache entry of s's committed head, reading the head on a miss.
func (w *writer) cachedOf(ctx context.Context, s stream.ID) (cachedHead, error) {
	if c, ok := w.cache[s]; ok {
		return c, nil
	}
	h, err := w.part.Head(ctx, s)
	if err != nil {
		if errors.Is(w.owned(err), ErrNotOwner) {
			return cachedHead{}, err
		}
		return cachedHead{}, fmt.Errorf("%w: read head of %s: %v", ErrUnavailable, s, err)
	}
	if len(w.cache) >= w.cfg.HeadCacheSize {
		clear(w.cache)
	}
	c := cachedHead{head: h, sums: idSums(h.Recent)}
	w.cache[s] = c
	return c, nil
}

// confirm checks, on a Fenceable partition, that the writer still owns it, before answers
// that no commit of this round vouches for. It returns the error to answer them with.
func (w *writer) confirm(ctx context.Context) error {
	f, ok := w.part.(Fenceable)
	if !ok {
		return nil
	}
	err := f.Confirm(ctx)
	if err == nil {
		return nil
	}
	if errors.Is(w.owned(err), ErrNotOwner) {
		return err
	}
	return fmt.Errorf("%w: confirm ownership: %v", ErrUnavailable, err)
}

// round runs one group commit over ops.
func (w *writer) round(ctx context.Context, ops []*op) {
	g := newGroup()
	for _, o := range ops {
		w.admit(ctx, g, o)
	}
	w.answerNow(ctx, g)
	if len(g.appends) == 0 || w.fence {
		for _, o := range g.accepted { // admitted before the fence was found: nothing written
			o.finish(Result{}, fmt.Errorf("%w: partition %d", ErrNotOwner, w.p))
		}
		w.answerDuplicates(ctx, g, false)
		return
	}
	w.cfg.Metrics.observeGroup(len(g.accepted), g.events)
	positions, err := w.part.Commit(ctx, g.appends)
	switch {
	case err == nil:
		w.answerCommitted(g, positions)
	case errors.Is(err, ErrUncertain) && errors.Is(w.owned(err), ErrNotOwner):
		w.cfg.Metrics.incUncertain()
		w.log.Warn("fenced while committing: outcome unknown", zap.Error(err))
		for _, sa := range g.appends {
			delete(w.cache, sa.Stream)
		}
		for _, o := range g.accepted {
			o.finish(Result{}, fmt.Errorf("%w: fenced while committing: %v", ErrOutcomeUnknown, err))
		}
	case errors.Is(err, ErrUncertain):
		w.cfg.Metrics.incUncertain()
		w.log.Warn("commit outcome unknown; recovering", zap.Error(err))
		w.recover(ctx, g)
	case errors.Is(w.owned(err), ErrNotOwner):
		w.cfg.Metrics.incAborted()
		for _, o := range g.accepted {
			o.finish(Result{}, err)
		}
	default:
		w.cfg.Metrics.incAborted()
		for _, o := range g.accepted {
			o.finish(Result{}, fmt.Errorf("%w: %w", ErrUnavailable, err)) // keeps typed causes (embedded.ErrDiskFull)
		}
	}
	w.answerDuplicates(ctx, g, err == nil)
}

// group is the state of one round.
type group struct {
	appends  []StreamAppend
	running  map[stream.ID]*running // committed head + accepted appends (positions unknown)
	slots    map[stream.ID]int
	accepted []*op
	now      []answer // decided without a commit; given once ownership is confirmed
	dups     []*op    // wait for this round's commit (retries, reads, deferred conflicts)
	events   int
}

func newGroup() *group {
	return &group{running: map[stream.ID]*running{}, slots: map[stream.ID]int{}}
}

// answer is an op's decided outcome.
type answer struct {
	o   *op
	res Result
	err error
}

// answerNow gives the answers decided without a commit, after confirming ownership.
func (w *writer) answerNow(ctx context.Context, g *group) {
	if len(g.now) == 0 {
		return
	}
	cerr := w.confirm(ctx)
	for _, a := range g.now {
		if cerr != nil {
			a.res, a.err = Result{}, cerr
		} else {
			w.countConflict(a.err)
		}
		a.o.finish(a.res, a.err)
	}
}

// countConflict counts err in the metrics if it is an expected-version conflict.
func (w *writer) countConflict(err error) {
	var ce *stream.ConflictError
	if errors.As(err, &ce) {
		w.cfg.Metrics.incConflict()
	}
}

// admit checks one op against the running head and either decides it or adds it to g.
func (w *writer) admit(ctx context.Context, g *group, o *op) {
	if o.ctx != nil && o.ctx.Err() != nil {
		o.finish(Result{}, o.ctx.Err()) // the caller has gone: write nothing for it
		return
	}
	s := o.req.Stream
	head, ok := g.running[s]
	if !ok {
		c, err := w.cachedOf(ctx, s)
		if err != nil {
			o.finish(Result{}, err)
			return
		}
		head = &running{Pending: stream.Pending{Prior: c.head}, sums: c.headSums()}
		g.running[s] = head
	}
	if o.read {
		if _, pending := g.slots[s]; pending {
			g.dups = append(g.dups, o) // answer after the commit, with the new head
			return
		}
		o.head = head.Prior
		g.now = append(g.now, answer{o: o})
		return
	}
	if res, found, err := retryOutcome(head, o.req.Events); found || err != nil {
		if err == nil && res.Positions == nil {
			g.dups = append(g.dups, o)
			return
		}
		g.now = append(g.now, answer{o: o, res: res, err: err})
		return
	}
	if err := stream.Check(s, o.req.Expected, head.Version()); err != nil {
		if _, pending := g.slots[s]; pending {
			// The running head includes appends not committed yet: if their commit fails,
			// this conflict would name a version the stream never had. Decide after it.
			g.dups = append(g.dups, o)
			return
		}
		g.now = append(g.now, answer{o: o, err: err})
		return
	}
	w.accept(g, o, head)
}

// accept stamps o's events and adds them to the group and to the stream's running head.
func (w *writer) accept(g *group, o *op, head *running) {
	s := o.req.Stream
	slot, ok := g.slots[s]
	if !ok {
		slot = len(g.appends)
		g.slots[s] = slot
		g.appends = append(g.appends, StreamAppend{Stream: s, Prior: head.Prior})
	}
	sa := &g.appends[slot]
	o.slot, o.first = slot, len(sa.Events)
	for _, e := range o.req.Events {
		v := head.Version() + 1
		event.Stamp(e, s.Type, s.ID, v)
		head.Added = append(head.Added, stream.Recent{Source: event.Source(e), EventID: e.ID(), Version: v})
	}
	sa.Events = append(sa.Events, o.req.Events...)
	g.accepted = append(g.accepted, o)
	g.events += len(o.req.Events)
}

// finder looks up a stream's recent events: a stream.Head, or a stream.Pending.
type finder interface {
	Find(source, id string) (stream.Recent, bool)
}

// retryOutcome recognises a retry: found is true when the first event's (source, id) is
// among head's recent events. A committed retry has Positions; one that matches an append
// accepted earlier in the same group has none yet (positions are zero).
func retryOutcome(head finder, events []*event.Event) (Result, bool, error) {
	first, ok := head.Find(event.Source(events[0]), events[0].ID())
	if !ok {
		return Result{}, false, nil
	}
	res := Result{Version: first.Version + int64(len(events)) - 1, Duplicate: true}
	pending := false
	for i, e := range events {
		r, ok := head.Find(event.Source(e), e.ID())
		if !ok || r.Version != first.Version+int64(i) {
			return Result{}, true, fmt.Errorf("%w: event %d (source %q, id %q)", ErrPartialRetry, i, event.Source(e), e.ID())
		}
		pending = pending || r.Position == (stream.Position{})
		res.Positions = append(res.Positions, r.Position)
	}
	if pending {
		res.Positions = nil
	}
	return res, true, nil
}

// answerCommitted caches the new heads and answers every accepted append.
func (w *writer) answerCommitted(g *group, positions [][]stream.Position) {
	for _, a := range w.committed(g, positions) {
		a.o.finish(a.res, nil)
	}
}

// committed caches the new heads of a committed group and returns its appends' answers.
func (w *writer) committed(g *group, positions [][]stream.Position) []answer {
	for i, sa := range g.appends {
		recents := make([]stream.Recent, len(sa.Events))
		for j, e := range sa.Events {
			recents[j] = stream.Recent{Source: event.Source(e), EventID: e.ID(),
				Version: sa.Prior.Version + int64(j) + 1, Position: positions[i][j]}
		}
		w.cache[sa.Stream] = w.cachedFor(sa.Stream, sa.Prior).advance(recents)
	}
	answers := make([]answer, len(g.accepted))
	for i, o := range g.accepted {
		sa := g.appends[o.slot]
		n := len(o.req.Events)
		answers[i] = answer{o: o, res: Result{Version: sa.Prior.Version + int64(o.first+n), Positions: positions[o.slot][o.first : o.first+n]}}
	}
	return answers
}

// cachedFor returns the cache entry whose head is prior, or one without spare room.
func (w *writer) cachedFor(s stream.ID, prior stream.Head) cachedHead {
	if c, ok := w.cache[s]; ok && c.head.Version == prior.Version && len(c.head.Recent) == len(prior.Recent) &&
		(len(prior.Recent) == 0 || &c.head.Recent[0] == &prior.Recent[0]) {
		return c
	}
	return cachedHead{head: prior}
}

// cachedHead is a committed head and the array its recents live in. head.Recent is a
// slice of buf whose capacity ends where it ends, so no holder of the head can append to
// it; buf's room after it is used only by this entry's successor. A stream's cache entry
// advances at most once (when the next group commits, which replaces the entry), so
// committing an append copies its own recents instead of the whole window (64 recents, a
// few KB) and allocates a new array once per RecentWindow events.
//
// sums holds the idSum of each of buf's recents, in the same places (or, for an entry
// without buf, of head.Recent's), and grows the same way: every append looks through its
// stream's recents for a retry, and comparing sums spares it reading 64 ids.
type cachedHead struct {
	head stream.Head
	buf  []stream.Recent // head.Recent == buf[len(buf)-len(head.Recent):len(buf):len(buf)]
	sums []uint32        // len(sums) == len(buf), or == len(head.Recent) when buf is nil; nil: not known
}

// headSums returns the idSums of c.head.Recent.
func (c cachedHead) headSums() []uint32 {
	if len(c.sums) < len(c.head.Recent) {
		return idSums(c.head.Recent)
	}
	return c.sums[len(c.sums)-len(c.head.Recent) : len(c.sums) : len(c.sums)]
}

// advance returns the entry of c.head.Advance(added).
func (c cachedHead) advance(added []stream.Recent) cachedHead {
	version := c.head.Version + int64(len(added))
	if len(added) == 0 {
		return cachedHead{head: stream.Head{Version: version, Recent: c.head.Recent}, buf: c.buf, sums: c.sums}
	}
	buf, sums := c.buf, c.sums
	if len(buf)+len(added) > cap(buf) || len(added) > stream.RecentWindow || len(sums) != len(buf) {
		var older []stream.Recent
		older, added = stream.Window(c.head.Recent, added)
		olderSums := c.headSums()
		buf = append(make([]stream.Recent, 0, 2*stream.RecentWindow), older...)
		sums = append(make([]uint32, 0, 2*stream.RecentWindow), olderSums[len(olderSums)-len(older):]...)
	}
	buf = append(buf, added...)
	for _, r := range added {
		sums = append(sums, idSum(r.EventID))
	}
	start := max(len(buf)-len(c.head.Recent)-len(added), len(buf)-stream.RecentWindow, 0)
	return cachedHead{head: stream.Head{Version: version, Recent: buf[start:len(buf):len(buf)]}, buf: buf, sums: sums}
}

// idSeed seeds idSum.
var idSeed = maphash.MakeSeed()

// idSum is a short hash of an event id: equal ids have equal sums.
func idSum(id string) uint32 { return uint32(maphash.String(idSeed, id)) }

// idSums returns the idSum of each recent's event id.
func idSums(recents []stream.Recent) []uint32 {
	sums := make([]uint32, len(recents))
	for i, r := range recents {
		sums[i] = idSum(r.EventID)
	}
	return sums
}

// running is a stream's head during a round: the committed head and the appends accepted
// so far in the round, with the idSums of the committed head's recents.
type running struct {
	stream.Pending
	sums []uint32 // sums[i] == idSum(Prior.Recent[i].EventID)
}

// Find answers as stream.Pending.Find, comparing the committed recents' sums before their
// ids.
func (r *running) Find(source, id string) (stream.Recent, bool) {
	older, added := stream.Window(r.Prior.Recent, r.Added)
	for _, rec := range added {
		if rec.EventID == id && rec.Source == source {
			return rec, true
		}
	}
	sums, sum := r.sums[len(r.sums)-len(older):], idSum(id)
	for i, s := range sums {
		if s == sum && older[i].EventID == id && older[i].Source == source {
			return older[i], true
		}
	}
	return stream.Recent{}, false
}

// recover resolves an unknown outcome, then answers each accepted append from its head.
func (w *writer) recover(ctx context.Context, g *group) {
	for _, sa := range g.appends {
		delete(w.cache, sa.Stream)
	}
	for attempt := 0; ; attempt++ {
		err := w.part.Recover(ctx)
		if err == nil {
			break
		}
		if errors.Is(w.owned(err), ErrNotOwner) {
			for _, o := range g.accepted {
				o.finish(Result{}, fmt.Errorf("%w: lost the partition while recovering: %v", ErrOutcomeUnknown, err))
			}
			return
		}
		w.log.Warn("recover failed; retrying", zap.Int("attempt", attempt), zap.Error(err))
		select {
		case <-ctx.Done():
			for _, o := range g.accepted {
				o.finish(Result{}, fmt.Errorf("%w: stopped before the log said", ErrOutcomeUnknown))
			}
			return
		case <-time.After(backoff(attempt)):
		}
	}
	for _, o := range g.accepted {
		head, err := w.headOf(ctx, o.req.Stream)
		if err != nil {
			o.finish(Result{}, err)
			continue
		}
		res, found, err := retryOutcome(head, o.req.Events)
		if !found && err == nil {
			err = fmt.Errorf("%w: the commit was aborted", ErrUnavailable)
		}
		res.Duplicate = false // this append's own commit, learned from the log
		o.finish(res, err)
	}
}

// answerDuplicates answers the ops that waited for this round's commit. Unless the commit
// succeeded (which proves ownership), ownership is confirmed first.
func (w *writer) answerDuplicates(ctx context.Context, g *group, committed bool) {
	for _, a := range w.duplicates(ctx, g, committed) {
		a.o.finish(a.res, a.err)
	}
}

// duplicates decides the ops that waited for this round's commit (see answerDuplicates).
func (w *writer) duplicates(ctx context.Context, g *group, committed bool) []answer {
	if len(g.dups) == 0 {
		return nil
	}
	answers := make([]answer, 0, len(g.dups))
	if !committed {
		if err := w.confirm(ctx); err != nil {
			for _, o := range g.dups {
				answers = append(answers, answer{o: o, err: err})
			}
			return answers
		}
	}
	for _, o := range g.dups {
		head, err := w.headOf(ctx, o.req.Stream)
		if err != nil {
			answers = append(answers, answer{o: o, err: err})
			continue
		}
		if o.read {
			o.head = head
			answers = append(answers, answer{o: o})
			continue
		}
		res, found, err := retryOutcome(head, o.req.Events)
		if !found && err == nil {
			err = w.deferredOutcome(o, head)
		}
		answers = append(answers, answer{o: o, res: res, err: err})
	}
	return answers
}

// deferredOutcome answers an op that waited for this round's commit and is not a retry of
// a committed append: its expectation, checked against the committed head, failed while
// the group was pending. If it still fails it is a conflict; if the pending appends did
// not commit it may have passed, so it is refused as unavailable (nothing was written by
// it; retrying is safe).
func (w *writer) deferredOutcome(o *op, head stream.Head) error {
	if err := stream.Check(o.req.Stream, o.req.Expected, head.Version); err != nil {
		w.cfg.Metrics.incConflict()
		return err
	}
	return fmt.Errorf("%w: the appends it was checked against were not committed; retry", ErrUnavailable)
}

func backoff(attempt int) time.Duration {
	d := 50 * time.Millisecond << min(attempt, 6)
	return min(d, 2*time.Second)
}

// completion is a pipelined round waiting for its sync: the answers to give once it is
// durable (accepted: the appends it wrote; others: decided against heads that include it
// and the rounds before it).
type completion struct {
	wait     func() error // nil when the round wrote nothing
	accepted []answer
	others   []answer
}

// pipeRound is round for a Pipelined partition: it checks ops against the heads of every
// round applied so far (synced or not), applies the group, caches the new heads at once,
// and leaves every answer to complete, which gives them after this round's sync. An Apply
// error wrote nothing, so the heads stay as they were. Nothing here needs Confirm: a
// Pipelined partition is used this way only if it is not Fenceable.
func (w *writer) pipeRound(ctx context.Context, ops []*op) {
	if w.broken.Load() {
		for _, o := range ops {
			o.finish(Result{}, fmt.Errorf("%w: partition %d stopped after a failed sync", ErrUnavailable, w.p))
		}
		return
	}
	g := newGroup()
	for _, o := range ops {
		w.admit(ctx, g, o)
	}
	c := &completion{others: g.now}
	for _, a := range g.now {
		w.countConflict(a.err)
	}
	committed := false
	if len(g.appends) > 0 {
		w.cfg.Metrics.observeGroup(len(g.accepted), g.events)
		positions, wait, err := w.pipe.Apply(ctx, g.appends)
		if err == nil {
			committed, c.wait = true, wait
			c.accepted = w.committed(g, positions)
		} else {
			w.cfg.Metrics.incAborted()
			for _, o := range g.accepted {
				c.others = append(c.others, answer{o: o, err: fmt.Errorf("%w: %w", ErrUnavailable, err)})
			}
		}
	}
	c.others = append(c.others, w.duplicates(ctx, g, committed)...)
	w.inflight <- c
}

// complete gives the answers of pipelined rounds in order, each after its round's sync
// (and so after every earlier round's). If a sync fails, the partition's heads can no
// longer be trusted: the round's appends get ErrOutcomeUnknown, every answer that depended
// on it ErrUnavailable, and the writer refuses everything after (broken).
func (w *writer) complete(done chan<- struct{}) {
	defer close(done)
	var failed error
	for c := range w.inflight {
		if c.wait != nil && failed == nil {
			if err := c.wait(); err != nil {
				failed = err
				w.broken.Store(true)
				w.cfg.Metrics.incUncertain()
				w.log.Error("sync failed: outcome unknown; the partition stops", zap.Error(err))
			}
		}
		if failed != nil {
			for _, a := range c.accepted {
				a.o.finish(Result{}, fmt.Errorf("%w: %v", ErrOutcomeUnknown, failed))
			}
			for _, a := range c.others {
				a.o.finish(Result{}, fmt.Errorf("%w: partition %d: an earlier sync failed: %v", ErrUnavailable, w.p, failed))
			}
			continue
		}
		for _, a := range c.accepted {
			a.o.finish(a.res, nil)
		}
		for _, a := range c.others {
			a.o.finish(a.res, a.err)
		}
	}
}
