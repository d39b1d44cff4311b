package replay

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// cancelAfter passes writes to a sink and cancels a context after n of them.
type cancelAfter struct {
	Sink
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Write(r *Record) error {
	if c.n--; c.n == 0 {
		c.cancel()
	}
	return c.Sink.Write(r)
}

// TestReplay_ResumeEqualsOneRun interrupts a replay mid-way (its context is cancelled),
// adds a torn row to the output as a crash after a flush would leave it, resumes it, and
// checks that the output is byte for byte that of one uninterrupted run: no row twice,
// none missing. Both sources, JSON Lines and CSV.
func TestReplay_ResumeEqualsOneRun(t *testing.T) {
	items := corpus("order", 3000, 40, 4, time.Millisecond, true)
	for _, src := range sources(t, "order", 4, items) {
		for _, format := range []Format{JSONLines, CSV} {
			t.Run(src.name+"/"+string(format), func(t *testing.T) {
				dir := t.TempDir()
				whole := filepath.Join(dir, "whole."+string(format))
				runOnce(t, src, format, whole, "", nil)
				out := filepath.Join(dir, "out."+string(format))
				state := filepath.Join(dir, "state.json")
				interrupted := runOnce(t, src, format, out, state, func(s Sink, cancel context.CancelFunc) Sink {
					return &cancelAfter{Sink: s, n: 1234, cancel: cancel}
				})
				if !errors.Is(interrupted, context.Canceled) {
					t.Fatalf("interrupted run: %v, want context.Canceled", interrupted)
				}
				st, err := LoadState(state)
				if err != nil || st == nil || st.Done() {
					t.Fatalf("state after the interruption: %+v, %v; want an unfinished one", st, err)
				}
				tear(t, out)
				if err := runOnce(t, src, format, out, state, nil); err != nil {
					t.Fatalf("resumed run: %v", err)
				}
				want, _ := os.ReadFile(whole)
				got, _ := os.ReadFile(out)
				sameRows(t, got, want)
				if lines := bytes.Count(got, []byte("\n")); lines < 3000 {
					t.Fatalf("%d lines, want at least 3000", lines)
				}
				// Resuming a finished replay writes nothing more.
				if err := runOnce(t, src, format, out, state, nil); err != nil {
					t.Fatal(err)
				}
				if again, _ := os.ReadFile(out); !bytes.Equal(again, got) {
					t.Fatal("resuming a finished replay changed its output")
				}
			})
		}
	}
}

// runOnce replays src into a file; with a state path it resumes from it. wrap, if set,
// wraps the sink and may cancel the run.
func runOnce(t *testing.T, src source, format Format, out, state string,
	wrap func(Sink, context.CancelFunc) Sink) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var st *State
	resumeAt := int64(-1)
	if state != "" {
		var err error
		if st, err = LoadState(state); err != nil {
			t.Fatal(err)
		}
		resumeAt = 0
		if st != nil {
			resumeAt = st.OutputBytes
		}
	}
	sink, err := CreateFile(out, format, resumeAt)
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		sink = wrap(sink, cancel)
	}
	_, runErr := Run(ctx, Config{Source: src.src, Topic: src.topic, Sink: sink, StatePath: state,
		SinkName: string(format) + ":" + out, State: st, FlushEvery: 100})
	if err := sink.Close(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// tear appends half a row to a file, as a crash after some buffered output reached the
// file but before the state was saved would leave it.
func tear(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(`{"specversion":"1.0","id":"torn`); err != nil {
		t.Fatal(err)
	}
}

// sameRows checks that got holds the rows of want, each once. Kafka interleaves partitions
// differently from run to run, so rows are compared as sets; within a partition the source
// keeps offset order, which the byte-equal embedded runs check.
func sameRows(t *testing.T, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	count := map[string]int{}
	for _, l := range bytes.SplitAfter(want, []byte("\n")) {
		count[string(l)]++
	}
	for _, l := range bytes.SplitAfter(got, []byte("\n")) {
		if count[string(l)]--; count[string(l)] < 0 {
			t.Fatalf("row written twice or never in one run: %.200s", l)
		}
	}
	for l, n := range count {
		if n != 0 {
			t.Fatalf("row missing: %.200s", l)
		}
	}
}
