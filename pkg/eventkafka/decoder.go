package eventkafka

import (
	"mime"
	"net/url"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/event"
)

// Decoder decodes records with exactly the results of Codec.Decode: the same event for
// every record Decode accepts, the same error for every record it refuses. It is faster on
// the common case, a binary-mode record as Encode writes it: it reads the headers in place
// (no header map, no sorting), makes one string allocation for all attribute values,
// builds the sdk-go event directly, and parses and checks the source URI and the
// datacontenttype once per distinct value instead of once per record.
//
// It takes that path only for a record it can prove valid by cheap checks: lower-case
// ce_ header names that are context attributes or extension names, non-empty printable
// ASCII values, specversion 1.0, no dataschema, a source that reads back as itself, sizes
// within Limits. Every other record, including every record that is refused, goes through
// Codec.Decode unchanged, so errors and the handling of poison records stay as they are.
// FuzzDecoder checks the two agree on arbitrary records.
//
// The zero Decoder is ready to use (the limits of Codec{}). A Decoder is not safe for
// concurrent use: give each goroutine its own.
type Decoder struct {
	Codec

	src    string              // the last source accepted on the fast path
	srcURL url.URL             // src, parsed
	ct     string              // the last datacontenttype accepted on the fast path
	boxes  [maxFastAttrs]boxed // per header position, the last extension value boxed there
}

// boxed is an extension value as an any, with the string it holds.
type boxed struct {
	value string
	boxed any
}

// Decode returns the event r carries, as Codec.Decode does.
func (d *Decoder) Decode(r *kgo.Record) (event.Event, error) {
	if e, ok := d.fast(r); ok {
		return e, nil
	}
	return d.Codec.Decode(r)
}

// maxFastAttrs bounds the ce_ headers the fast path reads (Strata writes eight or nine).
const maxFastAttrs = 16

// fastHeaders is what the fast path gathers from a record's headers.
type fastHeaders struct {
	names   [maxFastAttrs]string // attribute names (the header names after "ce_")
	values  [maxFastAttrs][]byte
	n       int
	ct      []byte
	hasCT   bool
	hasPKey bool // a ce_partitionkey header is present
}

// gather reads the headers, or reports false when the record is not for the fast path:
// header names Decode would fold to ce_ or content-type but that are not written in lower
// case, duplicates, names that are not [a-z0-9]+, values that are empty or not printable
// ASCII, too many attributes.
func (h *fastHeaders) gather(headers []kgo.RecordHeader) bool {
	for i := range headers {
		k, v := headers[i].Key, headers[i].Value
		switch {
		case k == HeaderContentType:
			if h.hasCT || !printable(v) {
				return false
			}
			h.ct, h.hasCT = v, true
		case strings.HasPrefix(k, HeaderPrefix):
			name := k[len(HeaderPrefix):]
			if h.n == maxFastAttrs || !lowerAlnum(name) || !printable(v) {
				return false
			}
			for j := 0; j < h.n; j++ {
				if h.names[j] == name {
					return false
				}
			}
			h.names[h.n], h.values[h.n] = name, v
			h.n++
			h.hasPKey = h.hasPKey || name == event.ExtPartitionKey
		case foldsToBinding(k):
			return false
		}
	}
	return true
}

// fastBlock holds an event's context with the strings its pointer fields point to, so the
// fast path allocates them together.
type fastBlock struct {
	ec      cloudevents.EventContextV1
	ct      string
	subject string
	ts      types.Timestamp
}

// fast decodes a record on the fast path; false means "use Codec.Decode".
func (d *Decoder) fast(r *kgo.Record) (event.Event, bool) {
	if r == nil {
		return event.Event{}, false
	}
	var h fastHeaders
	if !h.gather(r.Headers) {
		return event.Event{}, false
	}
	useKey := !h.hasPKey && len(r.Key) > 0
	if useKey && !printable(r.Key) {
		return event.Event{}, false // Decode decides what a key that is not printable ASCII means
	}
	// One string for every value; the attributes are slices of it.
	total := len(h.ct) + len(r.Key)
	for i := 0; i < h.n; i++ {
		total += len(h.values[i])
	}
	var sb strings.Builder
	sb.Grow(total)
	for i := 0; i < h.n; i++ {
		sb.Write(h.values[i])
	}
	sb.Write(h.ct)
	if useKey {
		sb.Write(r.Key)
	}
	all := sb.String()

	limits := d.Limits.WithDefaults()
	size := len(r.Value)
	if size > limits.MaxDataBytes {
		return event.Event{}, false
	}
	blk := &fastBlock{}
	ec := &blk.ec
	var has struct{ sv, id, src, typ bool }
	nExt := 0
	off := 0
	for i := 0; i < h.n; i++ {
		name, v := h.names[i], all[off:off+len(h.values[i])]
		off += len(v)
		canonical := len(v)
		switch name {
		case "specversion":
			if v != event.SpecVersion {
				return event.Event{}, false
			}
			has.sv = true
		case "id":
			if !noEdgeSpace(v) {
				return event.Event{}, false
			}
			ec.ID, has.id = v, true
		case "type":
			if !noEdgeSpace(v) {
				return event.Event{}, false
			}
			ec.Type, has.typ = v, true
		case "subject":
			if !noEdgeSpace(v) {
				return event.Event{}, false
			}
			blk.subject = v
			ec.Subject = &blk.subject
		case "source":
			if !d.source(v) {
				return event.Event{}, false
			}
			ec.Source, has.src = types.URIRef{URL: d.srcURL}, true
		case "time":
			t, err := types.ParseTime(v)
			if err != nil {
				return event.Event{}, false
			}
			if y := t.UTC().Year(); y < 0 || y > 9999 {
				return event.Event{}, false
			}
			if t.IsZero() {
				continue // Decode leaves a zero time unset
			}
			blk.ts = types.Timestamp{Time: t}
			ec.Time = &blk.ts
			var buf [64]byte
			canonical = len(t.UTC().AppendFormat(buf[:0], time.RFC3339Nano))
		case "dataschema", "data", "datacontenttype", "data_base64":
			return event.Event{}, false // rare, or refused: Decode's business
		default:
			if len(name) > 20 { // event.Validate's limit on extension names
				return event.Event{}, false
			}
			nExt++
		}
		if canonical > limits.MaxAttributeBytes {
			return event.Event{}, false
		}
		size += len(name) + canonical
	}
	if !has.sv || !has.id || !has.src || !has.typ {
		return event.Event{}, false
	}
	if h.hasCT {
		ct := all[off : off+len(h.ct)]
		off += len(ct)
		if !d.contentType(ct) || len(ct) > limits.MaxAttributeBytes {
			return event.Event{}, false
		}
		blk.ct = ct
		ec.DataContentType = &blk.ct
		size += len("datacontenttype") + len(ct)
	}
	if useKey {
		if len(r.Key) > limits.MaxAttributeBytes {
			return event.Event{}, false
		}
		nExt++
		size += len(event.ExtPartitionKey) + len(r.Key)
	}
	if size > limits.MaxEventBytes {
		return event.Event{}, false
	}
	if nExt > 0 {
		ec.Extensions = make(map[string]any, nExt)
		off = 0
		for i := 0; i < h.n; i++ {
			v := all[off : off+len(h.values[i])]
			off += len(v)
			if !isContextAttribute(h.names[i]) {
				ec.Extensions[h.names[i]] = d.box(i, v)
			}
		}
		if k := all[len(all)-len(r.Key):]; useKey && h.n < maxFastAttrs {
			ec.Extensions[event.ExtPartitionKey] = d.box(h.n, k)
		} else if useKey {
			ec.Extensions[event.ExtPartitionKey] = k
		}
	}
	e := event.Event{Context: ec}
	if len(r.Value) > 0 {
		e.DataEncoded = r.Value
	}
	return e, true
}

// box returns v as an extension value (an any holding a string). Values repeat from record
// to record (aggregatetype) and within one (partitionkey = aggregateid): the value boxed at
// header position i for the last record, or at an earlier position, is reused when equal,
// which saves an allocation. A boxed string is immutable, so sharing one is safe.
func (d *Decoder) box(i int, v string) any {
	if b := d.boxes[i]; b.boxed != nil && b.value == v {
		return b.boxed
	}
	for j := 0; j < i; j++ {
		if b := d.boxes[j]; b.boxed != nil && b.value == v {
			d.boxes[i] = b
			return b.boxed
		}
	}
	d.boxes[i] = boxed{v, any(v)}
	return d.boxes[i].boxed
}

// source reports whether v is a source Validate accepts (not blank, a URI-reference that
// reads back as itself), and leaves it parsed in d.srcURL.
func (d *Decoder) source(v string) bool {
	if v == d.src && v != "" {
		return true
	}
	if strings.TrimSpace(v) == "" {
		return false
	}
	u, err := url.Parse(v)
	if err != nil || u.String() != v {
		return false
	}
	d.src, d.srcURL = v, *u
	return true
}

// contentType reports whether v is a datacontenttype Decode reads in binary mode and
// Validate accepts: not blank, no white space at the edges, not a CloudEvents event format,
// an RFC 2046 media type.
func (d *Decoder) contentType(v string) bool {
	if v == d.ct && v != "" {
		return true
	}
	if !noEdgeSpace(v) || isEventFormat(v) {
		return false
	}
	if _, _, err := mime.ParseMediaType(v); err != nil {
		return false
	}
	d.ct = v
	return true
}

// isContextAttribute reports whether name is one of the context attributes the fast path
// sets as a field (every other name it accepts is an extension).
func isContextAttribute(name string) bool {
	switch name {
	case "specversion", "id", "source", "type", "subject", "time":
		return true
	}
	return false
}

// printable reports whether b is non-empty and every byte is printable ASCII (space to
// '~'): valid UTF-8 and a valid CloudEvents String, whose only white space is ' '.
func printable(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// noEdgeSpace reports whether a printable ASCII string is non-empty and neither begins
// nor ends with a space (strings.TrimSpace would leave it unchanged and non-empty).
func noEdgeSpace(s string) bool { return len(s) > 0 && s[0] != ' ' && s[len(s)-1] != ' ' }

// lowerAlnum reports whether s is non-empty and all lower-case ASCII letters and digits.
func lowerAlnum(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// foldsToBinding reports whether Decode, which compares header names case-insensitively,
// would read header k as a ce_ header or as content-type.
func foldsToBinding(k string) bool {
	return len(k) >= len(HeaderPrefix) && strings.EqualFold(k[:len(HeaderPrefix)], HeaderPrefix) ||
		strings.EqualFold(k, HeaderContentType)
}
