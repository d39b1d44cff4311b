package event

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
)

// Event is a CloudEvent 1.0 as sdk-go models it. Strata adds no fields of its own: its
// data travels in the extension attributes named below.
type Event = cloudevents.Event

// Strata's extension attributes.
const (
	ExtAggregateType    = "aggregatetype"    // String: the aggregate type, e.g. "order"
	ExtAggregateID      = "aggregateid"      // String: the aggregate id, e.g. "o-123"
	ExtAggregateVersion = "aggregateversion" // Integer: the event's version in its stream, from 1
	ExtPartitionKey     = "partitionkey"     // String: = aggregate id (CloudEvents Partitioning extension)
)

// SpecVersion is the only CloudEvents version Strata accepts.
const SpecVersion = cloudevents.CloudEventsVersionV1

// MaxVersion is the highest stream version: aggregateversion is a CloudEvents Integer (int32).
const MaxVersion = math.MaxInt32

var (
	typeNameRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	idRe       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@+=~-]{0,255}$`)
)

// ValidateStreamName checks an aggregate type and id against the naming rules: a type is
// 1–63 characters of lower-case letters, digits, '_' and '-', starting with a letter (it
// becomes part of a Kafka topic name); an id is 1–256 characters of letters, digits and
// ". _ : @ + = ~ -", starting with a letter or digit (it is safe in a URL path segment).
func ValidateStreamName(aggType, aggID string) error {
	if !validTypeName(aggType) {
		return invalid(CodeInvalidStreamName, ExtAggregateType,
			"aggregate type %q must match %s", aggType, typeNameRe)
	}
	if !validAggID(aggID) {
		return invalid(CodeInvalidStreamName, ExtAggregateID,
			"aggregate id %q must match %s", aggID, idRe)
	}
	return nil
}

// validTypeName reports whether s matches typeNameRe, checked by hand (FuzzStreamName
// compares): the append path checks every stream's name, and the regexp was a visible share.
func validTypeName(s string) bool {
	if len(s) < 1 || len(s) > 63 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// validAggID reports whether s matches idRe, checked by hand like validTypeName.
func validAggID(s string) bool {
	if len(s) < 1 || len(s) > 256 || !alnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !alnum(c) && strings.IndexByte("._:@+=~-", c) < 0 {
			return false
		}
	}
	return true
}

func alnum(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' }

// New returns an empty CloudEvent 1.0.
func New() Event { return cloudevents.New(SpecVersion) }

// Stamp sets the Strata extensions of e for position version of stream (aggType, aggID),
// in their canonical types.
//
// For the 1.0 context it writes the extension map in place: the names are valid constants
// and the values already have the canonical types sdk-go's SetExtension would give them
// (string, int32), and SetExtension's checks and field-error bookkeeping were a visible
// share of an append's CPU.
func Stamp(e *Event, aggType, aggID string, version int64) {
	var v any = int32(version)
	if version < math.MinInt32 || version > MaxVersion {
		// Out of the Integer range: keep the number as a string, which ValidateStrata
		// refuses, rather than let int32 wrap it into a plausible version.
		v = strconv.FormatInt(version, 10)
	}
	if ec, ok := e.Context.(*cloudevents.EventContextV1); ok {
		if ec.Extensions == nil {
			ec.Extensions = make(map[string]any, 4)
		}
		ec.Extensions[ExtAggregateType] = aggType
		ec.Extensions[ExtAggregateID] = aggID
		ec.Extensions[ExtAggregateVersion] = v
		ec.Extensions[ExtPartitionKey] = aggID
		return
	}
	e.SetExtension(ExtAggregateType, aggType)
	e.SetExtension(ExtAggregateID, aggID)
	e.SetExtension(ExtAggregateVersion, v)
	e.SetExtension(ExtPartitionKey, aggID)
}

// AggregateType returns the aggregatetype extension, or "" if it is absent or not a string.
func AggregateType(e *Event) string { return stringExt(e, ExtAggregateType) }

// AggregateID returns the aggregateid extension, or "" if it is absent or not a string.
func AggregateID(e *Event) string { return stringExt(e, ExtAggregateID) }

// PartitionKey returns the partitionkey extension, or "" if it is absent or not a string.
func PartitionKey(e *Event) string { return stringExt(e, ExtPartitionKey) }

// AggregateVersion returns the aggregateversion extension. ok is false when it is absent;
// err is non-nil when it is present but not a positive Integer.
func AggregateVersion(e *Event) (v int64, ok bool, err error) {
	raw, present := extensions(e)[ExtAggregateVersion]
	if !present {
		return 0, false, nil
	}
	n, err := toInteger(raw)
	if err != nil || n < 1 {
		return 0, true, invalid(CodeInvalidExtensionValue, ExtAggregateVersion,
			"must be an Integer of at least 1, got %v", raw)
	}
	return int64(n), true, nil
}

// isIntegerString reports whether s is the CloudEvents Integer's string form, the integer
// part of a JSON number: -?(0|[1-9][0-9]*). (Checked by hand: it runs for every event a
// projection reads, and a regexp match cost more than the rest of reading the version.)
func isIntegerString(s string) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	if len(s) == 0 || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// toInteger converts an extension value to a CloudEvents Integer, strictly: unlike
// types.ToInteger it refuses "1.5", "1e0", "+1" and non-integral floats instead of truncating.
func toInteger(raw any) (int32, error) {
	switch v := raw.(type) {
	case string:
		if !isIntegerString(v) {
			return 0, fmt.Errorf("%q is not an Integer", v)
		}
		n, err := strconv.ParseInt(v, 10, 32)
		return int32(n), err
	case float32, float64:
		return 0, fmt.Errorf("%v is a float, not an Integer", v)
	}
	return types.ToInteger(raw)
}

// extensions returns e's extensions for reading only: sdk-go's Extensions copies the map
// on every call, which on the decode paths (projections, replay) cost more than the rest of
// the decoding; for the 1.0 context the map is read in place.
func extensions(e *Event) map[string]any {
	if ec, ok := e.Context.(*cloudevents.EventContextV1); ok {
		return ec.Extensions
	}
	return e.Extensions()
}

// HasExtension reports whether e carries the extension name (without copying e's
// extensions).
func HasExtension(e *Event, name string) bool {
	_, ok := extensions(e)[name]
	return ok
}

func stringExt(e *Event, name string) string {
	raw, ok := extensions(e)[name]
	if !ok {
		return ""
	}
	s, err := types.ToString(raw)
	if err != nil {
		return ""
	}
	return s
}

// StreamOf returns the stream an event names through its extensions.
func StreamOf(e *Event) (aggType, aggID string) { return AggregateType(e), AggregateID(e) }

// StreamString renders a stream name as "type/id" for logs and errors.
func StreamString(aggType, aggID string) string { return fmt.Sprintf("%s/%s", aggType, aggID) }

// Source returns e.Source(). For the 1.0 context and a source that is a plain path
// (letters, digits, "-._~/", not starting with "//", nothing else set in the URL), which
// sdk-go prints unchanged, it returns the path without printing the URL: sdk-go builds a
// new string on every call, and the append path asks an event for its source several times.
func Source(e *Event) string {
	if ec, ok := e.Context.(*cloudevents.EventContextV1); ok && plainPath(&ec.Source.URL) {
		return ec.Source.Path
	}
	return e.Source()
}

func plainPath(u *url.URL) bool {
	if u.Scheme != "" || u.Opaque != "" || u.User != nil || u.Host != "" || u.RawPath != "" ||
		u.ForceQuery || u.RawQuery != "" || u.Fragment != "" || u.RawFragment != "" || u.OmitHost ||
		strings.HasPrefix(u.Path, "//") {
		return false
	}
	for i := 0; i < len(u.Path); i++ {
		switch c := u.Path[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '/':
		default:
			return false
		}
	}
	return true
}
