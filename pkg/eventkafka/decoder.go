package eventkafka

import (
	"encoding/binary"
	"hash/maphash"
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
// (no header map, no sorting), knows the attributes Strata writes by their header names,
// checks the values as bytes, builds the sdk-go event directly, parses and checks the source
// URI and the datacontenttype once per distinct value instead of once per record, and takes
// the strings of values that repeat from record to record (type, aggregate type, id and
// version, extension values) from a bounded cache instead of allocating them.
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

	src    string      // the last source accepted on the fast path
	srcURL url.URL     // src, parsed
	ct     string      // the last datacontenttype accepted on the fast path
	values *valueCache // made on first use
}

// Decode returns the event r carries, as Codec.Decode does.
func (d *Decoder) Decode(r *kgo.Record) (event.Event, error) {
	if e, ok := d.fast(r); ok {
		return e, nil
	}
	return d.Codec.Decode(r)
}

// The attributes the fast path knows by header name, as indexes of fastHeaders.known.
const (
	attrSpecVersion = iota
	attrID
	attrSource
	attrType
	attrSubject
	attrTime
	attrAggregateType
	attrAggregateID
	attrAggregateVersion
	attrPartitionKey
	numKnown

	firstKnownExt = attrAggregateType // known from here on are extensions
	attrRequired  = 1<<attrSpecVersion | 1<<attrID | 1<<attrSource | 1<<attrType
)

// knownNames are the attribute names of the known attributes.
var knownNames = [numKnown]string{"specversion", "id", "source", "type", "subject", "time",
	event.ExtAggregateType, event.ExtAggregateID, event.ExtAggregateVersion, event.ExtPartitionKey}

// Kinds of header that are not a known attribute (knownAttr's other answers).
const (
	headerOther       = -1 // any other header: an unknown extension, another ce_ name, not ce_ at all
	headerContentType = -2
	headerRefused     = -3 // ce_dataschema, ce_data, ce_datacontenttype: rare, or refused; Decode's business
)

// knownAttr returns the known attribute header k carries, or one of the header kinds.
func knownAttr(k string) int {
	switch k {
	case "ce_specversion":
		return attrSpecVersion
	case "ce_id":
		return attrID
	case "ce_source":
		return attrSource
	case "ce_type":
		return attrType
	case "ce_subject":
		return attrSubject
	case "ce_time":
		return attrTime
	case "ce_aggregatetype":
		return attrAggregateType
	case "ce_aggregateid":
		return attrAggregateID
	case "ce_aggregateversion":
		return attrAggregateVersion
	case "ce_partitionkey":
		return attrPartitionKey
	case HeaderContentType:
		return headerContentType
	case "ce_dataschema", "ce_data", "ce_datacontenttype":
		return headerRefused
	}
	return headerOther
}

// maxFastExt bounds the extensions other than Strata's the fast path reads.
const maxFastExt = 8

// fastHeaders is what the fast path gathers from a record's headers.
type fastHeaders struct {
	known   [numKnown][]byte // values of the known attributes; nil: absent
	seen    uint32           // bit i: known[i] is present
	extName [maxFastExt]string
	extVal  [maxFastExt][]byte
	nExt    int // other extensions
	ct      []byte
	hasCT   bool
}

// gather reads the headers, or reports false when the record is not for the fast path:
// header names Decode would fold to ce_ or content-type but that are not written in lower
// case, duplicates, names that are not [a-z0-9]+, extension names longer than 20 (event.
// Validate's limit), values that are empty or not printable ASCII, too many extensions.
func (h *fastHeaders) gather(headers []kgo.RecordHeader) bool {
	for i := range headers {
		k, v := headers[i].Key, headers[i].Value
		switch a := knownAttr(k); a {
		case headerContentType:
			if h.hasCT || !printable(v) {
				return false
			}
			h.ct, h.hasCT = v, true
		case headerRefused:
			return false
		case headerOther:
			if !h.other(k, v) {
				return false
			}
		default:
			if h.seen&(1<<a) != 0 || !printable(v) {
				return false
			}
			h.seen |= 1 << a
			h.known[a] = v
		}
	}
	return true
}

// other reads a header that is no known attribute.
func (h *fastHeaders) other(k string, v []byte) bool {
	if !strings.HasPrefix(k, HeaderPrefix) {
		return !foldsToBinding(k)
	}
	name := k[len(HeaderPrefix):]
	// A name of a known attribute would have been known: name is an extension's.
	if h.nExt == maxFastExt || len(name) > 20 || !lowerAlnum(name) || !printable(v) {
		return false
	}
	for j := 0; j < h.nExt; j++ {
		if h.extName[j] == name {
			return false
		}
	}
	h.extName[h.nExt], h.extVal[h.nExt] = name, v
	h.nExt++
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

// ctBlock is fastBlock for an event without subject and time, as Strata writes them: 240
// bytes to allocate instead of 288.
type ctBlock struct {
	ec cloudevents.EventContextV1
	ct string
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
	vc := d.cache()
	st := Strata{
		AggregateType:    vc.str(c.h.known[attrAggregateType]),
		AggregateID:      vc.str(c.h.known[attrAggregateID]),
		AggregateVersion: vc.str(c.h.known[attrAggregateVersion]),
	}
	if len(r.Value) > 0 {
		st.Data = r.Value
	}
	return st, true
}

// fastChecked is what check leaves for build.
type fastChecked struct {
	h      fastHeaders
	useKey bool      // the record key is the partitionkey extension
	ts     time.Time // zero: no time
}

// check makes the fast path's checks of r, and reports false when r is not for it.
func (d *Decoder) check(r *kgo.Record, c *fastChecked) bool {
	if r == nil {
		return false
	}
	h := &c.h
	if !h.gather(r.Headers) || h.seen&attrRequired != attrRequired {
		return false
	}
	limits := d.Limits.WithDefaults()
	size := len(r.Value)
	if size > limits.MaxDataBytes {
		return false
	}
	if string(h.known[attrSpecVersion]) != event.SpecVersion ||
		!noEdgeSpace(h.known[attrID]) || !noEdgeSpace(h.known[attrType]) ||
		h.seen&(1<<attrSubject) != 0 && !noEdgeSpace(h.known[attrSubject]) ||
		!d.source(h.known[attrSource]) {
		return false
	}
	for a := range h.known {
		v := h.known[a]
		if v == nil {
			continue
		}
		canonical := len(v)
		if a == attrTime {
			t, ok := parseTime(v)
			if !ok {
				return false
			}
			if t.IsZero() {
				continue // Decode leaves a zero time unset
			}
			c.ts = t
			canonical = canonicalTimeLen(t)
		}
		if canonical > limits.MaxAttributeBytes {
			return false
		}
		size += len(knownNames[a]) + canonical
	}
	for i := 0; i < h.nExt; i++ {
		if len(h.extVal[i]) > limits.MaxAttributeBytes {
			return false
		}
		size += len(h.extName[i]) + len(h.extVal[i])
	}
	if h.hasCT {
		if !d.contentType(h.ct) || len(h.ct) > limits.MaxAttributeBytes {
			return false
		}
		size += len("datacontenttype") + len(h.ct)
	}
	c.useKey = h.seen&(1<<attrPartitionKey) == 0 && len(r.Key) > 0
	if c.useKey {
		if !printable(r.Key) {
			return false // Decode decides what a key that is not printable ASCII means
		}
		if len(r.Key) > limits.MaxAttributeBytes {
			return false
		}
		size += len(event.ExtPartitionKey) + len(r.Key)
	}
	return size <= limits.MaxEventBytes
}

// parseTime parses a time as types.ParseTime does (time.Parse with time.RFC3339Nano), and
// reports false also when its year, in UTC, is outside 0000-9999. A time in the plain form
// time.Parse reads by its RFC 3339 fast path (time's parseRFC3339) is read from the bytes,
// without making a string: in UTC ("Z", as Encode writes it) by the time.Date call that
// fast path makes, with an offset by time.Time.UnmarshalText, which takes that fast path
// first.
func parseTime(v []byte) (time.Time, bool) {
	var t time.Time
	if f, ok := plainRFC3339(v); ok && f.utc {
		// The year has four digits: it is in range.
		return time.Date(f.year, time.Month(f.month), f.day, f.hour, f.min, f.sec, f.nsec, time.UTC), true
	} else if ok {
		if t.UnmarshalText(v) != nil {
			return time.Time{}, false // cannot happen: the fast path accepts v
		}
	} else {
		var err error
		if t, err = types.ParseTime(string(v)); err != nil {
			return time.Time{}, false
		}
	}
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return time.Time{}, false
	}
	return t, true
}

// rfc3339Fields are the fields of a time in the plain RFC 3339 form.
type rfc3339Fields struct {
	year, month, day, hour, min, sec, nsec int
	utc                                    bool // "Z"; false: an offset
}

// plainRFC3339 reads v as the standard library's RFC 3339 fast path (time's parseRFC3339,
// which time.Parse tries first for time.RFC3339Nano and UnmarshalText first for RFC 3339)
// does, and reports whether it accepts v: "2006-01-02T15:04:05", with every field in range,
// then optionally '.' and digits (the first nine count), then "Z" or an offset "+07:00" or
// "-07:00" of at most 23:59.
func plainRFC3339(v []byte) (rfc3339Fields, bool) {
	var f rfc3339Fields
	if len(v) < len("2006-01-02T15:04:05Z") ||
		v[4] != '-' || v[7] != '-' || v[10] != 'T' || v[13] != ':' || v[16] != ':' {
		return f, false
	}
	var ok [6]bool
	f.year, ok[0] = digits(v[0:4])
	f.month, ok[1] = digits(v[5:7])
	f.day, ok[2] = digits(v[8:10])
	f.hour, ok[3] = digits(v[11:13])
	f.min, ok[4] = digits(v[14:16])
	f.sec, ok[5] = digits(v[17:19])
	if ok != [6]bool{true, true, true, true, true, true} || f.month < 1 || f.month > 12 ||
		f.day < 1 || f.day > daysIn(f.month, f.year) || f.hour > 23 || f.min > 59 || f.sec > 59 {
		return f, false
	}
	s := v[19:]
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		n := 2
		for n < len(s) && '0' <= s[n] && s[n] <= '9' {
			n++
		}
		frac := s[1:min(n, 10)]
		f.nsec, _ = digits(frac)
		for range 9 - len(frac) {
			f.nsec *= 10
		}
		s = s[n:]
	}
	if len(s) == 1 && s[0] == 'Z' {
		f.utc = true
		return f, true
	}
	if len(s) != len("+07:00") || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return f, false
	}
	hh, ok1 := digits(s[1:3])
	mm, ok2 := digits(s[4:6])
	return f, ok1 && ok2 && hh <= 23 && mm <= 59
}

// digits returns the decimal number b spells, false if a byte is not a digit.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// daysIn returns the number of days of month in year (proleptic Gregorian, as time's).
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// canonicalTimeLen is len(types.FormatTime(t)) for a time whose year, in UTC, has four
// digits: "2006-01-02T15:04:05" and "Z", with the nanoseconds' digits in between after a
// '.', trailing zeros dropped.
func canonicalTimeLen(t time.Time) int {
	n := len("2006-01-02T15:04:05Z")
	ns := t.Nanosecond()
	if ns == 0 {
		return n
	}
	n += len(".999999999")
	for ns%10 == 0 {
		ns /= 10
		n--
	}
	return n
}

// build makes the event of a record check accepted.
func (d *Decoder) build(r *kgo.Record, c *fastChecked) event.Event {
	h := &c.h
	vc := d.cache()
	var ec *cloudevents.EventContextV1
	var ct *string
	if v := h.known[attrSubject]; v != nil || !c.ts.IsZero() {
		blk := &fastBlock{}
		ec, ct = &blk.ec, &blk.ct
		if v != nil {
			blk.subject = vc.str(v)
			ec.Subject = &blk.subject
		}
		if !c.ts.IsZero() {
			blk.ts = types.Timestamp{Time: c.ts}
			ec.Time = &blk.ts
		}
	} else {
		blk := &ctBlock{}
		ec, ct = &blk.ec, &blk.ct
	}
	if h.hasCT {
		*ct = d.ct
		ec.DataContentType = ct
	}
	ec.ID = string(h.known[attrID]) // ids do not repeat
	ec.Type = vc.str(h.known[attrType])
	ec.Source = types.URIRef{URL: d.srcURL}
	n := h.nExt
	for a := firstKnownExt; a < numKnown; a++ {
		if h.known[a] != nil {
			n++
		}
	}
	if c.useKey {
		n++
	}
	if n > 0 {
		ext := make(map[string]any, n)
		var id any // the aggregate id's box, for a partition key equal to it
		for a := firstKnownExt; a < numKnown; a++ {
			v := h.known[a]
			switch {
			case v == nil:
				continue
			case a == attrAggregateID:
				id = vc.box(v)
				ext[event.ExtAggregateID] = id
			case a == attrPartitionKey && id != nil && string(v) == string(h.known[attrAggregateID]):
				ext[event.ExtPartitionKey] = id
			default:
				ext[knownNames[a]] = vc.box(v)
			}
		}
		for i := 0; i < h.nExt; i++ {
			ext[h.extName[i]] = vc.box(h.extVal[i])
		}
		if c.useKey {
			if id != nil && string(r.Key) == string(h.known[attrAggregateID]) {
				ext[event.ExtPartitionKey] = id
			} else {
				ext[event.ExtPartitionKey] = vc.box(r.Key)
			}
		}
		ec.Extensions = ext
	}
	e := event.Event{Context: ec}
	if len(r.Value) > 0 {
		e.DataEncoded = r.Value
	}
	return e
}

// cache returns d's value cache, making it on first use.
func (d *Decoder) cache() *valueCache {
	if d.values == nil {
		d.values = &valueCache{seed: maphash.MakeSeed()}
	}
	return d.values
}

// Bounds of a valueCache: it holds at most cacheSlots values of at most cacheMaxLen bytes,
// so a Decoder keeps at most 128 KiB of slots and 256 KiB of strings (and their 16-byte
// boxes), whatever a topic holds. 4,096 slots keep the aggregate ids of a few thousand
// streams, the projection benchmark's 2,000.
const (
	cacheSlots  = 1 << 12
	cacheMaxLen = 64
)

// valueCache keeps the strings of header values, so that a value that repeats from record
// to record (type, aggregate type and id, version, partition key) is allocated once, and its
// boxed form (an extension value) once too. It is direct-mapped by a seeded hash (a topic
// cannot choose the collisions): a value replaces the one in its slot, so its size is fixed.
// Strings and boxed strings are immutable: sharing them between events is safe.
type valueCache struct {
	seed  maphash.Seed
	slots [cacheSlots]cachedValue
}

type cachedValue struct {
	s     string
	boxed any // s as an any, or nil until asked for
}

// slot returns the slot holding v, a non-empty value, or nil when v is too long to cache.
// The slot is v's until the next call.
func (vc *valueCache) slot(v []byte) *cachedValue {
	if len(v) > cacheMaxLen {
		return nil
	}
	s := &vc.slots[maphash.Bytes(vc.seed, v)&(cacheSlots-1)]
	if s.s != string(v) {
		*s = cachedValue{s: string(v)}
	}
	return s
}

// str returns v as a string ("" for nil).
func (vc *valueCache) str(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	if s := vc.slot(v); s != nil {
		return s.s
	}
	return string(v)
}

// box returns v, a non-empty value, as an extension value: an any holding a string.
func (vc *valueCache) box(v []byte) any {
	s := vc.slot(v)
	if s == nil {
		return string(v)
	}
	if s.boxed == nil {
		s.boxed = s.s
	}
	return s.boxed
}

// source reports whether v is a source Validate accepts (not blank, a URI-reference that
// reads back as itself), and leaves it parsed in d.srcURL.
func (d *Decoder) source(v []byte) bool {
	if string(v) == d.src && d.src != "" {
		return true
	}
	s := string(v)
	if strings.TrimSpace(s) == "" {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.String() != s {
		return false
	}
	d.src, d.srcURL = s, *u
	return true
}

// contentType reports whether v is a datacontenttype Decode reads in binary mode and
// Validate accepts: not blank, no white space at the edges, not a CloudEvents event format,
// an RFC 2046 media type. It leaves it in d.ct.
func (d *Decoder) contentType(v []byte) bool {
	if string(v) == d.ct && d.ct != "" {
		return true
	}
	if !noEdgeSpace(v) {
		return false
	}
	s := string(v)
	if isEventFormat(s) {
		return false
	}
	if _, _, err := mime.ParseMediaType(s); err != nil {
		return false
	}
	d.ct = s
	return true
}

// printable reports whether b is non-empty and every byte is printable ASCII (space to
// '~'): valid UTF-8 and a valid CloudEvents String, whose only white space is ' '.
func printable(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	// Eight bytes at a time: a byte under 0x20 borrows into its top bit when 0x20 is taken
	// from it (a lower byte cannot borrow: it is not under 0x20, or this one would not be the
	// lowest); a byte from 0x80 has its top bit set; 0x7f gets it when 1 is added (no byte
	// carries: none is 0x80 or more, or that one is caught).
	const ones, tops = 0x0101010101010101, 0x8080808080808080
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		if ((x-0x20*ones)&^x|x|(x+ones))&tops != 0 {
			return false
		}
		b = b[8:]
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
func noEdgeSpace(s []byte) bool { return len(s) > 0 && s[0] != ' ' && s[len(s)-1] != ' ' }

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
