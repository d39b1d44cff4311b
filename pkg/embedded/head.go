package embedded

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/strata-platform/strata/pkg/stream"
)

// A stored head (see docs/formats/embedded.md):
//
//	format u8 = 1 | version u64 | topic | partition u32 | count uvarint |
//	{ source | event id | version uvarint | offset uvarint } ...
//
// topic, source and event id are a uvarint length and that many bytes; integers are
// big-endian. Every recent event of a stream sits in the stream's topic-partition, so
// positions keep only their offset. The version comes first, at a fixed place, so that
// the commit's compare-and-set reads nine bytes and decodes nothing.
const (
	headFormat     byte = 1
	headFixedSize       = 1 + 8
	maxHeadRecents      = stream.RecentWindow
)

// appendHead encodes h, the head of a stream in topic-partition (topic, partition).
func appendHead(dst []byte, h stream.Head, topic string, partition int32) ([]byte, error) {
	return appendAdvancedHead(dst, h.Version, h.Recent, nil, topic, partition)
}

// appendAdvancedHead encodes the head at version whose recents are the last
// stream.RecentWindow of older followed by added: stream.Head.Advance's result, written
// without building it.
func appendAdvancedHead(dst []byte, version int64, older, added []stream.Recent, topic string, partition int32) ([]byte, error) {
	if drop := len(older) + len(added) - maxHeadRecents; drop > 0 {
		if drop >= len(older) {
			added, older = added[drop-len(older):], nil
		} else {
			older = older[drop:]
		}
	}
	dst = append(dst, headFormat)
	dst = binary.BigEndian.AppendUint64(dst, uint64(version))
	dst = appendLenPrefixed(dst, []byte(topic))
	dst = binary.BigEndian.AppendUint32(dst, uint32(partition))
	dst = binary.AppendUvarint(dst, uint64(len(older)+len(added)))
	for _, rs := range [2][]stream.Recent{older, added} {
		for _, r := range rs {
			if r.Position.Topic != topic || r.Position.Partition != partition || r.Version < 1 || r.Position.Offset < 0 {
				return nil, fmt.Errorf("%w: recent event %s at %+v, version %d, is not of topic-partition %s/%d",
					ErrBadGroup, r.EventID, r.Position, r.Version, topic, partition)
			}
			dst = appendLenPrefixed(dst, []byte(r.Source))
			dst = appendLenPrefixed(dst, []byte(r.EventID))
			dst = binary.AppendUvarint(dst, uint64(r.Version))
			dst = binary.AppendUvarint(dst, uint64(r.Position.Offset))
		}
	}
	return dst, nil
}

// headVersion returns the version of a stored head without decoding the rest.
func headVersion(key, v []byte) (int64, error) {
	if len(v) < headFixedSize || v[0] != headFormat {
		return 0, &CorruptionError{Key: FormatKey(key), Reason: "unknown head format"}
	}
	return int64(binary.BigEndian.Uint64(v[1:])), nil
}

// decodeHead decodes a stored head.
func decodeHead(key, v []byte) (stream.Head, error) {
	version, err := headVersion(key, v)
	if err != nil {
		return stream.Head{}, err
	}
	d := decoder{b: v[headFixedSize:]}
	topic := string(d.bytes())
	var partition int32
	if len(d.b) >= 4 && d.err == nil {
		partition, d.b = int32(binary.BigEndian.Uint32(d.b)), d.b[4:]
	} else {
		d.err = errors.New("head ends before its partition")
	}
	n := d.uvarint()
	if n > maxHeadRecents {
		return stream.Head{}, &CorruptionError{Key: FormatKey(key), Reason: fmt.Sprintf("%d recent events", n)}
	}
	h := stream.Head{Version: version, Recent: make([]stream.Recent, 0, n)}
	for i := uint64(0); i < n && d.err == nil; i++ {
		r := stream.Recent{Source: string(d.bytes()), EventID: string(d.bytes())}
		r.Version = int64(d.uvarint())
		r.Position = stream.Position{Topic: topic, Partition: partition, Offset: int64(d.uvarint())}
		h.Recent = append(h.Recent, r)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return stream.Head{}, &CorruptionError{Key: FormatKey(key), Reason: "decode head: " + d.err.Error()}
	}
	if len(h.Recent) == 0 {
		h.Recent = nil
	}
	return h, nil
}

// readHead reads the stored head of s with f (headVersion or decodeHead); a stream with no
// events reads as the zero value.
func readHead[T any](r pebble.Reader, s stream.ID, f func(key, v []byte) (T, error)) (T, error) {
	var zero T
	key := headKey(nil, s.Type, s.ID)
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return zero, nil
	}
	if err != nil {
		return zero, fmt.Errorf("embedded: read head of %s: %w", s, err)
	}
	defer func() { _ = closer.Close() }()
	return f(key, v)
}
