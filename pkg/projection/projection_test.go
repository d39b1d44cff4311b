package projection

import (
	"context"
	"encoding/json"
	"github.com/strata-platform/strata/pkg/testrig"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/strata-platform/strata/pkg/stream"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).reaper"))
}

type tally struct {
	Count int64   `json:"count"`
	Sum   float64 `json:"sum"`
}

func tallyFold(s tally, env *Envelope) (tally, error) {
	var d struct {
		N float64 `json:"n"`
	}
	if err := json.Unmarshal(env.Event.Data(), &d); err != nil {
		return s, err
	}
	return tally{Count: s.Count + 1, Sum: s.Sum + d.N}, nil
}

// TestProjections_MatchFoldOfLog runs a user projection and the built-ins over events
// appended through the real append path (and an aborted transaction), then compares every
// read model with a fold of the log computed here, independently.
func TestProjections_MatchFoldOfLog(t *testing.T) {
	e := newEnv(t)
	seed := testrig.Seed(t)
	counts := e.appendEvents(t, 1500, 40, seed)
	e.abortedTransaction(t, "order")
	for s, n := range e.appendEvents(t, 300, 40, seed+1) {
		counts[s] += n
	}
	producer, err := kgo.NewClient(kgo.SeedBrokers(e.addrs.Kafka...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	user := Projection{Name: "tally", Version: 1, Types: []string{"order"}, Handler: Fold(tallyFold)}
	projs := []Projection{user, Index(nil, 1), Stats([]string{"order"}, 1),
		Snapshots([]string{"order"}, 1, Reducers{"order": MergePatch}, SnapshotPolicy{Every: 7}, producer, e.cfg.TopicPrefix)}
	for _, p := range projs {
		defer runFor(t, e, p)()
	}
	e.waitCaughtUp(t, projs...)
	log := e.readLog(t, "order")
	checkModels(t, e, counts, log)
}

func checkModels(t *testing.T, e *env, counts map[stream.ID]int64, log map[stream.ID][]*Envelope) {
	ctx := context.Background()
	var total int64
	for s, envs := range log {
		if s.ID == "o-aborted" {
			t.Fatal("an aborted event reached the log reader")
		}
		if int64(len(envs)) != counts[s] {
			t.Fatalf("%s: log has %d events, %d appended", s, len(envs), counts[s])
		}
		total += int64(len(envs))
		var want tally
		for _, env := range envs {
			want, _ = tallyFold(want, env)
		}
		raw, ok, err := e.store.Get(ctx, "tally.v1", DocKey(s))
		var got Doc[tally]
		if err != nil || !ok || json.Unmarshal(raw, &got) != nil || got.Version != int64(len(envs)) || got.State != want {
			t.Fatalf("%s: tally %s (ok %v, err %v), want version %d %+v", s, raw, ok, err, len(envs), want)
		}
		for _, env := range envs {
			raw, ok, err := e.store.Get(ctx, "index.v1", IndexKey(s, env.Version))
			var pos stream.Position
			if err == nil && ok {
				pos, ok, err = IndexPosition(raw, env.Version)
			}
			if err != nil || !ok || pos != env.Position {
				t.Fatalf("%s v%d: index %s, want %+v", s, env.Version, raw, env.Position)
			}
		}
		checkSnapshot(t, e, s, envs)
	}
	var counted int64
	for p := int32(0); p < 3; p++ {
		raw, _, _ := e.store.Get(ctx, "stats.v1", StatsKey("order", p))
		n, _ := strconv.ParseInt(string(raw), 10, 64)
		counted += n
	}
	if counted != total {
		t.Fatalf("stats count %d events, the log has %d", counted, total)
	}
	if raw, ok, _ := e.store.Get(ctx, "tally.v1", DocKey(stream.ID{Type: "order", ID: "o-aborted"})); ok {
		t.Fatalf("aborted events were applied: %s", raw)
	}
}

func checkSnapshot(t *testing.T, e *env, s stream.ID, envs []*Envelope) {
	at := int64(len(envs)) / 7 * 7
	raw, ok, err := e.store.Get(context.Background(), "snapshots.v1", SnapshotKey(s))
	if at == 0 {
		if ok {
			t.Fatalf("%s: snapshot before 7 events: %s", s, raw)
		}
		return
	}
	var snap Snapshot
	if err != nil || !ok || json.Unmarshal(raw, &snap) != nil {
		t.Fatalf("%s: snapshot %s, %v", s, raw, err)
	}
	if want := foldLog(t, envs[:at]); snap.Version != at || !jsonEqual(snap.State, want) || snap.Position != envs[at-1].Position {
		t.Fatalf("%s: snapshot v%d %s at %+v, want v%d %s at %+v", s, snap.Version, snap.State, snap.Position, at, want, envs[at-1].Position)
	}
	// snapshot + tail equals the full replay
	full := foldLog(t, envs)
	tail, err := Replay(MergePatch, snap.State, envs[at:])
	if err != nil || !jsonEqual(tail, full) {
		t.Fatalf("%s: snapshot+tail %s, full replay %s", s, tail, full)
	}
}

var _ = time.Second
