package projection

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/stream"
)

// Snapshot is an aggregate's state at a version, as the snapshot projection stores it.
type Snapshot struct {
	State    json.RawMessage `json:"state"`
	Version  int64           `json:"version"`
	Position stream.Position `json:"position"`
	Time     time.Time       `json:"time"`
}

// SnapshotKey is the key of an aggregate's newest snapshot.
func SnapshotKey(s stream.ID) string { return "snap:" + s.Type + ":" + s.ID }

// SnapshotPolicy says when to snapshot: every Every events, or when an event arrives more
// than Interval after the stream's previous snapshot (by record time). Zero disables one.
type SnapshotPolicy struct {
	Every    int64
	Interval time.Duration
}

// Snapshots returns the built-in snapshot projection. It keeps each aggregate's current
// state (folded with the type's reducer) and, when the policy says so, writes
// {state, version, position} to the read store and, keyed by aggregate id, to the compacted
// snapshot topic <prefix>.<type>.snapshots (producer may be nil to skip the topic). The
// producer must use kgo.ManualPartitioner: a snapshot goes to its aggregate's partition.
// Snapshot records are idempotent: a redelivered batch writes the same record again.
func Snapshots(types []string, version int, reducers Reducers, policy SnapshotPolicy, producer *kgo.Client, topicPrefix string) Projection {
	sp := &snapshotter{reducers: reducers, policy: policy, producer: producer, prefix: topicPrefix}
	return Projection{Name: "snapshots", Version: version, Types: types, Handler: sp, Flush: sp.flush}
}

type snapshotter struct {
	reducers Reducers
	policy   SnapshotPolicy
	producer *kgo.Client
	prefix   string

	mu      sync.Mutex // guards pending and topics
	pending []*kgo.Record
	topics  map[string]bool // snapshot topics known to exist
}

// SnapshotTopic is the compacted topic of an aggregate type's snapshots.
func SnapshotTopic(prefix, aggType string) string { return prefix + "." + aggType + ".snapshots" }

// ensureTopic creates a snapshot topic, compacted, with its event topic's partition count.
func (sp *snapshotter) ensureTopic(ctx context.Context, topic, eventTopic string) error {
	sp.mu.Lock()
	known := sp.topics[topic]
	sp.mu.Unlock()
	if known {
		return nil
	}
	adm := kadm.NewClient(sp.producer)
	details, err := adm.ListTopics(ctx, eventTopic, topic)
	if err != nil {
		return err
	}
	if !details.Has(topic) {
		parts := int32(len(details[eventTopic].Partitions))
		resp, err := adm.CreateTopic(ctx, max(parts, 1), -1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create %s: %w", topic, err)
		}
	}
	sp.mu.Lock()
	if sp.topics == nil {
		sp.topics = map[string]bool{}
	}
	sp.topics[topic] = true
	sp.mu.Unlock()
	return nil
}

// reducer returns the reducer of an aggregate type.
func (sp *snapshotter) reducer(aggType string) (Reducer, bool) {
	red, ok := sp.reducers[aggType]
	if !ok {
		red, ok = sp.reducers["*"] // the reducer of every type that has none of its own
	}
	return red, ok
}

func stateKey(s stream.ID) string { return "state:" + s.Type + ":" + s.ID }

// Prefetch names the aggregate's state and, when snapshots are also due by time, its
// newest snapshot.
func (sp *snapshotter) Prefetch(env *Envelope, keys []string) []string {
	if _, ok := sp.reducer(env.Stream.Type); !ok {
		return keys
	}
	keys = append(keys, stateKey(env.Stream))
	if sp.policy.Interval > 0 {
		keys = append(keys, SnapshotKey(env.Stream))
	}
	return keys
}

func (sp *snapshotter) Apply(_ context.Context, tx *Tx, env *Envelope) error {
	red, ok := sp.reducer(env.Stream.Type)
	if !ok {
		return nil // no reducer: the type gets no snapshots
	}
	var state json.RawMessage
	var doc *stateDoc // with MergePatch: the state, kept decoded
	var applied bool
	var err error
	if isMergePatch(red) {
		applied, doc, err = sp.mergeDecoded(tx, env)
	} else {
		applied, err = FoldInto(tx, stateKey(env.Stream), env, func(s json.RawMessage, e *Envelope) (json.RawMessage, error) {
			out, err := red(s, e)
			state = out
			return out, err
		})
	}
	if err != nil || !applied {
		return err
	}
	due, err := sp.due(tx, env)
	if err != nil || !due {
		return err
	}
	if doc != nil { // kept decoded: encode the state for the snapshot
		state = doc.State.appendJSON(nil)
	}
	snap, _ := json.Marshal(Snapshot{State: state, Version: env.Version, Position: env.Position, Time: env.Time})
	tx.Put(SnapshotKey(env.Stream), snap)
	if sp.producer != nil {
		sp.mu.Lock()
		sp.pending = append(sp.pending, &kgo.Record{Topic: SnapshotTopic(sp.prefix, env.Stream.Type),
			Key: []byte(env.Stream.ID), Value: snap, Partition: env.Position.Partition})
		sp.mu.Unlock()
	}
	return nil
}

// dataOnly: with MergePatch as every reducer, the snapshotter reads only an event's data.
func (sp *snapshotter) dataOnly() bool {
	for _, red := range sp.reducers {
		if !isMergePatch(red) {
			return false
		}
	}
	return true
}

// isMergePatch reports whether red is MergePatch, whose states Snapshots keeps decoded.
func isMergePatch(red Reducer) bool {
	return reflect.ValueOf(red).Pointer() == reflect.ValueOf(MergePatch).Pointer()
}

// stateDoc is a state document (Doc[json.RawMessage]) with its state decoded as a jvalue,
// which encodes to the same JSON value as MergePatch's result, byte for byte.
type stateDoc struct {
	Version int64
	State   jvalue
	size    int     // the length of its last encoding, to size the next one's buffer
	top     jobject // State.obj when the state is an object that has not been replaced
}

// newStateDoc returns a document of state, whose object (if it is one) it holds in the same
// allocation: one pointer fewer to follow (and miss in the cache) per event.
func newStateDoc(version int64, state jvalue) *stateDoc {
	doc := &stateDoc{Version: version, State: state}
	if state.obj != nil {
		doc.top = *state.obj
		doc.State.obj = &doc.top
	}
	return doc
}

// appendJSON encodes the document as json.Marshal would encode a Doc[json.RawMessage].
func (d *stateDoc) appendJSON(b []byte) ([]byte, error) {
	if b == nil {
		b = make([]byte, 0, d.size+16)
	}
	start := len(b)
	b = append(b, `{"version":`...)
	b = strconv.AppendInt(b, d.Version, 10)
	b = append(b, `,"state":`...)
	b = append(d.State.appendJSON(b), '}')
	d.size = len(b) - start
	return b, nil
}

func decodeStateDoc(raw []byte) (*stateDoc, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var doc struct {
		Version int64 `json:"version"`
		State   any   `json:"state"`
	}
	if err := d.Decode(&doc); err != nil {
		return nil, fmt.Errorf("document: %w", err)
	}
	state, err := toJValue(doc.State)
	if err != nil {
		return nil, fmt.Errorf("document: %w", err)
	}
	out := newStateDoc(doc.Version, state)
	out.size = len(raw)
	return out, nil
}

// mergeDecoded is FoldInto with MergePatch on a decoded state: it reports whether env was
// applied (false: a redelivery) and returns the document it staged. The state is encoded
// when the batch is sealed. A state staged earlier in the batch (the common case) is found
// without building its key as a string.
func (sp *snapshotter) mergeDecoded(tx *Tx, env *Envelope) (bool, *stateDoc, error) {
	var buf [80]byte
	k := append(append(append(append(buf[:0], "state:"...), env.Stream.Type...), ':'), env.Stream.ID...)
	doc, staged := tx.vals[string(k)].(*stateDoc)
	var key string
	if !staged {
		key = string(k)
		var ok bool
		var err error
		if doc, ok, err = getDecoded(tx, key, decodeStateDoc); err != nil {
			return false, nil, fmt.Errorf("%s: %w", key, err)
		}
		if !ok {
			doc = &stateDoc{} // MergePatch starts from {}
			doc.State.obj = &doc.top
		}
	}
	if next, err := follows(env, doc.Version); !next {
		return false, nil, err
	}
	if err := doc.State.mergePatch(env); err != nil {
		return false, nil, err
	}
	doc.Version = env.Version
	if !staged { // a value staged with putDecoded is encoded at seal, as it is then
		tx.putDecoded(key, doc)
	}
	return true, doc, nil
}

// due decides whether env's version gets a snapshot.
func (sp *snapshotter) due(tx *Tx, env *Envelope) (bool, error) {
	if sp.policy.Every > 0 && env.Version%sp.policy.Every == 0 {
		return true, nil
	}
	if sp.policy.Interval <= 0 {
		return false, nil
	}
	raw, ok, err := tx.Get(SnapshotKey(env.Stream))
	if err != nil || !ok {
		return err == nil && env.Version > 0 && !ok && sp.policy.Every == 0, err
	}
	var prev Snapshot
	if err := json.Unmarshal(raw, &prev); err != nil {
		return false, fmt.Errorf("snapshot of %s: %w", env.Stream, err)
	}
	return env.Time.Sub(prev.Time) >= sp.policy.Interval, nil
}

// flush produces the batch's snapshot records before the batch commits.
func (sp *snapshotter) flush(ctx context.Context, _ *Tx) error {
	sp.mu.Lock()
	recs := sp.pending
	sp.pending = nil
	sp.mu.Unlock()
	if len(recs) == 0 || sp.producer == nil {
		return nil
	}
	for _, r := range recs {
		evTopic := strings.TrimSuffix(r.Topic, ".snapshots") + ".events"
		if err := sp.ensureTopic(ctx, r.Topic, evTopic); err != nil {
			return err
		}
	}
	return sp.producer.ProduceSync(ctx, recs...).FirstErr()
}
