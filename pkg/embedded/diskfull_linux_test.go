package embedded

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

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
