package embedded

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"

	"github.com/strata-platform/strata/pkg/projection"
)

// Rebuild with switch-over on the embedded engine, as projection.Serve does it on Kafka +
// Redis: a new version of a projection reads the log from offset 0 into its own keyspace
// while readers keep reading the active version; once it has read the whole log (every
// checkpoint at the end offset, measured in one check), the active pointer moves in one
// synced write, and the old keyspace is dropped after a grace period.
//
// The active pointer of projection <name> is the read-model key 'r' "@active" 0x00 <name>
// (a keyspace no projection can have: names are [a-z0-9_-]), value the version in decimal.

const activeKeyspace = "@active"

// Active returns the active version of a projection, 0 when none is active yet.
func (e *Engine) Active(ctx context.Context, name string) (int, error) {
	raw, ok, err := e.Get(ctx, activeKeyspace, name)
	if err != nil || !ok {
		return 0, err
	}
	v, err := strconv.Atoi(string(raw))
	if err != nil {
		return 0, fmt.Errorf("%w: active version of %s: %q", ErrCorrupt, name, raw)
	}
	return v, nil
}

// SetActive switches readers of a projection to version v in one synced write.
func (e *Engine) SetActive(_ context.Context, name string, v int) error {
	return e.use(func(db *pebble.DB) error {
		key, val := readModelKey(activeKeyspace, name), []byte(strconv.Itoa(v))
		if err := e.checkSpace(len(key) + len(val)); err != nil {
			return err
		}
		return db.Set(key, val, pebble.Sync)
	})
}

// DropKeyspace deletes every read-model key and checkpoint of a keyspace.
func (e *Engine) DropKeyspace(_ context.Context, keyspace string) error {
	if keyspace == "" || keyspace == activeKeyspace {
		return fmt.Errorf("embedded: drop keyspace %q: not a projection keyspace", keyspace)
	}
	e.rmMu.Lock() // no batch of the keyspace commits halfway through the drop
	defer e.rmMu.Unlock()
	return e.use(func(db *pebble.DB) error {
		b := db.NewBatch()
		defer func() { _ = b.Close() }()
		for _, kind := range []byte{'r', 'c'} {
			lower := append([]byte{kind}, keyspace...)
			lower = append(lower, 0)
			if err := b.DeleteRange(lower, prefixEnd(lower), nil); err != nil {
				return err
			}
		}
		return b.Commit(pebble.NoSync)
	})
}

// ServeOptions tune ServeProjection.
type ServeOptions struct {
	Batch     int           // events per batch; default 500
	Poll      time.Duration // how often a caught-up runner looks for new events; default 50ms
	DropGrace time.Duration // how long the old keyspace outlives the switch; default 5s
	Logger    *zap.Logger   // default: the engine's
}

// ServeProjection runs one version of a projection (projection.RunLocal) until ctx ends,
// and makes it the active version once it has read the whole log. If another version was
// active, its keyspace is dropped DropGrace after the switch. A reader that resolves the
// active version with Active and then reads sees either the old complete model or the new
// complete one.
func (e *Engine) ServeProjection(ctx context.Context, proj projection.Projection, opts ServeOptions) error {
	if opts.Batch == 0 {
		opts.Batch = 500
	}
	if opts.Poll == 0 {
		opts.Poll = 50 * time.Millisecond
	}
	if opts.DropGrace == 0 {
		opts.DropGrace = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = e.log
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var runErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		runErr = projection.RunLocal(ctx, e.LocalLog(), e, proj, opts.Batch, opts.Poll)
		cancel()
	}()
	err := e.activate(ctx, proj, opts)
	if err != nil && ctx.Err() == nil {
		cancel()
	}
	wg.Wait()
	if runErr != nil {
		return runErr
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// activate waits until proj has read the whole log, switches to it, and drops the old
// version's keyspace after the grace period.
func (e *Engine) activate(ctx context.Context, proj projection.Projection, opts ServeOptions) error {
	active, err := e.Active(ctx, proj.Name)
	if err != nil {
		return err
	}
	if active == proj.Version {
		return nil
	}
	start := time.Now()
	for {
		lag, err := projection.LocalLag(ctx, e.LocalLog(), e, proj)
		if err != nil {
			return err
		}
		if lag == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(opts.Poll):
		}
	}
	return projection.SwitchOver(ctx, e, proj, active, opts.DropGrace, opts.Logger, start)
}
