package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/history"
	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/pkg/testrig"
	"github.com/strata-platform/strata/services/command"
)

// The fault test runs three real `strata command` processes against a Kafka broker and a
// Redis of its own (so that restarting them disturbs no other test), drives 32 HTTP clients
// over 200 streams through random instances, and injects one fault at a time: kill -9 of
// an owner and a restart; SIGSTOP of an owner past its session, then SIGCONT (a zombie);
// FLUSHALL; a Redis restart without persistence; a broker restart. Afterwards the history
// package checks the log read by a plain read_committed consumer against every answer (I1,
// I2 with porcupine, I3), and every stream's head, read through the API, against the log.

const (
	faultPartitions = 8
	faultStreams    = 200
	faultClients    = 32
)

// TestCommand_Faults runs one cycle of each fault on a one-broker Kafka.
func TestCommand_Faults(t *testing.T) { runFaults(t, 5, 1) }

// TestHeavy_CommandFaults runs fault cycles on a one-broker Kafka (STRATA_HEAVY=1): 10, or
// STRATA_FAULT_CYCLES (the 20-cycle runs used STRATA_FAULT_CYCLES=20).
func TestHeavy_CommandFaults(t *testing.T) {
	heavyOnly(t)
	cycles := 10
	if v := os.Getenv("STRATA_FAULT_CYCLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("STRATA_FAULT_CYCLES=%q: want a positive number", v)
		}
		cycles = n
	}
	runFaults(t, cycles, 1)
}

// TestHeavy_CommandFaults3Brokers runs 10 fault cycles on a three-broker Kafka
// (replication factor 3, min.insync.replicas 2), where the Kafka fault is kill -9 of one
// broker out of three and its restart (STRATA_HEAVY=1).
func TestHeavy_CommandFaults3Brokers(t *testing.T) {
	heavyOnly(t)
	runFaults(t, 10, 3)
}

func heavyOnly(t *testing.T) {
	if os.Getenv("STRATA_HEAVY") != "1" {
		t.Skip("heavy test: set STRATA_HEAVY=1 (scripts/test runs it without -race)")
	}
}

// faultRig is the private Kafka, Redis and the three instances.
type faultRig struct {
	t        *testing.T
	root     string
	dir      string
	bin      string
	kafka    string   // seed brokers, comma-separated
	kafkaAll []string // every broker
	brokers  int
	env      []string
	redis    string
	redisP   *exec.Cmd
	cluster  string
	insts    []*instance
	rdb      *redis.Client
}

type instance struct {
	addr   string
	mu     sync.Mutex // guards cmd and exited
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := testrig.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// consecutivePorts finds n free consecutive ports and returns the first.
func consecutivePorts(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		first := freePort(t)
		ok := true
		for i := 1; i < n && ok; i++ {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(first+i))
			if err != nil {
				ok = false
				continue
			}
			ln.Close()
		}
		if ok {
			return first
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func newFaultRig(t *testing.T, brokers int) *faultRig {
	if _, err := exec.LookPath("redis-server"); err != nil {
		testrig.Get(t) // installs Redis (scripts/redis.sh) when missing
	}
	root := repoRoot(t)
	r := &faultRig{t: t, root: root, dir: t.TempDir(), cluster: testrig.Name(t, "faults")}
	r.bin = filepath.Join(r.dir, "strata")
	build := exec.Command("go", "build", "-o", r.bin, "./services/strata")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build strata: %v\n%s", err, out)
	}
	// Brokers listen on consecutive ports from kp, controllers from cp.
	kp, cp := consecutivePorts(t, brokers), consecutivePorts(t, brokers)
	r.env = append(os.Environ(), "STRATA_KAFKA_PORT="+strconv.Itoa(kp), "STRATA_KAFKA_CONTROLLER_PORT="+strconv.Itoa(cp))
	r.brokers = brokers
	for i := range brokers {
		r.kafkaAll = append(r.kafkaAll, "127.0.0.1:"+strconv.Itoa(kp+i))
	}
	r.kafka = strings.Join(r.kafkaAll, ",")
	r.script(root, "up", strconv.Itoa(brokers))
	t.Cleanup(func() {
		r.script(root, "down")
		rig := os.Getenv("STRATA_RIG_DIR")
		if rig == "" {
			cache, _ := os.UserCacheDir()
			rig = filepath.Join(cache, "strata-rig")
		}
		_ = os.RemoveAll(filepath.Join(rig, "kafka-"+strconv.Itoa(kp)))
	})
	r.redis = "127.0.0.1:" + strconv.Itoa(freePort(t))
	r.startRedis()
	t.Cleanup(r.stopRedis)
	r.rdb = redis.NewClient(&redis.Options{Addr: r.redis})
	t.Cleanup(func() { _ = r.rdb.Close() })
	for range 3 {
		r.insts = append(r.insts, &instance{addr: "127.0.0.1:" + strconv.Itoa(freePort(t))})
	}
	for i := range r.insts {
		r.start(i)
	}
	t.Cleanup(func() {
		for i := range r.insts {
			r.stop(i, syscall.SIGKILL)
		}
	})
	return r
}

func (r *faultRig) script(root string, args ...string) {
	r.t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(root, "scripts", "kafka.sh")}, args...)...)
	cmd.Env = r.env
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("kafka.sh %v: %v\n%s", args, err, out)
	}
}

func (r *faultRig) startRedis() {
	dir := filepath.Join(r.dir, fmt.Sprintf("redis-%d", time.Now().UnixNano()))
	_ = os.MkdirAll(dir, 0o755)
	_, port, _ := net.SplitHostPort(r.redis)
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--dir", dir,
		"--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start redis: %v", err)
	}
	r.redisP = cmd
	waitFor(r.t, 20*time.Second, "redis to answer", func() bool {
		c, err := net.Dial("tcp", r.redis)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (r *faultRig) stopRedis() {
	if r.redisP != nil {
		_ = r.redisP.Process.Kill()
		_ = r.redisP.Wait()
		r.redisP = nil
	}
}

func (r *faultRig) start(i int) {
	in := r.insts[i]
	logf, err := os.OpenFile(filepath.Join(r.dir, fmt.Sprintf("instance-%d.log", i)), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command(r.bin, "command", "--kafka", r.kafka, "--redis", r.redis, "--cluster", r.cluster,
		"--topic-prefix", r.cluster, "--partitions", strconv.Itoa(faultPartitions), "--http", in.addr,
		"--log-level", "info")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = slices.DeleteFunc(os.Environ(), func(s string) bool { return strings.HasPrefix(s, "STRATA_") })
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start instance %d: %v", i, err)
	}
	exited := make(chan struct{})
	in.mu.Lock()
	in.cmd, in.exited = cmd, exited
	in.mu.Unlock()
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
}

func (r *faultRig) stop(i int, sig syscall.Signal) {
	in := r.insts[i]
	in.mu.Lock()
	cmd, exited := in.cmd, in.exited
	in.cmd = nil
	in.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

func (r *faultRig) signal(i int, sig syscall.Signal) {
	in := r.insts[i]
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd != nil {
		_ = in.cmd.Process.Signal(sig)
	}
}

// owner returns the instance that owns partition p according to Redis, or -1.
func (r *faultRig) owner(p int) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	addr, _ := r.rdb.HGet(ctx, r.cluster+":owner:"+strconv.Itoa(p), "a").Result()
	for i, in := range r.insts {
		if in.addr == addr {
			return i
		}
	}
	return -1
}

// waitReady waits until every partition answers a head read through instance 0.
func (r *faultRig) waitReady(streams []stream.ID) {
	r.t.Helper()
	perPartition := map[int]stream.ID{}
	for _, s := range streams {
		perPartition[stream.PartitionFor(s.ID, faultPartitions)] = s
	}
	waitFor(r.t, 120*time.Second, "every partition to serve", func() bool {
		for _, s := range perPartition {
			code, _ := headOf(r.insts[0].addr, s)
			if code != http.StatusOK && code != http.StatusNotFound {
				return false
			}
		}
		return true
	})
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var faultHTTP = &http.Client{Timeout: 10 * time.Second}

func headOf(addr string, s stream.ID) (int, int64) {
	resp, err := faultHTTP.Get("http://" + addr + "/v1/streams/" + s.Type + "/" + s.ID)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	var body struct {
		Version int64 `json:"version"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Version
}

// faultRun is the workload's shared state.
type faultRun struct {
	rig     *faultRig
	streams []stream.ID
	t0      time.Time
	stop    atomic.Bool
	unexp   atomic.Int64 // unexpected answers
}

func (w *faultRun) now() int64 { return int64(time.Since(w.t0)) }

// attempt sends one append to a random instance and classifies the answer: ok, conflict,
// unavailable (nothing written, by contract), or unknown.
func (w *faultRun) attempt(rng *rand.Rand, op *history.Op) {
	in := w.rig.insts[rng.IntN(len(w.rig.insts))]
	var batch []map[string]any
	for _, id := range op.IDs {
		batch = append(batch, map[string]any{"specversion": "1.0", "id": id, "source": op.Source,
			"type": "com.example.acct.moved", "datacontenttype": "application/json", "data": map[string]any{"id": id}})
	}
	body, _ := json.Marshal(batch)
	req, _ := http.NewRequest(http.MethodPost, "http://"+in.addr+"/v1/streams/"+op.Stream.Type+"/"+op.Stream.ID+"/events", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/cloudevents-batch+json")
	req.Header.Set("Strata-Expected-Version", op.Expected.String())
	resp, err := faultHTTP.Do(req)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "dial" {
			op.Out = history.OutUnavailable // never sent
			return
		}
		op.Out = history.OutUnknown
		return
	}
	defer resp.Body.Close()
	var pb struct {
		command.AppendResponse
		Code           string `json:"code"`
		CurrentVersion *int64 `json:"current_version"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&pb)
	switch {
	case resp.StatusCode == http.StatusCreated:
		op.Out, op.Version = history.OutOK, pb.Version
		op.Res = appender.Result{Version: pb.Version, Positions: pb.Positions, Duplicate: pb.Duplicate}
	case resp.StatusCode == http.StatusConflict && pb.Code == command.CodeConflict && pb.CurrentVersion != nil:
		op.Out, op.Version = history.OutConflict, *pb.CurrentVersion
	case resp.StatusCode == http.StatusServiceUnavailable && (pb.Code == command.CodeUnavailable || pb.Code == command.CodeNotOwner):
		op.Out = history.OutUnavailable
	case resp.StatusCode == http.StatusServiceUnavailable && (pb.Code == command.CodeOutcomeUnknown || pb.Code == command.CodeTimeout):
		op.Out = history.OutUnknown
	default:
		w.unexp.Add(1)
		w.rig.t.Errorf("append %s: unexpected answer %d %s", op.Stream, resp.StatusCode, pb.Code)
		op.Out = history.OutUnknown
	}
}

// appendOp makes one logical append: an attempt, and while its outcome is unknown, retries
// with the same event ids (I4 makes that safe), so that it ends with the answer that says
// what happened, or stays unknown.
func (w *faultRun) appendOp(c, seq int, rng *rand.Rand, s stream.ID, exp stream.Expected) history.Op {
	op := history.Op{Client: c, Stream: s, Source: fmt.Sprintf("/faults/c%d", c), Expected: exp}
	for i := range 1 + rng.IntN(3) {
		op.IDs = append(op.IDs, fmt.Sprintf("c%d-%d-%d", c, seq, i))
	}
	op.Call = w.now()
	w.attempt(rng, &op)
	unknown := op.Out == history.OutUnknown
	for retry := 0; unknown && retry < 8 && !w.stop.Load(); retry++ {
		time.Sleep(time.Duration(200+rng.IntN(400)) * time.Millisecond)
		w.attempt(rng, &op)
		switch op.Out {
		case history.OutOK, history.OutConflict:
			unknown = false
		case history.OutUnavailable:
			op.Out = history.OutUnknown // an earlier attempt may have committed
		}
	}
	op.Ret = w.now()
	return op
}

func (w *faultRun) client(c int, rng *rand.Rand) []history.Op {
	var ops []history.Op
	seen := map[stream.ID]int64{}
	for seq := 0; !w.stop.Load(); seq++ {
		s := w.streams[rng.IntN(len(w.streams))]
		if rng.IntN(100) < 5 {
			op := history.Op{Client: c, Stream: s, Read: true, Out: history.OutRead, Call: w.now()}
			code, v := headOf(w.rig.insts[rng.IntN(len(w.rig.insts))].addr, s)
			op.Ret = w.now()
			if code == http.StatusOK || code == http.StatusNotFound {
				op.Version = v
				seen[s] = v
				ops = append(ops, op)
			}
			continue
		}
		exp := stream.ExactVersion(seen[s])
		switch rng.IntN(10) {
		case 0:
			exp = stream.Any
		case 1:
			exp = stream.Exists
		}
		op := w.appendOp(c, seq, rng, s, exp)
		if op.Out == history.OutOK || op.Out == history.OutConflict {
			seen[s] = op.Version
		}
		ops = append(ops, op)
	}
	return ops
}

// inject runs one fault and waits for the platform to serve again.
func (w *faultRun) inject(kind int, rng *rand.Rand) string {
	r := w.rig
	ctx := context.Background()
	switch kind {
	case 0:
		i := r.owner(rng.IntN(faultPartitions))
		if i < 0 {
			i = 0
		}
		r.stop(i, syscall.SIGKILL)
		time.Sleep(8 * time.Second) // its session expires; the others take its partitions over
		r.start(i)
		return fmt.Sprintf("kill -9 instance %d, restart", i)
	case 1:
		i := r.owner(rng.IntN(faultPartitions))
		if i < 0 {
			i = 1
		}
		r.signal(i, syscall.SIGSTOP)
		time.Sleep(12 * time.Second) // past the 6s session: its partitions move
		r.signal(i, syscall.SIGCONT)
		return fmt.Sprintf("SIGSTOP instance %d for 12s, SIGCONT", i)
	case 2:
		if err := r.rdb.FlushAll(ctx).Err(); err != nil {
			r.t.Errorf("flushall: %v", err)
		}
		return "FLUSHALL"
	case 3:
		r.stopRedis()
		time.Sleep(time.Second)
		r.startRedis()
		return "redis restart without persistence"
	default:
		if r.brokers == 1 {
			r.script(r.root, "stop", "1")
			time.Sleep(time.Second)
			r.script(r.root, "start", "1")
			return "kafka broker restart"
		}
		b := 1 + rng.IntN(r.brokers)
		r.script(r.root, "kill", strconv.Itoa(b))
		time.Sleep(5 * time.Second)
		r.script(r.root, "start", strconv.Itoa(b))
		return fmt.Sprintf("kill -9 of kafka broker %d of %d, restart", b, r.brokers)
	}
}

func runFaults(t *testing.T, cycles, brokers int) {
	seed := testrig.Seed(t)
	r := newFaultRig(t, brokers)
	w := &faultRun{rig: r}
	for i := range faultStreams {
		w.streams = append(w.streams, stream.ID{Type: "acct", ID: fmt.Sprintf("a-%03d", i)})
	}
	r.waitReady(w.streams)
	w.t0 = time.Now()
	perClient := make([][]history.Op, faultClients)
	var wg sync.WaitGroup
	for c := range faultClients {
		wg.Go(func() { perClient[c] = w.client(c, rand.New(rand.NewPCG(seed, uint64(c)))) })
	}
	rng := rand.New(rand.NewPCG(seed, 1<<40))
	kinds := []int{0, 1, 2, 3, 4}
	for cycle := range cycles {
		time.Sleep(4 * time.Second)
		start := time.Now()
		what := w.inject(kinds[cycle%len(kinds)], rng)
		r.waitReady(w.streams)
		t.Logf("cycle %d: %s; serving again after %v", cycle+1, what, time.Since(start).Round(100*time.Millisecond))
	}
	time.Sleep(4 * time.Second)
	w.stop.Store(true)
	wg.Wait()
	elapsed := time.Since(w.t0)
	hist := slices.Concat(perClient...)

	// Every stream's head, read through the API after the faults, equals the log.
	target := history.Target{Kafka: r.kafkaAll, TopicPrefix: r.cluster, Partitions: faultPartitions}
	r.waitReady(w.streams)
	sum := history.Check(t, target, hist)
	logged, byStream, n, resolved := sum.Logged, sum.ByStream, sum.Outcomes, sum.Resolved
	eb := &history.ErrorBudget{T: t, N: 10}
	for _, s := range w.streams {
		code, v := headOf(r.insts[0].addr, s)
		if want := int64(len(byStream[s])); (code != http.StatusOK || v != want) && !(code == http.StatusNotFound && want == 0) {
			eb.Errorf("head of %s through the API: %d v%d, the log has v%d", s, code, v, want)
		}
	}
	eb.Done("heads")
	checkOwnershipMetrics(t, r.insts)

	t.Logf("seed %d: %d fault cycles in %v (%d Kafka brokers); %d appends + %d reads by %d clients on %d streams through 3 instances",
		seed, cycles, elapsed.Round(time.Second), brokers, len(hist)-n[history.OutRead], n[history.OutRead], faultClients, faultStreams)
	t.Logf("acknowledged %d, refused %d (conflict %d, unavailable %d), unknown outcome %d (of which the log shows %d committed); %d events in Kafka",
		n[history.OutOK], n[history.OutConflict]+n[history.OutUnavailable], n[history.OutConflict], n[history.OutUnavailable],
		n[history.OutUnknown], resolved, len(logged))
	if n[history.OutOK] == 0 || n[history.OutConflict] == 0 {
		t.Errorf("the workload should produce both commits and conflicts")
	}
}

// checkOwnershipMetrics checks that the instances export the per-partition metrics: owner,
// epoch, takeover time, heads catch-up.
func checkOwnershipMetrics(t *testing.T, insts []*instance) {
	t.Helper()
	var all strings.Builder
	for _, in := range insts {
		resp, err := faultHTTP.Get("http://" + in.addr + "/metrics")
		if err != nil {
			t.Errorf("metrics of %s: %v", in.addr, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		all.Write(b)
	}
	for _, name := range []string{"strata_partition_owned{partition=", "strata_partition_owner_epoch{partition=",
		"strata_partition_open_seconds_count", "strata_heads_catchup_events_total{partition=", "strata_heads_lag_events{partition="} {
		if !strings.Contains(all.String(), name) {
			t.Errorf("no instance exports %s", name)
		}
	}
}
