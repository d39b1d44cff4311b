package projection

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/stream"
)

// patchEnv is version v of stream s whose data is patch (none when empty).
func patchEnv(tb testing.TB, s stream.ID, v int64, patch string) *Envelope {
	ev := event.New()
	if patch != "" {
		if err := ev.SetData("application/json", []byte(patch)); err != nil {
			tb.Fatal(err)
		}
	}
	return &Envelope{Stream: s, Version: v, Event: ev}
}

// FuzzMergePatch: MergePatch gives json-patch's results (as JSON values, and the same
// errors), its output is canonical (appendJSON is json.Marshal), and the decoded form the
// snapshotter keeps encodes to the same bytes.
func FuzzMergePatch(f *testing.F) {
	for _, c := range [][2]string{
		{`{}`, `{"a":1}`}, {`{"a":{"b":1}}`, `{"a":{"b":null,"c":[1,null,{"x":null}]}}`},
		{`[1]`, `{"b":null,"c":{"d":null}}`}, {`{"a":1}`, `[1,null,{"x":null}]`}, {`{"a":1}`, `null`},
		{`null`, `{"a":1}`}, {`"s"`, `{"a":1}`}, {`{"a":1}`, `{"a":1`}, {`{"a":"<\u00e9>"}`, `{"b":1e2,"c":1.50}`},
		{`{"a":1}`, ` 1.50 `}, {`{"a":1}`, `"\u2028&"`}, {`{"a":[1]}`, `{"a":{"x":null}}`}, {`{}`, `{"a":-0,"b":12345678901234567890}`},
	} {
		f.Add([]byte(c[0]), []byte(c[1]))
	}
	f.Fuzz(func(t *testing.T, state, patch []byte) {
		if len(state) == 0 || len(patch) == 0 {
			return
		}
		env := patchEnv(t, stream.ID{Type: "t", ID: "x"}, 1, "")
		env.Event.DataEncoded = patch
		want, wantErr := jsonpatch.MergePatch(state, patch)
		got, err := MergePatch(state, env)
		if wantErr != nil || err != nil {
			for _, sentinel := range []error{jsonpatch.ErrBadJSONDoc, jsonpatch.ErrBadJSONPatch} {
				if errors.Is(wantErr, sentinel) != errors.Is(err, sentinel) {
					t.Fatalf("MergePatch(%q, %q): %s, %v; json-patch: %s, %v", state, patch, got, err, want, wantErr)
				}
			}
			return
		}
		if !sameJSON(t, got, want) {
			t.Fatalf("MergePatch(%q, %q) = %s; json-patch: %s", state, patch, got, want)
		}
		v, err := decodeJSON(got)
		if err != nil {
			t.Fatal(err)
		}
		if std, _ := json.Marshal(v); !bytes.Equal(got, std) {
			t.Fatalf("MergePatch(%q, %q) = %s; json.Marshal of it: %s", state, patch, got, std)
		}
		doc, _ := decodeJSON(state)
		merged, err := mergeData(doc, env)
		if err != nil {
			t.Fatal(err)
		}
		if enc, err := appendJSON(nil, merged); err != nil || !bytes.Equal(enc, got) {
			t.Fatalf("decoded merge of %q, %q: %s, %v; MergePatch: %s", state, patch, enc, err, got)
		}
	})
}

// sameJSON reports whether a and b are the same JSON value (numbers by their literals).
func sameJSON(t *testing.T, a, b []byte) bool {
	va, err := decodeJSON(a)
	if err != nil {
		t.Fatalf("%q: %v", a, err)
	}
	vb, err := decodeJSON(b)
	if err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

func TestValidNumber(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "12", "1.5", "-1.50", "1e2", "1E+2", "0.0e-12", "12345678901234567890"} {
		if !validNumber(s) || !json.Valid([]byte(s)) {
			t.Errorf("%q: not valid", s)
		}
	}
	for _, s := range []string{"", "-", "01", "1.", ".5", "1e", "1e+", "+1", "1.5.5", "0x1", "1 ", "NaN", "--1", "1e2e3"} {
		if validNumber(s) {
			t.Errorf("%q: valid", s)
		}
	}
}

func TestJSONExact(t *testing.T) {
	type inner struct {
		A [2]int8
		S string `json:"s,omitempty"`
	}
	for _, c := range []struct {
		v            any
		exact, check bool
	}{
		{tally{}, true, true}, // float
		{struct{ N int64 }{}, true, false},
		{struct{ I inner }{}, true, true},
		{0, true, false},
		{"", true, true},
		{struct{ n int }{}, false, false},   // unexported: dropped by Marshal
		{struct{ P *int }{}, false, false},  // reference
		{struct{ S []int }{}, false, false}, // reference
		{struct{ M map[string]int }{}, false, false},
		{struct{ A any }{}, false, false},
		{struct {
			A int `json:"-"`
		}{}, false, false},
		{struct {
			A int `json:"x"`
			B int `json:"X"`
		}{}, false, false},
		{struct{ inner }{}, false, false}, // embedded
		{json.Number(""), false, false},   // a string, but a Marshaler... of a kind
		{json.RawMessage{}, false, false},
	} {
		exact, check := jsonExact(reflect.TypeOf(c.v))
		if exact != c.exact || (exact && check != c.check) {
			t.Errorf("%T: jsonExact = %v, %v; want %v, %v", c.v, exact, check, c.exact, c.check)
		}
	}
	if checkExact(reflect.ValueOf(inner{S: "ok"})) != true || checkExact(reflect.ValueOf(inner{S: "\xff"})) != false ||
		checkExact(reflect.ValueOf(tally{Sum: math.Inf(1)})) != false {
		t.Error("checkExact")
	}
}

// TestMemo_ByContent: a remembered value is handed out only for the bytes it was encoded
// to, and only once.
func TestMemo_ByContent(t *testing.T) {
	m := newMemo()
	v := &stateDoc{Version: 1}
	m.put("k", []byte(`{"version":1}`), v)
	if _, ok := m.take("k", []byte(`{"version":2}`)); ok {
		t.Fatal("taken for other bytes")
	}
	if _, ok := m.take("k", []byte(`{"version":1}`)); ok {
		t.Fatal("still there after a mismatch")
	}
	m.put("k", []byte(`{"version":1}`), v)
	if got, ok := m.take("k", []byte(`{"version":1}`)); !ok || got != v {
		t.Fatal("not taken for its bytes")
	}
	if _, ok := m.take("k", []byte(`{"version":1}`)); ok {
		t.Fatal("taken twice")
	}
	var none *memo
	none.put("k", nil, v)
	if _, ok := none.take("k", nil); ok {
		t.Fatal("nil memo remembered")
	}
	for i := range memoMax + 10 {
		m.put(fmt.Sprint(i), nil, v)
	}
	if len(m.m) > memoMax {
		t.Fatalf("memo holds %d entries, bound %d", len(m.m), memoMax)
	}
}

// runBatches applies batches of envs with h to an in-memory store, as the runner does
// (prefetch, apply, seal, commit), with one memo across them (nil: none), and returns the
// store. Between batches, drift rewrites the store (nil: none), as another writer would.
func runBatches(t *testing.T, h Handler, batches [][]*Envelope, m *memo, drift func(map[string][]byte)) map[string][]byte {
	t.Helper()
	st := &countingStore{m: map[string][]byte{}}
	ctx := context.Background()
	for _, envs := range batches {
		tx := newTx(ctx, st, "ks")
		tx.memo = m
		if err := tx.prefetch(h, envs); err != nil {
			t.Fatal(err)
		}
		for _, env := range envs {
			if err := h.Apply(ctx, tx, env); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.seal(); err != nil {
			t.Fatal(err)
		}
		puts, dels := tx.writes()
		for _, kv := range puts {
			st.m[kv.Key] = kv.Value
		}
		for _, k := range dels {
			delete(st.m, k)
		}
		if drift != nil {
			drift(st.m)
		}
	}
	return st.m
}

// randomPatchBatches returns batches of merge-patch events over a few streams.
func randomPatchBatches(t *testing.T, seed uint64) [][]*Envelope {
	rng := rand.New(rand.NewPCG(seed, 9))
	versions := map[string]int64{}
	var batches [][]*Envelope
	for range 30 {
		var envs []*Envelope
		for range 1 + rng.IntN(12) {
			id := fmt.Sprint("s", rng.IntN(4))
			versions[id]++
			patch := fmt.Sprintf(`{"n":%d,"k%d":%s,"o":{"x%d":%d,"y":null}}`, versions[id], rng.IntN(5),
				[]string{"null", "1.50", `"<é>"`, `[1,null,{"z":null}]`, `{"deep":{"a":1}}`}[rng.IntN(5)], rng.IntN(3), rng.IntN(9))
			if rng.IntN(8) == 0 {
				patch = ""
			}
			envs = append(envs, patchEnv(t, stream.ID{Type: "order", ID: id}, versions[id], patch))
			if rng.IntN(10) == 0 { // a redelivery
				envs = append(envs, envs[rng.IntN(len(envs))])
			}
		}
		batches = append(batches, envs)
	}
	return batches
}

// TestSnapshots_DecodedSameAsBytes: the snapshotter's decoded MergePatch path writes the
// same bytes as the same reducer folded over JSON (a wrapper it does not recognise), with
// and without the memo, and when the store changes under the memo.
func TestSnapshots_DecodedSameAsBytes(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		batches := randomPatchBatches(t, seed)
		policy := SnapshotPolicy{Every: 3}
		wrapped := func(s json.RawMessage, e *Envelope) (json.RawMessage, error) { return MergePatch(s, e) }
		want := runBatches(t, Snapshots(nil, 1, Reducers{"*": wrapped}, policy, nil, "").Handler, batches, nil, nil)
		for name, m := range map[string]*memo{"memo": newMemo(), "no memo": nil} {
			got := runBatches(t, Snapshots(nil, 1, Reducers{"*": MergePatch}, policy, nil, "").Handler, batches, m, nil)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d, %s: decoded path wrote\n%q\nJSON path\n%q", seed, name, got, want)
			}
		}
		// Another writer resets one state between batches: the memo must not hide it.
		reset := func(m map[string][]byte) {
			if _, ok := m["state:order:s1"]; ok {
				m["state:order:s1"] = []byte(`{"version":` + fmt.Sprint(jsonVersion(t, m["state:order:s1"])) + `,"state":{"reset":true}}`)
			}
		}
		want = runBatches(t, Snapshots(nil, 1, Reducers{"*": wrapped}, policy, nil, "").Handler, batches, nil, reset)
		got := runBatches(t, Snapshots(nil, 1, Reducers{"*": MergePatch}, policy, nil, "").Handler, batches, newMemo(), reset)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d, drifting store: decoded path wrote\n%q\nJSON path\n%q", seed, got, want)
		}
	}
}

func jsonVersion(t *testing.T, raw []byte) int64 {
	var d struct{ Version int64 }
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	return d.Version
}

type foldDoc struct {
	N    int64
	Sum  float64
	Last string
	Hist [3]int
}

// TestFold_DecodedSameAsBytes: Fold keeps an exact document type decoded and writes what
// FoldInto writes (which decodes and encodes per event), including states that are not
// exact in JSON (invalid UTF-8), which it stages as bytes.
func TestFold_DecodedSameAsBytes(t *testing.T) {
	fn := func(s foldDoc, env *Envelope) (foldDoc, error) {
		s.N++
		s.Sum += float64(env.Version) / 3
		s.Hist[env.Version%3]++
		if env.Version%5 == 0 {
			s.Last = s.Last + "\xff" // invalid UTF-8: encoded as U+FFFD, so not exact
		} else {
			s.Last = fmt.Sprint(len(s.Last)) // depends on what the previous event left
		}
		return s, nil
	}
	bytesOnly := HandlerFunc(func(_ context.Context, tx *Tx, env *Envelope) error {
		_, err := FoldInto(tx, DocKey(env.Stream), env, fn)
		return err
	})
	h := Fold(fn)
	if !h.(foldHandler[foldDoc]).exact {
		t.Fatal("foldDoc: not exact")
	}
	for seed := uint64(1); seed <= 5; seed++ {
		batches := randomPatchBatches(t, seed)
		want := runBatches(t, bytesOnly, batches, nil, nil)
		for name, m := range map[string]*memo{"memo": newMemo(), "no memo": nil} {
			if got := runBatches(t, h, batches, m, nil); !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d, %s: decoded fold wrote\n%q\nFoldInto\n%q", seed, name, got, want)
			}
		}
	}
	nan := Fold(func(s tally, _ *Envelope) (tally, error) { return tally{Sum: math.NaN()}, nil })
	tx := newTx(context.Background(), &countingStore{}, "ks")
	if err := nan.Apply(context.Background(), tx, patchEnv(t, stream.ID{Type: "t", ID: "x"}, 1, "")); err == nil {
		t.Fatal("NaN state: no error from Apply")
	}
}
