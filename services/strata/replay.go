package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/strata-platform/strata/pkg/config"
	"github.com/strata-platform/strata/pkg/embedded"
	"github.com/strata-platform/strata/pkg/projection"
	"github.com/strata-platform/strata/pkg/replay"
)

// replayFlags are the settings of strata replay.
type replayFlags struct {
	distributed
	data, prefix, topic, aggType string
	partitions                   int
	fromOffset, fromTime, toTime string
	filterType, aggregate        string
	filterFrom, filterTo         string
	format, out, resume, sandbox string
	cluster                      string
	json                         bool
	// Parsed by Validate.
	start   replay.Start
	endTime time.Time
	filter  replay.Filter
	fmt     replay.Format
	rdb     *redis.Client // the sandbox's Redis, if any
}

var sandboxNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (f *replayFlags) register(fs *flag.FlagSet) {
	f.distributed.register(fs)
	fs.StringVar(&f.data, "data", "", "replay the embedded store in this data folder instead of Kafka")
	fs.IntVar(&f.partitions, "partitions", embedded.DefaultPartitions, "with --data: the store's partition count")
	fs.StringVar(&f.prefix, "prefix", "strata", "topic prefix: --type T reads <prefix>.T.events")
	fs.StringVar(&f.topic, "topic", "", "topic to replay (or --type)")
	fs.StringVar(&f.aggType, "type", "", "aggregate type whose event topic to replay (or --topic)")
	fs.StringVar(&f.fromOffset, "from-offset", "", "start offset: N for every partition, or p:N,p:N,... (only those partitions)")
	fs.StringVar(&f.fromTime, "from-time", "", "start at the first record whose record timestamp is at or after this RFC 3339 time")
	fs.StringVar(&f.toTime, "to-time", "", "end before the first record whose record timestamp is at or after this RFC 3339 time")
	fs.StringVar(&f.filterType, "filter-type", "", "keep only these event types (comma-separated)")
	fs.StringVar(&f.aggregate, "aggregate", "", "keep only events of this aggregate id")
	fs.StringVar(&f.filterFrom, "filter-time-from", "", "keep only events whose time is at or after this RFC 3339 time")
	fs.StringVar(&f.filterTo, "filter-time-to", "", "keep only events whose time is before this RFC 3339 time")
	fs.StringVar(&f.format, "format", "jsonl", "output format: jsonl, csv or parquet")
	fs.StringVar(&f.out, "out", "", "output file, or - for standard output")
	fs.StringVar(&f.resume, "resume", "", "state file: continue an interrupted replay from it (created if missing)")
	fs.StringVar(&f.sandbox, "sandbox", "", "fold the events into a fresh read model sandbox.<name> (JSON merge patch) instead of a file")
	fs.StringVar(&f.cluster, "cluster", "strata", "with --sandbox on Kafka: the Redis namespace of the read model")
	fs.BoolVar(&f.json, "json", false, "print the summary as JSON on stdout")
}

// Validate checks the flags and parses their values.
func (f *replayFlags) Validate() error {
	if err := f.validateShape(); err != nil {
		return err
	}
	var err error
	if f.start, err = parseStart(f.fromOffset, f.fromTime); err != nil {
		return err
	}
	if f.endTime, err = parseTime("--to-time", f.toTime); err != nil {
		return err
	}
	f.filter.AggregateID = f.aggregate
	f.filter.AggregateType = f.aggType
	f.filter.Types = config.SplitList(f.filterType)
	if f.filter.TimeFrom, err = parseTime("--filter-time-from", f.filterFrom); err != nil {
		return err
	}
	if f.filter.TimeTo, err = parseTime("--filter-time-to", f.filterTo); err != nil {
		return err
	}
	if !f.start.Time.IsZero() && !f.endTime.IsZero() && !f.endTime.After(f.start.Time) {
		return errors.New("--to-time must be after --from-time")
	}
	return f.Log.Validate()
}

// validateShape checks which flags go together.
func (f *replayFlags) validateShape() error {
	switch {
	case (f.topic == "") == (f.aggType == ""):
		return errors.New("give exactly one of --topic and --type")
	case f.data == "" && len(f.Kafka()) == 0:
		return errors.New("--kafka (or STRATA_KAFKA) is required, or --data for an embedded store")
	case f.sandbox == "" && f.out == "":
		return errors.New("--out is required: a file, or - for standard output (or --sandbox)")
	case f.sandbox != "" && f.out != "":
		return errors.New("give --out or --sandbox, not both")
	case f.sandbox != "" && !sandboxNameRe.MatchString(f.sandbox):
		return fmt.Errorf("--sandbox %q: want %s", f.sandbox, sandboxNameRe)
	case f.sandbox != "" && f.data == "" && f.Redis == "":
		return errors.New("--sandbox on Kafka needs --redis (or STRATA_REDIS)")
	case f.fromOffset != "" && f.fromTime != "":
		return errors.New("give --from-offset or --from-time, not both")
	case f.out == "-" && f.resume != "":
		return errors.New("--resume needs an output file, not standard output")
	case f.out == "-" && f.json:
		return errors.New("--json prints on standard output, which --out - already uses")
	}
	var err error
	if f.fmt, err = replay.ParseFormat(f.format); err != nil {
		return fmt.Errorf("--format %q: want jsonl, csv or parquet", f.format)
	}
	if f.fmt == replay.Parquet && f.resume != "" && f.sandbox == "" {
		return errors.New("--resume does not work with --format parquet: a Parquet file is readable only once complete; rerun the replay, or use jsonl or csv")
	}
	return nil
}

// parseStart reads --from-offset (N, or p:N,...) and --from-time.
func parseStart(offsets, at string) (replay.Start, error) {
	var s replay.Start
	t, err := parseTime("--from-time", at)
	if err != nil {
		return s, err
	}
	s.Time = t
	if offsets == "" {
		return s, nil
	}
	if n, err := strconv.ParseInt(offsets, 10, 64); err == nil && !strings.Contains(offsets, ":") {
		if n < 0 {
			return s, fmt.Errorf("--from-offset %d: must not be negative", n)
		}
		s.Offset = &n
		return s, nil
	}
	s.Offsets = map[int32]int64{}
	for _, part := range config.SplitList(offsets) {
		ps, os, ok := strings.Cut(part, ":")
		p, err1 := strconv.ParseInt(ps, 10, 32)
		o, err2 := strconv.ParseInt(os, 10, 64)
		if !ok || err1 != nil || err2 != nil || p < 0 || o < 0 {
			return s, fmt.Errorf("--from-offset %q: want N or partition:offset,... with numbers >= 0", offsets)
		}
		if _, dup := s.Offsets[int32(p)]; dup {
			return s, fmt.Errorf("--from-offset %q: partition %d given twice", offsets, p)
		}
		s.Offsets[int32(p)] = o
	}
	return s, nil
}

func parseTime(flagName, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want an RFC 3339 time like 2025-03-01T12:00:00Z", flagName, v)
	}
	return t, nil
}

// runReplay replays a topic into a file, standard output or a sandbox read model.
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f replayFlags
	fs := newFlagSet("replay", stderr)
	f.register(fs)
	fs.SetOutput(io.Discard) // a bad flag is one line on stderr (exitCode's), not the usage
	if err := parse(fs, args, &f); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, "usage: strata replay (--topic T | --type T) (--out FILE|- | --sandbox NAME) [flags]")
			fs.PrintDefaults()
		}
		return err
	}
	src, topic, closeSrc, err := openReplaySource(&f)
	if err != nil {
		return err
	}
	defer closeSrc()
	cfg := replay.Config{Source: src, Topic: topic, Start: f.start, EndTime: f.endTime, Filter: f.filter,
		StatePath: f.resume}
	sink, err := openReplaySink(ctx, &f, &cfg, stdout)
	if f.rdb != nil {
		defer f.rdb.Close()
	}
	if err != nil {
		return err
	}
	cfg.Sink = sink
	bar := newProgress(stderr)
	cfg.OnProgress = bar.update
	rep, err := replay.Run(ctx, cfg)
	bar.finish()
	if cerr := sink.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close output: %w", cerr)
	}
	switch {
	case errors.Is(err, replay.ErrReplayConfig), errors.Is(err, replay.ErrReplayState):
		return usageError{err}
	case ctx.Err() != nil && f.resume != "":
		return fmt.Errorf("interrupted after %d events; run the same command again to resume from %s", rep.Written, f.resume)
	case err != nil:
		return err
	}
	return replaySummary(&f, rep, stdout, stderr)
}

func replaySummary(f *replayFlags, rep replay.Report, stdout, stderr io.Writer) error {
	if f.json {
		return json.NewEncoder(stdout).Encode(rep)
	}
	to := f.out
	if f.sandbox != "" {
		to = "sandbox." + f.sandbox
	}
	_, err := fmt.Fprintf(stderr, "strata replay: %d events written (%d read) from %s to %s in %s\n",
		rep.Written, rep.Read, rep.Topic, to, rep.Duration.Round(time.Millisecond))
	return err
}

// openReplaySource opens the embedded store of --data, or Kafka.
func openReplaySource(f *replayFlags) (replay.Source, string, func(), error) {
	topic := f.topic
	if topic == "" {
		topic = f.prefix + "." + f.aggType + ".events"
	}
	if f.data == "" {
		ks, err := replay.NewKafkaSource(f.Kafka())
		if err != nil {
			return nil, "", nil, err
		}
		return ks, topic, ks.Close, nil
	}
	dir, _ := filepath.Abs(f.data)
	if _, err := os.Stat(dir); err != nil {
		return nil, "", nil, usageError{fmt.Errorf("--data %s: %w", f.data, err)}
	}
	eng, err := embedded.Open(embedded.Config{Dir: dir, Partitions: f.partitions, TopicPrefix: f.prefix})
	switch {
	case errors.Is(err, embedded.ErrInUse):
		return nil, "", nil, fmt.Errorf("--data %s is in use by another process (a running strata dev?): stop it first, or replay from Kafka", f.data)
	case errors.Is(err, embedded.ErrPartitionMismatch), errors.Is(err, embedded.ErrPrefixMismatch):
		return nil, "", nil, usageError{err}
	case err != nil:
		return nil, "", nil, err
	}
	return replay.EmbeddedSource{Engine: eng}, topic, func() { _ = eng.Close() }, nil
}

// openReplaySink opens the output and, with --resume, loads the state into cfg.
func openReplaySink(ctx context.Context, f *replayFlags, cfg *replay.Config, stdout io.Writer) (replay.Sink, error) {
	if f.resume != "" {
		st, err := replay.LoadState(f.resume)
		if err != nil {
			return nil, usageError{err}
		}
		if st != nil && st.Topic != cfg.Topic {
			return nil, usageError{fmt.Errorf("%w: %s is the state of a replay of %s, not %s", replay.ErrReplayState, f.resume, st.Topic, cfg.Topic)}
		}
		cfg.State = st
	}
	if f.sandbox != "" {
		keyspace := "sandbox." + f.sandbox
		cfg.SinkName = "sandbox:" + keyspace
		return replay.NewSandbox(ctx, sandboxStore(f, cfg.Source), keyspace, cfg.Topic, projection.MergePatch)
	}
	if f.out == "-" {
		return replay.NewWriterSink(stdout, f.fmt)
	}
	abs, _ := filepath.Abs(f.out)
	cfg.SinkName = string(f.fmt) + ":" + abs
	resumeAt := int64(-1)
	if f.resume != "" {
		resumeAt = 0
		if cfg.State != nil {
			resumeAt = cfg.State.OutputBytes
			if cfg.State.Sink != cfg.SinkName {
				return nil, usageError{fmt.Errorf("%w: %s is the state of %s, not %s", replay.ErrReplayState, f.resume, cfg.State.Sink, cfg.SinkName)}
			}
		}
	}
	sink, err := replay.CreateFile(f.out, f.fmt, resumeAt)
	if errors.Is(err, replay.ErrReplayState) {
		return nil, usageError{err}
	}
	return sink, err
}

// sandboxStore is the read-model store of the sandbox: the embedded engine itself, or Redis
// (its client is closed with the sink).
func sandboxStore(f *replayFlags, src replay.Source) projection.Store {
	if es, ok := src.(replay.EmbeddedSource); ok {
		return es.Engine
	}
	f.rdb = redis.NewClient(&redis.Options{Addr: f.Redis})
	return projection.NewRedisStore(f.rdb, f.cluster)
}

// progress draws a progress bar (events/s, ETA) on stderr when stderr is a terminal, and
// nothing otherwise.
type progress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func newProgress(stderr io.Writer) *progress {
	f, ok := stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	return &progress{w: f}
}

func (p *progress) update(pr replay.Progress) {
	if p.w == nil {
		return
	}
	if p.bar == nil {
		p.bar = progressbar.NewOptions64(max(pr.Total, 1), progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription("replay"), progressbar.OptionShowCount(),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
	}
	_ = p.bar.Set64(pr.Read)
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
