package testrig

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Addrs are the rig's addresses.
type Addrs struct {
	Kafka []string // seed brokers
	Redis string   // host:port
}

var (
	once    sync.Once
	addrs   Addrs
	initErr error
)

// Get returns the rig's addresses, starting the rig if needed. It skips the test under -short.
func Get(t testing.TB) Addrs {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the real Kafka + Redis rig; run without -short")
	}
	once.Do(func() { addrs, initErr = start() })
	if initErr != nil {
		t.Fatalf("testrig: %v", initErr)
	}
	return addrs
}

// Kafka returns the seed brokers of the real Kafka.
func Kafka(t testing.TB) []string { return Get(t).Kafka }

// Redis returns the address of the real Redis.
func Redis(t testing.TB) string { return Get(t).Redis }

func start() (Addrs, error) {
	a := Addrs{Redis: os.Getenv("STRATA_REDIS")}
	if k := os.Getenv("STRATA_KAFKA"); k != "" {
		a.Kafka = strings.Split(k, ",")
	}
	if len(a.Kafka) == 0 || a.Redis == "" {
		got, err := runInfra()
		if err != nil {
			return Addrs{}, err
		}
		if len(a.Kafka) == 0 {
			a.Kafka = got.Kafka
		}
		if a.Redis == "" {
			a.Redis = got.Redis
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := waitKafka(ctx, a.Kafka); err != nil {
		return Addrs{}, err
	}
	return a, waitRedis(ctx, a.Redis)
}

// RepoRoot returns the folder holding go.work, found by walking up from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.work not found above the working directory")
		}
		dir = parent
	}
}

func runInfra() (Addrs, error) {
	root, err := RepoRoot()
	if err != nil {
		return Addrs{}, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(root, "scripts", "infra"), "up")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return Addrs{}, fmt.Errorf("scripts/infra up: %v\n%s", err, stderr.String())
	}
	return ParseEnv(stdout.String())
}

// ParseEnv reads the STRATA_KAFKA= and STRATA_REDIS= lines scripts/infra prints.
func ParseEnv(out string) (Addrs, error) {
	var a Addrs
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		switch {
		case !ok:
		case k == "STRATA_KAFKA":
			a.Kafka = strings.Split(v, ",")
		case k == "STRATA_REDIS":
			a.Redis = v
		}
	}
	if len(a.Kafka) == 0 || a.Redis == "" {
		return a, fmt.Errorf("scripts/infra printed no addresses: %q", out)
	}
	return a, nil
}

func waitKafka(ctx context.Context, seeds []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		brokers, err := adm.ListBrokers(ctx)
		if err == nil && len(brokers) >= len(seeds) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka at %v not ready: %v (last error %v)", seeds, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func waitRedis(ctx context.Context, addr string) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	for {
		err := rdb.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis at %s not ready: %v", addr, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Name returns a name unique to this test run, for topics, key prefixes and groups.
func Name(t testing.TB, prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	if len(clean) > 40 {
		clean = clean[:40]
	}
	return fmt.Sprintf("%s-%s-%s", prefix, strings.ToLower(clean), hex.EncodeToString(b[:]))
}

// CreateTopic creates a topic with the given partitions on the rig and deletes it when the
// test ends.
func CreateTopic(t testing.TB, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(Kafka(t)...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, -1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	t.Cleanup(func() { DeleteTopic(t, topic) })
	// Metadata reaches the brokers asynchronously: wait until the topic is listed whole.
	for ctx.Err() == nil {
		d, err := adm.ListTopics(ctx, topic)
		if err == nil && d.Has(topic) && len(d[topic].Partitions) == int(partitions) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("topic %s not visible after creation", topic)
}

// DeleteTopic deletes a topic, reporting (not failing on) errors.
func DeleteTopic(t testing.TB, topic string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(Kafka(t)...))
	if err != nil {
		t.Logf("delete topic %s: %v", topic, err)
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).DeleteTopics(ctx, topic); err != nil {
		t.Logf("delete topic %s: %v", topic, err)
	}
}

// Seed returns STRATA_SEED when it is set, else a fresh seed, and logs it so that a failing
// randomised test can be repeated.
func Seed(t testing.TB) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("STRATA_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("STRATA_SEED: %v", err)
		}
		seed = n
	}
	t.Logf("seed %d (set STRATA_SEED to repeat)", seed)
	return seed
}
