package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-platform/strata/pkg/embedded"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/pkg/testrig"
)

// buildStrata builds the strata binary into a temporary folder.
func buildStrata(t *testing.T) string {
	t.Helper()
	root, err := testrig.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "strata")
	cmd := exec.Command("go", "build", "-o", bin, "./services/strata")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startDev starts `strata dev` and waits until it listens.
func startDev(t *testing.T, bin, data, addr string) *exec.Cmd {
	return startDevWith(t, bin, data, addr)
}

// startDevWith starts `strata dev` with extra flags and waits until it listens.
func startDevWith(t *testing.T, bin, data, addr string, extra ...string) *exec.Cmd {
	t.Helper()
	args := append([]string{"dev", "--data", data, "--http", addr, "--log-level", "warn", "--partitions", "4"}, extra...)
	cmd := exec.Command(bin, args...)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "listening on ") {
				ready <- true
			}
		}
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("strata dev exited before listening")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("strata dev did not listen within 30s")
	}
	return cmd
}

// devClient appends to its own streams and remembers every acknowledged event.
type devClient struct {
	id      int
	http    *http.Client
	version map[string]int64 // stream id -> last known version
	acked   map[string]int64 // event id -> acknowledged version
	n       int
}

func (c *devClient) appendOnce(addr string, rng *rand.Rand) {
	sid := fmt.Sprintf("dev-%d-%d", c.id, rng.IntN(3))
	c.n++
	evID := fmt.Sprintf("c%d-%d", c.id, c.n)
	body := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/crash","type":"com.example.tick","data":{"n":%d}}`, evID, c.n)
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/streams/order/"+sid+"/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("Strata-Expected-Version", fmt.Sprint(c.version[sid]))
	resp, err := c.http.Do(req)
	if err != nil {
		c.version[sid] = -1 // outcome unknown: resync from the head
		return
	}
	defer resp.Body.Close()
	var r struct {
		Version        int64  `json:"version"`
		CurrentVersion *int64 `json:"current_version"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&r)
	switch resp.StatusCode {
	case http.StatusCreated:
		c.acked[evID] = r.Version
		c.version[sid] = r.Version
	case http.StatusConflict:
		c.version[sid] = *r.CurrentVersion
	default:
		c.version[sid] = -1
	}
}

// resync reads the head of every stream whose version is unknown.
func (c *devClient) resync(addr string) {
	for sid, v := range c.version {
		if v >= 0 {
			continue
		}
		resp, err := c.http.Get("http://" + addr + "/v1/streams/order/" + sid)
		if err != nil {
			continue
		}
		var h struct {
			Version int64 `json:"version"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
		c.version[sid] = h.Version // 404: version 0
	}
}

// TestDev_KillNine kills `strata dev` with SIGKILL at random moments under 8 concurrent
// appenders, 100 times, then checks the store: every acknowledged event is there at its
// acknowledged version, each stream has versions 1..n with no gap or duplicate, and every
// record's checksum is valid (embedded.Verify).
func TestDev_KillNine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills strata 100 times")
	}
	cycles := 100
	bin := buildStrata(t)
	data := filepath.Join(t.TempDir(), "data")
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	clients := make([]*devClient, 8)
	for i := range clients {
		clients[i] = &devClient{id: i, http: &http.Client{Timeout: 2 * time.Second}, version: map[string]int64{}, acked: map[string]int64{}}
	}
	for cycle := 0; cycle < cycles; cycle++ {
		addr := freeAddr(t)
		cmd := startDev(t, bin, data, addr)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				crng := rand.New(rand.NewPCG(seed, uint64(cycle*100+i+1)))
				c.resync(addr)
				for {
					select {
					case <-stop:
						return
					default:
						c.appendOnce(addr, crng)
					}
				}
			}()
		}
		time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		close(stop)
		wg.Wait()
	}
	checkDevStore(t, data, clients)
}

func checkDevStore(t *testing.T, data string, clients []*devClient) {
	eng, err := embedded.Open(embedded.Config{Dir: data, Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	rep, err := eng.Verify(context.Background())
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	stored := map[string]int64{}
	last := map[stream.ID]int64{}
	for p := int32(0); p < 4; p++ {
		recs, err := eng.Read(context.Background(), eng.Topic("order"), p, 0, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			s := stream.ID{Type: "order", ID: event.AggregateID(&r.Event)}
			v, _, _ := event.AggregateVersion(&r.Event)
			if v != last[s]+1 {
				t.Fatalf("%s: version %d after %d", s, v, last[s])
			}
			last[s] = v
			stored[r.Event.ID()] = v
		}
	}
	acked := 0
	for _, c := range clients {
		for id, v := range c.acked {
			if stored[id] != v {
				t.Fatalf("acknowledged event %s at version %d: stored at %d", id, v, stored[id])
			}
			acked++
		}
	}
	t.Logf("%d acknowledged events all present; %d stored; verify checked %d records", acked, len(stored), rep.Records)
	if acked == 0 {
		t.Fatal("no append was acknowledged: the test did not exercise anything")
	}
}
