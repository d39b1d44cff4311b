package projection

import (
	"context"
	"encoding/json"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/strata-platform/strata/pkg/stream"
)

// Doc is one aggregate's document: its state after the events up to Version.
type Doc[T any] struct {
	Version int64 `json:"version"`
	State   T     `json:"state"`
}

// DocKey is the key of an aggregate's document in a projection's keyspace.
func DocKey(s stream.ID) string { return "doc:" + s.Type + ":" + s.ID }

// Fold returns a handler that keeps one JSON document per aggregate: fn folds each event
// into the state. The document's version guards it: an event at or below it is a
// redelivery and is skipped; one above version+1 is ErrVersionGap.
// The handler is a Prefetcher: the runtime reads a batch's documents in one round trip.
func Fold[T any](fn func(state T, env *Envelope) (T, error)) Handler {
	return foldHandler[T](fn)
}

type foldHandler[T any] func(state T, env *Envelope) (T, error)

func (f foldHandler[T]) Apply(_ context.Context, tx *Tx, env *Envelope) error {
	_, err := FoldInto(tx, DocKey(env.Stream), env, f)
	return err
}

// Prefetch names the event's document.
func (f foldHandler[T]) Prefetch(env *Envelope, keys []string) []string {
	return append(keys, DocKey(env.Stream))
}

// FoldInto applies env to the document at key with fn and stages the result; it reports
// whether the event was applied (false: a redelivery).
func FoldInto[T any](tx *Tx, key string, env *Envelope, fn func(T, *Envelope) (T, error)) (bool, error) {
	var doc Doc[T]
	raw, ok, err := tx.Get(key)
	if err != nil {
		return false, err
	}
	if ok {
		if err := json.Unmarshal(raw, &doc); err != nil {
			return false, fmt.Errorf("document %s: %w", key, err)
		}
	}
	switch {
	case env.Version <= doc.Version:
		return false, nil
	case env.Version != doc.Version+1:
		return false, fmt.Errorf("%w: %s has version %d, event has %d", ErrVersionGap, env.Stream, doc.Version, env.Version)
	}
	state, err := fn(doc.State, env)
	if err != nil {
		return false, err
	}
	out, err := json.Marshal(Doc[T]{Version: env.Version, State: state})
	if err != nil {
		return false, err
	}
	tx.Put(key, out)
	return true, nil
}

// Reducer folds one event into an aggregate's JSON state (nil state: no events yet).
type Reducer func(state json.RawMessage, env *Envelope) (json.RawMessage, error)

// MergePatch is the declarative reducer: each event's data is an RFC 7386 JSON merge patch
// applied to the state (starting from {}). Events without data leave the state unchanged.
func MergePatch(state json.RawMessage, env *Envelope) (json.RawMessage, error) {
	if len(state) == 0 {
		state = json.RawMessage(`{}`)
	}
	data := env.Event.Data()
	if len(data) == 0 {
		return state, nil
	}
	out, err := jsonpatch.MergePatch(state, data)
	if err != nil {
		return nil, fmt.Errorf("merge patch of %s v%d: %w", env.Stream, env.Version, err)
	}
	return out, nil
}

// Reducers maps aggregate types to their reducers.
type Reducers map[string]Reducer

// Replay folds a stream's events (in version order) from a starting state with a reducer.
func Replay(red Reducer, state json.RawMessage, envs []*Envelope) (json.RawMessage, error) {
	var err error
	for _, env := range envs {
		if state, err = red(state, env); err != nil {
			return nil, err
		}
	}
	return state, nil
}
