package projection

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-platform/strata/pkg/testrig"
)

// faultyStore slows every commit down (so that the runner always has the next batch applied
// while a commit is in flight) and fails commit number failAt: before writing anything
// (lost) or after writing it (the outcome the runner cannot know).
type faultyStore struct {
	*RedisStore
	n      atomic.Int64
	failAt int64
	after  bool // fail after the commit was applied
}

var errInjected = errors.New("injected commit failure")

func (s *faultyStore) Commit(ctx context.Context, keyspace string, b Batch) error {
	time.Sleep(5 * time.Millisecond)
	if s.n.Add(1) != s.failAt {
		return s.RedisStore.Commit(ctx, keyspace, b)
	}
	if s.after {
		if err := s.RedisStore.Commit(ctx, keyspace, b); err != nil {
			return err
		}
	}
	return errInjected
}

// TestRunner_FailedCommitInPipeline: when the commit in flight fails, the batch applied
// behind it is never sent and the runner stops with the error; a new runner then resumes
// from the stored checkpoint, and every event counts exactly once (Stats has no guard of
// its own, the tally has its version guard).
func TestRunner_FailedCommitInPipeline(t *testing.T) {
	e := newEnv(t)
	counts := e.appendEvents(t, 1500, 40, testrig.Seed(t))
	var total int64
	for _, n := range counts {
		total += n
	}
	for i, after := range []bool{false, true} {
		t.Run("after="+strconv.FormatBool(after), func(t *testing.T) {
			projs := []Projection{Stats([]string{"order"}, 10+i),
				{Name: "tally", Version: 10 + i, Types: []string{"order"}, Handler: Fold(tallyFold)}}
			for _, p := range projs {
				fs := &faultyStore{RedisStore: e.store, failAt: 3, after: after}
				r, err := NewRunner(e.cfg, p, fs)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				err = r.Run(ctx)
				cancel()
				if !errors.Is(err, errInjected) {
					t.Fatalf("%s: Run returned %v, want the injected failure", p.Keyspace(), err)
				}
				if n := fs.n.Load(); n != 3 {
					t.Fatalf("%s: %d commits sent, want 3 (none after the failed one)", p.Keyspace(), n)
				}
				defer runFor(t, e, p)()
			}
			e.waitCaughtUp(t, projs...)
			ctx := context.Background()
			var counted int64
			for p := int32(0); p < 3; p++ {
				raw, _, _ := e.store.Get(ctx, projs[0].Keyspace(), StatsKey("order", p))
				n, _ := strconv.ParseInt(string(raw), 10, 64)
				counted += n
			}
			if counted != total {
				t.Fatalf("stats count %d events, %d were appended", counted, total)
			}
			for s, n := range counts {
				raw, ok, err := e.store.Get(ctx, projs[1].Keyspace(), DocKey(s))
				if err != nil || !ok || !jsonHasVersion(raw, n) {
					t.Fatalf("%s: tally %s, want version %d", s, raw, n)
				}
			}
		})
	}
}

func jsonHasVersion(raw []byte, v int64) bool {
	var d Doc[tally]
	return json.Unmarshal(raw, &d) == nil && d.Version == v && d.State.Count == v
}
