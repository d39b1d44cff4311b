package appender

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/stream"
)

// Config tunes the pipeline. Zero fields take the defaults.
type Config struct {
	MaxGroupAppends int           // appends in one group commit; default 512
	MaxGroupEvents  int           // events in one group commit; default 4096
	QueueDepth      int           // appends waiting per partition before Append blocks; default 4096
	HeadCacheSize   int           // heads cached per partition; default 100,000 (then the cache is reset)
	PipelineDepth   int           // rounds applied but not yet synced, per Pipelined partition; default 16
	OpenTimeout     time.Duration // per partition; default 60s
	Limits          event.Limits  // bounds of each event; zero fields take event.DefaultLimits
	Logger          *zap.Logger   // default: no logging
	Metrics         *Metrics      // default: none
}

// Validate reports nonsensical settings.
func (c Config) Validate() error {
	if c.MaxGroupAppends < 0 || c.MaxGroupEvents < 0 || c.QueueDepth < 0 || c.HeadCacheSize < 0 || c.PipelineDepth < 0 {
		return errors.New("appender: limits must not be negative")
	}
	return nil
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MaxGroupAppends, 512)
	def(&c.MaxGroupEvents, 4096)
	def(&c.QueueDepth, 4096)
	def(&c.HeadCacheSize, 100_000)
	def(&c.PipelineDepth, 16)
	if c.OpenTimeout == 0 {
		c.OpenTimeout = 60 * time.Second
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// Request is one append: events for one stream, under an expectation of its version.
type Request struct {
	Stream   stream.ID
	Expected stream.Expected
	Events   []*event.Event // valid CloudEvents; the pipeline stamps the Strata extensions
}

// Result is a committed append.
type Result struct {
	Version   int64             // the stream's version after the append (its last event's version)
	Positions []stream.Position // one per event
	Duplicate bool              // the events were already committed: this is the original outcome
}

// Appender is the append pipeline over a Store: one writer goroutine per owned partition,
// each running group commits. It is safe for concurrent use.
//
// Ownership: New opens every partition; NewDynamic opens none, and the caller (the group
// membership of a distributed deployment) calls Acquire and Release as partitions move
// between processes. An append to a partition this process does not own fails with
// ErrNotOwner, so that the caller can send it to the owner. A partition whose writer finds
// itself fenced by a newer owner releases itself.
type Appender struct {
	cfg   Config
	store Store

	mu     sync.RWMutex // guards parts and closed; submitters hold it shared while they queue
	parts  []*writer    // index p; nil when p is not owned here
	closed bool

	wg sync.WaitGroup // one per writer goroutine
}

// New opens every partition of store and starts their writers; it fails if one cannot be
// opened within cfg.OpenTimeout.
func New(ctx context.Context, store Store, cfg Config) (*Appender, error) {
	a, err := NewDynamic(store, cfg)
	if err != nil {
		return nil, err
	}
	for p := 0; p < store.Partitions(); p++ {
		octx, ocancel := context.WithTimeout(ctx, a.cfg.OpenTimeout)
		part, err := store.OpenPartition(octx, p)
		ocancel()
		if err != nil {
			_ = a.Close()
			return nil, fmt.Errorf("appender: open partition %d: %w", p, err)
		}
		a.start(p, part)
		a.cfg.Metrics.setOwned(p, 1)
	}
	return a, nil
}

// NewDynamic returns a pipeline that owns no partition until Acquire.
func NewDynamic(store Store, cfg Config) (*Appender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Appender{cfg: cfg, store: store, parts: make([]*writer, store.Partitions())}, nil
}

// start runs a writer for p; part is nil when the writer must open it first.
func (a *Appender) start(p int, part Partition) *writer {
	w := newWriter(p, part, a.store, a.cfg)
	a.mu.Lock()
	a.parts[p] = w
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		w.run()
		if w.lost() {
			a.drop(p, w)
		}
	}()
	return w
}

// Acquire makes this process the writer of p. It returns at once: the writer opens the
// partition (fencing earlier owners and catching up, retrying until it succeeds or p is
// released), and appends queued meanwhile wait for it. Acquiring an owned p does nothing.
func (a *Appender) Acquire(p int) {
	a.mu.RLock()
	owned, closed := a.parts[p] != nil, a.closed
	a.mu.RUnlock()
	if !owned && !closed {
		a.cfg.Metrics.setOwned(p, 0.5)
		a.start(p, nil)
	}
}

// Release stops writing p: the commit in progress finishes, appends still queued fail with
// ErrNotOwner, and the partition is closed. Releasing a p not owned does nothing.
func (a *Appender) Release(p int) {
	a.mu.Lock()
	w := a.parts[p]
	a.parts[p] = nil
	a.mu.Unlock()
	if w != nil {
		a.cfg.Metrics.setOwned(p, 0)
		_ = w.stop(ErrNotOwner)
	}
}

// drop removes a writer that lost its partition, once its goroutine has ended.
func (a *Appender) drop(p int, w *writer) {
	a.mu.Lock()
	if a.parts[p] == w {
		a.parts[p] = nil
		a.cfg.Metrics.setOwned(p, 0)
	}
	a.mu.Unlock()
	w.finish(ErrNotOwner)
}

// Owns reports whether this process writes p now (it may still be opening it).
func (a *Appender) Owns(p int) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.parts[p] != nil
}

// Ready reports whether every partition this process owns is open (caught up).
func (a *Appender) Ready() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	for _, w := range a.parts {
		if w != nil && !w.isOpen() {
			return false
		}
	}
	return true
}

// Partitions returns the partition count.
func (a *Appender) Partitions() int { return a.store.Partitions() }

// Append commits req's events to its stream if the expectation holds. Errors: a
// *stream.ConflictError (errors.As), ErrPartialRetry, ErrUnavailable, ErrNotOwner,
// ErrOutcomeUnknown, ErrClosed, a *event.ValidationError for events with bad Strata
// extensions, or ctx's error. After a ctx error or ErrOutcomeUnknown the append may still
// commit; retrying it with the same event ids is safe (I4).
func (a *Appender) Append(ctx context.Context, req Request) (Result, error) {
	if err := checkRequest(req, a.cfg.Limits); err != nil {
		return Result{}, err
	}
	op := &op{ctx: ctx, req: req, done: make(chan struct{}), start: time.Now()}
	if err := a.submit(ctx, stream.PartitionFor(req.Stream.ID, len(a.parts)), op); err != nil {
		return Result{}, err
	}
	select {
	case <-op.done:
		a.cfg.Metrics.observeAppend(op)
		return op.res, op.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Head returns a stream's committed head, read through its partition's writer so that it
// reflects every append acknowledged before the call.
func (a *Appender) Head(ctx context.Context, s stream.ID) (stream.Head, error) {
	if err := event.ValidateStreamName(s.Type, s.ID); err != nil {
		return stream.Head{}, err
	}
	op := &op{ctx: ctx, read: true, req: Request{Stream: s}, done: make(chan struct{})}
	if err := a.submit(ctx, stream.PartitionFor(s.ID, len(a.parts)), op); err != nil {
		return stream.Head{}, err
	}
	select {
	case <-op.done:
		return op.head, op.err
	case <-ctx.Done():
		return stream.Head{}, ctx.Err()
	}
}

// submit queues o on p's writer. It holds mu shared while it waits for room, so that
// Release and drop, which take mu exclusively, know that no op reaches a writer after
// they removed it.
func (a *Appender) submit(ctx context.Context, p int, o *op) error {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return ErrClosed
	}
	w := a.parts[p]
	if w == nil {
		return fmt.Errorf("%w: partition %d", ErrNotOwner, p)
	}
	select {
	case w.queue <- o:
		return nil
	case <-w.exited:
		return fmt.Errorf("%w: partition %d", ErrNotOwner, p)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the writers (each finishes its commit in progress; appends still queued fail
// with ErrClosed) and closes the partitions.
func (a *Appender) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	parts := a.parts
	a.parts = make([]*writer, len(parts))
	a.mu.Unlock()
	var errs []error
	for _, w := range parts {
		if w != nil {
			errs = append(errs, w.stop(ErrClosed))
		}
	}
	a.wg.Wait()
	return errors.Join(errs...)
}

// checkRequest validates what the pipeline relies on: a valid stream name, 1+ valid
// CloudEvents within limits whose Strata extensions (where present) name the stream, and no
// (source, id) twice. A refused append never joins a group, so it affects no other.
func checkRequest(req Request, limits event.Limits) error {
	if err := event.ValidateStreamName(req.Stream.Type, req.Stream.ID); err != nil {
		return err
	}
	if len(req.Events) == 0 {
		return &event.ValidationError{Code: event.CodeMissingAttribute, Detail: "an append needs at least one event"}
	}
	seen := make(map[[2]string]bool, len(req.Events))
	for _, e := range req.Events {
		if err := event.Validate(e, limits); err != nil {
			return err
		}
		if err := event.CheckStream(e, req.Stream.Type, req.Stream.ID); err != nil {
			return err
		}
		k := [2]string{event.Source(e), e.ID()}
		if seen[k] {
			return &event.ValidationError{Code: event.CodeDuplicateEvent, Attribute: "id",
				Detail: fmt.Sprintf("(source %q, id %q) appears twice in one append", event.Source(e), e.ID())}
		}
		seen[k] = true
	}
	return nil
}
