package stream

import (
	"fmt"
	"strconv"
	"strings"
)

// ID names a stream: an aggregate type and an aggregate id.
type ID struct {
	Type string
	ID   string
}

func (s ID) String() string { return s.Type + "/" + s.ID }

// Expected is an append's expectation of the stream's committed version.
type Expected struct {
	kind    expectKind
	version int64
}

type expectKind uint8

const (
	expectVersion expectKind = iota
	expectAny
	expectExists
)

// The expectations that are not a number.
var (
	Any    = Expected{kind: expectAny}
	Exists = Expected{kind: expectExists}
)

// ExactVersion expects the stream's version to be exactly v (0: the stream must not exist).
func ExactVersion(v int64) Expected { return Expected{kind: expectVersion, version: v} }

// ParseExpected reads "any", "exists" or a non-negative decimal version.
func ParseExpected(s string) (Expected, error) {
	switch strings.TrimSpace(s) {
	case "any":
		return Any, nil
	case "exists":
		return Exists, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || s != strconv.FormatInt(v, 10) {
		return Expected{}, fmt.Errorf("%w %q: want a version >= 0, \"any\" or \"exists\"", ErrBadExpected, s)
	}
	return ExactVersion(v), nil
}

// Version returns the expected version and whether the expectation is a number.
func (e Expected) Version() (int64, bool) { return e.version, e.kind == expectVersion }

func (e Expected) String() string {
	switch e.kind {
	case expectAny:
		return "any"
	case expectExists:
		return "exists"
	}
	return strconv.FormatInt(e.version, 10)
}

// Check returns nil when a stream at version current satisfies e, else a *ConflictError.
func Check(s ID, e Expected, current int64) error {
	ok := false
	switch e.kind {
	case expectAny:
		ok = true
	case expectExists:
		ok = current > 0
	default:
		ok = current == e.version
	}
	if ok {
		return nil
	}
	return &ConflictError{Stream: s, Expected: e, Current: current}
}

// Position is where an event is stored: a partition of an event topic and an offset.
type Position struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// RecentWindow is how many of a stream's latest events a Head remembers for idempotency:
// a retried append is recognised if its first event is among them.
const RecentWindow = 64

// Recent identifies one of a stream's latest events.
type Recent struct {
	Source   string   `json:"s"`
	EventID  string   `json:"i"`
	Version  int64    `json:"v"`
	Position Position `json:"p"`
}

// Head is a stream's committed state as the write path sees it.
type Head struct {
	Version int64    `json:"version"`
	Recent  []Recent `json:"recent,omitempty"` // oldest first, at most RecentWindow
}

// Advance returns the head after appending events with the given recents (in order).
// It allocates the new window once; h is not modified.
func (h Head) Advance(added []Recent) Head {
	return Head{Version: h.Version + int64(len(added)), Recent: window(h.Recent, added)}
}

// Window returns the parts of older followed by added that are its last RecentWindow
// entries: what a head keeps of its recents after an append.
func Window(older, added []Recent) ([]Recent, []Recent) {
	if drop := len(older) + len(added) - RecentWindow; drop > 0 {
		if drop >= len(older) {
			return nil, added[drop-len(older):]
		}
		older = older[drop:]
	}
	return older, added
}

// window returns a new slice of the last RecentWindow entries of older followed by added.
func window(older, added []Recent) []Recent {
	older, added = Window(older, added)
	if len(older)+len(added) == 0 {
		return nil
	}
	out := make([]Recent, len(older)+len(added))
	copy(out[copy(out, older):], added)
	return out
}

// Pending is a head with appends accepted but not committed: the committed head and the
// recents added since, oldest first. It answers what Prior.Advance(Added) would answer
// without copying the window, so a writer can check many appends to a stream cheaply.
type Pending struct {
	Prior Head
	Added []Recent
}

// Version is the stream's version once the added events commit.
func (p Pending) Version() int64 { return p.Prior.Version + int64(len(p.Added)) }

// Find returns the recent entry with the given (source, id) among the RecentWindow latest
// events of Prior.Advance(Added).
func (p Pending) Find(source, id string) (Recent, bool) {
	older, added := Window(p.Prior.Recent, p.Added)
	for _, r := range added {
		if sameID(r, source, id) {
			return r, true
		}
	}
	for _, r := range older {
		if sameID(r, source, id) {
			return r, true
		}
	}
	return Recent{}, false
}

// Head returns Prior.Advance(Added).
func (p Pending) Head() Head { return p.Prior.Advance(p.Added) }

// Find returns the recent entry with the given (source, id).
func (h Head) Find(source, id string) (Recent, bool) {
	for _, r := range h.Recent {
		if sameID(r, source, id) {
			return r, true
		}
	}
	return Recent{}, false
}

// sameID reports whether r is the event (source, id). Ids of one stream's events often
// share a long prefix and differ near the end ("c1-17-0", "c1-18-0"), so it compares ids
// from their last byte backwards: a head holds 64 recents, and every append looks through
// them for a retry, and nearly all of them differ.
func sameID(r Recent, source, id string) bool {
	if len(r.EventID) != len(id) {
		return false
	}
	for i := len(id) - 1; i >= 0; i-- {
		if r.EventID[i] != id[i] {
			return false
		}
	}
	return r.Source == source
}
