package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/projection"
	"github.com/strata-platform/strata/pkg/stream"
)

type count struct {
	N   int64 `json:"n"`
	Sum int64 `json:"sum"`
}

func countFold(c count, env *projection.Envelope) (count, error) {
	var d struct {
		I int64 `json:"i"`
	}
	err := json.Unmarshal(env.Event.Data(), &d)
	return count{N: c.N + 1, Sum: c.Sum + d.I}, err
}

// TestLocalProjections runs projections on the embedded engine, stops them midway and
// restarts them, and compares the read models with a fold of the log.
func TestLocalProjections(t *testing.T) {
	eng, err := Open(Config{Dir: t.TempDir(), Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	app, err := appender.New(context.Background(), eng, appender.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	projs := []projection.Projection{
		{Name: "count", Version: 1, Types: []string{"order"}, Handler: projection.Fold(countFold)},
		projection.Stats(nil, 1),
	}
	appendN := func(from, n int) {
		for i := from; i < from+n; i++ {
			e := event.New()
			e.SetID(strconv.Itoa(i))
			e.SetSource("/t")
			e.SetType("t")
			_ = e.SetData("application/json", map[string]int{"i": i})
			s := stream.ID{Type: "order", ID: fmt.Sprintf("o-%d", i%17)}
			if _, err := app.Append(context.Background(), appender.Request{Stream: s, Expected: stream.Any, Events: []*event.Event{&e}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	run := func(ctx context.Context) chan error {
		done := make(chan error, len(projs))
		for _, p := range projs {
			go func() { done <- projection.RunLocal(ctx, eng.LocalLog(), eng, p, 50, 10*time.Millisecond) }()
		}
		return done
	}
	appendN(0, 500)
	ctx, cancel := context.WithCancel(context.Background())
	done := run(ctx)
	appendN(500, 500) // while the projections run
	time.Sleep(20 * time.Millisecond)
	cancel() // stop midway
	for range projs {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	done = run(ctx)
	for _, p := range projs {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			lag, err := projection.LocalLag(ctx, eng.LocalLog(), eng, p)
			if err == nil && lag == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: lag %d, %v", p.Keyspace(), lag, err)
			}
		}
	}
	cancel()
	for range projs {
		<-done
	}
	checkLocalModels(t, eng)
}

func checkLocalModels(t *testing.T, eng *Engine) {
	ctx := context.Background()
	want := map[stream.ID]count{}
	var total int64
	for p := int32(0); p < 3; p++ {
		recs, err := eng.Read(ctx, eng.Topic("order"), p, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			env, _ := projection.NewEnvelope(r.Event, r.Position, r.Timestamp)
			want[env.Stream], _ = countFold(want[env.Stream], env)
			total++
		}
	}
	for s, c := range want {
		raw, ok, err := eng.Get(ctx, "count.v1", projection.DocKey(s))
		var doc projection.Doc[count]
		if err != nil || !ok || json.Unmarshal(raw, &doc) != nil || doc.State != c || doc.Version != c.N {
			t.Fatalf("%s: %s, want %+v", s, raw, c)
		}
	}
	var counted int64
	for p := int32(0); p < 3; p++ {
		raw, _, _ := eng.Get(ctx, "stats.v1", projection.StatsKey("order", p))
		n, _ := strconv.ParseInt(string(raw), 10, 64)
		counted += n
	}
	if counted != total || total != 1000 {
		t.Fatalf("stats %d, log %d, appended 1000", counted, total)
	}
}
