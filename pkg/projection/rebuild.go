package projection

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/zap"
)

// Serve runs one version of a projection and makes it the active one once it has caught
// up with the log.
//
// When another version is active (a rebuild: the projection's version was bumped), the
// new version replays the log from the start into its own keyspace while readers keep
// reading the active one. Once every partition's checkpoint has reached the last stable
// offset measured in the same check, Serve switches the active version in one Redis write
// (so a reader sees either the old model or the complete new one, never a half-built
// model), then drops the old keyspace. Progress is reported through onProgress (may be nil)
// about twice a second until the switch. Serve returns when ctx ends or the runner fails.
//
// The old keyspace is dropped Config.DropGrace after the switch, so that a reader that resolved
// the old version just before the switch finishes its read on complete data; readers that
// must never mix versions use ReadActive, which re-checks the version after reading.
func Serve(ctx context.Context, cfg Config, store *RedisStore, adm *kadm.Client, proj Projection, onProgress func(Progress)) error {
	r, err := NewRunner(cfg, proj, store)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var runErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		runErr = r.Run(ctx)
		cancel()
	}()
	err = activate(ctx, r.cfg, store, adm, proj, onProgress)
	if err != nil && ctx.Err() == nil {
		cancel()
		wg.Wait()
		return err
	}
	wg.Wait()
	return runErr
}

// activate waits until proj has caught up, then makes it the active version.
func activate(ctx context.Context, cfg Config, store *RedisStore, adm *kadm.Client, proj Projection, onProgress func(Progress)) error {
	active, err := store.Active(ctx, proj.Name)
	if err != nil {
		return fmt.Errorf("projection %s: read active version: %w", proj.Name, err)
	}
	if active == proj.Version {
		if onProgress != nil {
			onProgress(Progress{}) // nothing to rebuild
		}
		return nil
	}
	start := time.Now()
	for {
		pr, err := Measure(ctx, adm, store, cfg, proj)
		if err == nil && onProgress != nil {
			onProgress(pr)
		}
		if err == nil && pr.Lag() == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return SwitchOver(ctx, store, proj, active, cfg.DropGrace, cfg.Logger, start)
}

// Switcher is what a switch-over needs from a read-model store.
type Switcher interface {
	SetActive(ctx context.Context, name string, v int) error
	DropKeyspace(ctx context.Context, keyspace string) error
}

// SwitchOver makes proj's version the active one (readers switch at once), then, after
// grace (longer than any read, see ReadActive), drops the keyspace of the version it
// replaced (active; 0 means none). start is when the rebuild began, for the log.
func SwitchOver(ctx context.Context, s Switcher, proj Projection, active int, grace time.Duration, log *zap.Logger, start time.Time) error {
	if err := s.SetActive(ctx, proj.Name, proj.Version); err != nil {
		return fmt.Errorf("projection %s: switch to version %d: %w", proj.Name, proj.Version, err)
	}
	log.Info("projection switched over", zap.String("projection", proj.Name),
		zap.Int("from", active), zap.Int("to", proj.Version), zap.Duration("rebuild", time.Since(start)))
	if active == 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(grace):
	}
	old := Projection{Name: proj.Name, Version: active}
	if err := s.DropKeyspace(ctx, old.Keyspace()); err != nil {
		return fmt.Errorf("projection %s: drop version %d: %w", proj.Name, active, err)
	}
	return nil
}

// ReadActive calls read with the active keyspace of a projection and returns its result
// only if the active version did not change during the read; otherwise it reads again.
// With Config.DropGrace longer than one read, a reader never sees a half-built or half-dropped
// model.
func ReadActive(ctx context.Context, store *RedisStore, name string, read func(keyspace string) error) error {
	for {
		before, err := store.Active(ctx, name)
		if err != nil {
			return err
		}
		if before == 0 {
			return read("")
		}
		if err := read(Projection{Name: name, Version: before}.Keyspace()); err != nil {
			return err
		}
		after, err := store.Active(ctx, name)
		if err != nil || after == before {
			return err
		}
	}
}
