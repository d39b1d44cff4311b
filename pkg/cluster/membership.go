package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// Owners is what the membership moves partitions in and out of: the append pipeline
// (appender.Appender satisfies it).
type Owners interface {
	Acquire(p int) // start writing p (returns at once; opening fences earlier owners)
	Release(p int) // stop writing p (returns once nothing more is written to p)
}

// MembershipConfig configures how command instances share the partitions.
type MembershipConfig struct {
	Kafka          []string      // seed brokers
	Cluster        string        // the group is <cluster>-command over the topic <cluster>.control
	Partitions     int           // P: the control topic has P partitions, one per event partition index
	SessionTimeout time.Duration // how soon a silent instance loses its partitions; default 6s (the broker's minimum)
	Logger         *zap.Logger
}

func (c MembershipConfig) withDefaults() MembershipConfig {
	if c.Cluster == "" {
		c.Cluster = "strata"
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 6 * time.Second
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// ControlTopic is the topic whose partitions stand for the partition indexes: the group's
// assignment of its partition p says which instance owns partition p of every event topic.
func ControlTopic(cluster string) string { return cluster + ".control" }

// RunMembership joins the command instances' Kafka group and hands the partitions it is
// assigned to owners, until ctx ends; then it releases them and leaves the group. The
// group uses the cooperative-sticky balancer, so a rebalance moves only the partitions
// that must move. A partition is released (revoked, or lost when this instance's session
// expired) before the group gives it to another instance; an instance that was paused
// past its session finds out when it wakes, and its writers find out sooner, from the
// fence (see appender.Fenceable).
func RunMembership(ctx context.Context, cfg MembershipConfig, owners Owners) error {
	cfg = cfg.withDefaults()
	if cfg.Partitions < 1 {
		return errors.New("cluster: membership needs the partition count")
	}
	topic := ControlTopic(cfg.Cluster)
	if err := ensureControlTopic(ctx, cfg, topic); err != nil {
		return err
	}
	log := cfg.Logger.With(zap.String("group", cfg.Cluster+"-command"))
	hand := func(verb string, f func(int)) func(context.Context, *kgo.Client, map[string][]int32) {
		return func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if len(m[topic]) > 0 {
				log.Info("partitions "+verb, zap.Int32s("partitions", m[topic]))
			}
			for _, p := range m[topic] {
				f(int(p))
			}
		}
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Kafka...),
		kgo.ConsumerGroup(cfg.Cluster+"-command"),
		kgo.ConsumeTopics(topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.HeartbeatInterval(cfg.SessionTimeout/6),
		kgo.RebalanceTimeout(30*time.Second),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(hand("assigned", owners.Acquire)),
		kgo.OnPartitionsRevoked(hand("revoked", owners.Release)),
		kgo.OnPartitionsLost(hand("lost", owners.Release)),
	)
	if err != nil {
		return fmt.Errorf("cluster: membership client: %w", err)
	}
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				log.Warn("membership", zap.String("topic", t), zap.Int32("partition", p), zap.Error(err))
			}
		})
	}
	cl.Close() // leaves the group; OnPartitionsRevoked releases what we held
	for p := 0; p < cfg.Partitions; p++ {
		owners.Release(p)
	}
	return nil
}

// ensureControlTopic creates the control topic with P partitions, or checks it has P.
func ensureControlTopic(ctx context.Context, cfg MembershipConfig, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka...))
	if err != nil {
		return fmt.Errorf("cluster: admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, int32(cfg.Partitions), -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err == nil {
		return nil // created with P partitions now
	}
	if !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("cluster: create %s: %w", topic, err)
	}
	// It exists (perhaps created a moment ago by another instance, so that the metadata
	// may not list its partitions yet): check its partition count.
	for attempt := 0; ; attempt++ {
		details, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return fmt.Errorf("cluster: describe %s: %w", topic, err)
		}
		n := len(details[topic].Partitions)
		if n == cfg.Partitions {
			return nil
		}
		if n > 0 || attempt == 50 {
			return fmt.Errorf("cluster: %s has %d partitions but the platform runs with %d: every instance must use the same --partitions",
				topic, n, cfg.Partitions)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
