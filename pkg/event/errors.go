package event

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable reason for refusing an event. Codes appear in
// problem+json bodies and never change meaning once published.
type Code string

// The validation codes.
const (
	CodeMissingAttribute      Code = "missing_attribute"       // a required attribute is absent or empty
	CodeInvalidAttribute      Code = "invalid_attribute"       // an attribute is present but malformed
	CodeBadSpecVersion        Code = "bad_specversion"         // specversion is not 1.0
	CodeInvalidExtensionName  Code = "invalid_extension_name"  // an extension name breaks the naming rule
	CodeInvalidExtensionValue Code = "invalid_extension_value" // an extension value has the wrong type or form
	CodeAttributeTooLarge     Code = "attribute_too_large"     // one attribute value exceeds Limits.MaxAttributeBytes
	CodeDataTooLarge          Code = "data_too_large"          // data exceeds Limits.MaxDataBytes
	CodeEventTooLarge         Code = "event_too_large"         // the whole event exceeds Limits.MaxEventBytes
	CodeInvalidStreamName     Code = "invalid_stream_name"     // aggregate type or id breaks the naming rules
	CodeStreamMismatch        Code = "stream_mismatch"         // an extension disagrees with the stream it is appended to
	CodeDuplicateEvent        Code = "duplicate_event"         // one (source, id) appears twice in one append
)

// ErrInvalid is the sentinel every *ValidationError matches with errors.Is.
var ErrInvalid = errors.New("event: invalid")

// ValidationError says why an event was refused.
type ValidationError struct {
	Code      Code   // stable reason
	Attribute string // the attribute at fault ("" when the event as a whole is)
	Detail    string // human-readable explanation
}

func (e *ValidationError) Error() string {
	if e.Attribute == "" {
		return fmt.Sprintf("event: %s: %s", e.Code, e.Detail)
	}
	return fmt.Sprintf("event: %s: %s: %s", e.Code, e.Attribute, e.Detail)
}

// Is makes errors.Is(err, ErrInvalid) true for every validation error.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(code Code, attr, format string, args ...any) *ValidationError {
	return &ValidationError{Code: code, Attribute: attr, Detail: fmt.Sprintf(format, args...)}
}
