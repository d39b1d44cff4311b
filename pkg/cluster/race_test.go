package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/history"
	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/pkg/testrig"
)

// The tests in this file race many clients against one Store on the real rig and then check
// the history two ways: the log, read back with a plain franz-go consumer (I1, whole
// appends, every acknowledged append where its answer says), and the answers, checked for
// per-stream linearizability with porcupine (I2).

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
func (r *raceRun) client(c int, rng *rand.Rand) []history.Op {
	var ops []history.Op
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
		if op.Out == history.OutOK || op.Out == history.OutConflict {
			seen[s] = op.Version
		}
		if op.Out == history.OutConflict && rng.IntN(2) == 0 {
			again = &s
		}
		ops = append(ops, op)
	}
}

// append makes one append of 1–3 new events; a few get a deadline short enough to pass
// while the append is in flight.
func (r *raceRun) append(c, seq int, s stream.ID, exp stream.Expected, rng *rand.Rand) history.Op {
	op := history.Op{Client: c, Stream: s, Source: fmt.Sprintf("/race/c%d", c), Expected: exp}
	for i := range 1 + rng.IntN(3) {
		op.IDs = append(op.IDs, fmt.Sprintf("c%d-%d-%d", c, seq, i))
	}
	deadline := 20 * time.Second
	if rng.IntN(100) < 4 {
		deadline = time.Duration(1+rng.IntN(15)) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	op.Call = r.now()
	res, err := r.a.Append(ctx, appender.Request{Stream: s, Expected: exp, Events: history.Events(op.Source, op.IDs)})
	op.Ret = r.now()
	if !op.Classify(res, err) {
		r.t.Errorf("append %s expected %s: unexpected answer %v", s, exp, err)
	}
	return op
}

func (r *raceRun) read(c int, s stream.ID, seen map[stream.ID]int64) history.Op {
	op := history.Op{Client: c, Stream: s, Read: true, Out: history.OutRead}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	op.Call = r.now()
	h, err := r.a.Head(ctx, s)
	op.Ret = r.now()
	if err != nil {
		r.t.Errorf("head %s: %v", s, err)
		op.Out = history.OutUnknown // no information; dropped from the model
		return op
	}
	op.Version = h.Version
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
	perClient := make([][]history.Op, clients)
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

	sum := history.Check(t, target(cfg), hist)
	log, byStream, n, resolved := sum.Logged, sum.ByStream, sum.Outcomes, sum.Resolved
	t.Logf("%d appends + %d reads by %d clients on %d streams in %v (%.0f appends/s)",
		len(hist)-n[history.OutRead], n[history.OutRead], clients, len(byStream), elapsed.Round(time.Millisecond),
		float64(len(hist)-n[history.OutRead])/elapsed.Seconds())
	if r.budget.Load() > 0 {
		t.Logf("stopped by the time limit with %d appends of the budget left", r.budget.Load())
	}
	t.Logf("acknowledged %d, conflicts %d, unknown %d (timeout %d, of which the log shows %d committed; unavailable %d); %d events in Kafka",
		n[history.OutOK], n[history.OutConflict], n[history.OutUnknown]+n[history.OutUnavailable], n[history.OutUnknown], resolved, n[history.OutUnavailable], len(log))
	if n[history.OutOK] == 0 || n[history.OutConflict] == 0 {
		t.Errorf("the workload should produce both commits and conflicts")
	}
}

// retryAppend is one append of TestStore_RetryAfterTimeout and what its attempts got.
type retryAppend struct {
	stream    stream.ID
	expected  stream.Expected
	source    string
	ids       []string
	first     history.Op // the short-deadline attempt
	final     history.Op // the answer the client settled on
	attempts  int
	retriedOK bool // the first attempt answered ok and a retry repeated it
}

// TestStore_RetryAfterTimeout appends with deadlines short enough that many time out while
// their group commit is in flight, then retries each with the same event ids until it gets
// an answer (I4): a retry gets the original history.Outcome or commits normally, and nothing is
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
				if ra.final.Out == history.OutOK || ra.final.Out == history.OutConflict {
					seen[ra.stream] = ra.final.Version
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
	log := history.ReadLog(t, target(cfg))
	byKey, _ := history.CheckLog(t, target(cfg), log)
	checkRetries(t, all, byKey, len(log))
}

// retryOne makes the short-deadline attempt, then retries with a generous deadline until an
// answer comes (or, after an ok, once, to see the original history.Outcome again).
func retryOne(t *testing.T, a *appender.Appender, rng *rand.Rand, ra *retryAppend) {
	attempt := func(d time.Duration) history.Op {
		op := history.Op{Stream: ra.stream, Expected: ra.expected, Source: ra.source, IDs: ra.ids}
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		ra.attempts++
		res, err := a.Append(ctx, appender.Request{Stream: ra.stream, Expected: ra.expected, Events: history.Events(ra.source, ra.ids)})
		if !op.Classify(res, err) {
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
	switch ra.first.Out {
	case history.OutOK:
		again := attempt(10 * time.Second)
		if again.Out != history.OutOK || !again.Res.Duplicate || again.Version != ra.first.Version ||
			!slices.Equal(again.Res.Positions, ra.first.Res.Positions) {
			t.Errorf("I4: retry of acknowledged append %s %v (v%d at %v) got %s %+v",
				ra.stream, ra.ids, ra.first.Version, ra.first.Res.Positions, again.Out, again.Res)
		}
		ra.retriedOK = true
	case history.OutUnknown, history.OutUnavailable:
		for range 10 {
			ra.final = attempt(10 * time.Second)
			if ra.final.Out == history.OutOK || ra.final.Out == history.OutConflict {
				return
			}
		}
		t.Errorf("append %s %v: no answer after %d attempts", ra.stream, ra.ids, ra.attempts)
	}
}

// checkRetries compares the answers with the log and counts committed events against the
// distinct event ids acknowledged.
func checkRetries(t *testing.T, all []retryAppend, byKey map[history.EventKey]history.Logged, stored int) {
	t.Helper()
	eb := &history.ErrorBudget{T: t, N: 20}
	var timedOut, dupAnswers, freshCommits, conflicts, acked, repeated int
	for i := range all {
		ra := &all[i]
		op := ra.final
		if ra.retriedOK {
			repeated++
		}
		if ra.first.Out == history.OutUnknown || ra.first.Out == history.OutUnavailable {
			timedOut++
			switch {
			case op.Out == history.OutOK && op.Res.Duplicate:
				dupAnswers++
			case op.Out == history.OutOK:
				freshCommits++
			}
		}
		var found []history.Logged
		for _, id := range ra.ids {
			if le, ok := byKey[history.EventKey{Source: ra.source, ID: id}]; ok {
				found = append(found, le)
			}
		}
		switch op.Out {
		case history.OutOK:
			acked += len(ra.ids)
			if err := history.CheckWhole(&op, found); err != nil {
				eb.Errorf("append %s %v: %v", ra.stream, ra.ids, err)
			} else if err := history.CheckAcknowledged(&op, found); err != nil {
				eb.Errorf("append %s %v (after %d attempts): %v", ra.stream, ra.ids, ra.attempts, err)
			}
		case history.OutConflict:
			conflicts++
			if len(found) > 0 {
				eb.Errorf("append %s %v answered conflict (current %d) after %d attempts but stored at v%d",
					ra.stream, ra.ids, op.Version, ra.attempts, found[0].Version)
			}
		}
	}
	eb.Done("retries")
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
	app := func(exp stream.Expected, n int64, out history.Outcome, v, call, ret int64) porcupine.Operation {
		return porcupine.Operation{Input: history.ModelInput{Expected: exp, N: n}, Output: history.ModelOutput{Out: out, Version: v}, Call: call, Return: ret}
	}
	read := func(v, call, ret int64) porcupine.Operation {
		return porcupine.Operation{Input: history.ModelInput{Read: true}, Output: history.ModelOutput{Out: history.OutRead, Version: v}, Call: call, Return: ret}
	}
	v0, v1 := stream.ExactVersion(0), stream.ExactVersion(1)
	tests := []struct {
		name string
		ops  []porcupine.Operation
		ok   bool
	}{
		{"sequential", []porcupine.Operation{app(v0, 1, history.OutOK, 1, 0, 1), app(v1, 2, history.OutOK, 3, 2, 3), read(3, 4, 5),
			app(stream.Exists, 1, history.OutOK, 4, 6, 7), app(v1, 1, history.OutConflict, 4, 8, 9)}, true},
		{"concurrent, either order", []porcupine.Operation{app(v0, 1, history.OutConflict, 2, 0, 10), app(v0, 2, history.OutOK, 2, 1, 9)}, true},
		{"conflict with a stale current", []porcupine.Operation{app(v0, 1, history.OutOK, 1, 0, 1), app(v0, 1, history.OutConflict, 0, 2, 3)}, false},
		{"conflict with a version never reached", []porcupine.Operation{app(v0, 1, history.OutConflict, 1, 0, 1), read(0, 2, 3)}, false},
		{"lost update", []porcupine.Operation{app(v0, 1, history.OutOK, 1, 0, 5), app(v0, 1, history.OutOK, 1, 1, 6)}, false},
		{"exists on an empty stream", []porcupine.Operation{app(stream.Exists, 1, history.OutOK, 1, 0, 1)}, false},
		{"unknown took effect", []porcupine.Operation{app(v0, 1, history.OutUnknown, 0, 0, 100), read(0, 1, 2), read(1, 3, 4)}, true},
		{"unknown did not", []porcupine.Operation{app(v0, 1, history.OutUnknown, 0, 0, 100), app(v0, 2, history.OutOK, 2, 1, 2)}, true},
		{"unknown cannot be undone", []porcupine.Operation{app(v0, 1, history.OutUnknown, 0, 0, 100), read(1, 1, 2), read(0, 3, 4)}, false},
	}
	model := history.StreamModel.ToModel()
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
	per := make([][]history.Op, 12)
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
	byKey, _ := history.CheckLog(t, target(cfg), history.ReadLog(t, target(cfg)))
	history.CheckAnswers(t, hist, byKey)
	history.CheckLinearizable(t, hist)
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

// target names cfg's event topics for the history checkers.
func target(cfg Config) history.Target {
	return history.Target{Kafka: cfg.Kafka, TopicPrefix: cfg.TopicPrefix, Partitions: cfg.Partitions}
}
