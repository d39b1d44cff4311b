package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-platform/strata/pkg/embedded"
	"github.com/strata-platform/strata/pkg/projection"
	"github.com/strata-platform/strata/pkg/stream"
)

// runDemoInProcess runs `strata demo` in this process until it listens and returns what it
// printed up to then, and a stop function that ends it and returns its exit code.
func runDemoInProcess(t *testing.T, args ...string) (string, func() int) {
	t.Helper()
	return runInProcess(t, "demo", args...)
}

// runInProcess runs a strata subcommand that serves HTTP (dev, demo) in this process, with
// four partitions and warnings only, until it listens.
func runInProcess(t *testing.T, sub string, args ...string) (string, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		code := run(ctx, append([]string{sub, "--log-level", "warn", "--partitions", "4"}, args...), pw, &stderr)
		_ = pw.Close()
		done <- code
	}()
	var out strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "listening on ") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if !strings.Contains(out.String(), "listening on ") {
		cancel()
		t.Fatalf("strata %s exited (code %d) before listening:\n%s%s", sub, <-done, out.String(), stderr.String())
	}
	code, stopped := -1, false
	return out.String(), func() int { // may be called more than once
		cancel()
		if stopped {
			return code
		}
		select {
		case code = <-done:
			stopped = true
			return code
		case <-time.After(30 * time.Second):
			t.Fatalf("strata %s did not stop", sub)
			return -1
		}
	}
}

// TestDemo_SeedsAndIsIdempotent runs `strata demo` twice on one data folder. The first run
// seeds the sample through the append path and, by the time it listens, the streams, the
// index, the stats and the snapshots exist; every command it prints works. The second run
// writes nothing: every seeded append is answered as a duplicate.
func TestDemo_SeedsAndIsIdempotent(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	sample := demoDomain(36)

	out, stop := runDemoInProcess(t, "--data", data, "--http", addr)
	t.Logf("first run:\n%s", out)
	want := fmt.Sprintf("%d appends (%d written, 0 already there)", len(sample), len(sample))
	if !strings.Contains(out, want) {
		t.Fatalf("first run does not report %q", want)
	}
	if !strings.Contains(out, "snapshot of order/o-1001 at version 2: ") {
		t.Fatal("first run shows no snapshot")
	}
	checkTour(t, out)
	code := stop()
	if code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	checkDemoStore(t, data, len(sample)+1) // the tour's POST added one event

	out, stop = runDemoInProcess(t, "--data", data, "--http", addr)
	want = fmt.Sprintf("%d appends (0 written, %d already there)", len(sample), len(sample))
	if !strings.Contains(out, want) {
		t.Fatalf("second run does not report %q:\n%s", want, out)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	checkDemoStore(t, data, len(sample)+1)
}

// checkTour runs the curl commands the demo printed, as HTTP requests.
func checkTour(t *testing.T, out string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	gets, posts := 0, 0
	for i, l := range lines {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "curl http://"):
			url := strings.Fields(l)[1]
			resp, err := http.Get(url)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %v %v", url, resp, err)
			}
			var body any
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if events, ok := body.([]any); ok {
				if len(events) == 0 {
					t.Fatalf("GET %s: no events", url)
				}
			} else if m, ok := body.(map[string]any); !ok || err != nil || m["version"] == nil || m["version"].(float64) < 1 {
				t.Fatalf("GET %s: %v (%v)", url, body, err)
			}
			gets++
		case strings.HasPrefix(l, "curl -i -X POST "):
			url := strings.Fields(l)[4]
			body := lines[i+2][strings.Index(lines[i+2], "'")+1 : strings.LastIndex(lines[i+2], "'")]
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/cloudevents+json")
			req.Header.Set("Strata-Expected-Version", "1")
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != http.StatusCreated {
				t.Fatalf("POST %s: %v %v", url, resp, err)
			}
			resp.Body.Close()
			posts++
		case strings.HasPrefix(l, "curl -s ") && strings.Contains(l, "/metrics"):
			url := strings.Fields(l)[2]
			resp, err := http.Get(url)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %v %v", url, resp, err)
			}
			resp.Body.Close()
		}
	}
	if gets < 4 || posts != 1 {
		t.Fatalf("the tour printed %d GETs and %d POSTs", gets, posts)
	}
}

// checkDemoStore opens the data folder and checks the store and its read models.
func checkDemoStore(t *testing.T, data string, events int) {
	t.Helper()
	eng, err := embedded.Open(embedded.Config{Dir: data, Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx := context.Background()
	rep, err := eng.Verify(ctx)
	if err != nil || !rep.OK() || rep.Records != int64(events) {
		t.Fatalf("Verify: %+v, %v; want %d records", rep, err, events)
	}
	s := stream.ID{Type: "order", ID: "o-1001"}
	if h, err := eng.Head(s); err != nil || h.Version != 3 {
		t.Fatalf("head of %s: %+v, %v", s, h, err)
	}
	for _, key := range []string{projection.IndexKey(s, 3)} {
		if _, ok, err := eng.Get(ctx, "index.v1", key); err != nil || !ok {
			t.Fatalf("index.v1 %s: %v %v", key, ok, err)
		}
	}
	raw, ok, err := eng.Get(ctx, "snapshots.v1", projection.SnapshotKey(s))
	var snap projection.Snapshot
	if err != nil || !ok || json.Unmarshal(raw, &snap) != nil || snap.Version != 2 || !strings.Contains(string(snap.State), `"status":"paid"`) {
		t.Fatalf("snapshot of %s: %s %v", s, raw, err)
	}
}
