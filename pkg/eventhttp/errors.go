package eventhttp

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/strata-platform/strata/pkg/event"
)

// Decode's own codes. Envelope errors carry instead the event.Code of the
// *event.ValidationError they wrap. Codes appear in problem+json bodies and never change
// meaning once published.
const (
	CodeMalformedJSON        = "malformed_json"         // 400: the body is not the JSON the mode requires
	CodeUnsupportedMediaType = "unsupported_media_type" // 415: neither structured, batch nor binary mode
	CodeBodyTooLarge         = "body_too_large"         // 413: the body exceeds Limits.MaxBodyBytes
	CodeTooManyEvents        = "too_many_events"        // 413: a batch holds more than Limits.MaxEvents
	CodeEmptyBatch           = "empty_batch"            // 400: a batch holds no event
	CodeUnreadableBody       = "unreadable_body"        // 400: reading the body failed
)

var (
	// ErrEventHTTPDecode is the sentinel every *DecodeError matches with errors.Is.
	ErrEventHTTPDecode = errors.New("eventhttp: cannot decode request")
	// ErrEventHTTPEncode is wrapped by every error an encoder returns for an event it
	// cannot write; errors.As finds the *event.ValidationError, if any, through it.
	ErrEventHTTPEncode = errors.New("eventhttp: cannot encode")
)

// DecodeError says why Decode refused a request. Err is the cause; for envelope errors it is
// the *event.ValidationError, which errors.As finds through the DecodeError.
type DecodeError struct {
	Status int    // the HTTP status to answer with: 400, 413 or 415
	Code   string // stable reason: one of the Code constants, or an event.Code
	Detail string // human-readable explanation
	Index  int    // position of the event at fault in the request, -1 if no single event is
	Err    error  // the cause, or nil
}

func (e *DecodeError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("eventhttp: %s: %s", e.Code, e.Detail)
	}
	return fmt.Sprintf("eventhttp: %s: event %d: %s", e.Code, e.Index, e.Detail)
}

// Unwrap returns the cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrEventHTTPDecode) true for every decode error.
func (e *DecodeError) Is(target error) bool { return target == ErrEventHTTPDecode }

func decodeError(status int, code string, index int, cause error, format string, args ...any) *DecodeError {
	return &DecodeError{Status: status, Code: code, Detail: fmt.Sprintf(format, args...), Index: index, Err: cause}
}

func malformed(index int, cause error, format string, args ...any) *DecodeError {
	return decodeError(http.StatusBadRequest, CodeMalformedJSON, index, cause, format, args...)
}

// envelopeError wraps the *event.ValidationError in err for the event at index: 413 for the
// size codes, 400 for the others.
func envelopeError(index int, err error) *DecodeError {
	var ve *event.ValidationError
	if !errors.As(err, &ve) {
		ve = &event.ValidationError{Code: event.CodeInvalidAttribute, Detail: err.Error()}
		err = fmt.Errorf("%w: %w", ve, err)
	}
	status := http.StatusBadRequest
	switch ve.Code {
	case event.CodeAttributeTooLarge, event.CodeDataTooLarge, event.CodeEventTooLarge:
		status = http.StatusRequestEntityTooLarge
	}
	return &DecodeError{Status: status, Code: string(ve.Code), Detail: ve.Error(), Index: index, Err: err}
}

func invalid(code event.Code, attr, format string, args ...any) *event.ValidationError {
	return &event.ValidationError{Code: code, Attribute: attr, Detail: fmt.Sprintf(format, args...)}
}

func encodeError(index int, err error) error {
	return fmt.Errorf("%w: event %d: %w", ErrEventHTTPEncode, index, err)
}
