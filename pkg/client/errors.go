package client

import (
	"fmt"
	"time"

	"github.com/strata-platform/strata/pkg/eventhttp"
	"github.com/strata-platform/strata/pkg/stream"
)

// Problem is an RFC 9457 problem the server answered with. Code is Strata's stable reason.
type Problem = eventhttp.Problem

// ProblemError is a refusal by the server.
type ProblemError struct {
	Problem
	RetryAfter time.Duration // from Retry-After, when the server sent one
}

func (e *ProblemError) Error() string {
	return fmt.Sprintf("strata: %d %s: %s", e.Status, e.Code, e.Detail)
}

// Temporary reports whether retrying the same request later may succeed (503).
func (e *ProblemError) Temporary() bool { return e.Status == 503 }

// ConflictError is an append whose expected version did not hold.
type ConflictError struct {
	Stream   stream.ID
	Expected stream.Expected
	Current  int64 // the stream's version when the append was checked
	Problem  *ProblemError
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("strata: conflict on %s: expected version %s, stream is at %d", e.Stream, e.Expected, e.Current)
}

// Unwrap returns the problem the server answered with.
func (e *ConflictError) Unwrap() error { return e.Problem }
