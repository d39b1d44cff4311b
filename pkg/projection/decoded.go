package projection

import (
	"bytes"
	"encoding"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Decoded documents.
//
// Fold (for document types that survive a JSON round trip exactly) and the Snapshots
// projection with the MergePatch reducer keep an aggregate's document decoded while they work
// on it, instead of decoding its JSON before and encoding it after every event:
//
//   - putDecoded stages a decoded value; the Tx encodes it (json.Marshal) once, when the
//     batch is sealed before its commit, or earlier if Get asks for the key's bytes.
//   - getDecoded returns the value staged in this batch, if any. Otherwise it reads the
//     key's bytes as Get does and decodes them, unless the runner's memo holds a value that
//     was encoded to exactly those bytes (by an earlier batch of this runner): then it hands
//     out that value instead of decoding the bytes again.
//
// The memo is keyed by content, not by who wrote what: an entry is used only when the bytes
// read now are the bytes the value was encoded to, so it needs no invalidation on resync,
// rebalance or a failed commit (a stale entry simply does not match). A value handed out is
// removed from the memo, so the caller may change it in place; the value it stages is
// encoded at the next seal and remembered again.
//
// A value may stand in for its bytes only if decoding those bytes gives the value back
// exactly; the callers ensure that (jsonExact for Fold's T; MergePatch's decoded form).

// memoMax bounds the memo; beyond it an arbitrary entry is dropped per new one.
const memoMax = 1 << 15

// memo remembers values encoded at seal, by key, with their bytes. Only the runner's
// goroutine uses it. A nil memo remembers nothing.
type memo struct {
	m      map[string]memoEntry
	staged int // how many values the last sealed batch staged: the next one's vals are sized so
}

type memoEntry struct {
	raw []byte
	v   any
}

func newMemo() *memo { return &memo{m: map[string]memoEntry{}} }

// take returns and forgets the value remembered for key if it was encoded to raw.
func (m *memo) take(key string, raw []byte) (any, bool) {
	if m == nil {
		return nil, false
	}
	e, ok := m.m[key]
	if !ok {
		return nil, false
	}
	delete(m.m, key)
	if !bytes.Equal(e.raw, raw) {
		return nil, false
	}
	return e.v, true
}

func (m *memo) put(key string, raw []byte, v any) {
	if m == nil {
		return
	}
	if len(m.m) >= memoMax {
		if _, ok := m.m[key]; !ok {
			for k := range m.m {
				delete(m.m, k)
				break
			}
		}
	}
	m.m[key] = memoEntry{raw, v}
}

// getDecoded returns key's value as of this batch, decoded with dec (see above). The
// caller owns the value: it may change it, and stages the result with putDecoded.
func getDecoded[V any](tx *Tx, key string, dec func([]byte) (V, error)) (V, bool, error) {
	var zero V
	if v, ok := tx.vals[key]; ok {
		if tv, ok := v.(V); ok {
			return tv, true, nil
		}
	}
	raw, ok, err := tx.Get(key)
	if err != nil || !ok {
		return zero, false, err
	}
	if v, ok := tx.memo.take(key, raw); ok {
		if tv, ok := v.(V); ok {
			return tv, true, nil
		}
	}
	v, err := dec(raw)
	if err != nil {
		return zero, false, err
	}
	return v, true, nil
}

// putDecoded stages v as key's value; it is encoded with json.Marshal when the batch is
// sealed (or when Get reads the key).
func (tx *Tx) putDecoded(key string, v any) {
	delete(tx.puts, key)
	delete(tx.dels, key)
	if tx.vals == nil {
		var hint int
		if tx.memo != nil {
			hint = tx.memo.staged // a batch stages about as many as the one before
		}
		tx.vals = make(map[string]any, hint)
	}
	tx.vals[key] = v
}

// encodeStaged encodes key's staged decoded value into a put and remembers it in the memo.
func (tx *Tx) encodeStaged(key string, v any) error {
	var b []byte
	var err error
	if a, ok := v.(jsonAppender); ok {
		b, err = a.appendJSON(nil)
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return err
	}
	delete(tx.vals, key)
	tx.puts[key] = b
	tx.memo.put(key, b, v)
	return nil
}

// jsonAppender is a staged value that encodes itself as json.Marshal would.
type jsonAppender interface {
	appendJSON(b []byte) ([]byte, error)
}

// seal encodes every staged decoded value. The runtime seals a batch after its Apply and
// Flush calls and before its commit (and before the next batch reads its writes).
func (tx *Tx) seal() error {
	if tx.memo != nil && len(tx.vals) > 0 {
		tx.memo.staged = len(tx.vals)
	}
	for k, v := range tx.vals {
		if err := tx.encodeStaged(k, v); err != nil {
			return err
		}
	}
	return nil
}

// jsonExact reports whether every value of t comes back exactly from json.Marshal then
// json.Unmarshal into a zero value, and whether that holds only for values whose strings
// are valid UTF-8 and whose floats are finite (checkExact). It accepts booleans, numbers,
// strings, arrays and structs of them (exported, named fields only); it refuses anything
// that holds a reference (pointers, slices, maps, interfaces: a value kept across events
// could then share memory that a decoded copy would not) or encodes itself.
func jsonExact(t reflect.Type) (exact, check bool) {
	for _, i := range []reflect.Type{
		reflect.TypeFor[json.Marshaler](), reflect.TypeFor[json.Unmarshaler](),
		reflect.TypeFor[encoding.TextMarshaler](), reflect.TypeFor[encoding.TextUnmarshaler](),
	} {
		if t.Implements(i) || reflect.PointerTo(t).Implements(i) {
			return false, false
		}
	}
	if t == reflect.TypeFor[json.Number]() {
		return false, false // a string that Marshal writes as a number ("" as 0)
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true, false
	case reflect.Float32, reflect.Float64, reflect.String:
		return true, true
	case reflect.Array:
		return jsonExact(t.Elem())
	case reflect.Struct:
		names := map[string]bool{}
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if !f.IsExported() || f.Anonymous || tag == "-" {
				return false, false
			}
			name, _, _ := strings.Cut(tag, ",")
			if name == "" {
				name = f.Name
			}
			if name = strings.ToLower(name); names[name] {
				return false, false // Unmarshal matches names without regard to case
			}
			names[name] = true
			e, c := jsonExact(f.Type)
			if !e {
				return false, false
			}
			check = check || c
		}
		return true, check
	}
	return false, false
}

// checkExact reports whether v's strings are valid UTF-8 and its floats finite (what
// jsonExact's check asks for); v is of a type jsonExact accepts.
func checkExact(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		return utf8.ValidString(v.String())
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		return !math.IsNaN(f) && !math.IsInf(f, 0)
	case reflect.Array:
		for i := range v.Len() {
			if !checkExact(v.Index(i)) {
				return false
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if !checkExact(v.Field(i)) {
				return false
			}
		}
	}
	return true
}
