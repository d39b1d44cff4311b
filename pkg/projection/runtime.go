package projection

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
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
	// MaxBatch is the most records of one batch (one partition's commit); default 12000,
	// about what one fetch holds of a partition (1 MiB). Larger batches write a document or
	// index chunk touched by several of their events once, and commit less often (4000
	// against 12000: Redis spent twice the CPU per event). A poll takes a whole fetch (up
	// to fetchMaxBytes), which the runner splits into batches of at most MaxBatch records
	// per partition; a poll takes only what has arrived, so a batch is this large only
	// while the runner catches up.
	MaxBatch int
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
		c.MaxBatch = 12000
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
// while a poll's batches are applied, and a revocation waits for the commit in flight, so a
// revoked partition's batch either commits before the revocation or not at all; a worker
// that lost a partition without knowing it (paused, partitioned) is refused by the
// checkpoint check.
// Together: every committed event is applied exactly once in effect (I5), and aborted events
// are never delivered.
//
// Commits are pipelined one deep: while batch n's commit is in flight, the runner polls,
// decodes and applies batch n+1, whose reads see batch n's writes first (Tx.under). Batch
// n+1's commit is sent only after batch n's succeeded; if batch n's fails, batch n+1 is
// dropped unsent, so the outcome is that of committing the batches one after the other.
type Runner struct {
	cfg   Config
	proj  Projection
	store Store

	mu   sync.Mutex // guards next, inflight and moves
	next map[topicPartition]int64
	// moves counts the rebalances and resyncs that may have let another worker write this
	// runner's partitions: known is dropped when it moves (see known).
	moves    uint64
	inflight *commit // the commit in flight, if any (set and cleared by Run's goroutine)
	memo     *memo   // decoded documents of this runner's writes; Run's goroutine only
	dataOnly bool    // the handler reads no more of an event than its data (dataOnly)
	puts     int     // the previous batch's number of writes: the next one's map is sized so
	known    *known  // what this runner's commits stored (partition-local handlers only)
	knownAt  uint64  // moves when known was last valid; Run's goroutine only
}

// commit is one batch's Store.Commit, running in its own goroutine.
type commit struct {
	tp       topicPartition
	from, to int64
	tx       *Tx           // the batch; its writes are the next batch's Tx.under until done
	moves    uint64        // Runner.moves when it was sent
	done     chan struct{} // closed once err is set and, on success, next[tp] moved to to
	err      error
	resolved context.Context // cancelled with done closing (for poll)
	resolve  context.CancelFunc
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
	return &Runner{cfg: cfg.withDefaults(), proj: proj, store: store, next: map[topicPartition]int64{}, memo: newMemo(),
		dataOnly: isDataOnly(proj.Handler), known: knownFor(proj.Handler)}, nil
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
		kgo.FetchMaxBytes(fetchMaxBytes),
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
	// Registered after Close, so it runs first: no commit outlives Run, and a successful
	// one's AfterCommit functions run.
	defer func() { _ = r.settle() }()
	dec := &eventkafka.Decoder{} // this goroutine's: a Decoder keeps caches
	for {
		fs := r.poll(ctx, cl)
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
			_ = r.settle() // nothing is in flight after an error; settle to be sure
			err = r.resync(ctx, cl)
		}
		cl.AllowRebalance()
		if err != nil {
			return err
		}
	}
}

// fetchMaxBytes bounds one fetch, so one poll: rebalances wait while a poll's records are
// applied (franz-go's default, 50 MiB, could hold a member with many partitions for seconds).
const fetchMaxBytes = 16 << 20

// poll takes one whole fetch, so that the client starts the next fetch at once and parses it
// while this one is applied: it keeps one buffered fetch per broker and fetches again only
// once that one is drained, so taking a fetch a few thousand records at a time left most of
// every fetch on the critical path. With a commit in flight it also returns (maybe with
// none) once that commit resolves, so that an error is noticed even when no more records
// come.
func (r *Runner) poll(ctx context.Context, cl *kgo.Client) kgo.Fetches {
	r.mu.Lock()
	c := r.inflight
	r.mu.Unlock()
	if c == nil {
		return cl.PollFetches(ctx)
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.resolved, cancel)
	defer stop()
	return cl.PollFetches(pctx)
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
	r.waitInflight()
	r.mu.Lock()
	defer r.mu.Unlock()
	for topic, parts := range assigned {
		for p := range parts {
			off, err := r.store.Checkpoint(ctx, r.proj.Keyspace(), topic, p)
			if err != nil {
				return nil, fmt.Errorf("checkpoint of %s/%d: %w", topic, p, err)
			}
			r.next[topicPartition{topic, p}] = off
			r.moves++
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
		r.moves++
		if seek[tp.topic] == nil {
			seek[tp.topic] = map[int32]kgo.EpochOffset{}
		}
		seek[tp.topic][tp.partition] = kgo.EpochOffset{Epoch: -1, Offset: off}
	}
	cl.SetOffsets(seek)
	return nil
}

// forget drops revoked or lost partitions, once the commit in flight (if any) has resolved.
func (r *Runner) forget(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	r.waitInflight()
	r.mu.Lock()
	defer r.mu.Unlock()
	for topic, parts := range lost {
		for _, p := range parts {
			delete(r.next, topicPartition{topic, p})
			r.moves++
		}
	}
}

// waitInflight waits until the commit in flight, if any, has resolved. The rebalance
// callbacks call it, so that a partition is never revoked or reassigned with a commit of
// it in flight.
func (r *Runner) waitInflight() {
	r.mu.Lock()
	c := r.inflight
	r.mu.Unlock()
	if c != nil {
		<-c.done
	}
}

// settle waits for the commit in flight, if any, clears it, runs its AfterCommit functions if
// it succeeded, and returns its error.
func (r *Runner) settle() error {
	r.mu.Lock()
	c := r.inflight
	r.mu.Unlock()
	if c == nil {
		return nil
	}
	<-c.done
	r.mu.Lock()
	r.inflight = nil
	r.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	r.mu.Lock()
	moved := r.moves != c.moves
	r.mu.Unlock()
	if !moved && r.knownAt == c.moves {
		r.known.absorb(c.tx)
	}
	for _, f := range c.tx.after {
		f()
	}
	return nil
}

// process applies each partition's records of one poll and sends their commits.
func (r *Runner) process(ctx context.Context, dec *eventkafka.Decoder, fs kgo.Fetches) error {
	r.mu.Lock()
	c := r.inflight
	r.mu.Unlock()
	if c != nil && c.resolved.Err() != nil {
		if err := r.settle(); err != nil { // resolved while polling: report a failure now
			return err
		}
	}
	var firstErr error
	fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
		if len(ftp.Records) == 0 || firstErr != nil {
			return
		}
		for _, recs := range split(ftp.Records, r.cfg.MaxBatch) {
			if err := r.batch(ctx, dec, ftp.Topic, ftp.Partition, recs); err != nil {
				firstErr = err
				return
			}
		}
	})
	if firstErr != nil {
		_ = r.settle() // stopping or resyncing: let the commit in flight resolve first
	}
	return firstErr
}

// split cuts recs into the fewest batches of at most `most` records, of sizes that differ by
// at most one (no small tail batch), in order.
func split(recs []*kgo.Record, most int) [][]*kgo.Record {
	left := (len(recs) + most - 1) / most
	out := make([][]*kgo.Record, 0, left)
	for ; left > 0; left-- {
		n := (len(recs) + left - 1) / left
		out = append(out, recs[:n])
		recs = recs[n:]
	}
	return out
}

// batch decodes a partition's records (refusing the batch at the first record that is not a
// valid event), prefetches the keys the handler names, applies the events to one Tx, waits
// for the previous batch's commit and sends this one's, with the checkpoint.
func (r *Runner) batch(ctx context.Context, dec *eventkafka.Decoder, topic string, partition int32, recs []*kgo.Record) error {
	tp := topicPartition{topic, partition}
	r.mu.Lock()
	from, ok := r.next[tp]
	prev := r.inflight
	moves := r.moves
	r.mu.Unlock()
	if !ok {
		return nil // revoked while polled
	}
	if r.knownAt != moves {
		r.known.clear() // another worker may have written this runner's partitions since
		r.knownAt = moves
	}
	if prev != nil && prev.tp == tp {
		from = prev.to // where the commit in flight leaves the partition
	}
	to := recs[len(recs)-1].Offset + 1
	if to <= from {
		return nil // records before the checkpoint (a seek raced the poll)
	}
	start := time.Now()
	envs := make([]*Envelope, 0, len(recs))
	block := make([]Envelope, len(recs)) // one allocation for the batch's envelopes
	for i, rec := range recs {
		if rec.Offset < from || rec.Attrs.IsControl() {
			continue
		}
		if err := decodeInto(&block[i], dec, rec, r.dataOnly); err != nil {
			return fmt.Errorf("projection %s: %w", r.proj.Keyspace(), err)
		}
		envs = append(envs, &block[i])
	}
	tx := newTx(ctx, r.store, r.proj.Keyspace())
	tx.puts = make(map[string][]byte, r.puts) // no growing, and rehashing, key by key
	tx.memo = r.memo
	tx.known = r.known
	if prev != nil {
		tx.under = prev.tx
	}
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
	if err := tx.seal(); err != nil {
		return fmt.Errorf("projection %s: %w", r.proj.Keyspace(), err)
	}
	r.puts = len(tx.puts)
	// This batch was built on the previous one's writes: it may be sent only once those
	// are committed. If they are not, this batch is dropped unsent.
	if err := r.settle(); err != nil {
		return err
	}
	tx.under = nil
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.next[tp]; !ok || cur != from {
		return nil // revoked, or moved by a resync, while this batch was applied
	}
	c := &commit{tp: tp, from: from, to: to, tx: tx, moves: r.moves, done: make(chan struct{})}
	c.resolved, c.resolve = context.WithCancel(context.Background())
	r.inflight = c
	go r.send(ctx, c, len(recs), start)
	return nil
}

// send runs one commit; on success it moves the partition's next offset, if the partition
// is still this runner's at that offset.
func (r *Runner) send(ctx context.Context, c *commit, n int, start time.Time) {
	defer c.resolve()
	defer close(c.done)
	puts, dels := c.tx.writes()
	c.err = r.store.Commit(ctx, r.proj.Keyspace(), Batch{Topic: c.tp.topic, Partition: c.tp.partition,
		From: c.from, To: c.to, Puts: puts, Dels: dels})
	if c.err != nil {
		return
	}
	r.mu.Lock()
	if cur, ok := r.next[c.tp]; ok && cur == c.from {
		r.next[c.tp] = c.to
	}
	r.mu.Unlock()
	r.cfg.Metrics.observeBatch(r.proj.Keyspace(), n, time.Since(start))
}

// envelope decodes a record into what handlers see. dec answers exactly as
// eventkafka.Decode, faster for Strata's own records.
func envelope(dec *eventkafka.Decoder, rec *kgo.Record) (*Envelope, error) {
	env := new(Envelope)
	if err := decodeInto(env, dec, rec, false); err != nil {
		return nil, err
	}
	return env, nil
}

// decodeInto is envelope into env. With dataOnly, a record the decoder's fast path accepts
// gets an Event that holds only its data (see dataOnly).
func decodeInto(env *Envelope, dec *eventkafka.Decoder, rec *kgo.Record, dataOnly bool) error {
	if dataOnly {
		if st, ok := dec.Fields(rec); ok {
			if v, ok := plainVersion(st.AggregateVersion); ok {
				*env = Envelope{
					Stream:   stream.ID{Type: st.AggregateType, ID: st.AggregateID},
					Version:  v,
					Position: stream.Position{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset},
					Time:     rec.Timestamp,
					Event:    event.Event{DataEncoded: st.Data},
				}
				return nil
			}
		}
	}
	e, err := dec.Decode(rec)
	if err != nil {
		return fmt.Errorf("record %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
	}
	v, _, err := event.AggregateVersion(&e)
	if err != nil {
		return fmt.Errorf("record %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
	}
	*env = Envelope{
		Stream:   stream.ID{Type: event.AggregateType(&e), ID: event.AggregateID(&e)},
		Version:  v,
		Position: stream.Position{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset},
		Time:     rec.Timestamp,
		Event:    e,
	}
	return nil
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

// dataOnly is implemented by built-in handlers that read of an Envelope only Stream,
// Version, Position, Time and Event.Data(). When dataOnly() is true the runner may give them
// envelopes whose Event holds the data alone (no context), which saves building the event:
// the record is checked exactly as Decode checks it all the same (eventkafka.Decoder.Fields).
type dataOnly interface{ dataOnly() bool }

func isDataOnly(h Handler) bool {
	d, ok := h.(dataOnly)
	return ok && d.dataOnly()
}

// plainVersion reads an aggregateversion extension as event.AggregateVersion does, for the
// common forms only: "" (absent: 0) and a decimal Integer from 1 without leading zeros. ok
// false: let event.AggregateVersion decide (and report the error).
func plainVersion(s string) (int64, bool) {
	if s == "" {
		return 0, true
	}
	if s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 32) // an Integer is 32 bits
	return n, err == nil
}
