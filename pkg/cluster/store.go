package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/strata-platform/strata/pkg/appender"
)

var _ appender.Store = (*Store)(nil)

// Config configures the Kafka + Redis engine.
type Config struct {
	Kafka        []string      // seed brokers
	Redis        string        // host:port
	Cluster      string        // names transactional ids (<cluster>-p<p>) and the Redis namespace; default "strata"
	TopicPrefix  string        // event topics are <prefix>.<type>.events; default "strata"
	Partitions   int           // P, fixed when the first topic is created; default 8
	Address      string        // this instance's address, recorded as partition owner
	TxnTimeout   time.Duration // Kafka transaction timeout; default 30s
	Logger       *zap.Logger
	MinInsyncISR int      // min.insync.replicas of new topics; default min(2, brokers)
	Metrics      *Metrics // per-partition collectors; nil: none

	// TxnGap is the least time between the end of a partition's transaction and the first
	// produce of its next one; default 2ms, negative: none. With transaction protocol v2
	// (KIP-890, Kafka 4.x) the partition leader adds the partition to the transaction
	// itself, and a produce that arrives while the previous transaction's markers are still
	// being written waits add.partitions.to.txn.retry.backoff.ms (20 ms by default) on the
	// broker. Waiting about as long as the markers take avoids most of those retries:
	// measured on the test rig (docs/BENCHMARKS.md), 1.2-1.3x the appends/s at 1 client,
	// 1.4-1.75x at 16, 1.0-1.1x at 64.
	TxnGap time.Duration
}

// Validate checks the settings.
func (c Config) Validate() error {
	switch {
	case len(c.Kafka) == 0:
		return errors.New("cluster: no Kafka seed brokers")
	case c.Redis == "":
		return errors.New("cluster: no Redis address")
	case c.Partitions < 0 || c.Partitions > 1024:
		return fmt.Errorf("cluster: partitions %d: want 1..1024", c.Partitions)
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
	if c.Partitions == 0 {
		c.Partitions = 8
	}
	if c.TxnTimeout == 0 {
		c.TxnTimeout = 30 * time.Second
	}
	if c.TxnGap == 0 {
		c.TxnGap = 2 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// Store is the distributed engine: events in Kafka, heads in Redis.
type Store struct {
	cfg   Config
	admin *kgo.Client
	adm   *kadm.Client
	rdb   *redis.Client
	heads heads

	mu     sync.Mutex          // guards topics
	topics map[string]struct{} // event topics known to exist with the right shape
}

// Open connects to Kafka and Redis and checks the existing event topics' shape.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	// Admin metadata is cached for MetadataMinAge: keep it short, a catch-up must see
	// event topics created a moment ago (by this instance or another).
	admin, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka...), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("cluster: kafka client: %w", err)
	}
	s := &Store{cfg: cfg, admin: admin, adm: kadm.NewClient(admin), topics: map[string]struct{}{},
		rdb: redis.NewClient(&redis.Options{Addr: cfg.Redis})}
	s.heads = heads{rdb: s.rdb, ns: cfg.Cluster}
	if err := s.checkTopics(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the clients. Partitions must be closed first.
func (s *Store) Close() {
	s.admin.Close()
	_ = s.rdb.Close()
}

// SetMetrics sets the per-partition collectors; call it before opening partitions.
func (s *Store) SetMetrics(m *Metrics) { s.cfg.Metrics = m }

// Owner returns the address that partition p's current owner recorded when it took the
// partition over (empty if none has).
func (s *Store) Owner(ctx context.Context, p int) (string, error) {
	return s.heads.ownerAddress(ctx, p)
}

// Partitions returns P.
func (s *Store) Partitions() int { return s.cfg.Partitions }

// Topic returns the event topic of an aggregate type.
func (s *Store) Topic(aggType string) string { return s.cfg.TopicPrefix + "." + aggType + ".events" }

func (s *Store) isEventTopic(t string) bool {
	return strings.HasPrefix(t, s.cfg.TopicPrefix+".") && strings.HasSuffix(t, ".events")
}

// checkTopics refuses to run against event topics whose shape differs from the platform's.
func (s *Store) checkTopics(ctx context.Context) error {
	details, err := s.adm.ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("cluster: list topics: %w", err)
	}
	var names []string
	for _, d := range details.Sorted() {
		if s.isEventTopic(d.Topic) {
			if n := len(d.Partitions); n != s.cfg.Partitions {
				return fmt.Errorf("cluster: topic %s has %d partitions but the platform runs with %d: "+
					"Strata never changes a topic's partition count (it would move aggregates); start with --partitions %d",
					d.Topic, n, s.cfg.Partitions, n)
			}
			names = append(names, d.Topic)
		}
	}
	if len(names) == 0 {
		return nil
	}
	cfgs, err := s.adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return fmt.Errorf("cluster: describe topics: %w", err)
	}
	for _, rc := range cfgs {
		if rc.Err != nil {
			return fmt.Errorf("cluster: describe topic %s: %w", rc.Name, rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Key == "retention.ms" && c.MaybeValue() != "-1" {
				return fmt.Errorf("cluster: topic %s has retention.ms=%s; event topics must keep events forever (retention.ms=-1)", rc.Name, c.MaybeValue())
			}
			if c.Key == "cleanup.policy" && c.MaybeValue() != "delete" {
				return fmt.Errorf("cluster: topic %s has cleanup.policy=%s; event topics must use delete with infinite retention", rc.Name, c.MaybeValue())
			}
		}
		s.topics[rc.Name] = struct{}{}
	}
	return nil
}

// EnsureTopic creates the event topic of a type if it does not exist.
func (s *Store) EnsureTopic(ctx context.Context, aggType string) error {
	return s.ensureTopic(ctx, s.Topic(aggType))
}

// ensureTopic creates the event topic of a type if it does not exist.
func (s *Store) ensureTopic(ctx context.Context, topic string) error {
	s.mu.Lock()
	_, ok := s.topics[topic]
	s.mu.Unlock()
	if ok {
		return nil
	}
	isr := s.cfg.MinInsyncISR
	if isr == 0 {
		meta, err := s.adm.BrokerMetadata(ctx)
		if err != nil {
			return err
		}
		isr = min(2, len(meta.Brokers))
	}
	configs := map[string]*string{
		"cleanup.policy":      kadm.StringPtr("delete"),
		"retention.ms":        kadm.StringPtr("-1"),
		"retention.bytes":     kadm.StringPtr("-1"),
		"min.insync.replicas": kadm.StringPtr(strconv.Itoa(isr)),
	}
	resp, err := s.adm.CreateTopic(ctx, int32(s.cfg.Partitions), -1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerrTopicExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	s.mu.Lock()
	s.topics[topic] = struct{}{}
	s.mu.Unlock()
	return nil
}

// eventTopics lists the event topics that exist now.
func (s *Store) eventTopics(ctx context.Context) ([]string, error) {
	details, err := s.adm.ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, t := range details.Names() {
		if s.isEventTopic(t) {
			seen[t] = true
			out = append(out, t)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.topics { // created here, maybe not in the metadata yet
		if !seen[t] {
			out = append(out, t)
		}
	}
	return out, nil
}
