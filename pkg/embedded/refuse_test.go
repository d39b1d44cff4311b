package embedded

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/stream"
)

// TestPartition_HeadMismatch: a Prior that is not the stored (or running) head refuses the
// whole group and writes nothing.
func TestPartition_HeadMismatch(t *testing.T) {
	ctx := context.Background()
	e := openTest(t, t.TempDir(), testPartitions)
	w := openPartition(t, e, 0)
	ss := streamsIn("order", 0, testPartitions, 2)
	if _, err := w.Commit(ctx, []appender.StreamAppend{appendOf(ss[0], stream.Head{}, 2)}); err != nil {
		t.Fatal(err)
	}
	h0, _ := w.Head(ctx, ss[0])
	stale := stream.Head{Version: 1}
	tests := map[string][]appender.StreamAppend{
		"stale prior":           {appendOf(ss[1], stream.Head{}, 1), appendOf(ss[0], stale, 1)},
		"prior ahead":           {appendOf(ss[0], stream.Head{Version: 5}, 1)},
		"second append stale":   {appendOf(ss[0], h0, 1), appendOf(ss[0], h0, 1)},
		"new stream with prior": {appendOf(ss[1], stream.Head{Version: 1}, 1)},
	}
	for name, group := range tests {
		_, err := w.Commit(ctx, group)
		if !errors.Is(err, ErrHeadMismatch) || errors.Is(err, stream.ErrConflict) {
			t.Errorf("%s: err = %v, want ErrHeadMismatch", name, err)
		}
	}
	if end, _ := e.EndOffset("strata.order.events", 0); end != 2 {
		t.Fatalf("end offset %d after refused groups, want 2", end)
	}
	if h, _ := w.Head(ctx, ss[1]); h.Version != 0 {
		t.Fatalf("refused group wrote head v%d", h.Version)
	}
	mustVerify(t, e)
}

func TestPartition_BadGroup(t *testing.T) {
	ctx := context.Background()
	e := openTest(t, t.TempDir(), testPartitions)
	w := openPartition(t, e, 0)
	s := streamsIn("order", 0, testPartitions, 1)[0]
	other := streamsIn("order", 1, testPartitions, 1)[0]
	misnumbered := appendOf(s, stream.Head{}, 2)
	misnumbered.Events[1] = newEvent(s, 3)
	wrongStream := appendOf(s, stream.Head{}, 1)
	wrongStream.Events[0] = newEvent(stream.ID{Type: "order", ID: "elsewhere"}, 1)
	tests := map[string]appender.StreamAppend{
		"other partition": appendOf(other, stream.Head{}, 1),
		"no events":       {Stream: s},
		"misnumbered":     misnumbered,
		"wrong stream":    wrongStream,
		"bad name":        appendOf(stream.ID{Type: "Order!", ID: s.ID}, stream.Head{}, 1),
	}
	for name, a := range tests {
		if _, err := w.Commit(ctx, []appender.StreamAppend{a}); !errors.Is(err, ErrBadGroup) {
			t.Errorf("%s: err = %v, want ErrBadGroup", name, err)
		}
	}
	if got := e.Topics(); len(got) != 0 {
		t.Fatalf("refused groups created topics %v", got)
	}
}

func TestOpenPartition_SingleWriter(t *testing.T) {
	ctx := context.Background()
	e := openTest(t, t.TempDir(), testPartitions)
	w, err := e.OpenPartition(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.OpenPartition(ctx, 2); !errors.Is(err, ErrPartitionOwned) {
		t.Fatalf("second OpenPartition: %v, want ErrPartitionOwned", err)
	}
	if _, err := e.OpenPartition(ctx, testPartitions); err == nil {
		t.Fatal("OpenPartition out of range succeeded")
	}
	_ = w.Close()
	if _, err := w.Commit(ctx, nil); !errors.Is(err, appender.ErrClosed) {
		t.Fatalf("Commit after Close: %v", err)
	}
	w2 := openPartition(t, e, 2)
	if err := w2.Recover(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOpen_PartitionMismatch(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, 4)
	_ = e.Close()
	_, err := Open(Config{Dir: dir, Partitions: 8})
	if !errors.Is(err, ErrPartitionMismatch) || !strings.Contains(err.Error(), "created with 4 partitions") {
		t.Fatalf("Open with 8 partitions: %v", err)
	}
	_, err = Open(Config{Dir: dir, Partitions: 4, TopicPrefix: "other"})
	if !errors.Is(err, ErrPrefixMismatch) {
		t.Fatalf("Open with another prefix: %v", err)
	}
	openTest(t, dir, 4) // the refusals released the folder
}

func TestOpen_InUse(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, 4)
	_, err := Open(Config{Dir: dir, Partitions: 4})
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "data folder "+dir+" is in use by another process") {
		t.Fatalf("second Open: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	openTest(t, dir, 4)
}

func TestEngine_Closed(t *testing.T) {
	ctx := context.Background()
	e := openTest(t, t.TempDir(), testPartitions)
	w := openPartition(t, e, 0)
	_ = e.Close()
	s := streamsIn("order", 0, testPartitions, 1)[0]
	if _, err := w.Commit(ctx, []appender.StreamAppend{appendOf(s, stream.Head{}, 1)}); !errors.Is(err, appender.ErrClosed) {
		t.Fatalf("Commit after engine Close: %v", err)
	}
	if _, err := e.Read(ctx, "strata.order.events", 0, 0, 1); !errors.Is(err, appender.ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	if _, err := e.OpenPartition(ctx, 1); !errors.Is(err, appender.ErrClosed) {
		t.Fatalf("OpenPartition after Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		cfg Config
		ok  bool
	}{
		{Config{Dir: "d"}, true},
		{Config{Dir: "d", Partitions: 1, TopicPrefix: "acme.prod"}, true},
		{Config{}, false},
		{Config{Dir: "d", Partitions: -1}, false},
		{Config{Dir: "d", Partitions: MaxPartitions + 1}, false},
		{Config{Dir: "d", TopicPrefix: "a b"}, false},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v", tt.cfg, err)
		}
	}
}

// TestOpen_ManifestMissing: a pebble folder whose manifest is gone is refused, not
// recreated empty over the remains.
func TestOpen_ManifestMissing(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, testPartitions)
	commitWorkload(t, e)
	_ = e.Close()
	markers, err := filepath.Glob(filepath.Join(dir, pebbleSubdir, "marker.manifest.*"))
	if err != nil || len(markers) != 1 {
		t.Fatalf("manifest markers %v, %v", markers, err)
	}
	if err := os.Remove(markers[0]); err != nil {
		t.Fatal(err)
	}
	_, err = Open(Config{Dir: dir, Partitions: testPartitions})
	if !errors.Is(err, ErrNotStore) {
		t.Fatalf("Open without a manifest: %v, want ErrNotStore", err)
	}
	t.Log(err)
}
