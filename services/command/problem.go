package command

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/embedded"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventhttp"
	"github.com/strata-platform/strata/pkg/schema"
	"github.com/strata-platform/strata/pkg/stream"
)

// Problem is an RFC 9457 problem details body. Code is Strata's stable reason.
type Problem = eventhttp.Problem

// Codes the API adds to those of pkg/event, pkg/eventhttp and pkg/schema.
const (
	CodeConflict         = "conflict"
	CodePartialRetry     = "partial_retry"
	CodeBadExpected      = "invalid_expected_version"
	CodeUnavailable      = "unavailable"
	CodeTimeout          = "timeout"
	CodeNotFound         = "stream_not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeInternal         = "internal"
	CodeDiskFull         = "disk_full" // 507: the embedded engine keeps its disk reserve
)

func writeProblem(w http.ResponseWriter, p Problem) {
	p.Type = "https://strata.dev/problems/" + p.Code
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	if p.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// problemFor maps an error of the append path to its problem.
func problemFor(err error) Problem {
	var (
		de *eventhttp.DecodeError
		ve *event.ValidationError
		ce *stream.ConflictError
		sv *schema.ViolationError
		ms *schema.MissingSchemaError
	)
	switch {
	case errors.As(err, &de):
		p := Problem{Status: de.Status, Code: de.Code, Detail: de.Detail}
		if de.Index >= 0 {
			p.Index = &de.Index
		}
		if errors.As(err, &ve) {
			p.Attribute = ve.Attribute
		}
		return p
	case errors.As(err, &ce):
		return Problem{Status: http.StatusConflict, Code: CodeConflict, Detail: ce.Error(), CurrentVersion: &ce.Current}
	case errors.As(err, &sv):
		return Problem{Status: http.StatusUnprocessableEntity, Code: string(sv.Code), Detail: sv.Error(), Violations: sv.Violations}
	case errors.As(err, &ms):
		return Problem{Status: http.StatusUnprocessableEntity, Code: string(ms.Code), Detail: ms.Error()}
	case errors.As(err, &ve):
		return Problem{Status: http.StatusBadRequest, Code: string(ve.Code), Attribute: ve.Attribute, Detail: ve.Error()}
	case errors.Is(err, stream.ErrBadExpected):
		return Problem{Status: http.StatusBadRequest, Code: CodeBadExpected, Detail: err.Error()}
	case errors.Is(err, appender.ErrPartialRetry):
		return Problem{Status: http.StatusConflict, Code: CodePartialRetry, Detail: err.Error()}
	case errors.Is(err, embedded.ErrDiskFull):
		return Problem{Status: http.StatusInsufficientStorage, Code: CodeDiskFull, Detail: err.Error()}
	case errors.Is(err, appender.ErrOutcomeUnknown):
		return Problem{Status: http.StatusServiceUnavailable, Code: CodeOutcomeUnknown, Detail: err.Error()}
	case errors.Is(err, appender.ErrNotOwner):
		return Problem{Status: http.StatusServiceUnavailable, Code: CodeNotOwner, Detail: err.Error()}
	case errors.Is(err, appender.ErrUnavailable), errors.Is(err, appender.ErrClosed):
		return Problem{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Detail: err.Error()}
	}
	return Problem{Status: http.StatusInternalServerError, Code: CodeInternal, Detail: err.Error()}
}
