package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/embedded"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/projection"
	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/pkg/testrig"
)

// TestReplay_BadFlags: every bad flag or combination exits 2 with one line on stderr.
func TestReplay_BadFlags(t *testing.T) {
	t.Setenv("STRATA_KAFKA", "")
	t.Setenv("STRATA_REDIS", "")
	k := []string{"--kafka", "127.0.0.1:1"}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "--topic"},
		{append([]string{"--topic", "a", "--type", "b", "--out", "x"}, k...), "exactly one of --topic and --type"},
		{[]string{"--topic", "a", "--out", "x"}, "--kafka"},
		{append([]string{"--topic", "a"}, k...), "--out is required"},
		{append([]string{"--topic", "a", "--out", "x", "--format", "xml"}, k...), "--format"},
		{append([]string{"--topic", "a", "--out", "x", "--from-time", "yesterday"}, k...), "--from-time"},
		{append([]string{"--topic", "a", "--out", "x", "--to-time", "2025-01-01"}, k...), "--to-time"},
		{append([]string{"--topic", "a", "--out", "x", "--from-time", "2025-01-02T00:00:00Z", "--to-time", "2025-01-01T00:00:00Z"}, k...), "after --from-time"},
		{append([]string{"--topic", "a", "--out", "x", "--from-offset", "0:1,x"}, k...), "--from-offset"},
		{append([]string{"--topic", "a", "--out", "x", "--from-offset", "-3"}, k...), "--from-offset"},
		{append([]string{"--topic", "a", "--out", "x", "--from-offset", "0:1,0:2"}, k...), "twice"},
		{append([]string{"--topic", "a", "--out", "x", "--from-offset", "5", "--from-time", "2025-01-01T00:00:00Z"}, k...), "not both"},
		{append([]string{"--topic", "a", "--out", "-", "--resume", "s.json"}, k...), "--resume"},
		{append([]string{"--topic", "a", "--out", "x", "--format", "parquet", "--resume", "s.json"}, k...), "parquet"},
		{append([]string{"--topic", "a", "--out", "-", "--json"}, k...), "--json"},
		{append([]string{"--topic", "a", "--sandbox", "Bad Name"}, k...), "--sandbox"},
		{append([]string{"--topic", "a", "--sandbox", "s"}, k...), "--redis"},
		{append([]string{"--topic", "a", "--sandbox", "s", "--out", "x"}, k...), "not both"},
		{append([]string{"--topic", "a", "--out", "x", "--nope"}, k...), "nope"},
		{[]string{"--type", "order", "--out", "x", "--data", filepath.Join(t.TempDir(), "missing")}, "--data"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"replay"}, tt.args...), &out, &errOut)
		lines := strings.Count(errOut.String(), "\n")
		if code != exitUsage || lines != 1 || !strings.Contains(errOut.String(), tt.want) || out.Len() != 0 {
			t.Errorf("strata replay %v: exit %d, stdout %q, stderr %q; want exit 2 and one line containing %q",
				tt.args, code, out.String(), errOut.String(), tt.want)
		}
	}
}

// seedStore writes n events of aggregate type order (streams o-0..o-4) into a new embedded
// store of 2 partitions and closes it.
func seedStore(t *testing.T, n int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	eng, err := embedded.Open(embedded.Config{Dir: dir, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	app, err := appender.New(context.Background(), eng, appender.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		e := replayEvent(i)
		if _, err := app.Append(context.Background(), appender.Request{Stream: stream.ID{Type: "order", ID: fmt.Sprintf("o-%d", i%5)},
			Expected: stream.Any, Events: []*event.Event{e}}); err != nil {
			t.Fatal(err)
		}
	}
	_ = app.Close()
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func replayEvent(i int) *event.Event {
	e := event.New()
	e.SetID(fmt.Sprintf("e-%d", i))
	e.SetSource("/cli-test")
	e.SetType([]string{"order.created", "order.changed"}[min(i/5, 1)])
	e.SetTime(time.Date(2025, 3, 1, 12, 0, i, 0, time.UTC))
	_ = e.SetData("application/json", map[string]any{"n": i, fmt.Sprintf("k%d", i%3): true})
	return &e
}

// TestReplay_Embedded replays a dev data folder to CSV with a JSON summary, into a sandbox
// read model, and refuses a folder that another process (here: an open engine) holds.
func TestReplay_Embedded(t *testing.T) {
	t.Setenv("STRATA_KAFKA", "")
	t.Setenv("STRATA_REDIS", "")
	dir := seedStore(t, 20)
	out := filepath.Join(t.TempDir(), "out.csv")
	var stdout, stderr bytes.Buffer
	args := []string{"replay", "--data", dir, "--partitions", "2", "--type", "order", "--format", "csv", "--out", out, "--json"}
	if code := run(context.Background(), args, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var rep struct{ Read, Written int64 }
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || rep.Read != 20 || rep.Written != 20 {
		t.Fatalf("summary %q (%v): want 20 read and written", stdout.String(), err)
	}
	if b, _ := os.ReadFile(out); strings.Count(string(b), "\n") != 21 || !strings.HasPrefix(string(b), "topic,partition,offset,timestamp,") {
		t.Fatalf("csv output:\n%s", b)
	}

	stdout.Reset()
	args = []string{"replay", "--data", dir, "--partitions", "2", "--type", "order", "--sandbox", "try"}
	if code := run(context.Background(), args, &stdout, &stderr); code != exitOK {
		t.Fatalf("sandbox: exit %d: %s", code, stderr.String())
	}
	eng, err := embedded.Open(embedded.Config{Dir: dir, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	raw, ok, err := eng.Get(context.Background(), "sandbox.try", projection.DocKey(stream.ID{Type: "order", ID: "o-1"}))
	var doc projection.Doc[map[string]any]
	if err != nil || !ok || json.Unmarshal(raw, &doc) != nil || doc.Version != 4 || doc.State["n"] != float64(16) || doc.State["k0"] != true {
		t.Fatalf("sandbox document of o-1: %s %v %v; want version 4, n 16 and k0 merged in", raw, ok, err)
	}

	// The engine above holds the folder, as a running strata dev would.
	stderr.Reset()
	args = []string{"replay", "--data", dir, "--partitions", "2", "--type", "order", "--out", "-"}
	if code := run(context.Background(), args, &stdout, &stderr); code != exitFailure || !strings.Contains(stderr.String(), "in use") {
		t.Fatalf("replay of a folder in use: exit %d, %q; want 1 and 'in use'", code, stderr.String())
	}
}

// TestReplay_KafkaStdoutAndResume replays a Kafka topic to standard output, then to a file
// with --resume twice: the second run finds the replay complete and writes nothing more.
func TestReplay_KafkaStdoutAndResume(t *testing.T) {
	seeds := testrig.Kafka(t)
	t.Setenv("STRATA_KAFKA", strings.Join(seeds, ","))
	t.Setenv("STRATA_REDIS", "")
	prefix := testrig.Name(t, "cli")
	topic := prefix + ".order.events"
	testrig.CreateTopic(t, topic, 3, nil)
	t.Cleanup(func() { testrig.DeleteTopic(t, topic) })
	produceEvents(t, seeds, topic, 30)

	var stdout, stderr bytes.Buffer
	args := []string{"replay", "--type", "order", "--prefix", prefix, "--out", "-", "--filter-type", "order.changed"}
	if code := run(context.Background(), args, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	sc := bufio.NewScanner(&stdout)
	lines := 0
	for sc.Scan() {
		e := event.New()
		if err := e.UnmarshalJSON(sc.Bytes()); err != nil || e.Type() != "order.changed" {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines++
	}
	if lines != 25 {
		t.Fatalf("%d events on stdout, want 25", lines)
	}

	dir := t.TempDir()
	out, state := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "state.json")
	args = []string{"replay", "--topic", topic, "--out", out, "--resume", state, "--from-offset", "0:3,2:0"}
	for i := range 2 {
		stderr.Reset()
		if code := run(context.Background(), args, &stdout, &stderr); code != exitOK {
			t.Fatalf("run %d: exit %d: %s", i, code, stderr.String())
		}
	}
	if !strings.Contains(stderr.String(), "0 events written") {
		t.Fatalf("second run: %q; want nothing more written", stderr.String())
	}
	b, _ := os.ReadFile(out)
	if n := strings.Count(string(b), "\n"); n < 1 || n >= 30 {
		t.Fatalf("%d events from partitions 0 (from offset 3) and 2; want some, fewer than 30", n)
	}
	stderr.Reset()
	args = []string{"replay", "--topic", topic + "x", "--out", out, "--resume", state}
	if code := run(context.Background(), args, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "state") {
		t.Fatalf("resume with another topic: exit %d %q; want 2", code, stderr.String())
	}
}

// produceEvents writes n order events (streams o-0..o-4) to topic, keyed by aggregate id.
func produceEvents(t *testing.T, seeds []string, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	versions := map[string]int64{}
	var recs []*kgo.Record
	for i := range n {
		id := fmt.Sprintf("o-%d", i%5)
		versions[id]++
		e := replayEvent(i)
		event.Stamp(e, "order", id, versions[id])
		rec, err := eventkafka.Encode(e, topic)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
