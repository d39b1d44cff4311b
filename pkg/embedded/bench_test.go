package embedded

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/zap"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/stream"
)

// benchDir is a fresh folder under $STRATA_BENCH_DIR (e.g. /dev/shm, to take the disk out
// of the comparison), or under the test's temporary folder.
func benchDir(b *testing.B) string {
	root := os.Getenv("STRATA_BENCH_DIR")
	if root == "" {
		return b.TempDir()
	}
	dir, err := os.MkdirTemp(root, "strata-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

var benchShapes = []struct{ events, appends int }{
	{1, 1}, {1, 16}, {1, 64}, {10, 1}, {10, 16}, {10, 64},
}

// benchGroup returns a group of one append of n events to each of streams, after heads.
func benchGroup(streams []stream.ID, heads map[stream.ID]stream.Head, n int) []appender.StreamAppend {
	group := make([]appender.StreamAppend, len(streams))
	for i, s := range streams {
		group[i] = appendOf(s, heads[s], n)
	}
	return group
}

func advance(heads map[stream.ID]stream.Head, group []appender.StreamAppend, pos [][]stream.Position) {
	for i, a := range group {
		recents := make([]stream.Recent, len(a.Events))
		for j, ev := range a.Events {
			recents[j] = stream.Recent{Source: ev.Source(), EventID: ev.ID(), Version: a.Prior.Version + int64(j) + 1, Position: pos[i][j]}
		}
		heads[a.Stream] = a.Prior.Advance(recents)
	}
}

// BenchmarkCommit measures Engine commits: one group per iteration, each append to its
// own stream, every commit fsynced.
func BenchmarkCommit(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(fmt.Sprintf("events=%d/appends=%d", sh.events, sh.appends), func(b *testing.B) {
			e := openTest(b, benchDir(b), 1)
			w := openPartition(b, e, 0)
			streams := streamsIn("order", 0, 1, sh.appends)
			heads := map[stream.ID]stream.Head{}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				group := benchGroup(streams, heads, sh.events)
				b.StartTimer()
				pos, err := w.Commit(context.Background(), group)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				advance(heads, group, pos)
				b.StartTimer()
			}
			b.ReportMetric(float64(b.N*sh.events*sh.appends)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkRawPebbleSyncBatch is BenchmarkCommit's baseline: the same batch bytes (the
// events, heads and offsets of one group) committed to a bare pebble with the engine's
// options and pebble.Sync, without encoding, head reads or checks.
func BenchmarkRawPebbleSyncBatch(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(fmt.Sprintf("events=%d/appends=%d", sh.events, sh.appends), func(b *testing.B) {
			repr := groupRepr(b, sh.events, sh.appends)
			db, err := pebble.Open(filepath.Join(benchDir(b), "raw"), pebbleOptions(vfs.Default, zap.NewNop()))
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = db.Close() }()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				batch := db.NewBatch()
				if err := batch.SetRepr(bytes.Clone(repr)); err != nil {
					b.Fatal(err)
				}
				if err := batch.Commit(pebble.Sync); err != nil {
					b.Fatal(err)
				}
				_ = batch.Close()
			}
			b.ReportMetric(float64(b.N*sh.events*sh.appends)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// groupRepr returns the pebble batch the engine builds for one such group, after a few
// earlier groups so that heads have recents, as in BenchmarkCommit.
func groupRepr(b *testing.B, events, appends int) []byte {
	e := openTest(b, b.TempDir(), 1)
	p := openPartition(b, e, 0)
	streams := streamsIn("order", 0, 1, appends)
	heads := map[stream.ID]stream.Head{}
	for range 8 {
		group := benchGroup(streams, heads, events)
		pos, err := p.Commit(context.Background(), group)
		if err != nil {
			b.Fatal(err)
		}
		advance(heads, group, pos)
	}
	batch := e.db.NewBatch()
	defer func() { _ = batch.Close() }()
	if _, _, err := p.(*writer).build(e.db, batch, benchGroup(streams, heads, events), time.Now()); err != nil {
		b.Fatal(err)
	}
	return bytes.Clone(batch.Repr())
}
