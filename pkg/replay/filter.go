package replay

import (
	"time"

	"github.com/strata-platform/strata/pkg/event"
)

// Filter selects the events a replay writes; the zero Filter selects every event. All the
// set conditions must hold.
type Filter struct {
	// Types keeps events whose CloudEvents type is one of these.
	Types []string
	// AggregateType and AggregateID keep events of that aggregate type / id.
	AggregateType string
	AggregateID   string
	// TimeFrom and TimeTo keep events whose time is in [TimeFrom, TimeTo); a zero bound is
	// open. An event's time is its CloudEvents time attribute, or, for an event without
	// one, its record timestamp.
	TimeFrom, TimeTo time.Time
}

// Match reports whether r passes the filter.
func (f *Filter) Match(r *Record) bool {
	if len(f.Types) > 0 && !contains(f.Types, r.Event.Type()) {
		return false
	}
	if f.AggregateType != "" && event.AggregateType(&r.Event) != f.AggregateType {
		return false
	}
	if f.AggregateID != "" && event.AggregateID(&r.Event) != f.AggregateID {
		return false
	}
	if f.TimeFrom.IsZero() && f.TimeTo.IsZero() {
		return true
	}
	t := r.Event.Time()
	if t.IsZero() {
		t = r.Timestamp
	}
	if !f.TimeFrom.IsZero() && t.Before(f.TimeFrom) {
		return false
	}
	return f.TimeTo.IsZero() || t.Before(f.TimeTo)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
