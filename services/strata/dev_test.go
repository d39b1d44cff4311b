package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-platform/strata/pkg/embedded"
	"github.com/strata-platform/strata/pkg/projection"
	"github.com/strata-platform/strata/pkg/stream"
)

// TestDev_ProjectionsEndToEnd runs `strata dev`, appends five merge patches to one stream
// and checks, in the data folder, the index, the stats and the snapshot at version 4.
func TestDev_ProjectionsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs strata")
	}
	bin := buildStrata(t)
	data := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	cmd := startDevWith(t, bin, data, addr, "--snapshot-every", "2")
	for i := 1; i <= 5; i++ {
		body := fmt.Sprintf(`{"specversion":"1.0","id":"%d","source":"/t","type":"t","data":{"k%d":%d}}`, i, i, i)
		resp, err := http.Post("http://"+addr+"/v1/streams/order/o-1/events", "application/cloudevents+json", strings.NewReader(body))
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("append %d: %v %v", i, resp, err)
		}
		resp.Body.Close()
	}
	time.Sleep(500 * time.Millisecond) // the projections poll every 50ms
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	eng, err := embedded.Open(embedded.Config{Dir: data, Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx := context.Background()
	s := stream.ID{Type: "order", ID: "o-1"}
	raw, ok, err := eng.Get(ctx, "snapshots.v1", projection.SnapshotKey(s))
	var snap projection.Snapshot
	if err != nil || !ok || json.Unmarshal(raw, &snap) != nil || snap.Version != 4 || string(snap.State) != `{"k1":1,"k2":2,"k3":3,"k4":4}` {
		t.Fatalf("snapshot %s (%v)", raw, err)
	}
	if _, ok, _ := eng.Get(ctx, "index.v1", projection.IndexKey(s, 5)); !ok {
		t.Fatal("no index entry for version 5")
	}
}
