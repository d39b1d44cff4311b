package embedded

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/stream"
)

// The helper process is this test binary re-executed with these variables set.
const (
	helperDirEnv  = "STRATA_EMBEDDED_HELPER_DIR"
	helperModeEnv = "STRATA_EMBEDDED_HELPER_MODE" // "commit" or "hold"
	helperSeedEnv = "STRATA_EMBEDDED_HELPER_SEED"
	crashSeedEnv  = "STRATA_CRASH_SEED" // replays a TestCrash run
	crashCycles   = 10
)

// TestHelperProcess is not a test: it is the child process of TestCrash_KillAndRecover and
// TestOpen_InUseAcrossProcesses. It never returns; its parent kills it.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		t.Skip("helper process for the crash tests")
	}
	e, err := Open(Config{Dir: dir, Partitions: testPartitions})
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(3)
	}
	if os.Getenv(helperModeEnv) == "hold" {
		fmt.Println("ready")
		select {}
	}
	seed, _ := strconv.ParseUint(os.Getenv(helperSeedEnv), 10, 64)
	for p := 0; p < testPartitions; p++ {
		go commitLoop(e, p, rand.New(rand.NewPCG(seed, uint64(p))))
	}
	select {}
}

// commitLoop commits random groups to partition p forever and prints, after each Commit
// returns, one line "ack <type> <id> <version>" per append.
func commitLoop(e *Engine, p int, rng *rand.Rand) {
	ctx := context.Background()
	w, err := e.OpenPartition(ctx, p)
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(3)
	}
	streams := append(streamsIn("order", p, testPartitions, 4), streamsIn("invoice", p, testPartitions, 3)...)
	for {
		heads := map[stream.ID]stream.Head{}
		var group []appender.StreamAppend
		for range 1 + rng.IntN(4) {
			s := streams[rng.IntN(len(streams))]
			h, ok := heads[s]
			if !ok {
				if h, err = w.Head(ctx, s); err != nil {
					fmt.Printf("error %v\n", err)
					os.Exit(3)
				}
			}
			a := appendOf(s, h, 1+rng.IntN(3))
			group = append(group, a)
			heads[s] = h.Advance(make([]stream.Recent, len(a.Events)))
		}
		if _, err := w.Commit(ctx, group); err != nil {
			fmt.Printf("error %v\n", err)
			os.Exit(3)
		}
		var b strings.Builder
		for _, a := range group {
			fmt.Fprintf(&b, "ack %s %s %d\n", a.Stream.Type, a.Stream.ID, a.Prior.Version+int64(len(a.Events)))
		}
		_, _ = os.Stdout.WriteString(b.String()) // one write: lines are never torn
	}
}

// helper starts the helper process on dir and returns it with its stdout.
func helper(t *testing.T, dir, mode string, seed uint64) (*exec.Cmd, io.ReadCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperDirEnv+"="+dir, helperModeEnv+"="+mode,
		helperSeedEnv+"="+strconv.FormatUint(seed, 10))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, out
}

// TestCrash_KillAndRecover kills a committing process with SIGKILL at random moments and
// checks after each kill that every acknowledged event is there, that every stream's
// versions are 1..n with no gap or duplicate, and that Verify finds nothing wrong.
func TestCrash_KillAndRecover(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (%s=%d replays it)", seed, crashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	acked := map[stream.ID]int64{}
	total := 0
	for cycle := range crashCycles {
		n := crashCycle(t, dir, seed+uint64(cycle), rng, acked)
		total += n
		checkAcked(t, dir, acked)
		t.Logf("cycle %d: %d appends acknowledged", cycle, n)
	}
	if total == 0 {
		t.Fatal("no append was acknowledged in any cycle")
	}
}

// crashCycle runs the helper, kills it, and records what it acknowledged.
func crashCycle(t *testing.T, dir string, seed uint64, rng *rand.Rand, acked map[stream.ID]int64) int {
	cmd, out := helper(t, dir, "commit", seed)
	var (
		mu    sync.Mutex
		lines []string
		first = make(chan struct{})
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			mu.Lock()
			if lines = append(lines, sc.Text()); len(lines) == 1 {
				close(first)
			}
			mu.Unlock()
		}
	}()
	if rng.IntN(5) > 0 { // mostly in full flow; sometimes while it may still be opening
		select {
		case <-first:
		case <-time.After(30 * time.Second):
		}
	}
	time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
	_ = cmd.Process.Kill() // SIGKILL
	<-done
	_ = cmd.Wait()
	n := 0
	for _, line := range lines {
		var s stream.ID
		var v int64
		if _, err := fmt.Sscanf(line, "ack %s %s %d", &s.Type, &s.ID, &v); err != nil {
			t.Fatalf("helper said %q", line)
		}
		acked[s] = max(acked[s], v)
		n++
	}
	return n
}

// checkAcked opens the store and checks it against what was acknowledged.
func checkAcked(t *testing.T, dir string, acked map[stream.ID]int64) {
	t.Helper()
	e, err := Open(Config{Dir: dir, Partitions: testPartitions})
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer func() { _ = e.Close() }()
	rep := mustVerify(t, e) // versions 1..n per stream, heads match the log, checksums
	for s, v := range acked {
		h, err := e.Head(s)
		if err != nil || h.Version < v {
			t.Fatalf("stream %s: head v%d (%v), but v%d was acknowledged", s, h.Version, err, v)
		}
	}
	var events int64
	for _, topic := range e.Topics() {
		for p := int32(0); p < testPartitions; p++ {
			events += int64(len(readAll(t, e, topic, p)))
		}
	}
	if events != rep.Records {
		t.Fatalf("read %d events, Verify saw %d", events, rep.Records)
	}
}

// TestOpen_InUseAcrossProcesses: while another process holds the folder, Open is refused;
// once that process is killed, the kernel has released its lock.
func TestOpen_InUseAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	cmd, out := helper(t, dir, "hold", 0)
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper said %q", line)
	}
	_, err := Open(Config{Dir: dir, Partitions: testPartitions})
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "is in use by another process") {
		t.Fatalf("Open while another process holds the folder: %v", err)
	}
	openTest(t, dir, testPartitions)
}
