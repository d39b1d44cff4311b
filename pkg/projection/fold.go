package projection

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/strata-platform/strata/pkg/stream"
)

// Doc is one aggregate's document: its state after the events up to Version.
type Doc[T any] struct {
	Version int64 `json:"version"`
	State   T     `json:"state"`
}

// follows reports whether env is the next event of a document at version have. An event at
// or below it is a redelivery (false, nil); one above have+1 is ErrVersionGap.
func follows(env *Envelope, have int64) (bool, error) {
	switch {
	case env.Version <= have:
		return false, nil
	case env.Version != have+1:
		return false, fmt.Errorf("%w: %s has version %d, event has %d", ErrVersionGap, env.Stream, have, env.Version)
	}
	return true, nil
}

// DocKey is the key of an aggregate's document in a projection's keyspace.
func DocKey(s stream.ID) string { return "doc:" + s.Type + ":" + s.ID }

// Fold returns a handler that keeps one JSON document per aggregate: fn folds each event
// into the state. The document's version guards it: an event at or below it is a
// redelivery and is skipped; one above version+1 is ErrVersionGap.
// The handler is a Prefetcher: the runtime reads a batch's documents in one round trip.
//
// fn sees the state as decoded from the document's JSON. When T survives a JSON round trip
// exactly (booleans, numbers, strings, arrays and structs of them; see jsonExact), the
// handler keeps the document decoded across events and encodes it once per batch, which
// gives fn the same values without the JSON work per event.
func Fold[T any](fn func(state T, env *Envelope) (T, error)) Handler {
	exact, check := jsonExact(reflect.TypeFor[T]())
	return foldHandler[T]{fn: fn, exact: exact, check: check}
}

type foldHandler[T any] struct {
	fn           func(state T, env *Envelope) (T, error)
	exact, check bool // jsonExact of T
}

func (foldHandler[T]) partitionLocal() bool { return true } // documents are keyed by stream

func (f foldHandler[T]) Apply(_ context.Context, tx *Tx, env *Envelope) error {
	if f.exact {
		return f.applyDecoded(tx, DocKey(env.Stream), env)
	}
	_, err := FoldInto(tx, DocKey(env.Stream), env, f.fn)
	return err
}

// applyDecoded is FoldInto with the document kept decoded.
func (f foldHandler[T]) applyDecoded(tx *Tx, key string, env *Envelope) error {
	doc, ok, err := getDecoded(tx, key, func(raw []byte) (*Doc[T], error) {
		d := new(Doc[T])
		if err := json.Unmarshal(raw, d); err != nil {
			return nil, fmt.Errorf("document %s: %w", key, err)
		}
		return d, nil
	})
	if err != nil {
		return err
	}
	if !ok {
		doc = new(Doc[T])
	}
	if next, err := follows(env, doc.Version); !next {
		return err
	}
	state, err := f.fn(doc.State, env)
	if err != nil {
		return err
	}
	doc.Version, doc.State = env.Version, state
	if f.check && !checkExact(reflect.ValueOf(&doc.State).Elem()) {
		// Not exact in JSON (invalid UTF-8, NaN): stage the bytes, as FoldInto does.
		out, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		tx.Put(key, out)
		return nil
	}
	tx.putDecoded(key, doc)
	return nil
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
	if next, err := follows(env, doc.Version); !next {
		return false, err
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
