package embedded

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/zap"

	"github.com/strata-platform/strata/pkg/appender"
)

var _ appender.Store = (*Engine)(nil)

// formatVersion is the pebble format the engine creates and ratchets stores to. It must be
// at least pebble.FormatWALSyncChunks: only from that format on does the WAL record how far
// it was synced, which lets pebble tell a torn tail from corruption (see doc.go).
const formatVersion = pebble.FormatTableFormatV6

// storeFormat is the version of the engine's own layout (keys.go, record.go).
const storeFormat = 1

// diskSlowThreshold is how long a disk operation may take before the engine warns.
const diskSlowThreshold = 5 * time.Second

// pebbleSubdir holds pebble's files inside the data folder.
const pebbleSubdir = "pebble"

// Engine is the embedded engine: an append-only, partitioned event log with stream heads,
// kept in one pebble database in a data folder that one process at a time may open.
type Engine struct {
	cfg  Config
	log  *zap.Logger
	lock *dirLock

	// mu guards db against Close: every use of db holds mu for reading, Close holds it for
	// writing. It is never held while waiting for anything but pebble.
	mu       sync.RWMutex
	db       *pebble.DB
	fsCloser io.Closer // stops pebble's disk-health checks, after db is closed
	fs       vfs.FS    // pebble's file system; the disk-space check asks it (diskspace.go)
	closed   bool
	space    spaceCache // the last free-space reading (diskspace.go)

	parts []*partState // one per partition, fixed after Open

	// rmMu serialises read-model commits, so that a batch's checkpoint check and its write
	// are one step (readmodel.go). Lock order: rmMu before mu.
	rmMu sync.Mutex

	// onApply, when set (by tests, before any writer runs), sees each group's pebble batch
	// just before it is applied. The bytes are pebble's and must be copied to be kept.
	onApply func(repr []byte)
}

// partState is the in-memory state of one partition.
type partState struct {
	mu    sync.Mutex       // guards owned and next
	owned bool             // a Partition writer is open
	next  map[string]int64 // topic → next offset in this partition (= its end offset)
}

// meta is stored under metaKey when a data folder is created.
type meta struct {
	Format      int    `json:"format"`
	Partitions  int    `json:"partitions"`
	TopicPrefix string `json:"topic_prefix"`
}

// Open opens the data folder cfg.Dir, creating it if needed. It fails with ErrInUse while
// another Engine holds the folder, and with ErrPartitionMismatch or ErrPrefixMismatch when
// the folder was created with another configuration.
func Open(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded: create data folder: %w", err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, log: cfg.Logger.Named("embedded"), lock: lock}
	if err := e.open(); err != nil {
		_ = e.release()
		return nil, err
	}
	e.log.Info("embedded engine open", zap.String("dir", cfg.Dir), zap.Int("partitions", cfg.Partitions))
	return e, nil
}

func (e *Engine) open() error {
	dir := filepath.Join(e.cfg.Dir, pebbleSubdir)
	existing, err := hasFiles(dir)
	if err != nil {
		return fmt.Errorf("embedded: read data folder: %w", err)
	}
	if existing {
		if err := checkWALTail(dir); err != nil {
			return fmt.Errorf("%w (%s), refusing to open it: %v", ErrStoreCorrupt, e.cfg.Dir, err)
		}
	}
	// We wrap the file system ourselves, as pebble would, so that its disk-health ticker is
	// stopped even when pebble.Open fails (pebble leaks it then).
	fs, fsCloser := vfs.WithDiskHealthChecks(vfs.Default, diskSlowThreshold, nil, func(info vfs.DiskSlowInfo) {
		e.log.Warn("slow disk", zap.String("op", info.String()))
	})
	e.fsCloser = fsCloser
	e.fs = fs
	opts := pebbleOptions(fs, e.log.Named("pebble"))
	// A folder that already holds pebble files must be a complete database: never start an
	// empty one over the remains of another.
	opts.ErrorIfNotExists = existing
	db, err := pebble.Open(dir, opts)
	if err != nil {
		if pebble.IsCorruptionError(err) {
			return fmt.Errorf("%w (%s), refusing to open it: %w", ErrStoreCorrupt, e.cfg.Dir, err)
		}
		if errors.Is(err, pebble.ErrDBDoesNotExist) {
			return fmt.Errorf("%w: %s holds pebble files but no database (its manifest is missing); "+
				"refusing to create a new one over them", ErrNotStore, dir)
		}
		return fmt.Errorf("embedded: open data folder %s: %w", e.cfg.Dir, err)
	}
	e.db = db
	if err := e.checkMeta(); err != nil {
		return err
	}
	return e.loadOffsets()
}

// pebbleOptions are the engine's pebble settings. Every commit uses pebble.Sync, and
// WALMinSyncInterval stays 0: a commit's fsync starts at once (pebble still shares one
// fsync among the commits of several partitions that arrive together); the append
// pipeline's group commit is where latency is traded for throughput.
func pebbleOptions(fs vfs.FS, log *zap.Logger) *pebble.Options {
	return &pebble.Options{
		FS:                 fs,
		FormatMajorVersion: formatVersion,
		Logger:             pebbleLogger{log},
	}
}

// hasFiles reports whether dir exists and holds any file but pebble's LOCK.
func hasFiles(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, de := range entries {
		if de.Name() != "LOCK" {
			return true, nil
		}
	}
	return false, nil
}

// checkMeta compares the stored configuration with cfg, or stores cfg in a new folder.
func (e *Engine) checkMeta() error {
	v, closer, err := e.db.Get(metaKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return e.createMeta()
	}
	if err != nil {
		return fmt.Errorf("embedded: read metadata: %w", err)
	}
	var m meta
	err = json.Unmarshal(v, &m)
	_ = closer.Close()
	if err != nil {
		return fmt.Errorf("%w: data folder %s: metadata: %v", ErrNotStore, e.cfg.Dir, err)
	}
	switch {
	case m.Format != storeFormat:
		return fmt.Errorf("%w: data folder %s has format %d; this version reads format %d",
			ErrNotStore, e.cfg.Dir, m.Format, storeFormat)
	case m.Partitions != e.cfg.Partitions:
		return fmt.Errorf("%w: data folder %s was created with %d partitions, the configuration asks for %d; "+
			"the count is fixed at creation because changing it would move aggregates between partitions",
			ErrPartitionMismatch, e.cfg.Dir, m.Partitions, e.cfg.Partitions)
	case m.TopicPrefix != e.cfg.TopicPrefix:
		return fmt.Errorf("%w: data folder %s was created with topic prefix %q, the configuration asks for %q",
			ErrPrefixMismatch, e.cfg.Dir, m.TopicPrefix, e.cfg.TopicPrefix)
	}
	return nil
}

func (e *Engine) createMeta() error {
	it, err := e.db.NewIter(nil)
	if err != nil {
		return fmt.Errorf("embedded: read data folder: %w", err)
	}
	nonEmpty := it.First()
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return fmt.Errorf("embedded: read data folder: %w", err)
	}
	if nonEmpty {
		return fmt.Errorf("%w: data folder %s holds data but no Strata metadata", ErrNotStore, e.cfg.Dir)
	}
	v, err := json.Marshal(meta{Format: storeFormat, Partitions: e.cfg.Partitions, TopicPrefix: e.cfg.TopicPrefix})
	if err != nil {
		return err
	}
	if err := e.db.Set(metaKey, v, pebble.Sync); err != nil {
		return fmt.Errorf("embedded: write metadata: %w", err)
	}
	// Pebble creates a database at its oldest format and ratchets it to formatVersion only
	// after it has opened the first WAL, which therefore lacks sync offsets and could not
	// tell corruption from a torn tail. A flush moves writes to a new WAL in formatVersion.
	if err := e.db.Flush(); err != nil {
		return fmt.Errorf("embedded: flush new store: %w", err)
	}
	return nil
}

// loadOffsets reads every topic-partition's next offset and checks it against the log's
// last record, so that a log and its counters that disagree are found at Open.
func (e *Engine) loadOffsets() error {
	e.parts = make([]*partState, e.cfg.Partitions)
	for i := range e.parts {
		e.parts[i] = &partState{next: map[string]int64{}}
	}
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindOffset}, UpperBound: []byte{kindOffset + 1}})
	if err != nil {
		return fmt.Errorf("embedded: read offsets: %w", err)
	}
	defer func() { _ = it.Close() }()
	for ok := it.First(); ok; ok = it.Next() {
		topic, p, rest, ok := splitTopicPartition(it.Key())
		if !ok || len(rest) != 0 || p < 0 || int(p) >= e.cfg.Partitions || len(it.Value()) != 8 {
			return fmt.Errorf("embedded: %w: bad offset entry %s", ErrCorrupt, FormatKey(it.Key()))
		}
		next := int64(binary.BigEndian.Uint64(it.Value()))
		last, err := e.lastOffset(topic, p)
		if err != nil {
			return err
		}
		if last != next-1 {
			return fmt.Errorf("embedded: %w: %s says the next offset is %d but the last record is at %d",
				ErrCorrupt, FormatKey(it.Key()), next, last)
		}
		e.parts[p].next[topic] = next
	}
	return it.Error()
}

// lastOffset returns the offset of the last record of a topic-partition, or -1.
func (e *Engine) lastOffset(topic string, p int32) (int64, error) {
	lower := topicPartitionPrefix(nil, kindEvent, topic, p)
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return 0, fmt.Errorf("embedded: read %s/%d: %w", topic, p, err)
	}
	defer func() { _ = it.Close() }()
	if !it.Last() {
		return -1, it.Error()
	}
	_, _, off, ok := parseEventKey(it.Key())
	if !ok {
		return 0, fmt.Errorf("embedded: %w: bad event key %s", ErrCorrupt, FormatKey(it.Key()))
	}
	return off, nil
}

// Close closes the database and releases the data folder. It waits for commits and reads
// in progress; later calls fail with appender.ErrClosed.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	return e.release()
}

// release closes what Open opened, in reverse order.
func (e *Engine) release() error {
	var errs []error
	if e.db != nil {
		errs = append(errs, e.db.Close())
	}
	if e.fsCloser != nil {
		errs = append(errs, e.fsCloser.Close())
	}
	return errors.Join(append(errs, e.lock.release())...)
}

// Partitions returns the partition count P.
func (e *Engine) Partitions() int { return e.cfg.Partitions }

// Topic returns the event topic of an aggregate type: "<prefix>.<type>.events".
func (e *Engine) Topic(aggType string) string {
	return e.cfg.TopicPrefix + "." + aggType + ".events"
}

// use runs f with the database, unless the engine is closed.
func (e *Engine) use(f func(db *pebble.DB) error) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return appender.ErrClosed
	}
	return f(e.db)
}

// pebbleLogger sends pebble's messages to zap. Fatalf must not return (pebble relies on
// it, e.g. after a failed WAL write, when continuing would answer a write that is not
// durable; see diskspace.go): zap's Fatal logs and exits the process, and should a custom
// fatal hook return, os.Exit still ends it.
type pebbleLogger struct{ log *zap.Logger }

func (l pebbleLogger) Infof(format string, args ...any) { l.log.Info(fmt.Sprintf(format, args...)) }

func (l pebbleLogger) Errorf(format string, args ...any) { l.log.Error(fmt.Sprintf(format, args...)) }

func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.log.Fatal(fmt.Sprintf(format, args...))
	os.Exit(1)
}
