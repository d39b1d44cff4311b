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
	OpenTimeout     time.Duration // per partition; default 60s
	Limits          event.Limits  // bounds of each event; zero fields take event.DefaultLimits
	Logger          *zap.Logger   // default: no logging
	Metrics         *Metrics      // default: none
}

// Validate reports nonsensical settings.
func (c Config) Validate() error {
	if c.MaxGroupAppends < 0 || c.MaxGroupEvents < 0 || c.QueueDepth < 0 || c.HeadCacheSize < 0 {
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

// Appender is the append pipeline over a Store: one writer goroutine per partition, each
// running group commits. It is safe for concurrent use.
type Appender struct {
	cfg   Config
	store Store
	parts []*writer

	cancel context.CancelFunc
	wg     sync.WaitGroup // one per writer goroutine

	mu     sync.RWMutex // guards closed
	closed bool
}

// New opens every partition of store and starts their writers.
func New(ctx context.Context, store Store, cfg Config) (*Appender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	runCtx, cancel := context.WithCancel(context.Background())
	a := &Appender{cfg: cfg, store: store, cancel: cancel}
	for p := 0; p < store.Partitions(); p++ {
		octx, ocancel := context.WithTimeout(ctx, cfg.OpenTimeout)
		part, err := store.OpenPartition(octx, p)
		ocancel()
		if err != nil {
			_ = a.Close()
			return nil, fmt.Errorf("appender: open partition %d: %w", p, err)
		}
		w := newWriter(p, part, cfg)
		a.parts = append(a.parts, w)
		a.wg.Add(1)
		go func() { defer a.wg.Done(); w.run(runCtx) }()
	}
	return a, nil
}

// Partitions returns the partition count.
func (a *Appender) Partitions() int { return a.store.Partitions() }

// Append commits req's events to its stream if the expectation holds. Errors: a
// *stream.ConflictError (errors.As), ErrPartialRetry, ErrUnavailable, ErrClosed, a
// *event.ValidationError for events with bad Strata extensions, or ctx's error. After a ctx
// error the append may still commit; retrying it with the same event ids is safe (I4).
func (a *Appender) Append(ctx context.Context, req Request) (Result, error) {
	if err := checkRequest(req, a.cfg.Limits); err != nil {
		return Result{}, err
	}
	op := &op{req: req, done: make(chan struct{}), start: time.Now()}
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
	op := &op{read: true, req: Request{Stream: s}, done: make(chan struct{})}
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

func (a *Appender) submit(ctx context.Context, p int, o *op) error {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return ErrClosed
	}
	select {
	case a.parts[p].queue <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the writers (answering queued appends with ErrClosed) and closes the partitions.
func (a *Appender) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.mu.Unlock()
	a.cancel()
	a.wg.Wait()
	var errs []error
	for _, w := range a.parts {
		w.drain()
		errs = append(errs, w.part.Close())
	}
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
		k := [2]string{e.Source(), e.ID()}
		if seen[k] {
			return &event.ValidationError{Code: event.CodeDuplicateEvent, Attribute: "id",
				Detail: fmt.Sprintf("(source %q, id %q) appears twice in one append", e.Source(), e.ID())}
		}
		seen[k] = true
	}
	return nil
}
