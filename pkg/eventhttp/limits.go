package eventhttp

import "github.com/strata-platform/strata/pkg/event"

// Limits bounds what Decode accepts. Zero fields take the defaults.
type Limits struct {
	MaxBodyBytes int          // the request body, in bytes; default 1 MiB
	MaxEvents    int          // events in one batch; default 100
	Event        event.Limits // each event; zero fields take event.DefaultLimits
}

// DefaultLimits are the limits used when a field of Limits is zero.
var DefaultLimits = Limits{MaxBodyBytes: 1 << 20, MaxEvents: 100, Event: event.DefaultLimits}

func (l Limits) withDefaults() Limits {
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultLimits.MaxBodyBytes
	}
	if l.MaxEvents <= 0 {
		l.MaxEvents = DefaultLimits.MaxEvents
	}
	return l
}
