package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/embedded"
	"github.com/strata-platform/strata/pkg/logging"
	"github.com/strata-platform/strata/pkg/projection"
	"github.com/strata-platform/strata/pkg/query"
	"github.com/strata-platform/strata/services/command"
)

type devFlags struct {
	common
	api           apiFlags
	data          string
	snapshotEvery int64
}

func (d *devFlags) Validate() error {
	if d.data == "" {
		return fmt.Errorf("--data must name a folder")
	}
	if d.snapshotEvery < 1 {
		return fmt.Errorf("--snapshot-every %d: want 1 or more", d.snapshotEvery)
	}
	if err := d.Log.Validate(); err != nil {
		return err
	}
	return d.api.Validate()
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg devFlags
	fs := newFlagSet("dev", stderr)
	cfg.register(fs)
	cfg.api.register(fs)
	fs.StringVar(&cfg.data, "data", "./strata-data", "data folder of the embedded engine")
	fs.Int64Var(&cfg.snapshotEvery, "snapshot-every", 100, "snapshot a stream every N events")
	_ = fs.Set("log-format", logging.FormatConsole)
	if err := parse(fs, args, &cfg); err != nil {
		return err
	}
	log, err := logging.New(cfg.Log)
	if err != nil {
		return usageError{err}
	}
	defer log.Sync()
	dir, _ := filepath.Abs(cfg.data)
	eng, err := embedded.Open(embedded.Config{Dir: dir, Partitions: cfg.api.Partitions, Logger: log})
	if err != nil {
		return err
	}
	defer eng.Close()
	stop := runLocalProjections(ctx, eng, cfg.snapshotEvery, log)
	defer stop()
	banner := fmt.Sprintf("strata dev: embedded engine, data in %s\nprojections: index, stats, snapshots (every %d events, JSON merge patch)", dir, cfg.snapshotEvery)
	return serveAPI(ctx, eng, nil, engineReads(eng), cfg.api, log, stdout, banner)
}

// engineReads serves reads from the embedded engine: its log, and the read models of the
// projections runLocalProjections runs (version 1, merge patch for every type).
func engineReads(eng *embedded.Engine) readSide {
	return func(app *appender.Appender) (command.Reads, func(), error) {
		r, err := query.NewReader(query.Config{Log: query.NewEngineLog(eng, 0), Models: query.NewStoreModels(eng, nil),
			Heads: app, Reducers: projection.Reducers{"*": projection.MergePatch}})
		return r, func() {}, err
	}
}

// runLocalProjections runs the built-in projections on the embedded engine until stop is
// called; stop waits for them.
func runLocalProjections(ctx context.Context, eng *embedded.Engine, every int64, log *zap.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	projs := []projection.Projection{
		projection.Index(nil, 1),
		projection.Stats(nil, 1),
		projection.Snapshots(nil, 1, projection.Reducers{"*": projection.MergePatch}, projection.SnapshotPolicy{Every: every}, nil, ""),
	}
	for _, p := range projs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A failed batch (a full disk: embedded.ErrDiskFull) committed nothing; the
			// projection starts again from its checkpoint once it can write.
			for {
				err := projection.RunLocal(ctx, eng.LocalLog(), eng, p, 500, 50*time.Millisecond)
				if err == nil || ctx.Err() != nil {
					return
				}
				log.Error("projection failed; restarting it in 1s", zap.String("projection", p.Keyspace()), zap.Error(err))
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
			}
		}()
	}
	return func() { cancel(); wg.Wait() }
}
