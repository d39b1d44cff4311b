package query

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/projection"
	"github.com/strata-platform/strata/pkg/stream"
)

// At says which state to load: at a version, at a time, or (both zero) the current one.
type At struct {
	Version int64
	Time    time.Time
}

// State is an aggregate's state at a version.
type State struct {
	State   json.RawMessage // nil at version 0
	Version int64           // the last event folded in (0: none)
	Head    int64           // the stream's committed version when the read started
	// Folded is how many events were read and folded on top of the snapshot (the cost of
	// the load); FromSnapshot is the snapshot's version (0: none used).
	Folded       int
	FromSnapshot int64
}

// foldPage is how many events a state load reads at once.
const foldPage = 500

// State loads s at a version or a time: the newest snapshot at or before it (the snapshot
// projection keeps only the newest snapshot; when that one is past the wanted point the fold
// starts from the first event), plus the events after it, folded with the type's reducer.
//
// At a time T the fold takes the stream's events in version order while their event time
// (the time attribute, else the record timestamp) is at or before T, and stops at the first
// one after T. A snapshot is used for T only when the event it was taken at is at or before
// T.
func (r *Reader) State(ctx context.Context, s stream.ID, at At) (State, error) {
	if err := event.ValidateStreamName(s.Type, s.ID); err != nil {
		return State{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if at.Version < 0 {
		return State{}, fmt.Errorf("%w: version %d: want 1 or more", ErrBadRequest, at.Version)
	}
	h, err := r.head(ctx, s)
	if err != nil {
		return State{}, err
	}
	target := h.Version
	if at.Version > 0 {
		if at.Version > h.Version {
			return State{}, fmt.Errorf("%w: %s is at version %d, not %d", ErrVersionNotFound, s, h.Version, at.Version)
		}
		target = at.Version
	}
	out := State{Head: h.Version}
	if target == 0 {
		return out, nil
	}
	snap, err := r.snapshot(ctx, s, target, at.Time)
	if err != nil {
		return State{}, err
	}
	if snap != nil {
		out.State, out.Version, out.FromSnapshot = snap.State, snap.Version, snap.Version
	}
	red := r.reducer(s.Type)
	for out.Version < target {
		recs, err := r.readVersions(ctx, s, h, out.Version+1, min(target, out.Version+foldPage))
		if err != nil {
			return State{}, err
		}
		for _, rec := range recs {
			if !at.Time.IsZero() && rec.EventTime().After(at.Time) {
				return out, nil
			}
			env, err := projection.NewEnvelope(rec.Event, rec.Position, rec.Timestamp)
			if err != nil {
				return State{}, err
			}
			if out.State, err = red(out.State, env); err != nil {
				return State{}, fmt.Errorf("fold %s: %w", s, err)
			}
			out.Version, out.Folded = env.Version, out.Folded+1
		}
	}
	return out, nil
}

// snapshot returns the newest snapshot of s if it is usable for version target and time t.
func (r *Reader) snapshot(ctx context.Context, s stream.ID, target int64, t time.Time) (*projection.Snapshot, error) {
	vals, err := r.cfg.Models.GetMany(ctx, "snapshots", []string{projection.SnapshotKey(s)})
	if err != nil || vals[0] == nil {
		return nil, err
	}
	var snap projection.Snapshot
	if err := json.Unmarshal(vals[0], &snap); err != nil {
		return nil, fmt.Errorf("%w: snapshot of %s: %v", ErrCorrupt, s, err)
	}
	if snap.Version < 1 || snap.Version > target {
		return nil, nil
	}
	if t.IsZero() {
		return &snap, nil
	}
	// The snapshot's own event decides whether it is at or before t.
	recs, err := r.cfg.Log.Fetch(ctx, snap.Position.Topic, snap.Position.Partition, []int64{snap.Position.Offset})
	if err != nil {
		return nil, fmt.Errorf("read snapshot event of %s: %w", s, err)
	}
	if recs[0].EventTime().After(t) {
		return nil, nil
	}
	return &snap, nil
}

func (r *Reader) reducer(aggType string) projection.Reducer {
	if red, ok := r.cfg.Reducers[aggType]; ok {
		return red
	}
	if red, ok := r.cfg.Reducers["*"]; ok {
		return red
	}
	return projection.MergePatch
}
