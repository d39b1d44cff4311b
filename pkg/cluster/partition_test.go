package cluster

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/pkg/testrig"
)

// failScript is a go-redis hook that fails the next script call (the heads write, when
// armed right before a commit), after a delay.
type failScript struct {
	armed atomic.Int64 // delay in ns before failing; -1 when disarmed
}

func (f *failScript) arm(delay time.Duration) { f.armed.Store(int64(delay)) }

func (f *failScript) DialHook(next redis.DialHook) redis.DialHook { return next }
func (f *failScript) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (f *failScript) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if strings.HasPrefix(cmd.Name(), "eval") {
			if d := f.armed.Swap(-1); d >= 0 {
				time.Sleep(time.Duration(d))
				err := errors.New("injected: redis went away")
				cmd.SetErr(err)
				return err
			}
		}
		return next(ctx, cmd)
	}
}

// TestPartition_HeadsWriteFails: a group's heads write runs in the background, while the
// pipeline answers and commits the next group. When it fails, the heads must be caught up
// from the log, including every group committed meanwhile, although the last transaction's
// markers may not be written yet when the catch-up starts (EndTxn does not wait for them).
//   - fast: the write fails at once; the catch-up starts right after the commit;
//   - slow: the write fails while the next group commits; that commit writes no heads, and
//     the catch-up must include it.
func TestPartition_HeadsWriteFails(t *testing.T) {
	cfg := testConfig(t)
	cfg.Partitions = 1
	cfg.Logger = zaptest.NewLogger(t)
	t.Cleanup(func() { testrig.DeleteTopic(t, cfg.TopicPrefix+".order.events") })
	ctx := context.Background()
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fail := &failScript{}
	fail.arm(-1)
	rdb := redis.NewClient(&redis.Options{Addr: cfg.Redis})
	defer rdb.Close()
	rdb.AddHook(fail)
	s.heads = heads{rdb: rdb, ns: s.heads.ns}
	ap, err := s.OpenPartition(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	pt := ap.(*partition)
	defer pt.Close()

	sid := stream.ID{Type: "order", ID: "o-1"}
	var head stream.Head // the committed head, as the pipeline caches it
	commit := func(id string) {
		t.Helper()
		e := ev(id)
		event.Stamp(e, sid.Type, sid.ID, head.Version+1)
		pos, err := pt.Commit(ctx, []appender.StreamAppend{{Stream: sid, Prior: head, Events: []*event.Event{e}}})
		if err != nil {
			t.Fatalf("commit %s: %v", id, err)
		}
		head = head.Advance([]stream.Recent{{Source: e.Source(), EventID: e.ID(), Version: head.Version + 1, Position: pos[0][0]}})
	}
	check := func(when string) {
		t.Helper()
		h, err := pt.Head(ctx, sid)
		if err != nil || h.Version != head.Version {
			t.Fatalf("%s: head = v%d, %v; want v%d", when, h.Version, err, head.Version)
		}
		if len(h.Recent) != len(head.Recent) || h.Recent[len(h.Recent)-1] != head.Recent[len(head.Recent)-1] {
			t.Fatalf("%s: recent events = %+v, want %+v", when, h.Recent, head.Recent)
		}
	}

	commit("e1")
	check("after e1")
	for i := range 5 {
		fail.arm(0)
		commit("fast-" + string(rune('a'+i)))
		check("fast failure")

		fail.arm(50 * time.Millisecond)
		commit("slow-" + string(rune('a'+i)))
		commit("next-" + string(rune('a'+i))) // commits while the write above is failing
		check("slow failure")
	}
	commit("last")
	check("after the heads are clean again")
}
