package eventkafka

import (
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/event"
)

// Header names of the binding.
const (
	// HeaderPrefix prefixes every attribute header: attribute "id" travels as "ce_id".
	HeaderPrefix = "ce_"
	// HeaderContentType carries datacontenttype in binary mode, and the event format's media
	// type in structured mode.
	HeaderContentType = "content-type"
	// MediaTypeStructuredJSON is the content-type of a structured-mode JSON record.
	MediaTypeStructuredJSON = "application/cloudevents+json"
)

// formatPrefix is the CloudEvents media-type prefix that marks structured mode (matched
// case-insensitively, as the binding specification says).
const formatPrefix = "application/cloudevents"

// Codec encodes events into Kafka records and decodes them back. Its zero value is ready to
// use and bounds events by event.DefaultLimits.
type Codec struct {
	// Limits bounds the events the codec accepts, in both directions. Zero fields take the
	// defaults of event.Limits.
	Limits event.Limits
}

// Encode is Codec{}.Encode.
func Encode(e *event.Event, topic string) (*kgo.Record, error) { return Codec{}.Encode(e, topic) }

// Decode is Codec{}.Decode.
func Decode(r *kgo.Record) (event.Event, error) { return Codec{}.Decode(r) }

// Encode returns the binary-mode record of e for topic: key = the partitionkey extension,
// one ce_<name> header per attribute (specversion, id, source, type, then the others sorted
// by name) with its canonical string value, content-type = datacontenttype, value = data.
//
// It refuses an event that event.Validate refuses, returning that *event.ValidationError,
// and an event it could not write faithfully with an *Error. The record's value shares the
// event's data bytes; neither should be modified afterwards.
func (c Codec) Encode(e *event.Event, topic string) (*kgo.Record, error) {
	if e == nil {
		e = &event.Event{}
	}
	if err := event.Validate(e, c.Limits); err != nil {
		return nil, err
	}
	attrs, err := attributesInOrder(e)
	if err != nil {
		return nil, err
	}
	ct := e.DataContentType()
	n := len(attrs)
	if ct != "" {
		if err := checkContentType(ct); err != nil {
			return nil, err
		}
		n++
	}
	r := &kgo.Record{Topic: topic, Headers: make([]kgo.RecordHeader, 0, n)}
	for _, a := range attrs {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderPrefix + a.name, Value: []byte(a.value)})
		if a.name == event.ExtPartitionKey && a.value != "" {
			r.Key = []byte(a.value)
		}
	}
	if ct != "" {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderContentType, Value: []byte(ct)})
	}
	if data := e.Data(); len(data) > 0 {
		r.Value = data
	}
	return r, nil
}

type attribute struct{ name, value string }

// attributesInOrder returns every attribute of e except datacontenttype, in canonical string
// form and header order: specversion, id, source, type, then the rest sorted by name. It
// refuses values a record cannot carry faithfully.
func attributesInOrder(e *event.Event) ([]attribute, error) {
	attrs := []attribute{
		{"specversion", e.SpecVersion()}, {"id", e.ID()}, {"source", e.Source()}, {"type", e.Type()},
	}
	var rest []attribute
	if s := e.Subject(); s != "" {
		rest = append(rest, attribute{"subject", s})
	}
	if ds := e.DataSchema(); ds != "" {
		rest = append(rest, attribute{"dataschema", ds})
	}
	if t := e.Time(); !t.IsZero() {
		if err := checkTime(t); err != nil {
			return nil, err
		}
		rest = append(rest, attribute{"time", types.FormatTime(t)})
	}
	for name, v := range e.Extensions() {
		if isReserved(name) {
			return nil, fail(CodeInvalidHeader, HeaderPrefix+name, nil, "%q is not an extension name the binding can carry", name)
		}
		s, err := types.Format(v)
		if err != nil {
			return nil, fail(CodeInvalidAttributeValue, HeaderPrefix+name, err, "has no canonical string form: %v", err)
		}
		rest = append(rest, attribute{name, s})
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i].name < rest[j].name })
	attrs = append(attrs, rest...)
	for _, a := range attrs {
		if !utf8.ValidString(a.value) {
			return nil, fail(CodeInvalidHeader, HeaderPrefix+a.name, nil, "value is not UTF-8")
		}
	}
	return attrs, nil
}

// isReserved reports whether name may not travel as a ce_ header: data travels in the value
// and datacontenttype in content-type.
func isReserved(name string) bool { return name == "data" || name == "datacontenttype" }

// checkTime refuses times RFC 3339 cannot write: the year, in UTC, must have four digits.
func checkTime(t time.Time) error {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return fail(CodeInvalidAttributeValue, HeaderPrefix+"time", nil, "year %d is outside RFC 3339's 0000-9999", y)
	}
	return nil
}

// checkContentType refuses a datacontenttype that a binary-mode record cannot carry: one
// that is not UTF-8, or one that names a CloudEvents event format, which every receiver
// would take for a structured-mode record.
func checkContentType(ct string) error {
	if !utf8.ValidString(ct) {
		return fail(CodeInvalidHeader, HeaderContentType, nil, "value is not UTF-8")
	}
	if isEventFormat(ct) {
		return fail(CodeInvalidAttributeValue, HeaderContentType, nil,
			"datacontenttype %q names a CloudEvents event format; binary mode cannot carry it", ct)
	}
	return nil
}

// isEventFormat reports whether a content-type is a CloudEvents event format.
func isEventFormat(ct string) bool {
	return strings.HasPrefix(asciiLower(strings.TrimSpace(ct)), formatPrefix)
}

// asciiLower lower-cases ASCII letters only, so that no non-ASCII name folds into an ASCII one.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
