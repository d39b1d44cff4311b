package embedded

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"mime"
	"time"

	"github.com/strata-platform/strata/pkg/event"
)

// A stored event is a Kafka record (timestamp, key, headers, value) in a small
// length-prefixed encoding with a CRC32C (see docs/formats/embedded.md):
//
//	magic u8 = 1 | crc u32 | timestamp i64 (ms) | key | header count uvarint |
//	{ name | value } ... | value
//
// where each of key, name, value is a uvarint length followed by that many bytes, and crc
// is CRC32C (Castagnoli) over the pebble key followed by every byte after the crc field.
const (
	recordMagic     byte = 1
	recordFixedSize      = 1 + 4 + 8
	maxHeaders           = 1024
)

// The record is a CloudEvents Kafka binding message in structured mode: the content-type
// header says so and the value is the event in the JSON event format.
const (
	headerContentType = "content-type"
	contentTypeCE     = "application/cloudevents+json; charset=UTF-8"
	mediaTypeCE       = "application/cloudevents+json"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// kafkaRecord is a record as Kafka carries it.
type kafkaRecord struct {
	Timestamp int64 // milliseconds since the Unix epoch
	Key       []byte
	Headers   []recordHeader
	Value     []byte
}

type recordHeader struct {
	Name  string
	Value []byte
}

// appendRecord appends the encoding of r, stored under pebbleKey, to dst.
func appendRecord(dst, pebbleKey []byte, r *kafkaRecord) []byte {
	start := len(dst)
	dst = append(dst, recordMagic, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.Timestamp))
	dst = appendLenPrefixed(dst, r.Key)
	dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = binary.AppendUvarint(dst, uint64(len(h.Name)))
		dst = append(dst, h.Name...)
		dst = appendLenPrefixed(dst, h.Value)
	}
	dst = appendLenPrefixed(dst, r.Value)
	binary.BigEndian.PutUint32(dst[start+1:], recordChecksum(pebbleKey, dst[start+5:]))
	return dst
}

func recordChecksum(pebbleKey, body []byte) uint32 {
	return crc32.Update(crc32.Checksum(pebbleKey, castagnoli), castagnoli, body)
}

func appendLenPrefixed[T string | []byte](dst []byte, b T) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// decodeRecord checks and decodes a stored record. The result aliases b.
func decodeRecord(pebbleKey, b []byte) (kafkaRecord, error) {
	var r kafkaRecord
	corrupt := func(format string, args ...any) (kafkaRecord, error) {
		return kafkaRecord{}, &CorruptionError{Key: FormatKey(pebbleKey), Reason: fmt.Sprintf(format, args...)}
	}
	if len(b) < recordFixedSize {
		return corrupt("record is %d bytes, shorter than its %d-byte header", len(b), recordFixedSize)
	}
	if b[0] != recordMagic {
		return corrupt("unknown record format %d", b[0])
	}
	if want, got := binary.BigEndian.Uint32(b[1:]), recordChecksum(pebbleKey, b[5:]); want != got {
		return corrupt("checksum mismatch: stored %08x, computed %08x", want, got)
	}
	r.Timestamp = int64(binary.BigEndian.Uint64(b[5:]))
	d := decoder{b: b[recordFixedSize:]}
	r.Key = d.bytes()
	n := d.uvarint()
	if n > maxHeaders {
		return corrupt("%d headers, over the limit of %d", n, maxHeaders)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		name := d.bytes()
		r.Headers = append(r.Headers, recordHeader{Name: string(name), Value: d.bytes()})
	}
	r.Value = d.bytes()
	if d.err == nil && len(d.b) != 0 {
		return corrupt("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return corrupt("%v", d.err)
	}
	return r, nil
}

// decoder reads length-prefixed fields; the first failure sticks in err.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || (n > 1 && d.b[n-1] == 0) { // overflow, truncated, or not the shortest form
		d.err = fmt.Errorf("bad length at %d bytes from the end", len(d.b))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("field of %d bytes overruns the record (%d left)", n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// eventRecord turns a stamped event of aggregate aggID into its Kafka record (structured
// mode), its value written over dst. The record timestamp is the event's time, or now when
// the event has none.
func eventRecord(dst []byte, e *event.Event, aggID string, now time.Time) (kafkaRecord, error) {
	value, err := event.AppendJSON(dst[:0], e)
	if err != nil {
		return kafkaRecord{}, fmt.Errorf("encode event %s: %w", e.ID(), err)
	}
	ts := e.Time()
	if ts.IsZero() {
		ts = now
	}
	return kafkaRecord{
		Timestamp: ts.UnixMilli(),
		Key:       []byte(aggID),
		Headers:   structuredHeaders,
		Value:     value,
	}, nil
}

// structuredHeaders are the headers of every record eventRecord makes (never modified).
var structuredHeaders = []recordHeader{{Name: headerContentType, Value: []byte(contentTypeCE)}}

// recordEvent decodes the event a record carries.
func recordEvent(pebbleKey []byte, r kafkaRecord) (event.Event, error) {
	ct := ""
	for _, h := range r.Headers {
		if h.Name == headerContentType {
			ct = string(h.Value)
		}
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != mediaTypeCE {
		return event.Event{}, &CorruptionError{Key: FormatKey(pebbleKey),
			Reason: fmt.Sprintf("content-type %q is not a structured CloudEvent", ct)}
	}
	e := event.New()
	if err := e.UnmarshalJSON(r.Value); err != nil {
		return event.Event{}, &CorruptionError{Key: FormatKey(pebbleKey), Reason: "decode event: " + err.Error()}
	}
	// JSON carries aggregateversion as a number; give it its canonical type (see event.Stamp).
	if v, ok, err := event.AggregateVersion(&e); ok && err == nil {
		e.SetExtension(event.ExtAggregateVersion, int32(v))
	}
	return e, nil
}
