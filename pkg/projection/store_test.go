package projection

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/strata-platform/strata/pkg/testrig"
)

func newTestRedisStore(t *testing.T) (*RedisStore, *redis.Client) {
	a := testrig.Get(t)
	ns := testrig.Name(t, "st")
	rdb := redis.NewClient(&redis.Options{Addr: a.Redis})
	t.Cleanup(func() {
		if keys, _ := rdb.Keys(context.Background(), ns+":*").Result(); len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
		_ = rdb.Close()
	})
	return NewRedisStore(rdb, ns), rdb
}

// TestRedisStore_Commit: a commit writes its batch and moves the checkpoint only from its
// From; a stale one writes nothing; a change of another partition's checkpoint between the
// check and the write is retried, a move of its own is refused.
func TestRedisStore_Commit(t *testing.T) {
	s, _ := newTestRedisStore(t)
	ctx := context.Background()
	get := func(key string) string {
		v, _, err := s.Get(ctx, "ks", key)
		if err != nil {
			t.Fatal(err)
		}
		return string(v)
	}
	ckpt := func(p int32) int64 {
		off, err := s.Checkpoint(ctx, "ks", "tp", p)
		if err != nil {
			t.Fatal(err)
		}
		return off
	}
	if err := s.Commit(ctx, "ks", Batch{Topic: "tp", Partition: 0, From: 0, To: 5,
		Puts: []KV{{"a", []byte("1")}, {"b", []byte("2")}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "ks", Batch{Topic: "tp", Partition: 0, From: 0, To: 9,
		Puts: []KV{{"a", []byte("stale")}}, Dels: []string{"b"}}); !errors.Is(err, ErrStaleCheckpoint) {
		t.Fatalf("stale commit: %v, want ErrStaleCheckpoint", err)
	}
	if get("a") != "1" || get("b") != "2" || ckpt(0) != 5 {
		t.Fatalf("after a stale commit: a=%q b=%q checkpoint %d", get("a"), get("b"), ckpt(0))
	}

	// Another partition's commit lands between check and write: retried, both stand.
	once := sync.Once{}
	s.beforeExec = func() {
		once.Do(func() {
			if err := (&RedisStore{rdb: s.rdb, ns: s.ns}).Commit(ctx, "ks", Batch{Topic: "tp", Partition: 1, From: 0, To: 3,
				Puts: []KV{{"c", []byte("3")}}}); err != nil {
				t.Error(err)
			}
		})
	}
	if err := s.Commit(ctx, "ks", Batch{Topic: "tp", Partition: 0, From: 5, To: 7,
		Puts: []KV{{"a", []byte("4")}}, Dels: []string{"b"}}); err != nil {
		t.Fatal(err)
	}
	if get("a") != "4" || get("b") != "" || get("c") != "3" || ckpt(0) != 7 || ckpt(1) != 3 {
		t.Fatalf("after a retried commit: a=%q b=%q c=%q checkpoints %d %d", get("a"), get("b"), get("c"), ckpt(0), ckpt(1))
	}

	// Its own partition moves between check and write (another owner): refused, nothing written.
	once = sync.Once{}
	s.beforeExec = func() {
		once.Do(func() {
			if err := (&RedisStore{rdb: s.rdb, ns: s.ns}).Commit(ctx, "ks", Batch{Topic: "tp", Partition: 0, From: 7, To: 8}); err != nil {
				t.Error(err)
			}
		})
	}
	if err := s.Commit(ctx, "ks", Batch{Topic: "tp", Partition: 0, From: 7, To: 10,
		Puts: []KV{{"a", []byte("fenced")}}}); !errors.Is(err, ErrStaleCheckpoint) {
		t.Fatalf("commit after the partition moved: %v, want ErrStaleCheckpoint", err)
	}
	if get("a") != "4" || ckpt(0) != 8 {
		t.Fatalf("after a fenced commit: a=%q checkpoint %d", get("a"), ckpt(0))
	}
}

// TestRedisStore_CommitContended: owners of different partitions commit into one keyspace
// at once (their commits abort each other's EXEC), and two workers race for one partition:
// every batch of the first kind lands, and of the racing pair exactly one per offset.
func TestRedisStore_CommitContended(t *testing.T) {
	s, _ := newTestRedisStore(t)
	ctx := context.Background()
	const parts, batches = 4, 50
	var wg sync.WaitGroup
	wins := make([]int, 2)
	for w := range 2 { // racing for partition 99
		wg.Go(func() {
			for from := int64(0); from < batches; {
				err := s.Commit(ctx, "ks", Batch{Topic: "tp", Partition: 99, From: from, To: from + 1,
					Puts: []KV{{fmt.Sprint("race:", from), []byte(fmt.Sprint(w))}}})
				switch {
				case err == nil:
					wins[w]++
				case !errors.Is(err, ErrStaleCheckpoint):
					t.Error(err)
					return
				}
				if from, err = s.Checkpoint(ctx, "ks", "tp", 99); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for p := range int32(parts) {
		wg.Go(func() {
			for i := int64(0); i < batches; i++ {
				if err := s.Commit(ctx, "ks", Batch{Topic: "tp", Partition: p, From: i, To: i + 1,
					Puts: []KV{{fmt.Sprint("p", p), []byte(fmt.Sprint(i + 1))}}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for p := range int32(parts) {
		off, _ := s.Checkpoint(ctx, "ks", "tp", p)
		v, _, _ := s.Get(ctx, "ks", fmt.Sprint("p", p))
		if off != batches || string(v) != fmt.Sprint(batches) {
			t.Errorf("partition %d: checkpoint %d, value %s; want %d", p, off, v, batches)
		}
	}
	if wins[0]+wins[1] != batches {
		t.Errorf("racing workers committed %d + %d batches for %d offsets", wins[0], wins[1], batches)
	}
	for from := range batches {
		if v, ok, _ := s.Get(ctx, "ks", fmt.Sprint("race:", from)); !ok || (string(v) != "0" && string(v) != "1") {
			t.Errorf("race:%d = %q", from, v)
		}
	}
}
