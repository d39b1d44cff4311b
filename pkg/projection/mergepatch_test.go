package projection

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/strata-platform/strata/pkg/stream"
)

// mergeSeeds are states and patches for the merge fuzz tests: the bench's patches, and
// what the fast path takes and what it leaves to the slow one (escapes in names, repeated
// names, invalid UTF-8, deep nesting, JSON it must refuse).
var mergeSeeds = [][2]string{
	{`{}`, `{"a":1}`}, {`{"a":{"b":1}}`, `{"a":{"b":null,"c":[1,null,{"x":null}]}}`},
	{`[1]`, `{"b":null,"c":{"d":null}}`}, {`{"a":1}`, `[1,null,{"x":null}]`}, {`{"a":1}`, `null`},
	{`null`, `{"a":1}`}, {`"s"`, `{"a":1}`}, {`{"a":1}`, `{"a":1`}, {`{"a":"<\u00e9>"}`, `{"b":1e2,"c":1.50}`},
	{`{"a":1}`, ` 1.50 `}, {`{"a":1}`, `"\u2028&"`}, {`{"a":[1]}`, `{"a":{"x":null}}`}, {`{}`, `{"a":-0,"b":12345678901234567890}`},
	{`{"k0":1,"k3":4,"n":7}`, `{"k0":null,"k3":12,"n":8}`}, {`{"n":1}`, `{"k5":471,"n":2}`},
	{`{"a":{"b":{"c":1}}}`, `{"a":{"b":[{"x":null,"y":{"z":null}}],"d":"\n"}}`}, {`{"a":{"b":1}}`, `{"a":[{"x":null}]}`},
	{`{"a":1}`, `{"\u0061":2}`}, {`{"a":1}`, `{"a":{"x":1},"a":{"y":2}}`}, {`{"a":1}`, "{\"a\":\"\xff\"}"},
	{`{}`, `{"é":1,"<>":"&","a b":"\u00e9\ud800"}`}, {`{}`, `{"a" : [ 1 , { "b" : null } ] , "c" : { } }`},
	{`{}`, strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat(`}`, 70)}, {`{}`, `{"a":01}`}, {`{}`, `{"a":1,}`},
	{`{}`, `{"a":"\x"}`}, {`{}`, `{"a":tru}`}, {`{}`, `{"a":1}x`}, {`{"a":null}`, `{"a":{"b":null,"c":1}}`},
	{`{"a":{"b":2}}`, `{"a":3}`}, {`{"z":1,"y":{}}`, `{"y":{"q":[]},"x":"\"q\"","w":"\\"}`},
}

// mergeOld is the old decoded path: the value decodeJSON gives for state, merged with
// mergeData and encoded with appendJSON.
func mergeOld(state []byte, env *Envelope) ([]byte, error) {
	doc, err := decodeJSON(state)
	if err != nil {
		return nil, err
	}
	merged, err := mergeData(doc, env)
	if err != nil {
		return nil, err
	}
	return appendJSON(nil, merged)
}

// sameError reports whether a and b are both nil, or errors that wrap the same json-patch
// sentinel.
func sameError(a, b error) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	for _, sentinel := range []error{jsonpatch.ErrBadJSONDoc, jsonpatch.ErrBadJSONPatch} {
		if errors.Is(a, sentinel) != errors.Is(b, sentinel) {
			return false
		}
	}
	return true
}

// FuzzMergePatch_Decoded: the state the snapshotter keeps (a jvalue) gives, for every
// patch, what mergeData and appendJSON give for the state decoded by decodeJSON: the same
// bytes, or an error wrapping the same sentinel; through the fast path (mergeFast, when it
// takes the patch) and through the slow path alike. Fails if either path diverges.
func FuzzMergePatch_Decoded(f *testing.F) {
	for _, c := range mergeSeeds {
		f.Add([]byte(c[0]), []byte(c[1]))
	}
	f.Fuzz(func(t *testing.T, state, patch []byte) {
		doc, err := decodeJSON(state)
		if err != nil || len(patch) == 0 {
			return
		}
		env := patchEnv(t, stream.ID{Type: "t", ID: "x"}, 1, "")
		env.Event.DataEncoded = patch
		want, wantErr := mergeOld(state, env)
		for _, path := range []string{"mergePatch", "mergeSlow"} {
			v, err := toJValue(doc)
			if err != nil {
				t.Fatal(err)
			}
			if enc := v.appendJSON(nil); !bytes.Equal(enc, mustAppendJSON(t, doc)) {
				t.Fatalf("toJValue(%q) encodes to %s", state, enc)
			}
			if path == "mergePatch" {
				err = v.mergePatch(env)
			} else {
				err = v.mergeSlow(patch, env)
			}
			if !sameError(err, wantErr) {
				t.Fatalf("%s(%q, %q): %v; mergeData: %s, %v", path, state, patch, err, want, wantErr)
			}
			if err != nil {
				continue
			}
			if got := v.appendJSON(nil); !bytes.Equal(got, want) {
				t.Fatalf("%s(%q, %q) = %s; mergeData: %s", path, state, patch, got, want)
			}
		}
		// What the fast path leaves, it leaves untouched.
		v, _ := toJValue(doc)
		if !v.mergeFast(patch) {
			if got := v.appendJSON(nil); !bytes.Equal(got, mustAppendJSON(t, doc)) {
				t.Fatalf("mergeFast(%q, %q) refused the patch and left %s", state, patch, got)
			}
		}
	})
}

func mustAppendJSON(t *testing.T, v any) []byte {
	b, err := appendJSON(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzMergePatch_Sequence: one jvalue kept across three patches (as the snapshotter keeps
// a state across events, reusing its buffers) encodes after each to what MergePatch gives
// applied to the previous bytes, and its encoding decodes back to a jvalue that encodes
// the same (the memo hands a value out for its bytes).
func FuzzMergePatch_Sequence(f *testing.F) {
	for i, c := range mergeSeeds {
		f.Add([]byte(c[0]), []byte(c[1]), []byte(mergeSeeds[(i+1)%len(mergeSeeds)][1]), []byte(`{"n":123456789,"k0":null}`))
	}
	f.Fuzz(func(t *testing.T, state, p1, p2, p3 []byte) {
		doc, err := decodeJSON(state)
		if err != nil {
			return
		}
		v, err := toJValue(doc)
		if err != nil {
			t.Fatal(err)
		}
		cur := v.appendJSON(nil)
		for i, p := range [][]byte{p1, p2, p3} {
			env := patchEnv(t, stream.ID{Type: "t", ID: "x"}, int64(i+1), "")
			env.Event.DataEncoded = p
			want, wantErr := MergePatch(cur, env)
			if err := v.mergePatch(env); !sameError(err, wantErr) {
				t.Fatalf("patch %d %q on %s: %v; MergePatch: %s, %v", i, p, cur, err, want, wantErr)
			} else if err != nil {
				return
			}
			got := v.appendJSON(nil)
			if !bytes.Equal(got, want) {
				t.Fatalf("patch %d %q on %s: %s; MergePatch: %s", i, p, cur, got, want)
			}
			cur = want
		}
		back, err := decodeStateDoc([]byte(`{"version":3,"state":` + string(cur) + `}`))
		if err != nil {
			t.Fatal(err)
		}
		if again := back.State.appendJSON(nil); !bytes.Equal(again, cur) {
			t.Fatalf("%s decodes to a state that encodes to %s", cur, again)
		}
	})
}

// FuzzCheckJSON: checkJSON takes only JSON, and skipValue finds the end of what it took.
func FuzzCheckJSON(f *testing.F) {
	for _, c := range mergeSeeds {
		f.Add([]byte(c[1]))
	}
	for _, s := range []string{`"\u12"`, `"\u123g"`, `-`, `-01`, `1.`, `1.e3`, `1e+`, `[1 2]`, `{"a" 1}`, `{1:2}`, "\"\x1f\"", `[[]]]`, ` {} `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return
		}
		start := skipSpace(b, 0)
		end, ok := checkJSON(b, start, 0)
		if !ok || skipSpace(b, end) != len(b) {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("checkJSON took %q, which is not JSON", b)
		}
		if e := skipValue(b, start); e != end {
			t.Fatalf("%q: skipValue ends at %d, checkJSON at %d", b, e, end)
		}
	})
}

// TestMergeFast_Takes: the fast path takes the patches it is for (a test that it is not
// simply leaving everything to the slow path, which the fuzz tests would not notice), and
// leaves those it must.
func TestMergeFast_Takes(t *testing.T) {
	for _, c := range []struct {
		patch string
		takes bool
	}{
		{`{"n":12,"k3":471}`, true}, {`{"k0":null,"k3":12,"n":8}`, true}, {` {"a":{"b":[1,{"c":null}],"d":"x\ny"}} `, true},
		{`[1,2]`, true}, {`"s"`, true}, {`{"é":"\u00e9"}`, true},
		{`{"\u0061":1}`, false}, {`{"a":1,"a":2}`, false}, {"{\"a\":\"\xff\"}", false}, {`{"a":1`, false},
		{strings.Repeat(`[`, fastDepth+1) + strings.Repeat(`]`, fastDepth+1), false},
	} {
		v, err := toJValue(map[string]any{"k0": json.Number("1")})
		if err != nil {
			t.Fatal(err)
		}
		if got := v.mergeFast([]byte(c.patch)); got != c.takes {
			t.Errorf("mergeFast(%s) = %v, want %v", c.patch, got, c.takes)
		}
	}
	null := jvalue{raw: []byte("null")}
	if null.mergeFast([]byte(`{"a":1}`)) {
		t.Error("mergeFast took a patch of a null state")
	}
}
