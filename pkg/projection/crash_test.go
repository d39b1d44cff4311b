package projection

import (
	"context"
	"fmt"
	"github.com/strata-platform/strata/pkg/testrig"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/strata-platform/strata/pkg/stream"
)

// TestHelperProjector is not a test: it is the projector process TestProjector_KillNine
// starts and kills. It runs the tally projection until it is killed.
func TestHelperProjector(t *testing.T) {
	name := os.Getenv("STRATA_HELPER_PROJECTOR")
	if name == "" {
		t.Skip("helper process")
	}
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("STRATA_REDIS")})
	defer rdb.Close()
	cfg := Config{Kafka: []string{os.Getenv("STRATA_KAFKA")}, Group: name, TopicPrefix: name, MaxBatch: 50, SessionTimeout: 6 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	var wg sync.WaitGroup
	for _, proj := range crashProjections() {
		r, err := NewRunner(cfg, proj, NewRedisStore(rdb, name))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

// crashProjections are what the killed processes run: the tally (guarded by aggregate
// version) and the stats counter, which has no guard of its own, so any batch applied twice
// or lost shows in its count.
func crashProjections() []Projection {
	return []Projection{
		{Name: "tally", Version: 1, Types: []string{"order"}, Handler: Fold(slowTally)},
		Stats([]string{"order"}, 1),
	}
}

// slowTally is tallyFold with a little work per event, so kills land inside batches.
func slowTally(s tally, env *Envelope) (tally, error) {
	time.Sleep(200 * time.Microsecond)
	return tallyFold(s, env)
}

// TestProjector_KillNine kills projector processes with SIGKILL at random moments while
// appends flow, with two instances rebalancing partitions between them, then checks the
// read model equals a fold of the log: nothing missing, nothing counted twice, nothing
// aborted applied.
func TestProjector_KillNine(t *testing.T) {
	e := newEnv(t)
	seed := testrig.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	counts := e.appendEvents(t, 200, 30, seed) // creates the topic
	var mu sync.Mutex
	appendsDone := make(chan struct{})
	go func() {
		defer close(appendsDone)
		for i := uint64(0); i < 6; i++ {
			more := e.appendEvents(t, 400, 30, seed+10+i)
			mu.Lock()
			for s, n := range more {
				counts[s] += n
			}
			mu.Unlock()
			if i == 2 {
				e.abortedTransaction(t, "order")
			}
		}
	}()
	procs := [2]*exec.Cmd{e.startProjector(t), e.startProjector(t)}
	kills := 0
	for kills < 24 {
		time.Sleep(time.Duration(100+rng.IntN(500)) * time.Millisecond)
		i := rng.IntN(2)
		_ = procs[i].Process.Kill() // SIGKILL
		_ = procs[i].Wait()
		kills++
		procs[i] = e.startProjector(t)
	}
	<-appendsDone
	t.Logf("%d kills while appending", kills)
	e.waitCaughtUp(t, crashProjections()...)
	for _, p := range procs {
		_ = p.Process.Signal(syscall.SIGTERM)
		_ = p.Wait()
	}
	mu.Lock()
	defer mu.Unlock()
	checkTally(t, e, counts, e.readLog(t, "order"))
}

func (e *env) startProjector(t *testing.T) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProjector$", "-test.count=1")
	cmd.Env = append(os.Environ(), "STRATA_HELPER_PROJECTOR="+e.name,
		"STRATA_KAFKA="+e.addrs.Kafka[0], "STRATA_REDIS="+e.addrs.Redis)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	return cmd
}

func checkTally(t *testing.T, e *env, counts map[stream.ID]int64, log map[stream.ID][]*Envelope) {
	ctx := context.Background()
	for s, envs := range log {
		if int64(len(envs)) != counts[s] {
			t.Fatalf("%s: log has %d events, %d appended", s, len(envs), counts[s])
		}
		var want tally
		for _, env := range envs {
			want, _ = tallyFold(want, env)
		}
		raw, ok, err := e.store.Get(ctx, "tally.v1", DocKey(s))
		if err != nil || !ok {
			t.Fatalf("%s: no tally (%v)", s, err)
		}
		if got := string(raw); got != fmt.Sprintf(`{"version":%d,"state":{"count":%d,"sum":%s}}`, len(envs), want.Count, strconv.FormatFloat(want.Sum, 'g', -1, 64)) {
			t.Fatalf("%s: tally %s, want %d events summing %v", s, raw, want.Count, want.Sum)
		}
	}
	if raw, ok, _ := e.store.Get(ctx, "tally.v1", DocKey(stream.ID{Type: "order", ID: "o-aborted"})); ok {
		t.Fatalf("aborted events were applied: %s", raw)
	}
	var total, counted int64
	for _, envs := range log {
		total += int64(len(envs))
	}
	for p := int32(0); p < 3; p++ {
		raw, _, _ := e.store.Get(ctx, "stats.v1", StatsKey("order", p))
		n, _ := strconv.ParseInt(string(raw), 10, 64)
		counted += n
	}
	if counted != total {
		t.Fatalf("stats counted %d events, the log has %d: a batch was lost or applied twice", counted, total)
	}
}
