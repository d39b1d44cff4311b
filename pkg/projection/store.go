package projection

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Batch is what one commit stores: the writes of a batch and the move of one partition's
// checkpoint from From to To (next offset to read).
type Batch struct {
	Topic     string
	Partition int32
	From, To  int64
	Puts      []KV
	Dels      []string
}

// Store keeps read models and their checkpoints.
type Store interface {
	Reader
	// Checkpoint returns the next offset to read of topic/partition for a keyspace (0 if none).
	Checkpoint(ctx context.Context, keyspace, topic string, partition int32) (int64, error)
	// Commit applies b atomically, only if the stored checkpoint still equals b.From
	// (else ErrStaleCheckpoint and nothing is written).
	Commit(ctx context.Context, keyspace string, b Batch) error
}

// RedisStore keeps read models in Redis under <ns>:rm:<keyspace>:<key>, checkpoints in the
// hash <ns>:rm:<keyspace>:@ckpt (field <topic>/<partition>), and the active version of each
// projection in <ns>:rm:<name>:@active.
type RedisStore struct {
	rdb *redis.Client
	ns  string
	// beforeExec, if set, runs in Commit between the check of the checkpoint and the
	// MULTI/EXEC (tests use it to change the hash in between).
	beforeExec func()
}

var (
	_ Store       = (*RedisStore)(nil)
	_ MultiReader = (*RedisStore)(nil)
)

// NewRedisStore returns a store over rdb with key namespace ns.
func NewRedisStore(rdb *redis.Client, ns string) *RedisStore { return &RedisStore{rdb: rdb, ns: ns} }

func (s *RedisStore) key(keyspace, key string) string { return s.ns + ":rm:" + keyspace + ":" + key }
func (s *RedisStore) ckptKey(keyspace string) string  { return s.ns + ":rm:" + keyspace + ":@ckpt" }

// Get reads one key.
func (s *RedisStore) Get(ctx context.Context, keyspace, key string) ([]byte, bool, error) {
	v, err := s.rdb.Get(ctx, s.key(keyspace, key)).Bytes()
	if err == redis.Nil {
		return nil, false, nil
	}
	return v, err == nil, err
}

// GetMany reads many keys in one MGET.
func (s *RedisStore) GetMany(ctx context.Context, keyspace string, keys []string) ([][]byte, []bool, error) {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = s.key(keyspace, k)
	}
	res, err := s.rdb.MGet(ctx, full...).Result()
	if err != nil {
		return nil, nil, err
	}
	if len(res) != len(keys) {
		return nil, nil, fmt.Errorf("mget: %d values for %d keys", len(res), len(keys))
	}
	vals, oks := make([][]byte, len(keys)), make([]bool, len(keys))
	for i, r := range res {
		switch v := r.(type) {
		case nil:
		case string:
			vals[i], oks[i] = []byte(v), true
		default:
			return nil, nil, fmt.Errorf("mget %s: unexpected %T", full[i], r)
		}
	}
	return vals, oks, nil
}

// Checkpoint reads a partition's checkpoint.
func (s *RedisStore) Checkpoint(ctx context.Context, keyspace, topic string, partition int32) (int64, error) {
	v, err := s.rdb.HGet(ctx, s.ckptKey(keyspace), ckptField(topic, partition)).Result()
	if err == redis.Nil {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

func ckptField(topic string, partition int32) string {
	return topic + "/" + strconv.Itoa(int(partition))
}

// Commit applies a batch atomically with the move of its checkpoint, with optimistic
// locking: it WATCHes the checkpoint hash, checks the partition's field is b.From, and
// writes the batch (MSET, 500 pairs a command; DEL; HSET of the field) in one MULTI/EXEC.
// Redis runs EXEC only if the hash is unchanged since WATCH, so the writes and the
// checkpoint move together, and only from b.From; when another partition's commit changed
// the hash in between, the check is made again. Unlike a Lua script, the values are not
// copied through the script's arguments, which cost Redis as much as the writes.
func (s *RedisStore) Commit(ctx context.Context, keyspace string, b Batch) error {
	ck, field := s.ckptKey(keyspace), ckptField(b.Topic, b.Partition)
	mset := s.msetArgs(keyspace, b.Puts)
	var dels []string
	for _, k := range b.Dels {
		dels = append(dels, s.key(keyspace, k))
	}
	commit := func(tx *redis.Tx) error {
		cur, err := tx.HGet(ctx, ck, field).Int64()
		if err == redis.Nil {
			cur, err = 0, nil
		}
		if err != nil {
			return err
		}
		if cur != b.From {
			return fmt.Errorf("%w: %s/%d from %d (stored %d)", ErrStaleCheckpoint, b.Topic, b.Partition, b.From, cur)
		}
		if s.beforeExec != nil {
			s.beforeExec()
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for rest := mset; len(rest) > 0; {
				n := min(len(rest), 2*msetPairs)
				p.MSet(ctx, rest[:n]...)
				rest = rest[n:]
			}
			if len(dels) > 0 {
				p.Del(ctx, dels...)
			}
			p.HSet(ctx, ck, field, b.To)
			return nil
		})
		return err
	}
	for {
		err := s.rdb.Watch(ctx, commit, ck)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// msetPairs is the number of key-value pairs per MSET of a commit.
const msetPairs = 500

// msetArgs returns MSET's arguments for puts: each key in the keyspace, then its value. The
// keys are written into one buffer and every argument is a *rawArg, which boxes into an any
// without an allocation: three allocations per pair fewer than strings and byte slices.
func (s *RedisStore) msetArgs(keyspace string, puts []KV) []any {
	prefix := s.key(keyspace, "")
	size := 0
	for _, kv := range puts {
		size += len(prefix) + len(kv.Key)
	}
	buf := make([]byte, 0, size) // never grows: the keys below point into it
	raw := make([]rawArg, 2*len(puts))
	args := make([]any, 2*len(puts))
	for i, kv := range puts {
		start := len(buf)
		buf = append(append(buf, prefix...), kv.Key...)
		raw[2*i], raw[2*i+1] = buf[start:len(buf):len(buf)], kv.Value
		args[2*i], args[2*i+1] = &raw[2*i], &raw[2*i+1]
	}
	return args
}

// rawArg is a command argument that go-redis writes as its bytes (encoding.BinaryMarshaler).
type rawArg []byte

// MarshalBinary returns the argument's bytes.
func (a *rawArg) MarshalBinary() ([]byte, error) { return *a, nil }

// Active returns the active version of a projection (0 when none is active yet).
func (s *RedisStore) Active(ctx context.Context, name string) (int, error) {
	v, err := s.rdb.Get(ctx, s.ns+":rm:"+name+":@active").Int()
	if err == redis.Nil {
		return 0, nil
	}
	return v, err
}

// SetActive switches readers of a projection to version v in one write.
func (s *RedisStore) SetActive(ctx context.Context, name string, v int) error {
	return s.rdb.Set(ctx, s.ns+":rm:"+name+":@active", v, 0).Err()
}

// DropKeyspace deletes every key of a keyspace (an old projection version), in batches.
func (s *RedisStore) DropKeyspace(ctx context.Context, keyspace string) error {
	iter := s.rdb.Scan(ctx, 0, s.ns+":rm:"+keyspace+":*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			if err := s.rdb.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		if err := s.rdb.Unlink(ctx, batch...).Err(); err != nil {
			return err
		}
	}
	return iter.Err()
}
