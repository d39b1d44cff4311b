package projection

import (
	"context"
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

// KEYS: ckpt hash. ARGV: field, from, to, nputs, (key, value)*, (delkey)*
var commitScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if cur ~= tonumber(ARGV[2]) then return 0 end
local n = tonumber(ARGV[4])
local last = 4 + 2 * n
local i = 5
while i <= last do
  local j = math.min(i + 999, last) -- 500 pairs per MSET, well inside unpack's limit
  redis.call('MSET', unpack(ARGV, i, j))
  i = j + 1
end
for i = 5 + 2 * n, #ARGV do redis.call('DEL', ARGV[i]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`)

// Commit applies a batch in one Lua call: Redis runs it atomically, so the writes and the
// checkpoint move together or not at all. The puts are written with MSET, 500 pairs a call.
func (s *RedisStore) Commit(ctx context.Context, keyspace string, b Batch) error {
	args := make([]any, 0, 4+2*len(b.Puts)+len(b.Dels))
	args = append(args, ckptField(b.Topic, b.Partition), b.From, b.To, len(b.Puts))
	for _, kv := range b.Puts {
		args = append(args, s.key(keyspace, kv.Key), kv.Value)
	}
	for _, k := range b.Dels {
		args = append(args, s.key(keyspace, k))
	}
	ok, err := commitScript.Run(ctx, s.rdb, []string{s.ckptKey(keyspace)}, args...).Int()
	if err != nil {
		return err
	}
	if ok != 1 {
		return fmt.Errorf("%w: %s/%d from %d", ErrStaleCheckpoint, b.Topic, b.Partition, b.From)
	}
	return nil
}

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
