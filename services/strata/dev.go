package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/strata-platform/strata/pkg/embedded"
	"github.com/strata-platform/strata/pkg/logging"
)

type devFlags struct {
	common
	api  apiFlags
	data string
}

func (d *devFlags) Validate() error {
	if d.data == "" {
		return fmt.Errorf("--data must name a folder")
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
	banner := fmt.Sprintf("strata dev: embedded engine, data in %s", dir)
	return serveAPI(ctx, eng, cfg.api, log, stdout, banner)
}
