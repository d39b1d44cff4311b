package projector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/strata-platform/strata/pkg/projection"
)

// ReducerMergePatch names the declarative JSON merge-patch reducer in Config.Reducers.
const ReducerMergePatch = "merge-patch"

// Config configures the projector.
type Config struct {
	Kafka            []string
	Redis            string
	Cluster          string            // Redis namespace and group prefix; default "strata"
	TopicPrefix      string            // default "strata"
	Version          int               // version of the built-in projections; bump to rebuild them; default 1
	SnapshotEvery    int64             // snapshot every N events of a stream; default 100
	SnapshotInterval time.Duration     // or when this much time passed since the stream's last snapshot; 0: off
	Reducers         map[string]string // aggregate type -> declarative reducer ("merge-patch")
	MetricsAddr      string            // /healthz, /readyz, /metrics; "" to serve none
	Logger           *zap.Logger
}

// Validate checks the settings.
func (c Config) Validate() error {
	if len(c.Kafka) == 0 || c.Redis == "" {
		return errors.New("projector: Kafka seed brokers and a Redis address are required")
	}
	if c.Version < 0 || c.SnapshotEvery < 0 || c.SnapshotInterval < 0 {
		return errors.New("projector: version and snapshot settings must not be negative")
	}
	for typ, red := range c.Reducers {
		if red != ReducerMergePatch {
			return fmt.Errorf("projector: reducer %q for type %q: the declarative reducers are: %s", red, typ, ReducerMergePatch)
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Cluster == "" {
		c.Cluster = "strata"
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = "strata"
	}
	if c.Version == 0 {
		c.Version = 1
	}
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = 100
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// Run runs the built-in projections plus extra until ctx ends.
func Run(ctx context.Context, cfg Config, extra []projection.Projection, reg *prometheus.Registry) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	rdb := redis.NewClient(&redis.Options{Addr: cfg.Redis})
	defer rdb.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer cl.Close()
	store := projection.NewRedisStore(rdb, cfg.Cluster)
	pcfg := projection.Config{Kafka: cfg.Kafka, Group: cfg.Cluster, TopicPrefix: cfg.TopicPrefix,
		Logger: cfg.Logger, Metrics: projection.NewMetrics(reg)}
	projs := append(builtins(cfg, cl), extra...)
	st := newStatus(projs, reg)
	stopHTTP, err := serveHTTP(cfg.MetricsAddr, st, reg)
	if err != nil {
		return err
	}
	defer stopHTTP()
	adm := kadm.NewClient(cl)
	lagCtx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() { defer close(lagDone); st.watchLag(lagCtx, adm, store, pcfg, projs) }()
	defer func() { stopLag(); <-lagDone }()
	return runAll(ctx, pcfg, store, adm, projs, st)
}

// watchLag publishes every projection's lag per partition every few seconds.
func (st *status) watchLag(ctx context.Context, adm *kadm.Client, store *projection.RedisStore, pcfg projection.Config, projs []projection.Projection) {
	for {
		for _, p := range projs {
			pr, err := projection.Measure(ctx, adm, store, pcfg, p)
			if err != nil {
				continue
			}
			for _, pp := range pr.Partitions {
				st.lag.WithLabelValues(p.Keyspace(), pp.Topic, fmt.Sprint(pp.Partition)).Set(float64(pp.Lag()))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

func builtins(cfg Config, producer *kgo.Client) []projection.Projection {
	reducers := projection.Reducers{}
	for typ := range cfg.Reducers {
		reducers[typ] = projection.MergePatch
	}
	return []projection.Projection{
		projection.Index(nil, cfg.Version),
		projection.Stats(nil, cfg.Version),
		projection.Snapshots(nil, cfg.Version, reducers,
			projection.SnapshotPolicy{Every: cfg.SnapshotEvery, Interval: cfg.SnapshotInterval}, producer, cfg.TopicPrefix),
	}
}

// runAll serves every projection; the first failure stops them all.
func runAll(ctx context.Context, pcfg projection.Config, store *projection.RedisStore, adm *kadm.Client, projs []projection.Projection, st *status) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(projs))
	var wg sync.WaitGroup
	for i, p := range projs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = projection.Serve(ctx, pcfg, store, adm, p, func(pr projection.Progress) { st.progress(p.Name, pr) })
			if errs[i] != nil {
				pcfg.Logger.Error("projection stopped", zap.String("projection", p.Keyspace()), zap.Error(errs[i]))
			}
			cancel()
		}()
	}
	wg.Wait()
	if ctx.Err() != nil && errors.Join(errs...) == nil {
		return nil
	}
	return errors.Join(errs...)
}

// status tracks rebuild progress for /readyz and the progress gauge.
type status struct {
	mu       sync.Mutex // guards fraction
	fraction map[string]float64
	gauge    *prometheus.GaugeVec
	lag      *prometheus.GaugeVec
}

func newStatus(projs []projection.Projection, reg *prometheus.Registry) *status {
	st := &status{fraction: map[string]float64{}, gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "strata_projection_progress", Help: "Share of the log a (re)building projection has read, 0..1."}, []string{"projection"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_projection_lag_offsets", Help: "Offsets between a projection's checkpoint and the last stable offset."},
			[]string{"projection", "topic", "partition"})}
	for _, p := range projs {
		st.fraction[p.Name] = 0
	}
	if reg != nil {
		reg.MustRegister(st.gauge, st.lag)
	}
	return st
}

func (st *status) progress(name string, pr projection.Progress) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f := pr.Fraction()
	if pr.Lag() == 0 {
		f = 1
	}
	st.fraction[name] = f
	st.gauge.WithLabelValues(name).Set(f)
}

func (st *status) report() (bool, string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	names := make([]string, 0, len(st.fraction))
	ok := true
	for n, f := range st.fraction {
		names = append(names, fmt.Sprintf("%s %.1f%%", n, 100*f))
		ok = ok && f >= 1
	}
	sort.Strings(names)
	return ok, strings.Join(names, ", ")
}

func serveHTTP(addr string, st *status, reg *prometheus.Registry) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, msg := st.report()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte(msg + "\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}
