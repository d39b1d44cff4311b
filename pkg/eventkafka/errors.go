package eventkafka

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable reason why a record could not be decoded or an event
// could not be encoded. Codes never change meaning once published.
type Code string

// The binding's codes. An event that decodes but is not a valid CloudEvent is refused with
// the *event.ValidationError that event.Validate returned, not with one of these.
const (
	// CodeNotCloudEvent: the record has no ce_specversion header and is not a structured-mode
	// CloudEvent either. Any Kafka record that is not an event gets this code.
	CodeNotCloudEvent Code = "not_a_cloudevent"
	// CodeDuplicateHeader: two headers carry the same attribute (header names compare
	// case-insensitively), or content-type appears twice.
	CodeDuplicateHeader Code = "duplicate_header"
	// CodeInvalidHeader: a header name or value is not UTF-8, a ce_ header names no attribute
	// ("ce_"), or it names one the binding carries elsewhere (ce_data, ce_datacontenttype).
	// Encode uses it for an attribute value that is not UTF-8.
	CodeInvalidHeader Code = "invalid_header"
	// CodeInvalidAttributeValue: a header value cannot be read as its attribute's type (time
	// is not RFC 3339, source is not a URI-reference, dataschema is empty or not a URI), or an
	// attribute of the event cannot be written in canonical form.
	CodeInvalidAttributeValue Code = "invalid_attribute_value"
	// CodeUnsupportedFormat: the content-type names a CloudEvents event format other than
	// JSON (application/cloudevents+json) and the record has no binary-mode headers.
	CodeUnsupportedFormat Code = "unsupported_format"
	// CodeInvalidStructured: a structured-mode record's value is not a JSON-format CloudEvent.
	CodeInvalidStructured Code = "invalid_structured"
)

// Sentinels, one per code: errors.Is(err, ErrDuplicateHeader) is true for every *Error with
// CodeDuplicateHeader, through any wrapping.
var (
	ErrNotCloudEvent         = errors.New("eventkafka: not a CloudEvent")
	ErrDuplicateHeader       = errors.New("eventkafka: duplicate header")
	ErrInvalidHeader         = errors.New("eventkafka: invalid header")
	ErrInvalidAttributeValue = errors.New("eventkafka: invalid attribute value")
	ErrUnsupportedFormat     = errors.New("eventkafka: unsupported event format")
	ErrInvalidStructured     = errors.New("eventkafka: invalid structured-mode record")
)

var sentinels = map[Code]error{
	CodeNotCloudEvent:         ErrNotCloudEvent,
	CodeDuplicateHeader:       ErrDuplicateHeader,
	CodeInvalidHeader:         ErrInvalidHeader,
	CodeInvalidAttributeValue: ErrInvalidAttributeValue,
	CodeUnsupportedFormat:     ErrUnsupportedFormat,
	CodeInvalidStructured:     ErrInvalidStructured,
}

// Error says why a record could not be decoded or an event encoded.
type Error struct {
	Code   Code   // stable reason
	Header string // the Kafka header at fault, e.g. "ce_time" ("" when the record as a whole is)
	Detail string // human-readable explanation
	Err    error  // the underlying parse error, if any
}

func (e *Error) Error() string {
	if e.Header == "" {
		return fmt.Sprintf("eventkafka: %s: %s", e.Code, e.Detail)
	}
	return fmt.Sprintf("eventkafka: %s: %s: %s", e.Code, e.Header, e.Detail)
}

// Is matches the sentinel of e's code.
func (e *Error) Is(target error) bool { return target != nil && sentinels[e.Code] == target }

// Unwrap returns the underlying parse error, if any.
func (e *Error) Unwrap() error { return e.Err }

func fail(code Code, header string, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Header: header, Detail: fmt.Sprintf(format, args...), Err: cause}
}
