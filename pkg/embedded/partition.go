package embedded

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/stream"
)

// OpenPartition makes the caller the single writer of partition p until it closes the
// returned Partition. A second OpenPartition of p before that fails with ErrPartitionOwned.
// Heads always reflect the log here (they are written in the same batch as the events), so
// there is nothing to catch up on.
func (e *Engine) OpenPartition(ctx context.Context, p int) (appender.Partition, error) {
	if p < 0 || p >= e.cfg.Partitions {
		return nil, fmt.Errorf("embedded: partition %d out of range 0..%d", p, e.cfg.Partitions-1)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &writer{e: e, p: p, state: e.parts[p]}
	err := e.use(func(*pebble.DB) error {
		w.state.mu.Lock()
		defer w.state.mu.Unlock()
		if w.state.owned {
			return fmt.Errorf("%w: partition %d", ErrPartitionOwned, p)
		}
		w.state.owned = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// writer is the appender.Partition of one partition. The pipeline calls it from one
// goroutine at a time, so its scratch buffers need no lock.
type writer struct {
	e      *Engine
	p      int
	state  *partState
	closed atomic.Bool

	key, val, json []byte // scratch

	// versions holds the versions this writer committed, by stream: the stored head of a
	// stream in it needs no read (the writer is the partition's only writer while open).
	// Updated only after a commit succeeded; cleared when it reaches maxKnownVersions.
	versions map[stream.ID]int64
	// applied holds the next offset of each topic after the groups this writer applied,
	// synced or not; readers see Engine's partState.next, which advances after the sync.
	applied map[string]int64
	// topics holds Engine.Topic's answers, by aggregate type: one string per topic, so
	// that no append builds its topic's name and comparing positions' topics (64 per
	// head) mostly compares pointers. Cleared when it reaches maxKnownTopics.
	topics map[string]string
	// stored holds the head values this writer committed, by stream, for the newest
	// maxStoredHeads streams it wrote (cleared when full): a stream's next head copies
	// its older recents from there instead of encoding them again. Updated only after a
	// commit succeeded, like versions.
	stored map[stream.ID]storedHead
	// heads, pending and order are build's scratch: the running head of each stream of
	// the group, and the streams in order of their first append.
	heads   map[stream.ID]*stream.Pending
	pending []stream.Pending
	order   []stream.ID
	// built holds the heads the last build encoded, in builtVals (written there, then
	// copied into the batch), until remember.
	built     []builtHead
	builtVals []byte
}

type storedHead struct {
	version int64
	val     []byte
}

type builtHead struct {
	s          stream.ID
	version    int64
	start, end int // in builtVals
}

// maxKnownVersions bounds writer.versions; maxKnownTopics bounds writer.topics.
const (
	maxKnownVersions = 1 << 16
	maxKnownTopics   = 1 << 10
	maxStoredHeads   = 1 << 11
)

// topic returns w.e.Topic(aggType), the same string every time.
func (w *writer) topic(aggType string) string {
	if t, ok := w.topics[aggType]; ok {
		return t
	}
	if w.topics == nil || len(w.topics) >= maxKnownTopics {
		w.topics = make(map[string]string)
	}
	t := w.e.Topic(aggType)
	w.topics[aggType] = t
	return t
}

// Head returns the committed head of s.
func (w *writer) Head(_ context.Context, s stream.ID) (stream.Head, error) {
	if w.closed.Load() {
		return stream.Head{}, appender.ErrClosed
	}
	return w.e.Head(s)
}

// Recover has nothing to resolve: the outcome of a pebble commit is never unknown. Pebble
// returns an error from Batch.Commit only for a batch it refused before writing (closed
// database, invalid batch); a failed WAL write or sync makes pebble call Logger.Fatalf,
// which ends the process before anyone is answered. So Commit never returns ErrUncertain.
func (w *writer) Recover(context.Context) error { return nil }

// Close gives up the partition; another OpenPartition of it may follow.
func (w *writer) Close() error {
	if w.closed.Swap(true) {
		return nil
	}
	w.state.mu.Lock()
	w.state.owned = false
	w.state.mu.Unlock()
	return nil
}

// Commit writes a group as one pebble batch, committed with pebble.Sync: Apply, then its
// wait.
//
// Invariants (of Apply and Commit):
//   - Atomicity: the batch holds every event of the group, every stream's new head and the
//     partition's new next offsets; pebble applies a batch whole or not at all, after a
//     crash too (a batch is one WAL record).
//   - Durability (I3): Commit, and Apply's wait, return only after the WAL is fsynced.
//     Batches reach the WAL in the order they are applied, so a group is durable only if
//     every group applied before it is.
//   - Heads match the log: a stream's stored head is its committed version, and each
//     append's Prior.Version must equal it (the running version, for a stream's later
//     appends in the group). The stored version is read from pebble once per stream and
//     then remembered from this writer's own commits (it is the partition's only writer
//     while open). Anything else is the caller's bug: the whole group is refused
//     (ErrHeadMismatch). The new head is Prior.Advance(recents); for a later append of the
//     same stream it extends the engine's running head instead, whose recents carry the
//     positions just given, which the caller cannot know before the commit.
//   - Offsets are contiguous per topic-partition, from 0. The writer continues from the
//     offsets of the groups it applied; readers' end offsets advance only once a group is
//     synced, so readers never see an offset that is not durable.
//   - Disk space: a group that would leave less than Config.DiskReserve free is refused
//     whole (ErrDiskFull) before pebble sees it (diskspace.go says why).
//
// Steps: (1) check each append against the contract and the stored or running head;
// (2) give each event the next offset of its topic-partition and encode it as a Kafka
// record; (3) add the heads Prior.Advance(recents) and the next offsets; (4) check the
// free space; (5) apply with Sync, not waiting; then, in wait: (6) wait for the fsync;
// (7) publish the next offsets to readers.
func (w *writer) Commit(ctx context.Context, group []appender.StreamAppend) ([][]stream.Position, error) {
	positions, wait, err := w.Apply(ctx, group)
	if err != nil {
		return nil, err
	}
	if err := wait(); err != nil {
		return nil, err
	}
	return positions, nil
}

// Apply writes a group (see Commit) and returns its positions without waiting for the
// fsync: the returned wait does, and must be called exactly once, in the order the groups
// were applied. An Apply error means nothing was written; a wait error (a failed WAL
// sync, which pebble's logger treats as fatal, or an engine closed under it) wraps
// appender.ErrUncertain. It implements appender.Pipelined.
func (w *writer) Apply(ctx context.Context, group []appender.StreamAppend) ([][]stream.Position, func() error, error) {
	if w.closed.Load() {
		return nil, nil, appender.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	g := &appliedGroup{w: w}
	err := w.e.use(func(db *pebble.DB) error {
		b := db.NewBatch()
		n, pos, err := w.build(db, b, group, time.Now())
		if err == nil {
			err = w.e.checkSpace(len(b.Repr()))
		}
		if err == nil {
			if w.e.onApply != nil {
				w.e.onApply(b.Repr())
			}
			err = db.ApplyNoSyncWait(b, pebble.Sync)
		}
		if err != nil {
			_ = b.Close()
			return fmt.Errorf("embedded: commit partition %d: %w", w.p, err)
		}
		if w.applied == nil {
			w.applied = make(map[string]int64)
		}
		for topic, off := range n {
			w.applied[topic] = off
		}
		w.remember(group)
		g.positions, g.next, g.batch = pos, n, b
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return g.positions, g.wait, nil
}

// appliedGroup is a group Apply applied, waiting for its sync.
type appliedGroup struct {
	w         *writer
	batch     *pebble.Batch
	positions [][]stream.Position
	next      map[string]int64 // the partition's next offsets once the group is synced
}

// wait waits for the group's fsync, then publishes its offsets to readers.
func (g *appliedGroup) wait() error {
	defer func() { _ = g.batch.Close() }()
	if err := g.batch.SyncWait(); err != nil {
		return fmt.Errorf("%w: embedded: sync partition %d: %v", appender.ErrUncertain, g.w.p, err)
	}
	st := g.w.state
	st.mu.Lock()
	for topic, n := range g.next {
		st.next[topic] = max(st.next[topic], n)
	}
	st.mu.Unlock()
	return nil
}

// build adds a group to b and returns the new next offsets and the events' positions.
func (w *writer) build(db *pebble.DB, b *pebble.Batch, group []appender.StreamAppend, now time.Time) (
	map[string]int64, [][]stream.Position, error) {
	next := make(map[string]int64, 1)
	// The running heads of the group's streams, in order of first append; w.heads and
	// w.pending are scratch, and a group's Pendings never move (pending is sized first).
	if w.heads == nil {
		w.heads = make(map[stream.ID]*stream.Pending)
	}
	clear(w.heads)
	w.pending = slices.Grow(w.pending[:0], len(group))
	w.order = w.order[:0]
	positions := make([][]stream.Position, len(group))
	for i := range group {
		a := &group[i]
		running, seen := w.heads[a.Stream]
		var version int64
		if seen {
			version = running.Version()
		} else {
			stored, known := w.versions[a.Stream]
			if !known {
				var err error
				if stored, err = readHead(db, a.Stream, headVersion); err != nil {
					return nil, nil, err
				}
			}
			version = stored
			// The new head is the first append's Prior advanced by every append of the
			// stream in the group: later appends' Priors lack the positions just given.
			w.pending = append(w.pending, stream.Pending{Prior: a.Prior})
			running = &w.pending[len(w.pending)-1]
			w.heads[a.Stream] = running
			w.order = append(w.order, a.Stream)
		}
		if err := w.checkAppend(a, version); err != nil {
			return nil, nil, err
		}
		recents, err := w.addEvents(b, a, next, now)
		if err != nil {
			return nil, nil, err
		}
		positions[i] = make([]stream.Position, len(recents))
		for j, r := range recents {
			positions[i][j] = r.Position
		}
		if running.Added == nil {
			running.Added = recents[:len(recents):len(recents)] // addEvents' own slice
		} else {
			running.Added = append(running.Added, recents...)
		}
	}
	w.built, w.builtVals = w.built[:0], w.builtVals[:0]
	for i := range w.pending {
		h, s, start := &w.pending[i], w.order[i], len(w.builtVals)
		var err error
		if w.builtVals, err = w.encodeHead(w.builtVals, s, h); err != nil {
			return nil, nil, fmt.Errorf("head of %s: %w", s, err)
		}
		w.built = append(w.built, builtHead{s: s, version: h.Version(), start: start, end: len(w.builtVals)})
		w.key = headKey(w.key[:0], s.Type, s.ID)
		if err := b.Set(w.key, w.builtVals[start:], nil); err != nil {
			return nil, nil, err
		}
	}
	for topic, n := range next {
		w.key = topicPartitionPrefix(w.key[:0], kindOffset, topic, int32(w.p))
		w.val = binary.BigEndian.AppendUint64(w.val[:0], uint64(n))
		if err := b.Set(w.key, w.val, nil); err != nil {
			return nil, nil, err
		}
	}
	clear(w.pending) // drop the group's recents
	return next, positions, nil
}

// encodeHead appends the stored value of h, the new head of s. When this writer stored the
// head h advances (same version, same number of recents), it copies that value's recents.
func (w *writer) encodeHead(dst []byte, s stream.ID, h *stream.Pending) ([]byte, error) {
	topic := w.topic(s.Type)
	if old, ok := w.stored[s]; ok && old.version == h.Prior.Version {
		if entries, n, ok := headEntries(old.val); ok && n == len(h.Prior.Recent) {
			return appendSplicedHead(dst, h.Version(), entries, n, h.Added, topic, int32(w.p))
		}
	}
	return appendAdvancedHead(dst, h.Version(), h.Prior.Recent, h.Added, topic, int32(w.p))
}

// remember records the versions and heads a committed group gave its streams (the heads
// of the last build, which built that group).
func (w *writer) remember(group []appender.StreamAppend) {
	if w.versions == nil || len(w.versions) >= maxKnownVersions {
		w.versions = make(map[stream.ID]int64)
	}
	for _, a := range group { // a stream's later appends come later: the last one wins
		w.versions[a.Stream] = a.Prior.Version + int64(len(a.Events))
	}
	if w.stored == nil || len(w.stored)+len(w.built) > maxStoredHeads {
		w.stored = make(map[stream.ID]storedHead)
	}
	for _, b := range w.built {
		old := w.stored[b.s]
		w.stored[b.s] = storedHead{version: b.version, val: append(old.val[:0], w.builtVals[b.start:b.end]...)}
	}
	w.built = w.built[:0]
}

// checkAppend checks one append against the Commit contract and the stream's head.
func (w *writer) checkAppend(a *appender.StreamAppend, current int64) error {
	s := a.Stream
	if len(a.Events) == 0 {
		return fmt.Errorf("%w: append to %s has no events", ErrBadGroup, s)
	}
	if err := event.ValidateStreamName(s.Type, s.ID); err != nil {
		return fmt.Errorf("%w: %v", ErrBadGroup, err)
	}
	if p := stream.PartitionFor(s.ID, w.e.cfg.Partitions); p != w.p {
		return fmt.Errorf("%w: stream %s lives in partition %d, not %d", ErrBadGroup, s, p, w.p)
	}
	if a.Prior.Version+int64(len(a.Events)) > event.MaxVersion {
		return fmt.Errorf("%w: stream %s would pass version %d", ErrBadGroup, s, int64(event.MaxVersion))
	}
	if a.Prior.Version != current {
		return fmt.Errorf("%w: stream %s: prior version %d, stored version %d", ErrHeadMismatch, s, a.Prior.Version, current)
	}
	return nil
}

// addEvents adds an append's events to b at the next offsets of their topic-partition.
func (w *writer) addEvents(b *pebble.Batch, a *appender.StreamAppend, next map[string]int64, now time.Time) (
	[]stream.Recent, error) {
	topic := w.topic(a.Stream.Type)
	off, ok := next[topic]
	if !ok {
		off, ok = w.applied[topic]
	}
	if !ok {
		w.state.mu.Lock()
		off = w.state.next[topic]
		w.state.mu.Unlock()
	}
	recents := make([]stream.Recent, 0, len(a.Events))
	for j, ev := range a.Events {
		version := a.Prior.Version + int64(j) + 1
		if err := checkStamp(ev, a.Stream, version); err != nil {
			return nil, err
		}
		rec, err := eventRecord(w.json, ev, a.Stream.ID, now)
		if err != nil {
			return nil, err
		}
		w.json = rec.Value
		w.key = eventKey(w.key[:0], topic, int32(w.p), off)
		w.val = appendRecord(w.val[:0], w.key, &rec)
		if err := b.Set(w.key, w.val, nil); err != nil {
			return nil, err
		}
		pos := stream.Position{Topic: topic, Partition: int32(w.p), Offset: off}
		recents = append(recents, stream.Recent{Source: event.Source(ev), EventID: ev.ID(), Version: version, Position: pos})
		off++
	}
	next[topic] = off
	return recents, nil
}

// checkStamp checks that ev is stamped as event version of stream s. It reads the
// extensions in place (sdk-go's Extensions copies the map on every call).
func checkStamp(ev *event.Event, s stream.ID, version int64) error {
	if ev == nil {
		return fmt.Errorf("%w: %s version %d: nil event", ErrBadGroup, s, version)
	}
	t, id, key := event.AggregateType(ev), event.AggregateID(ev), event.PartitionKey(ev)
	v, ok, err := event.AggregateVersion(ev)
	if !ok || err != nil || v != version || t != s.Type || id != s.ID || key != s.ID {
		return fmt.Errorf("%w: event %s is stamped %s/%s version %d (%v), want %s version %d",
			ErrBadGroup, ev.ID(), t, id, v, err, s, version)
	}
	return nil
}
