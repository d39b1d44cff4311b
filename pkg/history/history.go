package history

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/stream"
)

// Target names the event topics a history was written to.
type Target struct {
	Kafka       []string // seed brokers
	TopicPrefix string   // event topics are <prefix>.<type>.events
	Partitions  int      // P
}

// Event returns a fresh, unstamped event. Retries build new events with the same ids,
// as a client resending a request would.
func Event(source, id string) *event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource(source)
	e.SetType("com.example.race.happened")
	_ = e.SetData("application/json", map[string]any{"id": id, "pad": "0123456789abcdef0123456789abcdef"})
	return &e
}

// Events returns fresh, unstamped events with the given ids.
func Events(source string, ids []string) []*event.Event {
	out := make([]*event.Event, len(ids))
	for i, id := range ids {
		out[i] = Event(source, id)
	}
	return out
}

// Outcome classifies an answer.
type Outcome uint8

const (
	OutOK          Outcome = iota // committed (Result)
	OutConflict                   // *stream.ConflictError
	OutUnknown                    // no answer in time, or an answer that says the outcome is unknown
	OutUnavailable                // appender.ErrUnavailable: not committed, by contract
	OutRead                       // a head read
)

func (o Outcome) String() string {
	return [...]string{"ok", "conflict", "unknown", "unavailable", "read"}[o]
}

// Op is one operation of the history, with its call and return times (ns since start).
type Op struct {
	Client    int
	Stream    stream.ID
	Read      bool
	Expected  stream.Expected
	Source    string
	IDs       []string
	Call, Ret int64
	Out       Outcome
	Version   int64 // ok: the new version; conflict: the current one; read: the head's
	Res       appender.Result
	Resolved  bool // an unknown Outcome that the log shows committed, at version
}

// EventKey identifies an event for idempotency: (source, id).
type EventKey struct{ Source, ID string }

// Classify records an in-process Append's answer in op; it returns false for an error no
// caller may see.
func (op *Op) Classify(res appender.Result, err error) bool {
	var ce *stream.ConflictError
	switch {
	case err == nil:
		op.Out, op.Version, op.Res = OutOK, res.Version, res
	case errors.As(err, &ce):
		op.Out, op.Version = OutConflict, ce.Current
		return ce.Stream == op.Stream && ce.Expected == op.Expected
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, appender.ErrOutcomeUnknown):
		op.Out = OutUnknown
	case errors.Is(err, appender.ErrUnavailable), errors.Is(err, appender.ErrNotOwner):
		op.Out = OutUnavailable
	default:
		return false
	}
	return true
}

// Logged is one event as a plain consumer reads it from Kafka.
type Logged struct {
	Pos     stream.Position
	Stream  stream.ID
	Version int64
	Key     EventKey
}

// ReadLog reads every event topic of cfg from the start with a plain read_committed
// consumer, decoding each record and checking it is a valid Strata CloudEvent. Records come
// back in partition order. Reading ends when the broker has had nothing more for a while.
func ReadLog(t testing.TB, cfg Target) []Logged {
	t.Helper()
	topics := eventTopics(t, cfg)
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Kafka...),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(250*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []Logged
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("fetch %s/%d: %v", topic, p, err)
			}
		})
		recs := fs.Records()
		if len(recs) == 0 {
			return out
		}
		for _, rec := range recs {
			out = append(out, decodeLogged(t, rec))
		}
	}
	t.Fatalf("reading the event topics did not end within a minute")
	return nil
}

func eventTopics(t testing.TB, cfg Target) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	details, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var topics []string
	for _, name := range details.Names() {
		if strings.HasPrefix(name, cfg.TopicPrefix+".") && strings.HasSuffix(name, ".events") {
			topics = append(topics, name)
		}
	}
	if len(topics) == 0 {
		t.Fatalf("no event topics with prefix %s", cfg.TopicPrefix)
	}
	return topics
}

func decodeLogged(t testing.TB, rec *kgo.Record) Logged {
	t.Helper()
	e, err := eventkafka.Decode(rec)
	if err != nil {
		t.Fatalf("%s/%d@%d: decode: %v", rec.Topic, rec.Partition, rec.Offset, err)
	}
	if err := event.ValidateStrata(&e, event.Limits{}); err != nil {
		t.Fatalf("%s/%d@%d: not a valid Strata CloudEvent: %v", rec.Topic, rec.Partition, rec.Offset, err)
	}
	v, _, _ := event.AggregateVersion(&e)
	return Logged{
		Pos:     stream.Position{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset},
		Stream:  stream.ID{Type: event.AggregateType(&e), ID: event.AggregateID(&e)},
		Version: v,
		Key:     EventKey{e.Source(), e.ID()},
	}
}

// ErrorBudget reports at most n errors, then one line saying how many more there were.
type ErrorBudget struct {
	T    testing.TB
	N    int
	seen int
}

// Errorf reports an error unless N have been reported.
func (b *ErrorBudget) Errorf(format string, args ...any) {
	b.T.Helper()
	b.seen++
	if b.seen <= b.N {
		b.T.Errorf(format, args...)
	}
}

// Done reports how many errors were not shown.
func (b *ErrorBudget) Done(what string) {
	if b.seen > b.N {
		b.T.Errorf("%s: %d more errors not shown", what, b.seen-b.N)
	}
}

// CheckLog checks I1 on the log: every stream lives in its topic and partition, its
// versions are exactly 1..n in partition order, and no (source, id) is stored twice.
func CheckLog(t testing.TB, cfg Target, log []Logged) (map[EventKey]Logged, map[stream.ID][]Logged) {
	t.Helper()
	eb := &ErrorBudget{T: t, N: 20}
	byKey := make(map[EventKey]Logged, len(log))
	byStream := map[stream.ID][]Logged{}
	lastOffset := map[string]int64{}
	for _, le := range log {
		tp := fmt.Sprintf("%s/%d", le.Pos.Topic, le.Pos.Partition)
		if off, ok := lastOffset[tp]; ok && le.Pos.Offset <= off {
			eb.Errorf("%s: offset %d delivered after %d", tp, le.Pos.Offset, off)
		}
		lastOffset[tp] = le.Pos.Offset
		wantTopic := cfg.TopicPrefix + "." + le.Stream.Type + ".events"
		wantPart := int32(stream.PartitionFor(le.Stream.ID, cfg.Partitions))
		if le.Pos.Topic != wantTopic || le.Pos.Partition != wantPart {
			eb.Errorf("%s v%d stored in %s, want %s/%d", le.Stream, le.Version, tp, wantTopic, wantPart)
		}
		prev := byStream[le.Stream]
		if want := int64(len(prev)) + 1; le.Version != want {
			eb.Errorf("I1: %s at %s@%d has version %d, want %d (gap, duplicate or reorder)", le.Stream, tp, le.Pos.Offset, le.Version, want)
		}
		byStream[le.Stream] = append(prev, le)
		if old, dup := byKey[le.Key]; dup {
			eb.Errorf("event %v stored twice: %s v%d at %v and v%d at %v", le.Key, le.Stream, old.Version, old.Pos, le.Version, le.Pos)
		}
		byKey[le.Key] = le
	}
	eb.Done("I1")
	return byKey, byStream
}

// CheckAnswers compares the answers with the log: every acknowledged append is stored whole
// at the answered versions and positions; a conflict or an ErrUnavailable stored nothing;
// an append whose Outcome is unknown is stored whole or not at all (and is then resolved);
// every stored event was sent by some append.
func CheckAnswers(t testing.TB, hist []Op, byKey map[EventKey]Logged) {
	t.Helper()
	eb := &ErrorBudget{T: t, N: 20}
	sent := map[EventKey]bool{}
	for i := range hist {
		op := &hist[i]
		if op.Read {
			continue
		}
		var found []Logged
		for _, id := range op.IDs {
			k := EventKey{op.Source, id}
			sent[k] = true
			if le, ok := byKey[k]; ok {
				found = append(found, le)
			}
		}
		if len(found) != 0 && len(found) != len(op.IDs) {
			eb.Errorf("partial append %s %v: %d of %d events stored (%s)", op.Stream, op.IDs, len(found), len(op.IDs), op.Out)
			continue
		}
		if err := CheckWhole(op, found); err != nil {
			eb.Errorf("append %s %v (%s): %v", op.Stream, op.IDs, op.Out, err)
			continue
		}
		switch {
		case op.Out == OutOK:
			if err := CheckAcknowledged(op, found); err != nil {
				eb.Errorf("acknowledged append %s %v: %v", op.Stream, op.IDs, err)
			}
		case len(found) == 0:
		case op.Out == OutUnknown:
			op.Resolved, op.Version = true, found[len(found)-1].Version
		default: // a conflict or ErrUnavailable that was committed after all
			eb.Errorf("append %s %v answered %s (version %d) but committed at v%d..v%d",
				op.Stream, op.IDs, op.Out, op.Version, found[0].Version, found[len(found)-1].Version)
		}
	}
	for k, le := range byKey {
		if !sent[k] {
			eb.Errorf("event %v (%s v%d) in the log was never sent", k, le.Stream, le.Version)
		}
	}
	eb.Done("answers")
}

// CheckWhole checks that the stored events of one append are its stream's consecutive
// versions, in the append's order: nothing of another append between them.
func CheckWhole(op *Op, found []Logged) error {
	for j, le := range found {
		if le.Stream != op.Stream {
			return fmt.Errorf("event %d stored in stream %s", j, le.Stream)
		}
		if j > 0 && le.Version != found[0].Version+int64(j) {
			return fmt.Errorf("not contiguous: event %d at v%d after event 0 at v%d", j, le.Version, found[0].Version)
		}
	}
	return nil
}

func CheckAcknowledged(op *Op, found []Logged) error {
	if len(found) == 0 {
		return fmt.Errorf("acknowledged at v%d but not in the log (I3)", op.Version)
	}
	if len(op.Res.Positions) != len(op.IDs) {
		return fmt.Errorf("%d positions for %d events", len(op.Res.Positions), len(op.IDs))
	}
	first := op.Res.Version - int64(len(op.IDs)) + 1
	for j, le := range found {
		if le.Version != first+int64(j) || le.Pos != op.Res.Positions[j] {
			return fmt.Errorf("event %d answered v%d at %v, stored v%d at %v",
				j, first+int64(j), op.Res.Positions[j], le.Version, le.Pos)
		}
	}
	return nil
}

// The porcupine model of one stream: the state is its version.
type (
	ModelInput struct {
		Read     bool
		Expected stream.Expected
		N        int64
	}
	ModelOutput struct {
		Out     Outcome
		Version int64
	}
)

// StreamModel is nondeterministic only for appends whose Outcome is unknown: they may or
// may not have taken effect.
var StreamModel = porcupine.NondeterministicModel{
	Init: func() []any { return []any{int64(0)} },
	Step: func(state, input, output any) []any {
		v, in, out := state.(int64), input.(ModelInput), output.(ModelOutput)
		if in.Read {
			if out.Version == v {
				return []any{v}
			}
			return nil
		}
		pass := stream.Check(stream.ID{}, in.Expected, v) == nil
		switch out.Out {
		case OutOK:
			if pass && out.Version == v+in.N {
				return []any{v + in.N}
			}
		case OutConflict:
			if !pass && out.Version == v {
				return []any{v}
			}
		default:
			if pass {
				return []any{v, v + in.N}
			}
			return []any{v}
		}
		return nil
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(ModelInput), output.(ModelOutput)
		if in.Read {
			return fmt.Sprintf("head() -> %d", out.Version)
		}
		if out.Out == OutUnknown || out.Out == OutUnavailable {
			return fmt.Sprintf("append(exp %s, %d) -> %s", in.Expected, in.N, out.Out)
		}
		return fmt.Sprintf("append(exp %s, %d) -> %s %d", in.Expected, in.N, out.Out, out.Version)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("v%d", state.(int64)) },
}

// CheckLinearizable checks each stream's history with porcupine. An append whose Outcome is
// unknown returns at the end of the history; if the log shows it committed, its output is
// that commit, else it may or may not have taken effect.
func CheckLinearizable(t testing.TB, hist []Op) {
	t.Helper()
	end := int64(0)
	for _, op := range hist {
		end = max(end, op.Ret+1)
	}
	perStream := map[stream.ID][]porcupine.Operation{}
	for _, op := range hist {
		in := ModelInput{Read: op.Read, Expected: op.Expected, N: int64(len(op.IDs))}
		out := ModelOutput{Out: op.Out, Version: op.Version}
		ret := op.Ret
		switch {
		case op.Read && op.Out != OutRead:
			continue // a failed read says nothing
		case op.Resolved:
			out.Out, ret = OutOK, end
		case op.Out == OutUnknown || op.Out == OutUnavailable:
			ret = end
		}
		perStream[op.Stream] = append(perStream[op.Stream], porcupine.Operation{
			ClientId: op.Client, Input: in, Call: op.Call, Output: out, Return: ret})
	}
	model := StreamModel.ToModel()
	dir := os.Getenv("STRATA_PORCUPINE_DIR")
	for s, ops := range perStream {
		res, info := porcupine.CheckOperationsVerbose(model, ops, 30*time.Second)
		if res == porcupine.Ok {
			continue
		}
		if dir == "" {
			dir = t.TempDir()
		}
		path := filepath.Join(dir, strings.ReplaceAll(s.String(), "/", "_")+".html")
		if err := porcupine.VisualizePath(model, info, path); err != nil {
			t.Logf("visualize %s: %v", s, err)
		}
		t.Errorf("I2: stream %s (%d operations) is not linearizable (%v); visualisation: %s", s, len(ops), res, path)
	}
}

// Summary is what Check found.
type Summary struct {
	Logged   []Logged               // the log, in partition order
	ByStream map[stream.ID][]Logged // the log by stream, in version order
	Outcomes map[Outcome]int        // answers by outcome
	Resolved int                    // unknown outcomes the log shows committed
}

// Check reads the log of target and runs every checker on it and hist: CheckLog,
// CheckAnswers and CheckLinearizable.
func Check(t testing.TB, target Target, hist []Op) Summary {
	t.Helper()
	sum := Summary{Logged: ReadLog(t, target), Outcomes: map[Outcome]int{}}
	var byKey map[EventKey]Logged
	byKey, sum.ByStream = CheckLog(t, target, sum.Logged)
	CheckAnswers(t, hist, byKey)
	CheckLinearizable(t, hist)
	for _, op := range hist {
		sum.Outcomes[op.Out]++
		if op.Resolved {
			sum.Resolved++
		}
	}
	return sum
}
