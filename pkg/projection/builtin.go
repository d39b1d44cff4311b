package projection

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/strata-platform/strata/pkg/stream"
)

// IndexChunk is the number of consecutive versions of a stream that one index key holds.
const IndexChunk = 64

// IndexKey is the key of the index chunk that holds where version v of stream s is: versions
// IndexChunk*c to IndexChunk*c+IndexChunk-1 of a stream share the chunk c = v/IndexChunk.
// Its value is JSON: {"topic": the stream's topic, "at": [[partition, offset] or null, ...]},
// entry i for version IndexChunk*c+i (null where that version is not indexed: before the
// stream's first version, or a gap in the log). DecodeIndexChunk reads it.
func IndexKey(s stream.ID, v int64) string {
	return "idx:" + s.Type + ":" + s.ID + ":" + strconv.FormatInt(v/IndexChunk, 10)
}

// IndexHeadKey is the key of the highest version of stream s the index holds (decimal).
func IndexHeadKey(s stream.ID) string { return "idxhead:" + s.Type + ":" + s.ID }

// DecodeIndexChunk decodes the value of an index key: the stream's topic and, per version
// from the chunk's first, its [partition, offset], nil where the version is not indexed.
func DecodeIndexChunk(raw []byte) (topic string, at [][]int64, err error) {
	var c struct {
		Topic string    `json:"topic"`
		At    [][]int64 `json:"at"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", nil, fmt.Errorf("index chunk: %w", err)
	}
	for _, e := range c.At {
		if e != nil && len(e) != 2 {
			return "", nil, fmt.Errorf("index chunk: entry %v: want [partition, offset]", e)
		}
	}
	return c.Topic, c.At, nil
}

// IndexPosition returns where version v of a stream is, from the value of IndexKey(s, v);
// ok is false when the chunk does not hold v.
func IndexPosition(chunk []byte, v int64) (pos stream.Position, ok bool, err error) {
	topic, at, err := DecodeIndexChunk(chunk)
	if err != nil {
		return stream.Position{}, false, err
	}
	i := v % IndexChunk
	if v < 0 || i >= int64(len(at)) || at[i] == nil {
		return stream.Position{}, false, nil
	}
	return stream.Position{Topic: topic, Partition: int32(at[i][0]), Offset: at[i][1]}, true, nil
}

// Index returns the built-in index projection: for every event, version → position, so a
// stream is read by offsets, never by scanning a partition. Versions are kept IndexChunk to
// a key (IndexKey), with the stream's highest indexed version (IndexHeadKey): two keys
// written per stream and batch, where a key per event cost Redis more than anything else
// the projection did. An event at or below the indexed head is not indexed again.
func Index(types []string, version int) Projection {
	return Projection{Name: "index", Version: version, Types: types, Handler: indexHandler{}}
}

type indexHandler struct{}

func (indexHandler) Apply(_ context.Context, tx *Tx, env *Envelope) error {
	hk := IndexHeadKey(env.Stream)
	raw, indexed, err := tx.Get(hk)
	if err != nil {
		return err
	}
	v, next := env.Version, int64(0) // next: the lowest version not indexed yet
	if indexed {
		head, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return fmt.Errorf("%s: %w", hk, err)
		}
		if v <= head {
			return nil // indexed already
		}
		next = head + 1
	}
	ck, first := IndexKey(env.Stream, v), v/IndexChunk*IndexChunk
	b, mine := tx.puts[ck] // staged by this batch: extended in place
	held := int64(0)       // entries the chunk holds
	if next > first {
		held = next - first
		if !mine {
			old, ok, err := tx.Get(ck)
			if err != nil {
				return err
			}
			if !ok || !bytes.HasPrefix(old, []byte(`{"topic":`)) || !bytes.HasSuffix(old, []byte(`]}`)) || !bytes.Contains(old, []byte(`,"at":[`)) {
				// Before 2026-11-26 the index wrote a key per version: rebuild such a keyspace.
				return fmt.Errorf("%s: not an index chunk, with %s at %d (a keyspace of the per-version index format: rebuild it under a new version)", ck, hk, next-1)
			}
			b = append(make([]byte, 0, len(old)+chunkRoom), old...)
		}
	} else {
		b = appendChunkStart(make([]byte, 0, len(env.Position.Topic)+16+chunkRoom), env.Position.Topic)
	}
	b = b[:len(b)-2] // reopen the list: drop "]}"
	for ; held < v-first; held++ {
		b = appendChunkEntry(b, held, nil)
	}
	b = appendChunkEntry(b, held, &env.Position)
	tx.Put(ck, append(b, ']', '}'))
	tx.Put(hk, strconv.AppendInt(nil, v, 10))
	return nil
}

// chunkRoom is the room a chunk taken into a batch gets for new entries (8 of ~12 bytes;
// a batch adds a few per stream, and append grows it past that).
const chunkRoom = 96

func (indexHandler) dataOnly() bool { return true }

func (indexHandler) partitionLocal() bool { return true }

// Prefetch names the stream's index head and the chunk of the event's version.
func (indexHandler) Prefetch(env *Envelope, keys []string) []string {
	return append(keys, IndexHeadKey(env.Stream), IndexKey(env.Stream, env.Version))
}

// appendChunkStart appends an empty index chunk of topic: {"topic":"...","at":[]}.
func appendChunkStart(b []byte, topic string) []byte {
	t, _ := json.Marshal(topic) // a string always encodes
	if safeTopic(topic) {
		t = append(append(append(t[:0], '"'), topic...), '"')
	}
	b = append(b, `{"topic":`...)
	b = append(b, t...)
	return append(b, `,"at":[]}`...)
}

// appendChunkEntry appends entry i of a chunk whose list is open: [partition,offset], or
// null for nil.
func appendChunkEntry(b []byte, i int64, p *stream.Position) []byte {
	if i > 0 {
		b = append(b, ',')
	}
	if p == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(p.Partition), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, p.Offset, 10)
	return append(b, ']')
}

// safeTopic reports whether a topic holds only the characters Kafka allows in topic names,
// which JSON writes as they are.
func safeTopic(t string) bool {
	for i := 0; i < len(t); i++ {
		if c := t[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
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

func (statsHandler) partitionLocal() bool { return true }

// Prefetch names the count of the event's type and partition (once per batch: the runtime
// reads each key once).
func (statsHandler) Prefetch(env *Envelope, keys []string) []string {
	k := StatsKey(env.Stream.Type, env.Position.Partition)
	if n := len(keys); n > 0 && keys[n-1] == k {
		return keys
	}
	return append(keys, k)
}
