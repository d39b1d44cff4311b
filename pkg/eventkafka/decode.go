package eventkafka

import (
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/binding/format"
	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/event"
)

// Decode returns the event r carries. A record whose content-type names a CloudEvents event
// format (application/cloudevents...) is read in structured mode, where only the JSON format
// is supported; any other record must carry a ce_specversion header and is read in binary
// mode.
//
// Decode refuses a record it cannot read with an *Error, and an event that event.Validate
// refuses with that *event.ValidationError, unchanged. Extension values come back as
// Strings, the only type a Kafka header carries. When the record has a UTF-8 key and the
// event no partitionkey, partitionkey is set to the key. The event's data shares r.Value's
// bytes.
func (c Codec) Decode(r *kgo.Record) (event.Event, error) {
	if r == nil {
		return event.Event{}, fail(CodeNotCloudEvent, "", nil, "no record")
	}
	hs, err := collect(r.Headers)
	if err != nil {
		return event.Event{}, err
	}
	structured := hs.hasContentType && isEventFormat(hs.contentType)
	var e event.Event
	if structured {
		e, err = decodeStructured(hs.contentType, r.Value)
	} else {
		e, err = decodeBinary(hs, r.Value)
	}
	if err != nil {
		return event.Event{}, err
	}
	if !event.HasExtension(&e, event.ExtPartitionKey) && len(r.Key) > 0 && utf8.Valid(r.Key) {
		e.SetExtension(event.ExtPartitionKey, string(r.Key))
	}
	if err := event.Validate(&e, c.Limits); err != nil {
		return event.Event{}, err
	}
	if structured {
		// Whatever a structured event holds must also fit a binary-mode record.
		if err := checkEncodable(&e); err != nil {
			return event.Event{}, err
		}
	}
	return e, nil
}

// checkEncodable refuses an event Encode could not write.
func checkEncodable(e *event.Event) error {
	if _, err := attributesInOrder(e); err != nil {
		return err
	}
	if ct := e.DataContentType(); ct != "" {
		return checkContentType(ct)
	}
	return nil
}

// headerSet is what a record's headers say about its event.
type headerSet struct {
	attrs          map[string]string // attribute name → value, from the ce_ headers
	contentType    string
	hasContentType bool
}

// collect reads the ce_ and content-type headers, refusing duplicates and values that are
// not UTF-8. Header names compare case-insensitively (ASCII only); other headers are ignored.
func collect(headers []kgo.RecordHeader) (headerSet, error) {
	hs := headerSet{attrs: make(map[string]string, len(headers))}
	for _, h := range headers {
		name := asciiLower(h.Key)
		switch {
		case name == HeaderContentType:
			if hs.hasContentType {
				return hs, fail(CodeDuplicateHeader, h.Key, nil, "content-type appears more than once")
			}
			if !utf8.Valid(h.Value) {
				return hs, fail(CodeInvalidHeader, h.Key, nil, "value is not UTF-8")
			}
			hs.contentType, hs.hasContentType = string(h.Value), true
		case strings.HasPrefix(name, HeaderPrefix):
			attr := name[len(HeaderPrefix):]
			if err := checkAttrHeader(h, attr); err != nil {
				return hs, err
			}
			if _, dup := hs.attrs[attr]; dup {
				return hs, fail(CodeDuplicateHeader, h.Key, nil, "attribute %q appears more than once", attr)
			}
			hs.attrs[attr] = string(h.Value)
		}
	}
	return hs, nil
}

func checkAttrHeader(h kgo.RecordHeader, attr string) error {
	switch {
	case !utf8.ValidString(h.Key):
		return fail(CodeInvalidHeader, h.Key, nil, "name is not UTF-8")
	case attr == "":
		return fail(CodeInvalidHeader, h.Key, nil, "names no attribute")
	case isReserved(attr):
		return fail(CodeInvalidHeader, h.Key, nil, "%s does not travel in a ce_ header", attr)
	case !utf8.Valid(h.Value):
		return fail(CodeInvalidHeader, h.Key, nil, "value is not UTF-8")
	}
	return nil
}

// decodeBinary builds the event of a binary-mode record.
func decodeBinary(hs headerSet, value []byte) (event.Event, error) {
	sv, ok := hs.attrs["specversion"]
	if !ok {
		return event.Event{}, fail(CodeNotCloudEvent, "", nil, "the record has no ce_specversion header")
	}
	if sv != event.SpecVersion {
		return event.Event{}, &event.ValidationError{Code: event.CodeBadSpecVersion, Attribute: "specversion",
			Detail: "must be \"" + event.SpecVersion + "\", got \"" + sv + "\""}
	}
	e := event.New()
	ec := e.Context.(*cloudevents.EventContextV1)
	names := make([]string, 0, len(hs.attrs))
	for name := range hs.attrs {
		names = append(names, name)
	}
	sort.Strings(names) // the same record always fails on the same header
	for _, name := range names {
		if err := setAttribute(&e, ec, name, hs.attrs[name]); err != nil {
			return event.Event{}, err
		}
	}
	if hs.hasContentType {
		ct := hs.contentType
		ec.DataContentType = &ct
	}
	if len(value) > 0 {
		e.DataEncoded = value
	}
	return e, nil
}

// setAttribute sets one attribute from its header value, as is: sdk-go's setters would trim
// spaces, and the binding promises the value the header carried.
func setAttribute(e *event.Event, ec *cloudevents.EventContextV1, name, v string) error {
	switch name {
	case "specversion": // checked by the caller
	case "id":
		ec.ID = v
	case "type":
		ec.Type = v
	case "subject":
		ec.Subject = &v
	case "source":
		u, err := url.Parse(v)
		if err != nil {
			return fail(CodeInvalidAttributeValue, HeaderPrefix+name, err, "not a URI-reference: %v", err)
		}
		ec.Source = types.URIRef{URL: *u}
	case "dataschema":
		u, err := url.Parse(v)
		if err != nil || v == "" {
			return fail(CodeInvalidAttributeValue, HeaderPrefix+name, err, "not a URI: %q", v)
		}
		ec.DataSchema = &types.URI{URL: *u}
	case "time":
		t, err := types.ParseTime(v)
		if err != nil {
			return fail(CodeInvalidAttributeValue, HeaderPrefix+name, err, "not an RFC 3339 timestamp: %q", v)
		}
		if err := checkTime(t); err != nil {
			return err
		}
		if !t.IsZero() {
			ec.Time = &types.Timestamp{Time: t}
		}
	default:
		// A bad extension name is recorded in e.FieldErrors; event.Validate reports it.
		e.SetExtension(name, v)
	}
	return nil
}

// decodeStructured reads a structured-mode record. Only the JSON event format is supported;
// ce_ headers, which structured mode allows, are ignored: the value is authoritative.
func decodeStructured(contentType string, value []byte) (event.Event, error) {
	mt, _, _ := strings.Cut(contentType, ";")
	if asciiLower(strings.TrimSpace(mt)) != MediaTypeStructuredJSON {
		return event.Event{}, fail(CodeUnsupportedFormat, HeaderContentType, nil,
			"event format %q is not supported; use %s or binary mode", contentType, MediaTypeStructuredJSON)
	}
	var e event.Event
	if err := format.JSON.Unmarshal(value, &e); err != nil {
		return event.Event{}, fail(CodeInvalidStructured, "", err, "%v", err)
	}
	if e.Context == nil {
		return event.Event{}, fail(CodeInvalidStructured, "", nil, "the value holds no CloudEvent")
	}
	return e, nil
}
