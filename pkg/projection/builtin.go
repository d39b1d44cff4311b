package projection

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/strata-platform/strata/pkg/stream"
)

// IndexKey is the key under which the index projection stores where version v of stream s is.
func IndexKey(s stream.ID, v int64) string {
	return "idx:" + s.Type + ":" + s.ID + ":" + strconv.FormatInt(v, 10)
}

// Index returns the built-in index projection: for every event, version → position, so a
// stream is read by offsets, never by scanning a partition. Its writes are idempotent.
func Index(types []string, version int) Projection {
	return Projection{Name: "index", Version: version, Types: types, Handler: indexHandler{}}
}

type indexHandler struct{}

func (indexHandler) Apply(_ context.Context, tx *Tx, env *Envelope) error {
	tx.Put(IndexKey(env.Stream, env.Version), positionJSON(env.Position))
	tx.Put("idxhead:"+env.Stream.Type+":"+env.Stream.ID, strconv.AppendInt(nil, env.Version, 10))
	return nil
}

func (indexHandler) dataOnly() bool { return true }

// positionJSON is json.Marshal(p), byte for byte, written without reflection when the
// topic holds only the characters Kafka allows in topic names (which JSON does not escape).
func positionJSON(p stream.Position) []byte {
	for i := 0; i < len(p.Topic); i++ {
		if c := p.Topic[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			b, _ := json.Marshal(p)
			return b
		}
	}
	b := make([]byte, 0, len(p.Topic)+48)
	b = append(b, `{"topic":"`...)
	b = append(b, p.Topic...)
	b = append(b, `","partition":`...)
	b = strconv.AppendInt(b, int64(p.Partition), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, p.Offset, 10)
	return append(b, '}')
}

// StatsKey is the key of the event count of one aggregate type's partition.
func StatsKey(aggType string, partition int32) string {
	return "count:" + aggType + ":" + strconv.Itoa(int(partition))
}

// Stats returns the built-in stats projection: event counts per aggregate type and
// partition (only the owner of a partition writes its key, so counts never race).
func Stats(types []string, version int) Projection {
	return Projection{Name: "stats", Version: version, Types: types, Handler: statsHandler{}}
}

type statsHandler struct{}

func (statsHandler) Apply(_ context.Context, tx *Tx, env *Envelope) error {
	key := StatsKey(env.Stream.Type, env.Position.Partition)
	raw, _, err := tx.Get(key)
	if err != nil {
		return err
	}
	n, _ := strconv.ParseInt(string(raw), 10, 64)
	tx.Put(key, strconv.AppendInt(nil, n+1, 10))
	return nil
}

func (statsHandler) dataOnly() bool { return true }

// Prefetch names the count of the event's type and partition (once per batch: the runtime
// reads each key once).
func (statsHandler) Prefetch(env *Envelope, keys []string) []string {
	k := StatsKey(env.Stream.Type, env.Position.Partition)
	if n := len(keys); n > 0 && keys[n-1] == k {
		return keys
	}
	return append(keys, k)
}
