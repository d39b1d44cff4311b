package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/testrig"
)

// pythonRequirements are the pins of the venv the format tests build (testrig.Python).
var pythonRequirements = []string{"cloudevents==2.2.0", "pyarrow==26.0.1"}

// wantParquetColumns are the Parquet columns and the Arrow types pyarrow reads them as.
var wantParquetColumns = map[string]string{
	"topic": "string", "partition": "int32", "offset": "int64", "timestamp": "timestamp[ms, tz=UTC]",
	"id": "string", "source": "string", "type": "string", "subject": "string",
	"time": "timestamp[ns, tz=UTC]", "aggregatetype": "string", "aggregateid": "string",
	"aggregateversion": "int64", "datacontenttype": "string", "data": "binary",
}

// TestReplay_Formats replays 5,000 events from Kafka to Parquet and JSON Lines; pyarrow
// must read the Parquet file with the right rows, columns and types, and the JSON Lines must
// round-trip through the CloudEvents Python SDK to the events that were produced.
func TestReplay_Formats(t *testing.T) { testFormats(t, 5000) }

// TestHeavy_ReplayFormats is TestReplay_Formats with 1,000,000 events.
func TestHeavy_ReplayFormats(t *testing.T) {
	heavy(t)
	testFormats(t, 1_000_000)
}

func testFormats(t *testing.T, n int) {
	python := testrig.Python(t, pythonRequirements...)
	streams := max(n/20, 10)
	gen := func(i int) item { return corpusItem("order", i, streams, 4, time.Millisecond, false) }
	topic := testrig.Name(t, "rp") + ".order.events"
	start := time.Now()
	produceN(t, topic, 4, n, gen)
	t.Cleanup(func() { testrig.DeleteTopic(t, topic) })
	t.Logf("produced %d events in %v", n, time.Since(start).Round(time.Millisecond))
	src, err := NewKafkaSource(testrig.Kafka(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir := t.TempDir()
	for _, f := range []Format{Parquet, JSONLines} {
		path := filepath.Join(dir, "out."+string(f))
		sink, err := CreateFile(path, f, -1)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		last := start
		progress := func(p Progress) {
			if p.Read%100_000 < progressEvery || p.Read == p.Total {
				if time.Since(last) > 10*time.Second || p.Read == p.Total {
					t.Logf("%s: %d of %d read, %d written, %v", f, p.Read, p.Total, p.Written, time.Since(start).Round(time.Millisecond))
					last = time.Now()
				}
			}
		}
		rep, err := Run(context.Background(), Config{Source: src, Topic: topic, Sink: sink, OnProgress: progress})
		if cerr := sink.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		if rep.Written != int64(n) {
			t.Fatalf("%s: wrote %d events, want %d", f, rep.Written, n)
		}
		t.Logf("%s: replayed %d events in %v", f, n, time.Since(start).Round(time.Millisecond))
	}
	checkParquet(t, python, filepath.Join(dir, "out.parquet"), n)
	checkJSONLines(t, python, filepath.Join(dir, "out.jsonl"), n, gen)
}

func checkParquet(t *testing.T, python, path string, n int) {
	t.Helper()
	out := runPython(t, python, "parquet", path)
	var got struct {
		Rows        int               `json:"rows"`
		Columns     map[string]string `json:"columns"`
		DistinctIDs int               `json:"distinct_ids"`
		Offsets     []int64           `json:"offsets"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("pyarrow printed %q: %v", out, err)
	}
	if got.Rows != n || got.DistinctIDs != n {
		t.Errorf("pyarrow read %d rows, %d distinct ids; want %d", got.Rows, got.DistinctIDs, n)
	}
	if !reflect.DeepEqual(got.Columns, wantParquetColumns) {
		t.Errorf("pyarrow columns %v\nwant %v", got.Columns, wantParquetColumns)
	}
	if len(got.Offsets) != 2 || got.Offsets[0] != 0 {
		t.Errorf("offsets range %v: want to start at 0", got.Offsets)
	}
}

func checkJSONLines(t *testing.T, python, path string, n int, gen func(int) item) {
	t.Helper()
	back := path + ".python"
	runPython(t, python, "jsonl", path, back)
	f, err := os.Open(back)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := make([]bool, n)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	i := 0
	for ; sc.Scan(); i++ {
		line := sc.Bytes()
		got := event.New()
		if err := got.UnmarshalJSON(line); err != nil {
			t.Fatalf("line %d from python: %v: %s", i, err, line)
		}
		k, err := strconv.Atoi(strings.TrimPrefix(got.ID(), "ev-"))
		if err != nil || k < 0 || k >= n || seen[k] {
			t.Fatalf("line %d: unknown or repeated id %q", i, got.ID())
		}
		seen[k] = true
		if err := sameEvent(&got, gen(k).ev); err != "" {
			t.Fatalf("line %d (%s): %s\npython: %s", i, got.ID(), err, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if i != n {
		t.Fatalf("python wrote back %d events, want %d", i, n)
	}
}

// sameEvent compares an event that went through Python with the one produced.
func sameEvent(got, want *event.Event) string {
	switch {
	case got.Source() != want.Source() || got.Type() != want.Type() || got.Subject() != want.Subject():
		return "source, type or subject differ"
	case !want.Time().IsZero() && !got.Time().Equal(want.Time()):
		// The Python SDK gives an event without time the current time: only a set time
		// must come back.
		return "time " + got.Time().String() + ", want " + want.Time().String()
	case got.DataContentType() != want.DataContentType():
		return "datacontenttype " + got.DataContentType()
	case event.AggregateType(got) != event.AggregateType(want) || event.AggregateID(got) != event.AggregateID(want):
		return "aggregate differs"
	}
	gv, _, err1 := event.AggregateVersion(got)
	wv, _, _ := event.AggregateVersion(want)
	if err1 != nil || gv != wv {
		return "aggregateversion differs"
	}
	if strings.HasSuffix(want.DataContentType(), "json") {
		var g, w any
		if json.Unmarshal(got.Data(), &g) != nil || json.Unmarshal(want.Data(), &w) != nil || !reflect.DeepEqual(g, w) {
			return "JSON data " + string(got.Data()) + ", want " + string(want.Data())
		}
	} else if !bytes.Equal(got.Data(), want.Data()) {
		return "data " + string(got.Data()) + ", want " + string(want.Data())
	}
	return ""
}

func runPython(t *testing.T, python string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, append([]string{filepath.Join("testdata", "check.py")}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("check.py %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}
