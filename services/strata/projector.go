package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/strata-platform/strata/pkg/logging"
	"github.com/strata-platform/strata/services/projector"
)

type projectorFlags struct {
	distributed
	cfg      projector.Config
	reducers string
}

func (p *projectorFlags) Validate() error {
	if err := p.distributed.Validate(); err != nil {
		return err
	}
	reds, err := parseReducers(p.reducers)
	if err != nil {
		return err
	}
	p.cfg.Kafka, p.cfg.Redis, p.cfg.Reducers = p.Kafka(), p.Redis, reds
	return p.cfg.Validate()
}

// parseReducers reads "type=reducer,type=reducer".
func parseReducers(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		typ, red, ok := strings.Cut(pair, "=")
		if !ok || typ == "" || red == "" {
			return nil, fmt.Errorf("--reducers %q: want a list of type=%s", s, projector.ReducerMergePatch)
		}
		out[typ] = red
	}
	return out, nil
}

func runProjector(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f projectorFlags
	fs := newFlagSet("projector", stderr)
	f.register(fs)
	fs.StringVar(&f.cfg.MetricsAddr, "metrics", "127.0.0.1:8421", "address of /healthz, /readyz and /metrics")
	fs.StringVar(&f.cfg.Cluster, "cluster", "strata", "cluster name: Redis namespace and consumer group prefix")
	fs.StringVar(&f.cfg.TopicPrefix, "topic-prefix", "strata", "event topics are <prefix>.<type>.events")
	fs.IntVar(&f.cfg.Version, "projection-version", 1, "version of the built-in projections; bump it to rebuild them")
	fs.Int64Var(&f.cfg.SnapshotEvery, "snapshot-every", 100, "snapshot a stream every N events")
	fs.DurationVar(&f.cfg.SnapshotInterval, "snapshot-interval", 0, "also snapshot when this long passed since a stream's last snapshot (0: off)")
	fs.StringVar(&f.reducers, "reducers", "", "declarative reducers for snapshots: type=merge-patch,...")
	if err := parse(fs, args, &f); err != nil {
		return err
	}
	log, err := logging.New(f.Log)
	if err != nil {
		return usageError{err}
	}
	defer log.Sync()
	f.cfg.Logger = log
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	fmt.Fprintf(stdout, "strata projector on Kafka %v and Redis %s; metrics on http://%s\n", f.cfg.Kafka, f.cfg.Redis, f.cfg.MetricsAddr)
	return projector.Run(ctx, f.cfg, nil, reg)
}
