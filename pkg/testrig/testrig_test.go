package testrig

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestParseEnv(t *testing.T) {
	a, err := ParseEnv("noise\nSTRATA_REDIS=127.0.0.1:1\nSTRATA_KAFKA=h:1,h:2\n")
	if err != nil || a.Redis != "127.0.0.1:1" || len(a.Kafka) != 2 || a.Kafka[1] != "h:2" {
		t.Fatalf("ParseEnv = %+v, %v", a, err)
	}
	if _, err := ParseEnv("nothing"); err == nil {
		t.Fatal("ParseEnv accepted output without addresses")
	}
}

// TestRig_Real checks that the rig is a real broker and a real Redis: a produced record is
// read back and a key written to Redis persists with AOF on.
func TestRig_Real(t *testing.T) {
	a := Get(t)
	topic := Name(t, "rig")
	CreateTopic(t, topic, 2, nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.Kafka...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fs := cl.PollRecords(ctx, 1)
	if err := fs.Err0(); err != nil || len(fs.Records()) != 1 || string(fs.Records()[0].Value) != "v" {
		t.Fatalf("read back: %v %v", fs.Records(), err)
	}
	meta, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil || len(meta.Brokers) == 0 {
		t.Fatalf("broker metadata: %v", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: a.Redis})
	defer rdb.Close()
	aof, err := rdb.ConfigGet(ctx, "appendonly").Result()
	if err != nil || aof["appendonly"] != "yes" {
		t.Fatalf("redis appendonly = %v, %v", aof, err)
	}
}
