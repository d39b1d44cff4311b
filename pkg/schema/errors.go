package schema

import (
	"errors"
	"fmt"
	"strings"
)

// Code is a stable, machine-readable reason for refusing an event. Codes appear in
// problem+json bodies (HTTP 422) and never change meaning once published.
type Code string

// The refusal codes. Every one of them is an HTTP 422 Unprocessable Content.
const (
	// CodeSchemaViolation: the event's data does not satisfy its type's schema, or is not
	// JSON (wrong datacontenttype, malformed JSON, invalid UTF-8, duplicate member names).
	CodeSchemaViolation Code = "schema_violation"
	// CodeUnknownType: Config.Require is set and no schema exists for the event's type.
	CodeUnknownType Code = "unknown_type"
	// CodeUnknownDataSchema: the event's type has schemas, but its dataschema names none
	// of them (not a schema's $id, and no version we have in a ".v<N>.json" suffix).
	CodeUnknownDataSchema Code = "unknown_dataschema"
)

// Sentinels.
var (
	// ErrRejected is matched by every *ViolationError and *MissingSchemaError.
	ErrRejected = errors.New("schema: event rejected")
	// ErrLayout is wrapped by Load for a file or folder that breaks the naming rule.
	ErrLayout = errors.New("schema: file breaks the layout rule")
	// ErrInvalidSchema is wrapped by Load for a schema file that does not compile.
	ErrInvalidSchema = errors.New("schema: invalid schema")
)

// LayoutRule is the naming rule every schema file follows, quoted in Load's errors.
const LayoutRule = "schema files are named schemas/<aggregatetype>/<event type>.v<N>.json " +
	"(aggregatetype as in a stream name; event type of letters, digits, '.', '_' and '-'; " +
	"N a version from 1 without leading zeros)"

// Violation is one failure of data against a schema.
type Violation struct {
	// Pointer is the RFC 6901 JSON pointer of the failing value in the data; "" is the
	// data as a whole.
	Pointer string `json:"pointer"`
	// Keyword is the JSON pointer of the failing keyword in the schema, e.g.
	// "/properties/items/minItems"; "" when the data could not be checked at all.
	Keyword string `json:"keyword,omitempty"`
	// Message says what is wrong, in English.
	Message string `json:"message"`
}

func (v Violation) String() string { return fmt.Sprintf("at %q: %s", v.Pointer, v.Message) }

// ViolationError says an event's data failed its schema. Its code is always
// CodeSchemaViolation.
type ViolationError struct {
	Code          Code
	AggregateType string
	Type          string      // the event's type
	File          string      // the schema checked against, under schemas/: "order/com.example.order.placed.v1.json"
	Violations    []Violation // every failure, sorted by Pointer then Keyword; never empty
}

func (e *ViolationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "schema: %s: %s does not satisfy schemas/%s: ", e.Code, e.Type, e.File)
	for i, v := range e.Violations {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(v.String())
	}
	return b.String()
}

// Is makes errors.Is(err, ErrRejected) true.
func (e *ViolationError) Is(target error) bool { return target == ErrRejected }

// MissingSchemaError says no schema could be found for an event: its Code is
// CodeUnknownType or CodeUnknownDataSchema.
type MissingSchemaError struct {
	Code          Code
	AggregateType string
	Type          string // the event's type
	DataSchema    string // the event's dataschema ("" when unset)
	// File is the schema file to add, under schemas/: "order/com.example.order.shipped.v1.json".
	// It is "" when no file can be named: the type has characters a file name may not
	// hold, or the dataschema carries no version.
	File string
}

func (e *MissingSchemaError) Error() string {
	prefix := fmt.Sprintf("schema: %s: ", e.Code)
	switch {
	case e.Code == CodeUnknownDataSchema && e.File != "":
		return prefix + fmt.Sprintf("dataschema %q names a version of %q that schemas/%s/ does not have: add schemas/%s or name an existing version",
			e.DataSchema, e.Type, e.AggregateType, e.File)
	case e.Code == CodeUnknownDataSchema:
		return prefix + fmt.Sprintf("dataschema %q is not the $id of a schema of %q in schemas/%s/ and does not end in .v<N>.json",
			e.DataSchema, e.Type, e.AggregateType)
	case e.File != "":
		return prefix + fmt.Sprintf("no schema for event type %q of aggregate type %q: add schemas/%s",
			e.Type, e.AggregateType, e.File)
	default:
		return prefix + fmt.Sprintf("no schema for event type %q of aggregate type %q, and none can be added: %s",
			e.Type, e.AggregateType, LayoutRule)
	}
}

// Is makes errors.Is(err, ErrRejected) true.
func (e *MissingSchemaError) Is(target error) bool { return target == ErrRejected }

// CodeOf returns the code of a refusal found in err's chain, and false when err is not one.
func CodeOf(err error) (Code, bool) {
	var v *ViolationError
	if errors.As(err, &v) {
		return v.Code, true
	}
	var m *MissingSchemaError
	if errors.As(err, &m) {
		return m.Code, true
	}
	return "", false
}
