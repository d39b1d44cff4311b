package projection

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// decodeStd decodes b with json.Decoder as decodeJSON's fallback does.
func decodeStd(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if rest := bytes.TrimLeft(b[d.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, errTrailing
	}
	return v, nil
}

var errTrailing = errors.New("bytes after the value")

// FuzzScanJSON: every value scanJSON returns is the value json.Decoder returns for the same
// bytes, and it takes none that json.Decoder refuses.
func FuzzScanJSON(f *testing.F) {
	for _, s := range []string{
		`{"n":1,"k3":12,"k0":null}`, ` [1, -0.5e+3, true, false, null, "s", {}, []] `, `{"a":{"a":{"a":[]}}}`,
		`01`, `-`, `1.`, `1e`, `"\u00e9"`, `"é"`, `{"a":1,"a":2}`, `{"a" : 1 , }`, `[1,]`, `tru`, `nullx`,
		`{"a":1}{}`, `"a` + "\t" + `"`, `1 2`, ``, `  `, strings.Repeat("[", 70) + strings.Repeat("]", 70),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := scanJSON(b)
		want, err := decodeStd(b)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("scanJSON took %q, json.Decoder refuses it: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: scanJSON %#v, json.Decoder %#v", b, got, want)
		}
	})
}

// TestScanJSON_Takes: the bench's patches take the fast path (a test that scanJSON is not
// simply refusing everything, which FuzzScanJSON would not notice).
func TestScanJSON_Takes(t *testing.T) {
	for _, s := range []string{`{"n":12,"k3":471}`, `{"k0":null,"n":0,"k1":-1.5E-3}`, `[{"a":[true,false,null,"x y"]}]`} {
		if _, ok := scanJSON([]byte(s)); !ok {
			t.Errorf("scanJSON refused %s", s)
		}
	}
}
