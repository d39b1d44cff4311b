package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redis/go-redis/v9"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/query"
	"github.com/strata-platform/strata/services/command"

	"github.com/strata-platform/strata/pkg/cluster"
	"github.com/strata-platform/strata/pkg/logging"
)

type commandFlags struct {
	distributed
	api       apiFlags
	cluster   string
	prefix    string
	advertise string
	session   time.Duration
}

func (c *commandFlags) Validate() error {
	if err := c.distributed.Validate(); err != nil {
		return err
	}
	if c.session < 6*time.Second {
		return fmt.Errorf("--session-timeout %s: want 6s or more (the broker's group.min.session.timeout.ms)", c.session)
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
	fs.StringVar(&cfg.advertise, "advertise", "", "host:port other instances use to reach this one (default: --http)")
	fs.DurationVar(&cfg.session, "session-timeout", 6*time.Second, "how soon the partitions of a silent instance move to the others")
	if err := parse(fs, args, &cfg); err != nil {
		return err
	}
	log, err := logging.New(cfg.Log)
	if err != nil {
		return usageError{err}
	}
	defer log.Sync()
	self := cfg.advertise
	if self == "" {
		self = cfg.api.HTTP
	}
	store, err := cluster.Open(ctx, cluster.Config{
		Kafka: cfg.Kafka(), Redis: cfg.Redis, Cluster: cfg.cluster, TopicPrefix: cfg.prefix,
		Partitions: cfg.api.Partitions, Address: self, Logger: log,
	})
	if err != nil {
		return err
	}
	defer store.Close()
	banner := fmt.Sprintf("strata command on Kafka %v and Redis %s", cfg.Kafka(), cfg.Redis)
	share := groupSharer{store: store, self: self, cfg: cluster.MembershipConfig{Kafka: cfg.Kafka(),
		Cluster: cfg.cluster, Partitions: cfg.api.Partitions, SessionTimeout: cfg.session, Logger: log}}
	return serveAPI(ctx, store, share, clusterReads(cfg), cfg.api, log, stdout, banner)
}

// clusterReads serves reads from Kafka (direct fetches) and the read models the projector
// role keeps in Redis (the active version of index and snapshots).
func clusterReads(cfg commandFlags) readSide {
	return func(app *appender.Appender) (command.Reads, func(), error) {
		klog, err := query.NewKafkaLog(query.KafkaConfig{Seeds: cfg.Kafka(), TopicPrefix: cfg.prefix, Partitions: cfg.api.Partitions})
		if err != nil {
			return nil, nil, err
		}
		rdb := redis.NewClient(&redis.Options{Addr: cfg.Redis})
		r, err := query.NewReader(query.Config{Log: klog, Models: query.NewRedisModels(rdb, cfg.cluster), Heads: app})
		if err != nil {
			klog.Close()
			rdb.Close()
			return nil, nil, err
		}
		return r, func() { klog.Close(); _ = rdb.Close() }, nil
	}
}

// groupSharer shares the partitions among the command instances of one cluster through a
// Kafka group (cluster.RunMembership) and routes to owners by the address each recorded.
type groupSharer struct {
	store *cluster.Store
	self  string
	cfg   cluster.MembershipConfig
}

func (g groupSharer) register(reg prometheus.Registerer) { g.store.SetMetrics(cluster.NewMetrics(reg)) }

func (g groupSharer) runMembership(ctx context.Context, app *appender.Appender) error {
	return cluster.RunMembership(ctx, g.cfg, app)
}

func (g groupSharer) router(app *appender.Appender) command.Router {
	return command.OwnerRouter{Partitions: g.cfg.Partitions, Self: g.self, Owns: app.Owns, Owner: g.store.Owner}
}

func (g groupSharer) address() string { return g.self }
