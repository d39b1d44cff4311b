package eventkafka_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/testrig"
)

// pyEvent is one line interop.py prints: an event as the Python SDK holds it.
type pyEvent struct {
	Attributes map[string]any `json:"attributes"`
	DataType   string         `json:"data_type"`
	DataBase64 *string        `json:"data_base64"`
	Key        *string        `json:"key"`
}

// TestKafka_PythonInterop checks the binding against the CloudEvents Python SDK's Kafka
// binding on the real broker, both ways: Python reads what Go wrote, Go reads what Python wrote.
func TestKafka_PythonInterop(t *testing.T) {
	seeds := testrig.Kafka(t)
	python := pythonEnv(t)
	t.Run("PythonReadsGo", func(t *testing.T) { testPythonReadsGo(t, seeds, python) })
	t.Run("GoReadsPython", func(t *testing.T) { testGoReadsPython(t, seeds, python) })
}

func testPythonReadsGo(t *testing.T, seeds []string, python string) {
	const n = 1200
	topic := testrig.Name(t, "eventkafka")
	testrig.CreateTopic(t, topic, 4, nil)
	want, recs := encodeAll(t, newWorkload(testrig.Seed(t), 60), n, topic)
	produceAll(t, seeds, recs)
	start := time.Now()
	got := runInterop(t, python, "read", "--bootstrap", strings.Join(seeds, ","), "--topic", topic, "--count", strconv.Itoa(n))
	t.Logf("python read %d events in %v", len(got), time.Since(start).Round(time.Millisecond))
	if len(got) != n {
		t.Fatalf("python printed %d events, want %d", len(got), n)
	}
	byID := make(map[string]*encoded, n)
	for i := range want {
		byID[want[i].ev.ID()] = &want[i]
	}
	seen := map[string]int{}
	for _, p := range got {
		id, _ := p.Attributes["id"].(string)
		w, ok := byID[id]
		if !ok {
			t.Fatalf("python read an unknown or duplicate event %q", id)
		}
		delete(byID, id)
		if err := comparePythonRead(&w.ev, p); err != nil {
			t.Fatalf("event %s as Python read it: %v", id, err)
		}
		seen["data as "+p.DataType]++
		if _, ok := p.Attributes["time"]; ok && w.ev.Time().IsZero() {
			seen["time set by the SDK"]++
		}
	}
	t.Logf("python's view: %v", seen)
}

// comparePythonRead compares an event Go wrote with the Python SDK's reading of it. Two
// normalisations, both for documented SDK behaviour, not for anything on the wire:
//   - time: Python's datetime holds microseconds and dateutil's isoparse truncates the
//     nanoseconds Go writes, so the Go time is truncated to the microsecond before comparing
//     instants.
//   - an event without time: the SDK's CloudEvent constructor sets time to "now" when the
//     attribute is absent, so Python reports a time Go never wrote; it is ignored.
//
// Every other attribute must be the same string, and data the same bytes (or, when the SDK
// parsed it as JSON, the same JSON value).
func comparePythonRead(e *event.Event, p pyEvent) error {
	want := snap(e)
	for name, v := range want.Attrs {
		got, ok := p.Attributes[name]
		if !ok {
			return fmt.Errorf("attribute %s missing", name)
		}
		if name == "time" {
			if err := sameInstant(e.Time().Truncate(time.Microsecond), got); err != nil {
				return err
			}
			continue
		}
		if got != v {
			return fmt.Errorf("attribute %s = %#v, want %q", name, got, v)
		}
	}
	for name := range p.Attributes {
		if _, ok := want.Attrs[name]; !ok && name != "time" {
			return fmt.Errorf("attribute %s = %#v appeared", name, p.Attributes[name])
		}
	}
	if p.Key == nil || *p.Key != event.PartitionKey(e) {
		return fmt.Errorf("key = %v, want %q", p.Key, event.PartitionKey(e))
	}
	return sameData(want.Data, p)
}

func sameInstant(want time.Time, got any) error {
	s, _ := got.(string)
	t, err := types.ParseTime(s)
	if err != nil || !t.Equal(want) {
		return fmt.Errorf("time = %#v, want the instant %s (%v)", got, types.FormatTime(want), err)
	}
	return nil
}

// sameData compares Go's data bytes with the SDK's data: bytes and str must carry the same
// bytes; a value the SDK parsed as JSON (it does so for a JSON content type, or none) must
// be the same JSON value, since Python re-serialises it.
func sameData(want []byte, p pyEvent) error {
	if p.DataBase64 == nil {
		if p.DataType != "NoneType" || len(want) != 0 {
			return fmt.Errorf("data: python has none (%s), want %d bytes", p.DataType, len(want))
		}
		return nil
	}
	got, err := base64.StdEncoding.DecodeString(*p.DataBase64)
	if err != nil {
		return err
	}
	switch p.DataType {
	case "bytes", "str":
		if !bytes.Equal(got, want) {
			return fmt.Errorf("data (%s): got %q, want %q", p.DataType, clip(got), clip(want))
		}
		return nil
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		return fmt.Errorf("data (%s) from python is not JSON: %v", p.DataType, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		return fmt.Errorf("python parsed data as JSON (%s) that Go cannot: %v", p.DataType, err)
	}
	gj, _ := json.Marshal(g)
	wj, _ := json.Marshal(w)
	if !bytes.Equal(gj, wj) {
		return fmt.Errorf("data (%s): got %s, want %s", p.DataType, clip(gj), clip(wj))
	}
	return nil
}

func testGoReadsPython(t *testing.T, seeds []string, python string) {
	const n = 1000
	const partitions = 4
	topic := testrig.Name(t, "eventkafka")
	testrig.CreateTopic(t, topic, partitions, nil)
	seed := testrig.Seed(t) % (1 << 31)
	start := time.Now()
	wrote := runInterop(t, python, "write", "--bootstrap", strings.Join(seeds, ","), "--topic", topic,
		"--count", strconv.Itoa(n), "--seed", strconv.FormatUint(seed, 10))
	t.Logf("python wrote %d events in %v", len(wrote), time.Since(start).Round(time.Millisecond))
	want := make(map[string]pyEvent, n)
	for _, p := range wrote {
		want[p.Attributes["id"].(string)] = p
	}
	murmur := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
	seen := map[string]int{}
	checker := newOrderChecker()
	for _, r := range consumeAll(t, seeds, topic, n) {
		e, err := eventkafka.Decode(r)
		if err != nil {
			t.Fatalf("Decode %d@%d: %v\n%s", r.Partition, r.Offset, err, dumpHeaders(r.Headers))
		}
		p, ok := want[e.ID()]
		if !ok {
			t.Fatalf("unknown or duplicate event %s", e.ID())
		}
		delete(want, e.ID())
		if err := comparePythonWrote(&e, p); err != nil {
			t.Fatalf("event %s as Go read it: %v\n%s", e.ID(), err, dumpHeaders(r.Headers))
		}
		seen["data as "+p.DataType]++
		if _, ok := p.Attributes["replayed"]; ok {
			seen["bool extension"]++
		}
		if r.Value != nil && len(r.Value) == 0 {
			seen["empty value"]++
		}
		if err := event.ValidateStrata(&e, event.Limits{}); err != nil {
			t.Fatalf("event %s: %v", e.ID(), err)
		}
		if want := int32(murmur.Partition(r, partitions)); r.Partition != want {
			t.Fatalf("key %q on partition %d; Kafka's murmur2 says %d", r.Key, r.Partition, want)
		}
		if err := checker.check(&e, r.Partition); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("go's view: %v", seen)
}

// comparePythonWrote compares what Go decoded with what the script says it wrote. The only
// normalisation is the SDK's writing of non-string values: to_binary writes str(value), so
// an int is its decimal form (the CloudEvents canonical form too) and a bool is Python's
// "True"/"False", not the canonical "true"/"false" (a quirk of the SDK, documented in
// docs/formats/kafka-record.md). time is compared as an instant: the SDK may write any
// offset, and Encode would write UTC.
func comparePythonWrote(e *event.Event, p pyEvent) error {
	got := snap(e)
	for name, v := range p.Attributes {
		g, ok := got.Attrs[name]
		if !ok {
			return fmt.Errorf("attribute %s missing", name)
		}
		if name == "time" {
			if err := sameInstant(e.Time(), v); err != nil {
				return err
			}
			continue
		}
		want := fmt.Sprint(v) // str, int → decimal
		if b, ok := v.(bool); ok {
			want = map[bool]string{true: "True", false: "False"}[b]
		}
		if g != want {
			return fmt.Errorf("attribute %s = %q, want %q", name, g, want)
		}
	}
	for name := range got.Attrs {
		if _, ok := p.Attributes[name]; !ok {
			return fmt.Errorf("attribute %s = %q appeared", name, got.Attrs[name])
		}
	}
	return sameData(got.Data, p)
}

// runInterop runs testdata/interop.py and parses the JSON lines it prints.
func runInterop(t *testing.T, python string, args ...string) []pyEvent {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "interop.py"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, python, append([]string{script}, args...)...)
	cmd.Stdout, cmd.Stderr, cmd.Dir = &stdout, &stderr, t.TempDir()
	if err := cmd.Run(); err != nil {
		t.Fatalf("interop.py %s: %v\n%s", args[0], err, stderr.String())
	}
	var out []pyEvent
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		var p pyEvent
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("interop.py printed %q: %v", clip(sc.Bytes()), err)
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// pythonEnv returns the python of a venv holding testdata/requirements.txt (built once and
// cached by testrig.Python).
func pythonEnv(t *testing.T) string {
	t.Helper()
	req, err := os.ReadFile(filepath.Join("testdata", "requirements.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var pins []string
	for _, line := range strings.Split(string(req), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			pins = append(pins, line)
		}
	}
	return testrig.Python(t, pins...)
}
