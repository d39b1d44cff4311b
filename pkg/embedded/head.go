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
	older, added = stream.Window(older, added)
	dst = appendHeadStart(dst, version, topic, partition, len(older)+len(added))
	dst, err := appendRecents(dst, older, topic, partition)
	if err != nil {
		return nil, err
	}
	return appendRecents(dst, added, topic, partition)
}

// appendSplicedHead is appendAdvancedHead with the older recents given as they are stored:
// entries, n of them, as headEntries returns them from the older head's stored value. It
// copies those bytes instead of encoding the recents again (64 scattered strings each).
func appendSplicedHead(dst []byte, version int64, entries []byte, n int, added []stream.Recent, topic string, partition int32) ([]byte, error) {
	if drop := n + len(added) - maxHeadRecents; drop > 0 {
		if drop >= n {
			added, entries, n = added[drop-n:], nil, 0
		} else {
			d := decoder{b: entries}
			for range drop {
				d.bytes() // source
				d.bytes() // event id
				d.uvarint()
				d.uvarint()
			}
			if d.err != nil {
				return nil, fmt.Errorf("%w: stored recents: %v", ErrBadGroup, d.err)
			}
			entries, n = d.b, n-drop
		}
	}
	dst = appendHeadStart(dst, version, topic, partition, n+len(added))
	dst = append(dst, entries...)
	return appendRecents(dst, added, topic, partition)
}

// headEntries returns the encoded recents of a stored head value and their count.
func headEntries(v []byte) ([]byte, int, bool) {
	if len(v) < headFixedSize || v[0] != headFormat {
		return nil, 0, false
	}
	d := decoder{b: v[headFixedSize:]}
	d.bytes() // topic
	if d.err != nil || len(d.b) < 4 {
		return nil, 0, false
	}
	d.b = d.b[4:] // partition
	n := d.uvarint()
	if d.err != nil || n > maxHeadRecents {
		return nil, 0, false
	}
	return d.b, int(n), true
}

// appendHeadStart encodes a head's fields before its recents.
func appendHeadStart(dst []byte, version int64, topic string, partition int32, count int) []byte {
	dst = append(dst, headFormat)
	dst = binary.BigEndian.AppendUint64(dst, uint64(version))
	dst = appendLenPrefixed(dst, topic)
	dst = binary.BigEndian.AppendUint32(dst, uint32(partition))
	return binary.AppendUvarint(dst, uint64(count))
}

// appendRecents encodes recents of topic-partition (topic, partition).
func appendRecents(dst []byte, rs []stream.Recent, topic string, partition int32) ([]byte, error) {
	for _, r := range rs {
		if r.Position.Topic != topic || r.Position.Partition != partition || r.Version < 1 || r.Position.Offset < 0 {
			return nil, fmt.Errorf("%w: recent event %s at %+v, version %d, is not of topic-partition %s/%d",
				ErrBadGroup, r.EventID, r.Position, r.Version, topic, partition)
		}
		dst = appendLenPrefixed(dst, r.Source)
		dst = appendLenPrefixed(dst, r.EventID)
		dst = binary.AppendUvarint(dst, uint64(r.Version))
		dst = binary.AppendUvarint(dst, uint64(r.Position.Offset))
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
