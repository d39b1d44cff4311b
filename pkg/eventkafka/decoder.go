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
	var c fastChecked
	if !d.check(r, &c) {
		return event.Event{}, false
	}
	return d.build(r, &c), true
}

// Strata is what Fields reads of a record: the Strata extensions, as strings ("" when
// absent), and the data.
type Strata struct {
	AggregateType, AggregateID, AggregateVersion string
	Data                                         []byte
}

// Fields reads the Strata extensions of a record the fast path accepts, without building
// the event: ok means Decode would return an event without error, whose extensions
// aggregatetype, aggregateid and aggregateversion are the strings returned (absent: ""),
// and whose data is r.Value (nil when empty). ok false says nothing about the record: call
// Decode.
func (d *Decoder) Fields(r *kgo.Record) (Strata, bool) {
	var c fastChecked
	if !d.check(r, &c) {
		return Strata{}, false
	}
	var st Strata
	off := 0
	for i := 0; i < c.h.n; i++ {
		v := c.all[off : off+len(c.h.values[i])]
		off += len(v)
		switch c.h.names[i] {
		case event.ExtAggregateType:
			st.AggregateType = v
		case event.ExtAggregateID:
			st.AggregateID = v
		case event.ExtAggregateVersion:
			st.AggregateVersion = v
		}
	}
	if len(r.Value) > 0 {
		st.Data = r.Value
	}
	return st, true
}

// fastChecked is what check leaves for build.
type fastChecked struct {
	h       fastHeaders
	all     string // every value, in header order, then the content type, then the key
	useKey  bool   // the record key is the partitionkey extension
	nExt    int
	id, typ string
	subject string
	hasSubj bool
	ts      time.Time // zero: no time
	ct      string
	hasCT   bool
}

// check makes the fast path's checks of r, and reports false when r is not for it.
func (d *Decoder) check(r *kgo.Record, c *fastChecked) bool {
	if r == nil {
		return false
	}
	h := &c.h
	if !h.gather(r.Headers) {
		return false
	}
	c.useKey = !h.hasPKey && len(r.Key) > 0
	if c.useKey && !printable(r.Key) {
		return false // Decode decides what a key that is not printable ASCII means
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
	if c.useKey {
		sb.Write(r.Key)
	}
	all := sb.String()
	c.all = all

	limits := d.Limits.WithDefaults()
	size := len(r.Value)
	if size > limits.MaxDataBytes {
		return false
	}
	var has struct{ sv, id, src, typ bool }
	off := 0
	for i := 0; i < h.n; i++ {
		name, v := h.names[i], all[off:off+len(h.values[i])]
		off += len(v)
		canonical := len(v)
		switch name {
		case "specversion":
			if v != event.SpecVersion {
				return false
			}
			has.sv = true
		case "id":
			if !noEdgeSpace(v) {
				return false
			}
			c.id, has.id = v, true
		case "type":
			if !noEdgeSpace(v) {
				return false
			}
			c.typ, has.typ = v, true
		case "subject":
			if !noEdgeSpace(v) {
				return false
			}
			c.subject, c.hasSubj = v, true
		case "source":
			if !d.source(v) {
				return false
			}
			has.src = true
		case "time":
			t, err := types.ParseTime(v)
			if err != nil {
				return false
			}
			if y := t.UTC().Year(); y < 0 || y > 9999 {
				return false
			}
			if t.IsZero() {
				continue // Decode leaves a zero time unset
			}
			c.ts = t
			var buf [64]byte
			canonical = len(t.UTC().AppendFormat(buf[:0], time.RFC3339Nano))
		case "dataschema", "data", "datacontenttype", "data_base64":
			return false // rare, or refused: Decode's business
		default:
			if len(name) > 20 { // event.Validate's limit on extension names
				return false
			}
			c.nExt++
		}
		if canonical > limits.MaxAttributeBytes {
			return false
		}
		size += len(name) + canonical
	}
	if !has.sv || !has.id || !has.src || !has.typ {
		return false
	}
	if h.hasCT {
		ct := all[off : off+len(h.ct)]
		if !d.contentType(ct) || len(ct) > limits.MaxAttributeBytes {
			return false
		}
		c.ct, c.hasCT = ct, true
		size += len("datacontenttype") + len(ct)
	}
	if c.useKey {
		if len(r.Key) > limits.MaxAttributeBytes {
			return false
		}
		c.nExt++
		size += len(event.ExtPartitionKey) + len(r.Key)
	}
	return size <= limits.MaxEventBytes
}

// build makes the event of a record check accepted.
func (d *Decoder) build(r *kgo.Record, c *fastChecked) event.Event {
	blk := &fastBlock{}
	ec := &blk.ec
	ec.ID, ec.Type = c.id, c.typ
	ec.Source = types.URIRef{URL: d.srcURL}
	if c.hasSubj {
		blk.subject = c.subject
		ec.Subject = &blk.subject
	}
	if !c.ts.IsZero() {
		blk.ts = types.Timestamp{Time: c.ts}
		ec.Time = &blk.ts
	}
	if c.hasCT {
		blk.ct = c.ct
		ec.DataContentType = &blk.ct
	}
	h := &c.h
	if c.nExt > 0 {
		ec.Extensions = make(map[string]any, c.nExt)
		off := 0
		for i := 0; i < h.n; i++ {
			v := c.all[off : off+len(h.values[i])]
			off += len(v)
			if !isContextAttribute(h.names[i]) {
				ec.Extensions[h.names[i]] = d.box(i, v)
			}
		}
		if k := c.all[len(c.all)-len(r.Key):]; c.useKey && h.n < maxFastAttrs {
			ec.Extensions[event.ExtPartitionKey] = d.box(h.n, k)
		} else if c.useKey {
			ec.Extensions[event.ExtPartitionKey] = k
		}
	}
	e := event.Event{Context: ec}
	if len(r.Value) > 0 {
		e.DataEncoded = r.Value
	}
	return e
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
