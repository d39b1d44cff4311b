package main

import (
	"context"
	"fmt"
	"io"

	"github.com/strata-platform/strata/pkg/cluster"
	"github.com/strata-platform/strata/pkg/logging"
)

type commandFlags struct {
	distributed
	api     apiFlags
	cluster string
	prefix  string
}

func (c *commandFlags) Validate() error {
	if err := c.distributed.Validate(); err != nil {
		return err
	}
	return c.api.Validate()
}

func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg commandFlags
	fs := newFlagSet("command", stderr)
	cfg.register(fs)
	cfg.api.register(fs)
	fs.StringVar(&cfg.cluster, "cluster", "strata", "cluster name: transactional ids and the Redis namespace")
	fs.StringVar(&cfg.prefix, "topic-prefix", "strata", "event topics are <prefix>.<type>.events")
	if err := parse(fs, args, &cfg); err != nil {
		return err
	}
	log, err := logging.New(cfg.Log)
	if err != nil {
		return usageError{err}
	}
	defer log.Sync()
	store, err := cluster.Open(ctx, cluster.Config{
		Kafka: cfg.Kafka(), Redis: cfg.Redis, Cluster: cfg.cluster, TopicPrefix: cfg.prefix,
		Partitions: cfg.api.Partitions, Address: cfg.api.HTTP, Logger: log,
	})
	if err != nil {
		return err
	}
	defer store.Close()
	banner := fmt.Sprintf("strata command on Kafka %v and Redis %s", cfg.Kafka(), cfg.Redis)
	return serveAPI(ctx, store, cfg.api, log, stdout, banner)
}
