package embedded

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/projection"
	"github.com/strata-platform/strata/pkg/stream"
)

// mountTmpfs mounts a tmpfs of size bytes on a fresh folder, unmounted when the test ends
// (after every cleanup registered later, such as closing an engine on it).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs on %s (%v): this test needs root or CAP_SYS_ADMIN", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file until the file system is full (ENOSPC) and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", path, err)
			}
			return path
		}
	}
}

// TestEngine_DiskFull runs the engine on a real 32 MiB tmpfs, fills it, and checks that
// appends (through the append pipeline) and read-model commits fail with ErrDiskFull, that
// reads keep working, and that once space is freed appends succeed again and nothing that
// was acknowledged is lost, across a reopen (Verify).
func TestEngine_DiskFull(t *testing.T) {
	mnt := mountTmpfs(t, "32m")
	dir := filepath.Join(mnt, "data")
	cfg := Config{Dir: dir, Partitions: 4, DiskReserve: 4 << 20}
	e, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	app, err := appender.New(ctx, e, appender.Config{})
	if err != nil {
		t.Fatal(err)
	}
	acked := map[stream.ID]int64{}
	appendOne := func(s stream.ID) error {
		res, err := app.Append(ctx, appender.Request{Stream: s, Expected: stream.ExactVersion(acked[s]),
			Events: []*event.Event{newEvent(s, acked[s]+1)}})
		if err == nil {
			acked[s] = res.Version
		}
		return err
	}
	streams := []stream.ID{{Type: "order", ID: "o-1"}, {Type: "order", ID: "o-2"}, {Type: "invoice", ID: "i-1"}}
	for i := 0; i < 30; i++ {
		if err := appendOne(streams[i%len(streams)]); err != nil {
			t.Fatalf("append before the disk is full: %v", err)
		}
	}

	filler := fill(t, mnt)
	for _, s := range streams {
		err := appendOne(s)
		if !errors.Is(err, appender.ErrUnavailable) {
			t.Fatalf("append to %s on a full disk: got %v, want an appender.ErrUnavailable", s, err)
		}
		t.Logf("append on a full disk: %v", err)
	}
	// The pipeline answers ErrUnavailable (nothing written, retry later); the engine's own
	// Commit says why, with its typed error.
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	w, err := e.OpenPartition(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	s0 := streamsIn("order", 0, cfg.Partitions, 1)[0]
	if _, err := w.Commit(ctx, []appender.StreamAppend{appendOf(s0, stream.Head{}, 1)}); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Commit on a full disk: got %v, want ErrDiskFull", err)
	}
	_ = w.Close()
	err = e.Commit(ctx, "orders.v1", projection.Batch{Topic: e.Topic("order"), Partition: 0, From: 0, To: 1,
		Puts: []projection.KV{{Key: "k", Value: []byte("v")}}})
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("read-model Commit on a full disk: got %v, want ErrDiskFull", err)
	}

	// Reads keep working: every acknowledged event is there.
	checkAckedIn(t, e, acked)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if app, err = appender.New(ctx, e, appender.Config{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		if err := appendOne(streams[i%len(streams)]); err != nil {
			t.Fatalf("append after space was freed: %v", err)
		}
	}
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openTest(t, dir, cfg.Partitions)
	mustVerify(t, e)
	checkAckedIn(t, e, acked)
}

// checkAckedIn reads every stream of acked back by its head and its topic: versions 1..n,
// n at least the acknowledged version.
func checkAckedIn(t *testing.T, e *Engine, acked map[stream.ID]int64) {
	t.Helper()
	seen := map[stream.ID]int64{}
	for _, typ := range []string{"order", "invoice"} {
		for p := int32(0); p < int32(e.Partitions()); p++ {
			for _, r := range readAll(t, e, e.Topic(typ), p) {
				s := stream.ID{Type: event.AggregateType(&r.Event), ID: event.AggregateID(&r.Event)}
				v, _, _ := event.AggregateVersion(&r.Event)
				if v != seen[s]+1 {
					t.Fatalf("%s: version %d after %d", s, v, seen[s])
				}
				seen[s] = v
			}
		}
	}
	for s, v := range acked {
		h, err := e.Head(s)
		if err != nil {
			t.Fatalf("Head(%s): %v", s, err)
		}
		if h.Version != v || seen[s] != v {
			t.Fatalf("%s: acknowledged version %d, head %d, log %d", s, v, h.Version, seen[s])
		}
	}
}

// diskFillDirEnv makes the test binary TestHelperDiskFill's child process.
const diskFillDirEnv = "STRATA_EMBEDDED_DISKFILL_DIR"

// TestHelperDiskFill is not a test: it is the child process of
// TestEngine_DiskFullWithoutReserve. It commits with the disk reserve turned off until the
// disk is full and pebble ends the process.
func TestHelperDiskFill(t *testing.T) {
	dir := os.Getenv(diskFillDirEnv)
	if dir == "" {
		t.Skip("helper process for TestEngine_DiskFullWithoutReserve")
	}
	e, err := Open(Config{Dir: dir, Partitions: testPartitions, DiskReserve: -1})
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(3)
	}
	for p := 0; p < testPartitions; p++ {
		go commitLoop(e, p, rand.New(rand.NewPCG(uint64(p), 1)))
	}
	select {}
}

// TestEngine_DiskFullWithoutReserve is the case the reserve exists for, on a real tmpfs: a
// process commits with the reserve turned off until the disk is full. Pebble then either
// ends the process on a failed WAL write (Logger.Fatalf) or, as we see on tmpfs, stalls
// every commit while its memtable flushes fail with ENOSPC (a helper still stuck after 15 s
// gets SIGQUIT, which prints where it waits). Either way, once space is freed the store
// opens with every acknowledged event and Verify finds nothing wrong.
func TestEngine_DiskFullWithoutReserve(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a tmpfs")
	}
	mnt := mountTmpfs(t, "24m")
	spare := filepath.Join(mnt, "spare")
	if err := os.WriteFile(spare, make([]byte, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "data")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDiskFill$", "-test.count=1")
	cmd.Env = append(os.Environ(), diskFillDirEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A stuck helper gets SIGQUIT: the Go runtime prints every goroutine and exits.
	watchdog := time.AfterFunc(15*time.Second, func() { _ = cmd.Process.Signal(syscall.SIGQUIT) })
	acked := map[stream.ID]int64{}
	var errs []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var s stream.ID
		var v int64
		if _, err := fmt.Sscanf(sc.Text(), "ack %s %s %d", &s.Type, &s.ID, &v); err != nil {
			errs = append(errs, sc.Text())
			continue
		}
		acked[s] = max(acked[s], v)
	}
	err = cmd.Wait()
	if !watchdog.Stop() {
		t.Logf("the helper was still running 15 s after it started; where its commits wait:\n%s", stuck(stderr.String()))
	}
	t.Logf("helper ended: %v; %d streams acknowledged; its other output: %q", err, len(acked), errs)
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged before the disk was full")
	}
	if err := os.Remove(spare); err != nil {
		t.Fatal(err)
	}
	e := openTest(t, dir, testPartitions)
	rep := mustVerify(t, e)
	for s, v := range acked {
		h, err := e.Head(s)
		if err != nil || h.Version < v {
			t.Fatalf("%s: head version %d (%v), but %d was acknowledged", s, h.Version, err, v)
		}
	}
	t.Logf("after freeing space: %d records, %d streams, all acknowledged events present", rep.Records, rep.Streams)
}

// stuck returns the pebble frames of a committing goroutine in a SIGQUIT dump: the one in
// pebble's write stall if there is one (the others queue behind it).
func stuck(dump string) string {
	var out []string
	gs := strings.Split(dump, "\n\n")
	slices.SortStableFunc(gs, func(a, b string) int {
		return cmp.Compare(b2i(strings.Contains(b, "WriteStall")), b2i(strings.Contains(a, "WriteStall")))
	})
	for _, g := range gs {
		if !strings.Contains(g, "commitLoop") {
			continue
		}
		for _, line := range strings.Split(g, "\n") {
			if strings.HasPrefix(line, "goroutine ") || strings.HasPrefix(line, "github.com/cockroachdb/pebble") {
				out = append(out, line)
			}
		}
		break // they all wait in the same place; one is enough
	}
	return strings.Join(out, "\n")
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
