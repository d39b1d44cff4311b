package projection

import (
	"reflect"
	"strings"
	"testing"

	"github.com/strata-platform/strata/pkg/schema"
)

// FuzzDecodeJSON: every value decodeJSON's fast path (schema.DecodeJSON) returns is the
// value json.Decoder returns for the same bytes, and it takes none that json.Decoder refuses.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"n":1,"k3":12,"k0":null}`, ` [1, -0.5e+3, true, false, null, "s", {}, []] `, `{"a":{"a":{"a":[]}}}`,
		`01`, `-`, `1.`, `1e`, `"\u00e9"`, `"é"`, `{"a":1,"a":2}`, `{"a" : 1 , }`, `[1,]`, `tru`, `nullx`,
		`{"a":1}{}`, `"a` + "\t" + `"`, `1 2`, ``, `  `, strings.Repeat("[", 70) + strings.Repeat("]", 70),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ferr := schema.DecodeJSON(b)
		want, err := decodeStd(b)
		if ferr != nil {
			return
		}
		if err != nil {
			t.Fatalf("the fast path took %q, json.Decoder refuses it: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: the fast path %#v, json.Decoder %#v", b, got, want)
		}
	})
}

// TestDecodeJSON_FastPathTakes: the bench's patches take the fast path (a test that it is
// not simply refusing everything, which FuzzDecodeJSON would not notice).
func TestDecodeJSON_FastPathTakes(t *testing.T) {
	for _, s := range []string{`{"n":12,"k3":471}`, `{"k0":null,"n":0,"k1":-1.5E-3}`, `[{"a":[true,false,null,"x y"]}]`} {
		if _, err := schema.DecodeJSON([]byte(s)); err != nil {
			t.Errorf("the fast path refused %s: %v", s, err)
		}
	}
}
