package query

import "errors"

// Sentinels. Callers match them with errors.Is.
var (
	// ErrBadRequest: a parameter is out of range (a version below 1, a limit out of
	// bounds, a partition the topic does not have, an unreadable Last-Event-ID).
	ErrBadRequest = errors.New("query: bad request")
	// ErrUnavailable: the read cannot be answered correctly now (the index has not caught
	// up with the stream's head within the deadline, or a store is unreachable). Retrying
	// later is safe; a stale answer is never given instead.
	ErrUnavailable = errors.New("query: unavailable")
	// ErrVersionNotFound: a state was asked at a version the stream has not reached.
	ErrVersionNotFound = errors.New("query: version not found")
	// ErrCorrupt: a record fetched by position is not the event the index says it is.
	ErrCorrupt = errors.New("query: record does not match the index")
)
