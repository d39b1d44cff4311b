package embedded

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/zap"

	"github.com/strata-platform/strata/pkg/stream"
)

// damage opens a closed store's pebble database directly and changes it with f.
func damage(t *testing.T, dir string, f func(db *pebble.DB) error) {
	t.Helper()
	db, err := pebble.Open(filepath.Join(dir, pebbleSubdir), pebbleOptions(vfs.Default, zap.NewNop()))
	if err != nil {
		t.Fatal(err)
	}
	if err := f(db); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func get(db *pebble.DB, key []byte) []byte {
	v, closer, err := db.Get(key)
	if err != nil {
		panic(err)
	}
	defer func() { _ = closer.Close() }()
	return bytes.Clone(v)
}

// TestVerify_FindsDamage writes bad data through pebble and checks that Verify names it.
func TestVerify_FindsDamage(t *testing.T) {
	const topic = "strata.order.events"
	k1 := eventKey(nil, topic, 0, 1)
	tests := []struct {
		name    string
		damage  func(db *pebble.DB) error
		key     string // a problem must name this key
		detail  string // ... and say this
		readErr bool   // Read of partition 0 must fail with a *CorruptionError naming key
	}{
		{"flipped value byte", func(db *pebble.DB) error {
			v := get(db, k1)
			v[len(v)-5] ^= 0x01
			return db.Set(k1, v, pebble.Sync)
		}, FormatKey(k1), "checksum mismatch", true},
		{"record moved to another key", func(db *pebble.DB) error {
			return db.Set(k1, get(db, eventKey(nil, topic, 0, 2)), pebble.Sync)
		}, FormatKey(k1), "checksum mismatch", true},
		{"truncated record", func(db *pebble.DB) error {
			return db.Set(k1, get(db, k1)[:9], pebble.Sync)
		}, FormatKey(k1), "shorter than", true},
		{"deleted record", func(db *pebble.DB) error {
			return db.Delete(k1, pebble.Sync)
		}, FormatKey(eventKey(nil, topic, 0, 2)), "offset 2 where 1 was expected", false},
		{"stale head", func(db *pebble.DB) error {
			s := streamsIn("order", 0, testPartitions, 1)[0]
			v, _ := appendHead(nil, stream.Head{Version: 1}, topic, 0)
			return db.Set(headKey(nil, s.Type, s.ID), v, pebble.Sync)
		}, "h/order/", "head version 1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			e := openTest(t, dir, testPartitions)
			commitWorkload(t, e)
			_ = e.Close()
			damage(t, dir, tt.damage)
			e = openTest(t, dir, testPartitions)
			rep, err := e.Verify(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !hasProblem(rep, tt.key, tt.detail) {
				t.Fatalf("Verify did not report %s %q: %+v", tt.key, tt.detail, rep.Problems)
			}
			_, err = e.Read(context.Background(), topic, 0, 0, 100)
			var ce *CorruptionError
			if gotCE := errors.As(err, &ce) && ce.Key == tt.key && errors.Is(err, ErrCorrupt); gotCE != tt.readErr {
				t.Fatalf("Read: %v (corruption error wanted: %t)", err, tt.readErr)
			}
		})
	}
}

func hasProblem(rep VerifyReport, key, detail string) bool {
	for _, p := range rep.Problems {
		if strings.HasPrefix(p.Key, key) && strings.Contains(p.Detail, detail) {
			return true
		}
	}
	return false
}
