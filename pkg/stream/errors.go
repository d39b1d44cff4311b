package stream

import (
	"errors"
	"fmt"
)

// ErrConflict is matched by every *ConflictError with errors.Is.
var ErrConflict = errors.New("stream: conflict")

// ErrBadExpected is returned for an expected version that cannot be parsed.
var ErrBadExpected = errors.New("stream: invalid expected version")

// ConflictError says an append's expected version did not hold.
type ConflictError struct {
	Stream   ID
	Expected Expected
	Current  int64 // the stream's committed version when the check failed
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("stream %s: expected version %s, current version %d", e.Stream, e.Expected, e.Current)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }
