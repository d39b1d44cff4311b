package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/strata-platform/strata/pkg/stream"
)

// Redis key layout (docs/formats/redis.md has the contract of each script):
//
//	<ns>:gen            string  the generation: a random token set once; missing or changed
//	                            means Redis lost the heads (flush, restart without data)
//	<ns>:owner:<p>      hash    e = owner epoch (INCR on every takeover), a = owner address
//	<ns>:ckpt:<p>       hash    topic -> next offset of partition p whose events the heads reflect
//	<ns>:head:<t>:<id>  hash    v = committed version, r = JSON of the recent events
const (
	scriptClaim = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return redis.error_reply('STRATA_GENERATION') end
local e = redis.call('HINCRBY', KEYS[1], 'e', 1)
redis.call('HSET', KEYS[1], 'a', ARGV[2])
return e`

	// KEYS: gen, head; ARGV: gen. A head is read only under the generation its reader
	// holds: after Redis lost its data a missing head is not "no events".
	scriptGet = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('STRATA_GENERATION') end
return redis.call('HMGET', KEYS[2], 'v', 'r')`

	// KEYS: owner, gen, ckpt, head...; ARGV: epoch, gen, ncheckpoint, (topic, offset)*, (prior, version, recent)*
	scriptApply = `
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return redis.error_reply('STRATA_GENERATION') end
if tonumber(redis.call('HGET', KEYS[1], 'e')) ~= tonumber(ARGV[1]) then return redis.error_reply('STRATA_FENCED') end
local nck = tonumber(ARGV[3])
local a = 4 + 2 * nck
for k = 4, #KEYS do
  local cur = tonumber(redis.call('HGET', KEYS[k], 'v') or '0')
  if cur ~= tonumber(ARGV[a]) then return redis.error_reply('STRATA_HEAD_MOVED ' .. KEYS[k]) end
  a = a + 3
end
a = 4 + 2 * nck
for k = 4, #KEYS do
  redis.call('HSET', KEYS[k], 'v', ARGV[a + 1], 'r', ARGV[a + 2])
  a = a + 3
end
for i = 0, nck - 1 do
  redis.call('HSET', KEYS[3], ARGV[4 + 2 * i], ARGV[5 + 2 * i])
end
return 1`
)

var (
	claimScript = redis.NewScript(scriptClaim)
	getScript   = redis.NewScript(scriptGet)
	applyScript = redis.NewScript(scriptApply)
)

// Errors the scripts report.
var (
	errGeneration = errors.New("cluster: redis generation missing or changed (heads lost)")
	errFenced     = errors.New("cluster: fenced: a newer owner holds the partition")
)

// heads is the Redis side of the engine.
type heads struct {
	rdb *redis.Client
	ns  string
}

func (h heads) genKey() string             { return h.ns + ":gen" }
func (h heads) ownerKey(p int) string      { return h.ns + ":owner:" + strconv.Itoa(p) }
func (h heads) ckptKey(p int) string       { return h.ns + ":ckpt:" + strconv.Itoa(p) }
func (h heads) headKey(s stream.ID) string { return h.ns + ":head:" + s.Type + ":" + s.ID }

// generation returns the current generation, creating one if Redis has none. fresh is true
// when it was created now: any heads Redis held before are gone.
func (h heads) generation(ctx context.Context) (gen string, fresh bool, err error) {
	var b [12]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	ok, err := h.rdb.SetNX(ctx, h.genKey(), token, 0).Result()
	if err != nil {
		return "", false, err
	}
	if ok {
		return token, true, nil
	}
	gen, err = h.rdb.Get(ctx, h.genKey()).Result()
	return gen, false, err
}

// claim makes this process the owner of p under gen and returns its epoch.
func (h heads) claim(ctx context.Context, p int, gen, addr string) (int64, error) {
	e, err := claimScript.Run(ctx, h.rdb, []string{h.ownerKey(p), h.genKey()}, gen, addr).Int64()
	return e, scriptErr(err)
}

// owner returns the generation and partition p's owner epoch (0 if none).
func (h heads) owner(ctx context.Context, p int) (gen string, epoch int64, err error) {
	var g *redis.StringCmd
	var e *redis.StringCmd
	_, err = h.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		g = pl.Get(ctx, h.genKey())
		e = pl.HGet(ctx, h.ownerKey(p), "e")
		return nil
	})
	if err != nil && err != redis.Nil {
		return "", 0, err
	}
	gen, _ = g.Result()
	if v, err := e.Result(); err == nil {
		epoch, _ = strconv.ParseInt(v, 10, 64)
	}
	return gen, epoch, nil
}

// ownerAddress returns the address partition p's owner recorded (empty if none).
func (h heads) ownerAddress(ctx context.Context, p int) (string, error) {
	a, err := h.rdb.HGet(ctx, h.ownerKey(p), "a").Result()
	if err == redis.Nil {
		return "", nil
	}
	return a, err
}

func (h heads) checkpoint(ctx context.Context, p int) (map[string]int64, error) {
	m, err := h.rdb.HGetAll(ctx, h.ckptKey(p)).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(m))
	for t, v := range m {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s of partition %d: %q", t, p, v)
		}
		out[t] = n
	}
	return out, nil
}

// get reads a stream's head, if Redis still holds generation gen (else errGeneration).
func (h heads) get(ctx context.Context, gen string, s stream.ID) (stream.Head, error) {
	vals, err := getScript.Run(ctx, h.rdb, []string{h.genKey(), h.headKey(s)}, gen).Slice()
	if err != nil {
		return stream.Head{}, scriptErr(err)
	}
	if len(vals) != 2 {
		return stream.Head{}, fmt.Errorf("head %s: %d values", s, len(vals))
	}
	var hd stream.Head
	if v, ok := vals[0].(string); ok {
		if hd.Version, err = strconv.ParseInt(v, 10, 64); err != nil {
			return stream.Head{}, fmt.Errorf("head %s: version %q", s, v)
		}
	}
	if r, ok := vals[1].(string); ok && r != "" {
		if err := json.Unmarshal([]byte(r), &hd.Recent); err != nil {
			return stream.Head{}, fmt.Errorf("head %s: %w", s, err)
		}
	}
	return hd, nil
}

// headUpdate moves one stream's head from prior to next.
type headUpdate struct {
	stream stream.ID
	prior  int64
	next   stream.Head
}

// apply writes head updates and checkpoint offsets atomically, if gen and epoch still hold
// and every head is still at its prior version.
func (h heads) apply(ctx context.Context, p int, gen string, epoch int64, ups []headUpdate, ckpt map[string]int64) error {
	keys := []string{h.ownerKey(p), h.genKey(), h.ckptKey(p)}
	args := []any{epoch, gen, len(ckpt)}
	for t, off := range ckpt {
		args = append(args, t, off)
	}
	for _, u := range ups {
		r, err := json.Marshal(u.next.Recent)
		if err != nil {
			return err
		}
		keys = append(keys, h.headKey(u.stream))
		args = append(args, u.prior, u.next.Version, string(r))
	}
	return scriptErr(applyScript.Run(ctx, h.rdb, keys, args...).Err())
}

func scriptErr(err error) error {
	if err == nil {
		return nil
	}
	// Redis may prefix a script's error reply with "ERR ".
	msg := strings.TrimPrefix(err.Error(), "ERR ")
	switch {
	case strings.HasPrefix(msg, "STRATA_GENERATION"):
		return errGeneration
	case strings.HasPrefix(msg, "STRATA_FENCED"):
		return errFenced
	}
	return err
}
