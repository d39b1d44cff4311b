package replay

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Defaults of Config.
const (
	DefaultFlushEvery    = 50000
	DefaultFlushInterval = 2 * time.Second
	progressEvery        = 1024
)

// Start says where each partition's replay begins. The zero Start is the first offset
// still in the log. At most one of Offsets, Offset and Time may be set.
type Start struct {
	// Offsets starts the listed partitions at these offsets; partitions not listed are
	// not replayed.
	Offsets map[int32]int64
	// Offset, when set, starts every partition at this offset.
	Offset *int64
	// Time starts every partition at its first record whose record timestamp is at or
	// after Time (Kafka's offsets-for-times).
	Time time.Time
}

func (s Start) count() int {
	n := 0
	for _, set := range []bool{s.Offsets != nil, s.Offset != nil, !s.Time.IsZero()} {
		if set {
			n++
		}
	}
	return n
}

// Config configures one replay.
type Config struct {
	Source Source // required
	Topic  string // required: "<prefix>.<type>.events" for an aggregate type's topic
	Sink   Sink   // required
	Start  Start
	// EndTime, when set, ends each partition before its first record whose record
	// timestamp is at or after EndTime (or at the fixed end, whichever comes first).
	EndTime time.Time
	Filter  Filter
	// StatePath, when set, makes the replay resumable: if the file exists the replay
	// continues from it (Start and EndTime are ignored), and it is saved after every
	// flush of the sink.
	StatePath string
	// SinkName identifies the sink in the state file (see State.Sink).
	SinkName string
	// State is the loaded state to resume from (LoadState(StatePath)); nil starts afresh.
	State *State
	// FlushEvery and FlushInterval say how often the sink is flushed (and the state
	// saved): after this many records read, or this long since the last flush.
	FlushEvery    int
	FlushInterval time.Duration
	// OnProgress, if set, is called every 1024 records read and once at the end.
	OnProgress func(Progress)
}

func (c Config) withDefaults() Config {
	if c.FlushEvery <= 0 {
		c.FlushEvery = DefaultFlushEvery
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	return c
}

// Validate reports a Config that cannot work, wrapping ErrReplayConfig.
func (c Config) Validate() error {
	switch {
	case c.Source == nil:
		return fmt.Errorf("%w: no source", ErrReplayConfig)
	case c.Sink == nil:
		return fmt.Errorf("%w: no sink", ErrReplayConfig)
	case c.Topic == "":
		return fmt.Errorf("%w: no topic", ErrReplayConfig)
	case c.Start.count() > 1:
		return fmt.Errorf("%w: start at offsets or at a time, not both", ErrReplayConfig)
	case c.Start.Offset != nil && *c.Start.Offset < 0:
		return fmt.Errorf("%w: start offset %d is negative", ErrReplayConfig, *c.Start.Offset)
	case !c.Start.Time.IsZero() && !c.EndTime.IsZero() && !c.EndTime.After(c.Start.Time):
		return fmt.Errorf("%w: end time %s is not after start time %s", ErrReplayConfig,
			c.EndTime.Format(time.RFC3339Nano), c.Start.Time.Format(time.RFC3339Nano))
	}
	for p, o := range c.Start.Offsets {
		if p < 0 || o < 0 {
			return fmt.Errorf("%w: start %d:%d: partition and offset must not be negative", ErrReplayConfig, p, o)
		}
	}
	if c.State != nil && c.State.Topic != c.Topic {
		return fmt.Errorf("%w: the state is of topic %s, not %s", ErrReplayState, c.State.Topic, c.Topic)
	}
	if c.State != nil && c.State.Sink != c.SinkName {
		return fmt.Errorf("%w: the state is of output %s, not %s", ErrReplayState, c.State.Sink, c.SinkName)
	}
	return nil
}

// Progress is a replay's progress, counted in record offsets.
type Progress struct {
	Read    int64 // offsets passed so far (records read, plus markers and aborted records skipped)
	Total   int64 // offsets between the start and the fixed end, over every partition
	Written int64 // events that passed the filter and went to the sink
}

// Report says what a replay did.
type Report struct {
	Topic      string        `json:"topic"`
	Partitions []Range       `json:"partitions"` // where each partition started (Next) and ends
	Read       int64         `json:"read"`       // events read
	Written    int64         `json:"written"`    // events written to the sink
	Resumed    bool          `json:"resumed"`
	Duration   time.Duration `json:"duration_ns"`
}

// Run replays cfg.Topic into cfg.Sink: every committed record of each partition from its
// start to the end fixed when the replay starts, filtered, in offset order per partition.
// It flushes the sink as it goes and at the end (also when ctx ends or the source fails,
// so a resumable replay keeps what it wrote); it does not close the sink.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	cfg = cfg.withDefaults()
	began := time.Now()
	ranges, err := plan(ctx, cfg)
	if err != nil {
		return Report{}, err
	}
	r := &run{ctx: ctx, cfg: cfg, state: State{Version: stateVersion, Topic: cfg.Topic, Sink: cfg.SinkName},
		next: map[int32]int64{}, lastFlush: time.Now()}
	rep := Report{Topic: cfg.Topic, Resumed: cfg.State != nil}
	for _, rg := range ranges {
		r.next[rg.Partition] = rg.Next
		r.progress.Total += rg.End - rg.Next
		rep.Partitions = append(rep.Partitions, rg)
	}
	r.state.Partitions = append([]Range(nil), ranges...)
	if cfg.State != nil {
		r.state.OutputBytes = cfg.State.OutputBytes
	}
	if cfg.StatePath != "" {
		if err := r.state.Save(cfg.StatePath); err != nil {
			return rep, err
		}
	}
	readErr := cfg.Source.Read(ctx, cfg.Topic, ranges, r.record)
	if readErr == nil {
		for _, rg := range ranges {
			r.next[rg.Partition] = rg.End
		}
		r.progress.Read = r.progress.Total
	}
	if !r.sinkFailed {
		if err := r.flush(); err != nil && readErr == nil {
			readErr = err
		}
	}
	if cfg.OnProgress != nil {
		cfg.OnProgress(r.progress)
	}
	rep.Read, rep.Written, rep.Duration = r.read, r.progress.Written, time.Since(began)
	return rep, readErr
}

// run is the state of one Run; only Run's goroutine touches it.
type run struct {
	ctx        context.Context
	cfg        Config
	state      State
	next       map[int32]int64
	progress   Progress
	read       int64
	sinceFlush int
	lastFlush  time.Time
	sinkFailed bool
}

func (r *run) record(rec *Record) error {
	if r.read%64 == 0 {
		if err := r.ctx.Err(); err != nil {
			return err
		}
	}
	p := rec.Position.Partition
	r.progress.Read += rec.Position.Offset + 1 - r.next[p]
	r.next[p] = rec.Position.Offset + 1
	r.read++
	if r.cfg.Filter.Match(rec) {
		if err := r.cfg.Sink.Write(rec); err != nil {
			r.sinkFailed = true
			return fmt.Errorf("write %s/%d@%d: %w", rec.Position.Topic, p, rec.Position.Offset, err)
		}
		r.progress.Written++
	}
	if r.sinceFlush++; r.sinceFlush >= r.cfg.FlushEvery ||
		(r.sinceFlush%256 == 0 && time.Since(r.lastFlush) >= r.cfg.FlushInterval) {
		if err := r.flush(); err != nil {
			r.sinkFailed = true
			return err
		}
	}
	if r.cfg.OnProgress != nil && r.read%progressEvery == 0 {
		r.cfg.OnProgress(r.progress)
	}
	return nil
}

// flush makes the sink's output durable, then records in the state file how far it goes.
func (r *run) flush() error {
	n, err := r.cfg.Sink.Commit(r.next)
	if err != nil {
		return fmt.Errorf("flush sink: %w", err)
	}
	r.sinceFlush, r.lastFlush = 0, time.Now()
	if r.cfg.StatePath == "" {
		return nil
	}
	r.state.OutputBytes = n
	for i := range r.state.Partitions {
		r.state.Partitions[i].Next = r.next[r.state.Partitions[i].Partition]
	}
	return r.state.Save(r.cfg.StatePath)
}

// plan returns the ranges to read: the resumed state's, or the start and end resolved now.
func plan(ctx context.Context, cfg Config) ([]Range, error) {
	if cfg.State != nil {
		return append([]Range(nil), cfg.State.Partitions...), nil
	}
	first, end, err := cfg.Source.Bounds(ctx, cfg.Topic)
	if err != nil {
		return nil, err
	}
	if !cfg.EndTime.IsZero() {
		stop, err := cfg.Source.OffsetsAfter(ctx, cfg.Topic, cfg.EndTime)
		if err != nil {
			return nil, err
		}
		for p := range end {
			end[p] = min(end[p], stop[p])
		}
	}
	from := append([]int64(nil), first...)
	switch {
	case cfg.Start.Offsets != nil:
		for p := range cfg.Start.Offsets {
			if int(p) >= len(end) {
				return nil, fmt.Errorf("%w: partition %d: %s has %d partitions", ErrReplayConfig, p, cfg.Topic, len(end))
			}
		}
	case cfg.Start.Offset != nil:
		for p := range from {
			from[p] = *cfg.Start.Offset
		}
	case !cfg.Start.Time.IsZero():
		if from, err = cfg.Source.OffsetsAfter(ctx, cfg.Topic, cfg.Start.Time); err != nil {
			return nil, err
		}
	}
	var out []Range
	for p := range end {
		f := from[p]
		if cfg.Start.Offsets != nil {
			o, ok := cfg.Start.Offsets[int32(p)]
			if !ok {
				continue
			}
			f = o
		}
		// Before the log's start: begin at its start; past the end: nothing to read.
		f = min(max(f, first[p]), max(end[p], first[p]))
		out = append(out, Range{Partition: int32(p), Next: f, End: max(end[p], f)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	if len(out) == 0 {
		return nil, errors.New("replay: no partition to read")
	}
	return out, nil
}
