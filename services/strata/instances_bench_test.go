package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/pkg/testrig"
)

// BenchmarkInstances measures appends/s through the HTTP API with one `strata command`
// instance and with three sharing the partitions (in this process, on the real rig), 64
// clients sending each append to a random instance: with three, about two thirds of the
// appends are forwarded one hop to their partition's owner.
//
//	go test -run='^$' -bench='^BenchmarkInstances$' -benchtime=2000x -count=3 ./services/strata/
func BenchmarkInstances(b *testing.B) {
	rig := testrig.Get(b)
	for _, n := range []int{1, 3} {
		b.Run("instances="+strconv.Itoa(n), func(b *testing.B) {
			name := testrig.Name(b, "inst")
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var addrs []string
			for range n {
				port := freePort(b)
				addr := "127.0.0.1:" + strconv.Itoa(port)
				addrs = append(addrs, addr)
				wg.Go(func() {
					err := runCommand(ctx, []string{"--kafka", rig.Kafka[0], "--redis", rig.Redis, "--cluster", name,
						"--topic-prefix", name, "--partitions", "8", "--http", addr, "--log-level", "error"}, io.Discard, os.Stderr)
					if err != nil && ctx.Err() == nil {
						b.Errorf("instance %s: %v", addr, err)
					}
				})
			}
			defer func() {
				cancel()
				wg.Wait()
				testrig.DeleteTopic(b, name+".bench.events")
			}()
			benchWaitOwners(b, rig.Redis, name, addrs)
			benchWaitReady(b, addrs)
			benchAppends(b, addrs, 64)
		})
	}
}

// benchWaitOwners waits until every instance owns a partition (the group has settled).
func benchWaitOwners(b *testing.B, redisAddr, cluster string, addrs []string) {
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		owners := map[string]bool{}
		for p := range 8 {
			a, _ := rdb.HGet(context.Background(), cluster+":owner:"+strconv.Itoa(p), "a").Result()
			owners[a] = true
		}
		all := true
		for _, a := range addrs {
			all = all && owners[a]
		}
		if all && !owners[""] {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("the instances did not share the partitions within 2 minutes: %v", owners)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// benchWaitReady waits until an append to a stream of every partition succeeds through the
// first instance.
func benchWaitReady(b *testing.B, addrs []string) {
	deadline := time.Now().Add(2 * time.Minute)
	for p := range 8 {
		id := ""
		for i := 0; ; i++ {
			id = fmt.Sprintf("warm-%d", i)
			if stream.PartitionFor(id, 8) == p {
				break
			}
		}
		for {
			code := benchPost(addrs[p%len(addrs)], id, fmt.Sprintf("warm-%d-%d", p, time.Now().UnixNano()))
			if code == http.StatusCreated {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("partition %d not served within 2 minutes (last status %d)", p, code)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

var benchHTTP = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}

func benchPost(addr, id, evID string) int {
	body := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/bench","type":"com.example.bench.done","data":{"n":1}}`, evID)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/streams/bench/"+id+"/events", bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	resp, err := benchHTTP.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// benchAppends runs b.N appends of one event by clients goroutines, each to a random
// instance and one of 1,000 streams, and reports appends/s and latency percentiles.
func benchAppends(b *testing.B, addrs []string, clients int) {
	var next, failed atomic.Int64
	var mu sync.Mutex // guards lat
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			var mine []time.Duration
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					break
				}
				t0 := time.Now()
				code := benchPost(addrs[rng.IntN(len(addrs))], fmt.Sprintf("s-%d", rng.IntN(1000)), fmt.Sprintf("c%d-%d-%d", c, i, start.UnixNano()))
				mine = append(mine, time.Since(t0))
				if code != http.StatusCreated {
					failed.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Errorf("%d of %d appends failed", n, b.N)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	}
}
