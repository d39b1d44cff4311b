package query

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/strata-platform/strata/pkg/projection"
)

// RedisModels reads the active version of the built-in projections in Redis, as
// projection.RedisStore keeps them (<ns>:rm:<keyspace>:<key>), with projection.ReadActive so
// that one read never mixes two versions of a projection.
type RedisModels struct {
	rdb   *redis.Client
	ns    string
	store *projection.RedisStore
}

var _ Models = (*RedisModels)(nil)

// NewRedisModels reads the read models of cluster namespace ns.
func NewRedisModels(rdb *redis.Client, ns string) *RedisModels {
	return &RedisModels{rdb: rdb, ns: ns, store: projection.NewRedisStore(rdb, ns)}
}

// GetMany reads keys with one MGET in the projection's active keyspace; with no active
// version every key is missing.
func (m *RedisModels) GetMany(ctx context.Context, proj string, keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	err := projection.ReadActive(ctx, m.store, proj, func(keyspace string) error {
		clear(out)
		if keyspace == "" || len(keys) == 0 {
			return nil
		}
		full := make([]string, len(keys))
		for i, k := range keys {
			full[i] = m.ns + ":rm:" + keyspace + ":" + k
		}
		vals, err := m.rdb.MGet(ctx, full...).Result()
		if err != nil {
			return err
		}
		for i, v := range vals {
			if s, ok := v.(string); ok {
				out[i] = []byte(s)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %v", ErrUnavailable, proj, err)
	}
	return out, nil
}

// StoreModels reads a projection.Reader (the embedded engine) at fixed versions of the
// projections, e.g. {"index": 1, "snapshots": 1} for strata dev.
type StoreModels struct {
	r        projection.Reader
	versions map[string]int
}

var _ Models = (*StoreModels)(nil)

// NewStoreModels reads r; versions gives each projection's version (default 1).
func NewStoreModels(r projection.Reader, versions map[string]int) *StoreModels {
	return &StoreModels{r: r, versions: versions}
}

// GetMany reads keys one by one.
func (m *StoreModels) GetMany(ctx context.Context, proj string, keys []string) ([][]byte, error) {
	v := m.versions[proj]
	if v == 0 {
		v = 1
	}
	ks := projection.Projection{Name: proj, Version: v}.Keyspace()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		val, ok, err := m.r.Get(ctx, ks, k)
		if err != nil {
			return nil, fmt.Errorf("%w: read %s: %v", ErrUnavailable, proj, err)
		}
		if ok {
			out[i] = val
		}
	}
	return out, nil
}
