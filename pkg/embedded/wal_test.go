package embedded

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/zap"

	"github.com/strata-platform/strata/pkg/appender"
)

// walChunk is a chunk of a WAL with its sync promise (sync chunks only).
type walChunk struct {
	offset, end int
	synced      uint64
}

// walChunks lists the valid chunks of a WAL file in order.
func walChunks(t *testing.T, b []byte, logNum uint32) []walChunk {
	t.Helper()
	var out []walChunk
	for pos := 0; pos+walSyncHeader <= len(b); {
		blockEnd := min((pos/walBlockSize+1)*walBlockSize, len(b))
		if blockEnd-pos < walSyncHeader {
			pos = blockEnd
			continue
		}
		typ := b[pos+6]
		if typ < walFirstSyncChunk || typ > walLastChunkType || binary.LittleEndian.Uint32(b[pos+7:]) != logNum {
			break
		}
		end := pos + walSyncHeader + int(binary.LittleEndian.Uint16(b[pos+4:]))
		out = append(out, walChunk{offset: pos, end: end, synced: binary.LittleEndian.Uint64(b[pos+11:])})
		pos = end
	}
	if len(out) < 8 {
		t.Fatalf("WAL has %d sync chunks, the test needs more", len(out))
	}
	return out
}

// committedStore commits a workload, then single events until the WAL's last block is
// half full of small chunks, closes the engine (pebble leaves it all in the WAL), and
// returns the folder, the newest WAL and the number of events committed.
func committedStore(t *testing.T) (dir, wal string, logNum uint32, events int) {
	dir = t.TempDir()
	e := openTest(t, dir, testPartitions)
	_, positions := commitWorkload(t, e)
	events = len(positions)
	wal, num, ok, err := newestWAL(filepath.Join(dir, pebbleSubdir))
	if err != nil || !ok {
		t.Fatalf("no WAL: %v", err)
	}
	w := openPartition(t, e, 0)
	s := streamsIn("single", 0, testPartitions, 1)[0]
	for i := 0; ; i++ {
		fi, err := os.Stat(wal)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size()%walBlockSize > walBlockSize/2 && i > 0 {
			break
		}
		h, _ := w.Head(context.Background(), s)
		if _, err := w.Commit(context.Background(), []appender.StreamAppend{appendOf(s, h, 1)}); err != nil {
			t.Fatal(err)
		}
		events++
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, wal, uint32(num), events
}

func rewrite(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// countEvents opens dir and counts the events of every topic-partition.
func countEvents(t *testing.T, dir string) int {
	e := openTest(t, dir, testPartitions)
	defer func() { _ = e.Close() }()
	mustVerify(t, e)
	n := 0
	for _, topic := range e.Topics() {
		for p := int32(0); p < testPartitions; p++ {
			n += len(readAll(t, e, topic, p))
		}
	}
	return n
}

// TestOpen_CorruptWALRefused: damage to a synced part of the WAL refuses Open. In the log's
// first block pebble itself finds it (read-ahead over the later blocks' sync offsets); in
// the last block only the engine's own check does, and pebble alone would drop the
// acknowledged writes behind the damage.
func TestOpen_CorruptWALRefused(t *testing.T) {
	for _, tt := range []struct {
		name        string
		pick        func(cs []walChunk) walChunk
		pebbleFinds bool
	}{
		{"first block", func(cs []walChunk) walChunk { return cs[1] }, true},
		{"last block", lastProvableChunk, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, wal, logNum, events := committedStore(t)
			rewrite(t, wal, func(b []byte) []byte {
				c := tt.pick(walChunks(t, b, logNum))
				b[c.offset+walSyncHeader+10] ^= 0x5a
				return b
			})
			_, err := Open(Config{Dir: dir, Partitions: testPartitions})
			if !errors.Is(err, ErrStoreCorrupt) {
				t.Fatalf("Open of a damaged WAL: %v, want ErrStoreCorrupt", err)
			}
			t.Logf("Open: %v", err)
			// What pebble alone does with it (this replays and so repairs the folder).
			db, err := pebble.Open(filepath.Join(dir, pebbleSubdir), pebbleOptions(vfs.Default, zap.NewNop()))
			if tt.pebbleFinds {
				if !pebble.IsCorruptionError(err) {
					t.Fatalf("pebble.Open: %v, want a corruption error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("pebble.Open: %v (pebble now detects it: the engine's check may go)", err)
			}
			_ = db.Close()
			if n := countEvents(t, dir); n >= events {
				t.Fatalf("pebble kept %d of %d events; expected it to drop the damaged tail", n, events)
			}
		})
	}
}

// lastProvableChunk returns the first chunk of the last block that a later chunk proves
// synced.
func lastProvableChunk(cs []walChunk) walChunk {
	lastBlock := cs[len(cs)-1].offset / walBlockSize
	for i, c := range cs {
		if c.offset/walBlockSize != lastBlock {
			continue
		}
		for _, d := range cs[i+1:] {
			if d.synced > uint64(c.offset) {
				return c
			}
		}
	}
	panic("no chunk of the last block is proven synced")
}

// TestOpen_TornTailAccepted: a torn or zeroed final write is an unacknowledged write that
// never completed; pebble drops it and Open succeeds with everything before it.
func TestOpen_TornTailAccepted(t *testing.T) {
	for _, tt := range []struct {
		name string
		tear func(b []byte, last walChunk) []byte
	}{
		{"truncated", func(b []byte, last walChunk) []byte { return b[:last.end-50] }},
		{"zeroed", func(b []byte, last walChunk) []byte { clear(b[last.offset+100 : last.end]); return b }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, wal, logNum, events := committedStore(t)
			rewrite(t, wal, func(b []byte) []byte {
				cs := walChunks(t, b, logNum)
				return tt.tear(b, cs[len(cs)-1])
			})
			n := countEvents(t, dir)
			if n != events-1 { // the last commit, of one event, is the torn one
				t.Fatalf("after a torn tail: %d of %d events", n, events)
			}
		})
	}
}
