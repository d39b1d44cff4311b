package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/pkg/testrig"
)

// The tests in this file race many clients against one Store on the real rig and then check
// the history two ways: the log, read back with a plain franz-go consumer (I1, whole
// appends, every acknowledged append where its answer says), and the answers, checked for
// per-stream linearizability with porcupine (I2).

// raceEvent returns a fresh, unstamped event. Retries build new events with the same ids,
// as a client resending a request would.
func raceEvent(source, id string) *event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource(source)
	e.SetType("com.example.race.happened")
	_ = e.SetData("application/json", map[string]any{"id": id, "pad": "0123456789abcdef0123456789abcdef"})
	return &e
}

func raceEvents(source string, ids []string) []*event.Event {
	out := make([]*event.Event, len(ids))
	for i, id := range ids {
		out[i] = raceEvent(source, id)
	}
	return out
}

// outcome classifies an answer.
type outcome uint8

const (
	outOK          outcome = iota // committed (Result)
	outConflict                   // *stream.ConflictError
	outTimeout                    // the client's deadline passed: unknown
	outUnavailable                // appender.ErrUnavailable: not committed, by contract
	outRead                       // a head read
)

func (o outcome) String() string {
	return [...]string{"ok", "conflict", "timeout", "unavailable", "read"}[o]
}

// histOp is one operation of the history, with its call and return times (ns since start).
type histOp struct {
	client    int
	stream    stream.ID
	read      bool
	expected  stream.Expected
	source    string
	ids       []string
	call, ret int64
	out       outcome
	version   int64 // ok: the new version; conflict: the current one; read: the head's
	res       appender.Result
	resolved  bool // an unknown outcome that the log shows committed, at version
}

type eventKey struct{ source, id string }

// classify records an Append's answer in op; it returns false for an error no caller may
// see.
func (op *histOp) classify(res appender.Result, err error) bool {
	var ce *stream.ConflictError
	switch {
	case err == nil:
		op.out, op.version, op.res = outOK, res.Version, res
	case errors.As(err, &ce):
		op.out, op.version = outConflict, ce.Current
		return ce.Stream == op.stream && ce.Expected == op.expected
	case errors.Is(err, context.DeadlineExceeded):
		op.out = outTimeout
	case errors.Is(err, appender.ErrUnavailable):
		op.out = outUnavailable
	default:
		return false
	}
	return true
}

// raceRun is the shared state of one TestStore_RaceLinearizable run.
type raceRun struct {
	t       *testing.T
	a       *appender.Appender
	streams []stream.ID
	hot     int          // the first hot streams get a quarter of the traffic
	budget  atomic.Int64 // appends left
	t0      time.Time
	stopAt  time.Time // no new operation starts after this, whatever the budget
}

func (r *raceRun) now() int64 { return int64(time.Since(r.t0)) }

// client runs appends (and a few head reads) until the budget is spent or time is up.
func (r *raceRun) client(c int, rng *rand.Rand) []histOp {
	var ops []histOp
	seen := map[stream.ID]int64{} // the version this client last saw, per stream
	var again *stream.ID          // after a conflict, often try the same stream at its current version
	for seq := 0; ; seq++ {
		s := r.streams[rng.IntN(len(r.streams))]
		switch {
		case again != nil:
			s, again = *again, nil
		case rng.IntN(4) == 0:
			s = r.streams[rng.IntN(r.hot)]
		}
		if rng.IntN(100) < 5 {
			ops = append(ops, r.read(c, s, seen))
			continue
		}
		if r.budget.Add(-1) < 0 || time.Now().After(r.stopAt) {
			return ops
		}
		op := r.append(c, seq, s, pickExpected(rng, seen[s]), rng)
		if op.out == outOK || op.out == outConflict {
			seen[s] = op.version
		}
		if op.out == outConflict && rng.IntN(2) == 0 {
			again = &s
		}
		ops = append(ops, op)
	}
}

// append makes one append of 1–3 new events; a few get a deadline short enough to pass
// while the append is in flight.
func (r *raceRun) append(c, seq int, s stream.ID, exp stream.Expected, rng *rand.Rand) histOp {
	op := histOp{client: c, stream: s, source: fmt.Sprintf("/race/c%d", c), expected: exp}
	for i := range 1 + rng.IntN(3) {
		op.ids = append(op.ids, fmt.Sprintf("c%d-%d-%d", c, seq, i))
	}
	deadline := 20 * time.Second
	if rng.IntN(100) < 4 {
		deadline = time.Duration(1+rng.IntN(15)) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	op.call = r.now()
	res, err := r.a.Append(ctx, appender.Request{Stream: s, Expected: exp, Events: raceEvents(op.source, op.ids)})
	op.ret = r.now()
	if !op.classify(res, err) {
		r.t.Errorf("append %s expected %s: unexpected answer %v", s, exp, err)
	}
	return op
}

func (r *raceRun) read(c int, s stream.ID, seen map[stream.ID]int64) histOp {
	op := histOp{client: c, stream: s, read: true, out: outRead}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	op.call = r.now()
	h, err := r.a.Head(ctx, s)
	op.ret = r.now()
	if err != nil {
		r.t.Errorf("head %s: %v", s, err)
		op.out = outTimeout // no information; dropped from the model
		return op
	}
	op.version = h.Version
	seen[s] = h.Version
	return op
}

// pickExpected mostly expects what the client last saw (stale when others wrote since),
// sometimes a version it knows to be stale or not yet reached, any, exists or 0.
func pickExpected(rng *rand.Rand, last int64) stream.Expected {
	switch r := rng.IntN(100); {
	case r < 60:
		return stream.ExactVersion(last)
	case r < 68:
		return stream.ExactVersion(max(0, last-1-int64(rng.IntN(2))))
	case r < 72:
		return stream.ExactVersion(last + 1)
	case r < 82:
		return stream.Any
	case r < 92:
		return stream.Exists
	}
	return stream.ExactVersion(0)
}

func TestStore_RaceLinearizable(t *testing.T) {
	const (
		clients = 32
		streams = 100
		appends = 3000
	)
	seed := testrig.Seed(t)
	cfg := testConfig(t)
	types := []string{"order", "customer", "invoice"}
	for _, typ := range types {
		t.Cleanup(func() { testrig.DeleteTopic(t, cfg.TopicPrefix+"."+typ+".events") })
	}
	s, a := openAppender(t, cfg)
	r := &raceRun{t: t, a: a, hot: 10}
	for i := range streams {
		typ := types[i%len(types)]
		r.streams = append(r.streams, stream.ID{Type: typ, ID: fmt.Sprintf("%s-%03d", typ[:1], i)})
	}
	r.budget.Store(appends)
	r.t0 = time.Now()
	r.stopAt = r.t0.Add(45 * time.Second) // bounds the test on a loaded machine
	perClient := make([][]histOp, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() { perClient[c] = r.client(c, rand.New(rand.NewPCG(seed, uint64(c)))) })
	}
	wg.Wait()
	elapsed := time.Since(r.t0)
	// Close settles every append still in flight (timed-out ones included) before the log
	// is read.
	if err := a.Close(); err != nil {
		t.Errorf("close appender: %v", err)
	}
	s.Close()
	hist := slices.Concat(perClient...)

	log := readEventLog(t, cfg)
	byKey, byStream := checkEventLog(t, cfg, log)
	checkAnswers(t, hist, byKey)
	checkLinearizable(t, hist)

	n := map[outcome]int{}
	resolved := 0
	for _, op := range hist {
		n[op.out]++
		if op.resolved {
			resolved++
		}
	}
	t.Logf("%d appends + %d reads by %d clients on %d streams in %v (%.0f appends/s)",
		len(hist)-n[outRead], n[outRead], clients, len(byStream), elapsed.Round(time.Millisecond),
		float64(len(hist)-n[outRead])/elapsed.Seconds())
	if r.budget.Load() > 0 {
		t.Logf("stopped by the time limit with %d appends of the budget left", r.budget.Load())
	}
	t.Logf("acknowledged %d, conflicts %d, unknown %d (timeout %d, of which the log shows %d committed; unavailable %d); %d events in Kafka",
		n[outOK], n[outConflict], n[outTimeout]+n[outUnavailable], n[outTimeout], resolved, n[outUnavailable], len(log))
	if n[outOK] == 0 || n[outConflict] == 0 {
		t.Errorf("the workload should produce both commits and conflicts")
	}
}

// loggedEvent is one event as a plain consumer reads it from Kafka.
type loggedEvent struct {
	pos     stream.Position
	stream  stream.ID
	version int64
	key     eventKey
}

// readEventLog reads every event topic of cfg from the start with a plain read_committed
// consumer, decoding each record and checking it is a valid Strata CloudEvent. Records come
// back in partition order. Reading ends when the broker has had nothing more for a while.
func readEventLog(t *testing.T, cfg Config) []loggedEvent {
	t.Helper()
	topics := eventTopicsOf(t, cfg)
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
	var out []loggedEvent
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

func eventTopicsOf(t *testing.T, cfg Config) []string {
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

func decodeLogged(t *testing.T, rec *kgo.Record) loggedEvent {
	t.Helper()
	e, err := eventkafka.Decode(rec)
	if err != nil {
		t.Fatalf("%s/%d@%d: decode: %v", rec.Topic, rec.Partition, rec.Offset, err)
	}
	if err := event.ValidateStrata(&e, event.Limits{}); err != nil {
		t.Fatalf("%s/%d@%d: not a valid Strata CloudEvent: %v", rec.Topic, rec.Partition, rec.Offset, err)
	}
	v, _, _ := event.AggregateVersion(&e)
	return loggedEvent{
		pos:     stream.Position{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset},
		stream:  stream.ID{Type: event.AggregateType(&e), ID: event.AggregateID(&e)},
		version: v,
		key:     eventKey{e.Source(), e.ID()},
	}
}

// errorBudget reports at most n errors, then one line saying how many more there were.
type errorBudget struct {
	t    *testing.T
	n    int
	seen int
}

func (b *errorBudget) errorf(format string, args ...any) {
	b.t.Helper()
	b.seen++
	if b.seen <= b.n {
		b.t.Errorf(format, args...)
	}
}

func (b *errorBudget) done(what string) {
	if b.seen > b.n {
		b.t.Errorf("%s: %d more errors not shown", what, b.seen-b.n)
	}
}

// checkEventLog checks I1 on the log: every stream lives in its topic and partition, its
// versions are exactly 1..n in partition order, and no (source, id) is stored twice.
func checkEventLog(t *testing.T, cfg Config, log []loggedEvent) (map[eventKey]loggedEvent, map[stream.ID][]loggedEvent) {
	t.Helper()
	eb := &errorBudget{t: t, n: 20}
	byKey := make(map[eventKey]loggedEvent, len(log))
	byStream := map[stream.ID][]loggedEvent{}
	lastOffset := map[string]int64{}
	for _, le := range log {
		tp := fmt.Sprintf("%s/%d", le.pos.Topic, le.pos.Partition)
		if off, ok := lastOffset[tp]; ok && le.pos.Offset <= off {
			eb.errorf("%s: offset %d delivered after %d", tp, le.pos.Offset, off)
		}
		lastOffset[tp] = le.pos.Offset
		wantTopic := cfg.TopicPrefix + "." + le.stream.Type + ".events"
		wantPart := int32(stream.PartitionFor(le.stream.ID, cfg.Partitions))
		if le.pos.Topic != wantTopic || le.pos.Partition != wantPart {
			eb.errorf("%s v%d stored in %s, want %s/%d", le.stream, le.version, tp, wantTopic, wantPart)
		}
		prev := byStream[le.stream]
		if want := int64(len(prev)) + 1; le.version != want {
			eb.errorf("I1: %s at %s@%d has version %d, want %d (gap, duplicate or reorder)", le.stream, tp, le.pos.Offset, le.version, want)
		}
		byStream[le.stream] = append(prev, le)
		if old, dup := byKey[le.key]; dup {
			eb.errorf("event %v stored twice: %s v%d at %v and v%d at %v", le.key, le.stream, old.version, old.pos, le.version, le.pos)
		}
		byKey[le.key] = le
	}
	eb.done("I1")
	return byKey, byStream
}

// checkAnswers compares the answers with the log: every acknowledged append is stored whole
// at the answered versions and positions; a conflict or an ErrUnavailable stored nothing;
// an append whose outcome is unknown is stored whole or not at all (and is then resolved);
// every stored event was sent by some append.
func checkAnswers(t *testing.T, hist []histOp, byKey map[eventKey]loggedEvent) {
	t.Helper()
	eb := &errorBudget{t: t, n: 20}
	sent := map[eventKey]bool{}
	for i := range hist {
		op := &hist[i]
		if op.read {
			continue
		}
		var found []loggedEvent
		for _, id := range op.ids {
			k := eventKey{op.source, id}
			sent[k] = true
			if le, ok := byKey[k]; ok {
				found = append(found, le)
			}
		}
		if len(found) != 0 && len(found) != len(op.ids) {
			eb.errorf("partial append %s %v: %d of %d events stored (%s)", op.stream, op.ids, len(found), len(op.ids), op.out)
			continue
		}
		if err := checkWhole(op, found); err != nil {
			eb.errorf("append %s %v (%s): %v", op.stream, op.ids, op.out, err)
			continue
		}
		switch {
		case op.out == outOK:
			if err := checkAcknowledged(op, found); err != nil {
				eb.errorf("acknowledged append %s %v: %v", op.stream, op.ids, err)
			}
		case len(found) == 0:
		case op.out == outTimeout:
			op.resolved, op.version = true, found[len(found)-1].version
		default: // a conflict or ErrUnavailable that was committed after all
			eb.errorf("append %s %v answered %s (version %d) but committed at v%d..v%d",
				op.stream, op.ids, op.out, op.version, found[0].version, found[len(found)-1].version)
		}
	}
	for k, le := range byKey {
		if !sent[k] {
			eb.errorf("event %v (%s v%d) in the log was never sent", k, le.stream, le.version)
		}
	}
	eb.done("answers")
}

// checkWhole checks that the stored events of one append are its stream's consecutive
// versions, in the append's order: nothing of another append between them.
func checkWhole(op *histOp, found []loggedEvent) error {
	for j, le := range found {
		if le.stream != op.stream {
			return fmt.Errorf("event %d stored in stream %s", j, le.stream)
		}
		if j > 0 && le.version != found[0].version+int64(j) {
			return fmt.Errorf("not contiguous: event %d at v%d after event 0 at v%d", j, le.version, found[0].version)
		}
	}
	return nil
}

func checkAcknowledged(op *histOp, found []loggedEvent) error {
	if len(found) == 0 {
		return fmt.Errorf("acknowledged at v%d but not in the log (I3)", op.version)
	}
	if len(op.res.Positions) != len(op.ids) {
		return fmt.Errorf("%d positions for %d events", len(op.res.Positions), len(op.ids))
	}
	first := op.res.Version - int64(len(op.ids)) + 1
	for j, le := range found {
		if le.version != first+int64(j) || le.pos != op.res.Positions[j] {
			return fmt.Errorf("event %d answered v%d at %v, stored v%d at %v",
				j, first+int64(j), op.res.Positions[j], le.version, le.pos)
		}
	}
	return nil
}

// The porcupine model of one stream: the state is its version.
type (
	lzInput struct {
		read     bool
		expected stream.Expected
		n        int64
	}
	lzOutput struct {
		out     outcome
		version int64
	}
)

// streamModel is nondeterministic only for appends whose outcome is unknown: they may or
// may not have taken effect.
var streamModel = porcupine.NondeterministicModel{
	Init: func() []any { return []any{int64(0)} },
	Step: func(state, input, output any) []any {
		v, in, out := state.(int64), input.(lzInput), output.(lzOutput)
		if in.read {
			if out.version == v {
				return []any{v}
			}
			return nil
		}
		pass := stream.Check(stream.ID{}, in.expected, v) == nil
		switch out.out {
		case outOK:
			if pass && out.version == v+in.n {
				return []any{v + in.n}
			}
		case outConflict:
			if !pass && out.version == v {
				return []any{v}
			}
		default:
			if pass {
				return []any{v, v + in.n}
			}
			return []any{v}
		}
		return nil
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(lzInput), output.(lzOutput)
		if in.read {
			return fmt.Sprintf("head() -> %d", out.version)
		}
		if out.out == outTimeout || out.out == outUnavailable {
			return fmt.Sprintf("append(exp %s, %d) -> %s", in.expected, in.n, out.out)
		}
		return fmt.Sprintf("append(exp %s, %d) -> %s %d", in.expected, in.n, out.out, out.version)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("v%d", state.(int64)) },
}

// checkLinearizable checks each stream's history with porcupine. An append whose outcome is
// unknown returns at the end of the history; if the log shows it committed, its output is
// that commit, else it may or may not have taken effect.
func checkLinearizable(t *testing.T, hist []histOp) {
	t.Helper()
	end := int64(0)
	for _, op := range hist {
		end = max(end, op.ret+1)
	}
	perStream := map[stream.ID][]porcupine.Operation{}
	for _, op := range hist {
		in := lzInput{read: op.read, expected: op.expected, n: int64(len(op.ids))}
		out := lzOutput{out: op.out, version: op.version}
		ret := op.ret
		switch {
		case op.read && op.out != outRead:
			continue // a failed read says nothing
		case op.resolved:
			out.out, ret = outOK, end
		case op.out == outTimeout || op.out == outUnavailable:
			ret = end
		}
		perStream[op.stream] = append(perStream[op.stream], porcupine.Operation{
			ClientId: op.client, Input: in, Call: op.call, Output: out, Return: ret})
	}
	model := streamModel.ToModel()
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

// retryAppend is one append of TestStore_RetryAfterTimeout and what its attempts got.
type retryAppend struct {
	stream    stream.ID
	expected  stream.Expected
	source    string
	ids       []string
	first     histOp // the short-deadline attempt
	final     histOp // the answer the client settled on
	attempts  int
	retriedOK bool // the first attempt answered ok and a retry repeated it
}

// TestStore_RetryAfterTimeout appends with deadlines short enough that many time out while
// their group commit is in flight, then retries each with the same event ids until it gets
// an answer (I4): a retry gets the original outcome or commits normally, and nothing is
// stored twice.
func TestStore_RetryAfterTimeout(t *testing.T) {
	const (
		clients   = 16
		perClient = 25
		streams   = 24
	)
	seed := testrig.Seed(t)
	cfg := testConfig(t)
	types := []string{"order", "customer"}
	for _, typ := range types {
		t.Cleanup(func() { testrig.DeleteTopic(t, cfg.TopicPrefix+"."+typ+".events") })
	}
	s, a := openAppender(t, cfg)
	var ids []stream.ID
	for i := range streams {
		typ := types[i%len(types)]
		ids = append(ids, stream.ID{Type: typ, ID: fmt.Sprintf("r-%02d", i)})
	}
	results := make([][]retryAppend, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(c)))
			seen := map[stream.ID]int64{}
			for i := range perClient {
				ra := retryAppend{stream: ids[rng.IntN(len(ids))], source: fmt.Sprintf("/retry/c%d", c), expected: stream.Any}
				if rng.IntN(2) == 0 {
					ra.expected = stream.ExactVersion(seen[ra.stream])
				}
				for j := range 1 + rng.IntN(3) {
					ra.ids = append(ra.ids, fmt.Sprintf("c%d-%d-%d", c, i, j))
				}
				retryOne(t, a, rng, &ra)
				if ra.final.out == outOK || ra.final.out == outConflict {
					seen[ra.stream] = ra.final.version
				}
				results[c] = append(results[c], ra)
			}
		})
	}
	wg.Wait()
	if err := a.Close(); err != nil {
		t.Errorf("close appender: %v", err)
	}
	s.Close()
	all := slices.Concat(results...)
	log := readEventLog(t, cfg)
	byKey, _ := checkEventLog(t, cfg, log)
	checkRetries(t, all, byKey, len(log))
}

// retryOne makes the short-deadline attempt, then retries with a generous deadline until an
// answer comes (or, after an ok, once, to see the original outcome again).
func retryOne(t *testing.T, a *appender.Appender, rng *rand.Rand, ra *retryAppend) {
	attempt := func(d time.Duration) histOp {
		op := histOp{stream: ra.stream, expected: ra.expected, source: ra.source, ids: ra.ids}
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		ra.attempts++
		res, err := a.Append(ctx, appender.Request{Stream: ra.stream, Expected: ra.expected, Events: raceEvents(ra.source, ra.ids)})
		if !op.classify(res, err) {
			t.Errorf("append %s %v: unexpected answer %v", ra.stream, ra.ids, err)
		}
		return op
	}
	short := time.Duration(500+rng.IntN(12_000)) * time.Microsecond
	if rng.IntN(10) == 0 {
		short = 0 // expired: the append may not even be queued
	}
	ra.first = attempt(short)
	ra.final = ra.first
	switch ra.first.out {
	case outOK:
		again := attempt(10 * time.Second)
		if again.out != outOK || !again.res.Duplicate || again.version != ra.first.version ||
			!slices.Equal(again.res.Positions, ra.first.res.Positions) {
			t.Errorf("I4: retry of acknowledged append %s %v (v%d at %v) got %s %+v",
				ra.stream, ra.ids, ra.first.version, ra.first.res.Positions, again.out, again.res)
		}
		ra.retriedOK = true
	case outTimeout, outUnavailable:
		for range 10 {
			ra.final = attempt(10 * time.Second)
			if ra.final.out == outOK || ra.final.out == outConflict {
				return
			}
		}
		t.Errorf("append %s %v: no answer after %d attempts", ra.stream, ra.ids, ra.attempts)
	}
}

// checkRetries compares the answers with the log and counts committed events against the
// distinct event ids acknowledged.
func checkRetries(t *testing.T, all []retryAppend, byKey map[eventKey]loggedEvent, stored int) {
	t.Helper()
	eb := &errorBudget{t: t, n: 20}
	var timedOut, dupAnswers, freshCommits, conflicts, acked, repeated int
	for i := range all {
		ra := &all[i]
		op := ra.final
		if ra.retriedOK {
			repeated++
		}
		if ra.first.out == outTimeout || ra.first.out == outUnavailable {
			timedOut++
			switch {
			case op.out == outOK && op.res.Duplicate:
				dupAnswers++
			case op.out == outOK:
				freshCommits++
			}
		}
		var found []loggedEvent
		for _, id := range ra.ids {
			if le, ok := byKey[eventKey{ra.source, id}]; ok {
				found = append(found, le)
			}
		}
		switch op.out {
		case outOK:
			acked += len(ra.ids)
			if err := checkWhole(&op, found); err != nil {
				eb.errorf("append %s %v: %v", ra.stream, ra.ids, err)
			} else if err := checkAcknowledged(&op, found); err != nil {
				eb.errorf("append %s %v (after %d attempts): %v", ra.stream, ra.ids, ra.attempts, err)
			}
		case outConflict:
			conflicts++
			if len(found) > 0 {
				eb.errorf("append %s %v answered conflict (current %d) after %d attempts but stored at v%d",
					ra.stream, ra.ids, op.version, ra.attempts, found[0].version)
			}
		}
	}
	eb.done("retries")
	if stored != acked {
		t.Errorf("I4: %d events in Kafka, %d distinct event ids acknowledged", stored, acked)
	}
	t.Logf("%d appends; first attempt answered ok and its retry repeated the answer: %d; first attempt timed out: %d "+
		"(retry answered duplicate %d, committed fresh %d); conflicts %d; %d events acknowledged, %d in Kafka",
		len(all), repeated, timedOut, dupAnswers, freshCommits, conflicts, acked, stored)
}

// TestStreamModel checks the checker: the porcupine model accepts linearizable histories of
// one stream and refuses the violations the race tests look for.
func TestStreamModel(t *testing.T) {
	app := func(exp stream.Expected, n int64, out outcome, v, call, ret int64) porcupine.Operation {
		return porcupine.Operation{Input: lzInput{expected: exp, n: n}, Output: lzOutput{out: out, version: v}, Call: call, Return: ret}
	}
	read := func(v, call, ret int64) porcupine.Operation {
		return porcupine.Operation{Input: lzInput{read: true}, Output: lzOutput{out: outRead, version: v}, Call: call, Return: ret}
	}
	v0, v1 := stream.ExactVersion(0), stream.ExactVersion(1)
	tests := []struct {
		name string
		ops  []porcupine.Operation
		ok   bool
	}{
		{"sequential", []porcupine.Operation{app(v0, 1, outOK, 1, 0, 1), app(v1, 2, outOK, 3, 2, 3), read(3, 4, 5),
			app(stream.Exists, 1, outOK, 4, 6, 7), app(v1, 1, outConflict, 4, 8, 9)}, true},
		{"concurrent, either order", []porcupine.Operation{app(v0, 1, outConflict, 2, 0, 10), app(v0, 2, outOK, 2, 1, 9)}, true},
		{"conflict with a stale current", []porcupine.Operation{app(v0, 1, outOK, 1, 0, 1), app(v0, 1, outConflict, 0, 2, 3)}, false},
		{"conflict with a version never reached", []porcupine.Operation{app(v0, 1, outConflict, 1, 0, 1), read(0, 2, 3)}, false},
		{"lost update", []porcupine.Operation{app(v0, 1, outOK, 1, 0, 5), app(v0, 1, outOK, 1, 1, 6)}, false},
		{"exists on an empty stream", []porcupine.Operation{app(stream.Exists, 1, outOK, 1, 0, 1)}, false},
		{"unknown took effect", []porcupine.Operation{app(v0, 1, outTimeout, 0, 0, 100), read(0, 1, 2), read(1, 3, 4)}, true},
		{"unknown did not", []porcupine.Operation{app(v0, 1, outTimeout, 0, 0, 100), app(v0, 2, outOK, 2, 1, 2)}, true},
		{"unknown cannot be undone", []porcupine.Operation{app(v0, 1, outTimeout, 0, 0, 100), read(1, 1, 2), read(0, 3, 4)}, false},
	}
	model := streamModel.ToModel()
	for _, tt := range tests {
		if got := porcupine.CheckOperations(model, tt.ops); got != tt.ok {
			t.Errorf("%s: linearizable = %v, want %v", tt.name, got, tt.ok)
		}
	}
}

// TestStore_RaceUnderFencing races clients on a few streams while another producer keeps
// fencing the partition's transactional id, so that group commits fail and are recovered.
//
// It caught a real bug: the writer answered a conflict against the group's running head,
// which included appends of the same group not committed yet; when that commit was
// aborted, the conflict carried a version the stream never had. Conflicts against pending
// appends are now decided after the commit (writer.deferredOutcome).
func TestStore_RaceUnderFencing(t *testing.T) {
	seed := testrig.Seed(t)
	cfg := testConfig(t)
	cfg.Partitions = 1
	t.Cleanup(func() { testrig.DeleteTopic(t, cfg.TopicPrefix+".order.events") })
	s, a := openAppender(t, cfg)
	r := &raceRun{t: t, a: a, hot: 2}
	for i := range 4 {
		r.streams = append(r.streams, stream.ID{Type: "order", ID: fmt.Sprintf("o-%d", i)})
	}
	r.budget.Store(1200)
	r.t0 = time.Now()
	r.stopAt = r.t0.Add(40 * time.Second)
	stop := make(chan struct{})
	var fences atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() { fenceLoop(cfg, "p0", stop, &fences) })
	per := make([][]histOp, 12)
	var cw sync.WaitGroup
	for c := range per {
		cw.Go(func() { per[c] = r.client(c, rand.New(rand.NewPCG(seed, uint64(c)))) })
	}
	cw.Wait()
	close(stop)
	wg.Wait()
	if err := a.Close(); err != nil {
		t.Errorf("close appender: %v", err)
	}
	s.Close()
	hist := slices.Concat(per...)
	byKey, _ := checkEventLog(t, cfg, readEventLog(t, cfg))
	checkAnswers(t, hist, byKey)
	checkLinearizable(t, hist)
	t.Logf("%d fences, %d operations", fences.Load(), len(hist))
}

// fenceLoop initialises a producer with the transactional id <cluster>-<suffix> every
// 150ms until stop is closed, fencing whoever holds it.
func fenceLoop(cfg Config, suffix string, stop <-chan struct{}, fences *atomic.Int64) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(150 * time.Millisecond):
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka...), kgo.TransactionalID(cfg.Cluster+"-"+suffix))
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, _, err := cl.ProducerID(ctx); err == nil {
			fences.Add(1)
		}
		cancel()
		cl.Close()
	}
}
