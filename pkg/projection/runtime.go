package projection

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/stream"
)

// Config configures a Runtime.
type Config struct {
	Kafka       []string // seed brokers
	Group       string   // consumer group prefix; each projection version is its own group
	TopicPrefix string   // event topics are <prefix>.<type>.events; default "strata"
	MaxBatch    int      // records per poll; default 1000
	// SessionTimeout is how long the group waits for a silent member before giving its
	// partitions to others; default 10s (the broker's minimum is usually 6s).
	SessionTimeout time.Duration
	// DropGrace is how long an old version's keyspace outlives the switch to a rebuilt
	// version, for readers still reading it; default 5s.
	DropGrace time.Duration
	Logger    *zap.Logger // default: nop
	Metrics   *Metrics    // default: none
}

func (c Config) withDefaults() Config {
	if c.TopicPrefix == "" {
		c.TopicPrefix = "strata"
	}
	if c.Group == "" {
		c.Group = "strata"
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 1000
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.DropGrace == 0 {
		c.DropGrace = 5 * time.Second
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 10 * time.Second
	}
	return c
}

// Validate checks the settings.
func (c Config) Validate() error {
	if len(c.Kafka) == 0 {
		return errors.New("projection: no Kafka seed brokers")
	}
	if c.MaxBatch < 0 {
		return errors.New("projection: MaxBatch must not be negative")
	}
	return nil
}

// Topic returns the event topic of an aggregate type.
func (c Config) Topic(aggType string) string { return c.TopicPrefix + "." + aggType + ".events" }

// Runner consumes the event topics of one projection version as one consumer group member.
//
// Per partition, it reads read_committed in offset order, applies a batch of records to a
// Tx, and commits the Tx's writes together with the partition's checkpoint (Store.Commit:
// one atomic call that also checks the checkpoint has not moved). On assignment it starts
// from its own stored checkpoint, not the group's committed offsets. Rebalances are blocked
// while a batch is applied and committed, so a revoked partition's batch either commits
// before the revocation or not at all; a worker that lost a partition without knowing it
// (paused, partitioned) is refused by the checkpoint check. Together: every committed event
// is applied exactly once in effect (I5), and aborted events are never delivered.
type Runner struct {
	cfg   Config
	proj  Projection
	store Store

	mu   sync.Mutex // guards next
	next map[topicPartition]int64
}

type topicPartition struct {
	topic     string
	partition int32
}

// NewRunner returns a runner of proj on store.
func NewRunner(cfg Config, proj Projection, store Store) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := proj.Validate(); err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg.withDefaults(), proj: proj, store: store, next: map[topicPartition]int64{}}, nil
}

// GroupID is the consumer group of this projection version.
func (r *Runner) GroupID() string {
	return fmt.Sprintf("%s.projection.%s", r.cfg.Group, r.proj.Keyspace())
}

// Run consumes until ctx ends or an error stops it.
func (r *Runner) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(append(r.topicOpts(),
		kgo.SeedBrokers(r.cfg.Kafka...),
		kgo.ConsumerGroup(r.GroupID()),
		// A regex subscription sees a new event topic at the next metadata refresh (5 min by
		// default): keep it short, so a new aggregate type is projected (and readable) soon.
		kgo.MetadataMaxAge(5*time.Second),
		kgo.SessionTimeout(r.cfg.SessionTimeout),
		kgo.HeartbeatInterval(r.cfg.SessionTimeout/5),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), // so checkpoints move past transaction markers, to the LSO
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.BlockRebalanceOnPoll(),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AdjustFetchOffsetsFn(r.adjust),
		kgo.OnPartitionsRevoked(r.forget),
		kgo.OnPartitionsLost(r.forget),
		kgo.MetadataMinAge(time.Second), // notice new event topics quickly
	)...)
	if err != nil {
		return fmt.Errorf("projection %s: %w", r.proj.Keyspace(), err)
	}
	defer cl.Close()
	dec := &eventkafka.Decoder{} // this goroutine's: a Decoder keeps caches
	for {
		fs := cl.PollRecords(ctx, r.cfg.MaxBatch)
		if ctx.Err() != nil {
			cl.AllowRebalance()
			return nil
		}
		if err := fetchErr(fs); err != nil {
			cl.AllowRebalance()
			return err
		}
		err := r.process(ctx, dec, fs)
		if ctx.Err() != nil {
			cl.AllowRebalance()
			return nil // stopping: an interrupted batch was not committed and will be redone
		}
		if errors.Is(err, ErrStaleCheckpoint) {
			r.cfg.Logger.Warn("checkpoint moved under us; resyncing", zap.Error(err))
			err = r.resync(ctx, cl)
		}
		cl.AllowRebalance()
		if err != nil {
			return err
		}
	}
}

// eventTopicRe matches every event topic under prefix.
func eventTopicRe(prefix string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `\.[a-z][a-z0-9_-]{0,62}\.events$`)
}

// topicOpts consumes the projection's topics, or every event topic when it names none.
func (r *Runner) topicOpts() []kgo.Opt {
	if len(r.proj.Types) == 0 {
		return []kgo.Opt{kgo.ConsumeRegex(), kgo.ConsumeTopics(eventTopicRe(r.cfg.TopicPrefix).String())}
	}
	topics := make([]string, len(r.proj.Types))
	for i, t := range r.proj.Types {
		topics[i] = r.cfg.Topic(t)
	}
	return []kgo.Opt{kgo.ConsumeTopics(topics...)}
}

// adjust replaces the group's offsets with the projection's own checkpoints.
func (r *Runner) adjust(ctx context.Context, assigned map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for topic, parts := range assigned {
		for p := range parts {
			off, err := r.store.Checkpoint(ctx, r.proj.Keyspace(), topic, p)
			if err != nil {
				return nil, fmt.Errorf("checkpoint of %s/%d: %w", topic, p, err)
			}
			r.next[topicPartition{topic, p}] = off
			parts[p] = kgo.NewOffset().At(off).WithEpoch(-1)
		}
	}
	return assigned, nil
}

// resync reloads every owned partition's checkpoint and seeks there: after a stale commit
// another worker has moved on, and if this one still owns the partition it continues from
// the stored truth.
func (r *Runner) resync(ctx context.Context, cl *kgo.Client) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	seek := map[string]map[int32]kgo.EpochOffset{}
	for tp := range r.next {
		off, err := r.store.Checkpoint(ctx, r.proj.Keyspace(), tp.topic, tp.partition)
		if err != nil {
			return err
		}
		r.next[tp] = off
		if seek[tp.topic] == nil {
			seek[tp.topic] = map[int32]kgo.EpochOffset{}
		}
		seek[tp.topic][tp.partition] = kgo.EpochOffset{Epoch: -1, Offset: off}
	}
	cl.SetOffsets(seek)
	return nil
}

func (r *Runner) forget(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for topic, parts := range lost {
		for _, p := range parts {
			delete(r.next, topicPartition{topic, p})
		}
	}
}

// process applies and commits each partition's records of one poll.
func (r *Runner) process(ctx context.Context, dec *eventkafka.Decoder, fs kgo.Fetches) error {
	var firstErr error
	fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
		if len(ftp.Records) == 0 || firstErr != nil {
			return
		}
		if err := r.batch(ctx, dec, ftp.Topic, ftp.Partition, ftp.Records); err != nil {
			firstErr = err
		}
	})
	return firstErr
}

// batch decodes a partition's records (refusing the batch at the first record that is not a
// valid event), prefetches the keys the handler names, applies the events to one Tx and
// commits it with the checkpoint.
func (r *Runner) batch(ctx context.Context, dec *eventkafka.Decoder, topic string, partition int32, recs []*kgo.Record) error {
	tp := topicPartition{topic, partition}
	r.mu.Lock()
	from, ok := r.next[tp]
	r.mu.Unlock()
	if !ok {
		return nil // revoked while polled
	}
	start := time.Now()
	envs := make([]*Envelope, 0, len(recs))
	for _, rec := range recs {
		if rec.Offset < from || rec.Attrs.IsControl() {
			continue
		}
		env, err := envelope(dec, rec)
		if err != nil {
			return fmt.Errorf("projection %s: %w", r.proj.Keyspace(), err)
		}
		envs = append(envs, env)
	}
	tx := newTx(ctx, r.store, r.proj.Keyspace())
	if err := tx.prefetch(r.proj.Handler, envs); err != nil {
		return fmt.Errorf("projection %s: prefetch: %w", r.proj.Keyspace(), err)
	}
	for _, env := range envs {
		if err := r.proj.Handler.Apply(ctx, tx, env); err != nil {
			return fmt.Errorf("projection %s: apply %s v%d: %w", r.proj.Keyspace(), env.Stream, env.Version, err)
		}
	}
	if r.proj.Flush != nil {
		if err := r.proj.Flush(ctx, tx); err != nil {
			return fmt.Errorf("projection %s: flush: %w", r.proj.Keyspace(), err)
		}
	}
	to := recs[len(recs)-1].Offset + 1
	puts, dels := tx.writes()
	err := r.store.Commit(ctx, r.proj.Keyspace(), Batch{Topic: topic, Partition: partition, From: from, To: to, Puts: puts, Dels: dels})
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.next[tp] = to
	r.mu.Unlock()
	for _, f := range tx.after {
		f()
	}
	r.cfg.Metrics.observeBatch(r.proj.Keyspace(), len(recs), time.Since(start))
	return nil
}

// envelope decodes a record into what handlers see. dec answers exactly as
// eventkafka.Decode, faster for Strata's own records.
func envelope(dec *eventkafka.Decoder, rec *kgo.Record) (*Envelope, error) {
	e, err := dec.Decode(rec)
	if err != nil {
		return nil, fmt.Errorf("record %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
	}
	v, _, err := event.AggregateVersion(&e)
	if err != nil {
		return nil, fmt.Errorf("record %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
	}
	return &Envelope{
		Stream:   stream.ID{Type: event.AggregateType(&e), ID: event.AggregateID(&e)},
		Version:  v,
		Position: stream.Position{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset},
		Time:     rec.Timestamp,
		Event:    e,
	}, nil
}

func fetchErr(fs kgo.Fetches) error {
	var out error
	fs.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return
		}
		if out == nil {
			out = fmt.Errorf("fetch %s/%d: %w", t, p, err)
		}
	})
	return out
}
