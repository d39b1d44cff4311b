package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// stdDecode decodes data as encoding/json does for the validator (numbers as json.Number).
func stdDecode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// checkDecode holds decodeJSON to encoding/json: it accepts what json.Valid accepts, with
// the same value, except invalid UTF-8, repeated member names and too deep nesting, which
// it refuses on purpose.
func checkDecode(t *testing.T, data []byte) {
	t.Helper()
	got, err := decodeJSON(data)
	valid := json.Valid(data)
	var derr *decodeError
	switch {
	case err == nil:
		if !valid || !utf8.Valid(data) {
			t.Fatalf("decodeJSON(%q) accepted data encoding/json refuses", data)
		}
		want, err := stdDecode(data)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeJSON(%q) = %#v, encoding/json = %#v, %v", data, got, want, err)
		}
	case !errors.As(err, &derr):
		t.Fatalf("decodeJSON(%q) = %T %v, want a *decodeError", data, err, err)
	case derr.kind == errSyntax && valid:
		t.Fatalf("decodeJSON(%q) = %v, but encoding/json accepts it", data, err)
	case derr.kind == errUTF8 && utf8.Valid(data):
		t.Fatalf("decodeJSON(%q) = %v, but it is UTF-8", data, err)
	}
	// errDuplicate, errDepth and errRange stop at the first offence: the rest may be anything.
}

func TestDecodeJSON(t *testing.T) {
	accepted := []string{
		`null`, ` true `, `false`, `0`, `-0`, `-12.5e+3`, `1E-2`, `123456789012345678901234567890`,
		`""`, `"plain"`, `"é ✓ 𝄞"`, `"\"\\\/\b\f\n\r\t"`, `"\u00e9\u2713"`, `"\ud834\udd1e"`,
		`"\ud834"`, `"\udd1e"`, `"\ud834\u0041"`, `"\ud834x"`, `"a\u0000b"`,
		`[]`, `{}`, ` [ 1 , [ ] , { } ] `, `{"a":{"b":[1,{"c":null}]},"d":"e"}`,
		`{"a":1,"A":2}`, `{"":0}`, "\t\r\n{}\n",
		`1e400`, `-1E-0400`, `1.7976931348623157e308`, "-" + strings.Repeat("9", maxNumberDigits),
		"0." + strings.Repeat("1", maxNumberDigits-1) + "e+400",
	}
	for _, s := range accepted {
		if _, err := decodeJSON([]byte(s)); err != nil {
			t.Errorf("decodeJSON(%q) = %v", s, err)
		}
		checkDecode(t, []byte(s))
	}
	refused := []struct {
		data string
		kind decodeKind
	}{
		{``, errSyntax}, {` `, errSyntax}, {`nul`, errSyntax}, {`True`, errSyntax}, {`01`, errSyntax},
		{`-`, errSyntax}, {`1.`, errSyntax}, {`.5`, errSyntax}, {`1e`, errSyntax}, {`+1`, errSyntax},
		{`NaN`, errSyntax}, {`"abc`, errSyntax}, {`"a\x"`, errSyntax}, {`"\u12"`, errSyntax},
		{"\"a\nb\"", errSyntax}, {`[1,]`, errSyntax}, {`[1 2]`, errSyntax}, {`{"a":1,}`, errSyntax},
		{`{"a" 1}`, errSyntax}, {`{a:1}`, errSyntax}, {`{"a":1}}`, errSyntax}, {`[`, errSyntax},
		{`{} {}`, errSyntax}, {"\"\\", errSyntax}, {"\xef\xbb\xbf{}", errSyntax},
		{"\"\xff\"", errUTF8}, {"\"\xed\xa0\x80\"", errUTF8},
		{`{"a":1,"a":1}`, errDuplicate}, {`{"a":{"b":1,"b":2}}`, errDuplicate}, {`{"\u0061":1,"a":2}`, errDuplicate},
		{strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1), errDepth},
		{"1" + strings.Repeat("0", maxNumberDigits), errRange}, {"0." + strings.Repeat("0", maxNumberDigits), errRange},
		{"1e401", errRange}, {"-1E-00000000000000000000401", errRange}, {"[1e99999999999999999999]", errRange},
	}
	for _, tt := range refused {
		_, err := decodeJSON([]byte(tt.data))
		var derr *decodeError
		if !errors.As(err, &derr) || derr.kind != tt.kind {
			t.Errorf("decodeJSON(%.40q) = %v, want kind %d", tt.data, err, tt.kind)
			continue
		}
		if tt.kind != errDepth && tt.kind != errRange {
			checkDecode(t, []byte(tt.data))
		}
	}
	deep := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	if _, err := decodeJSON([]byte(deep)); err != nil {
		t.Errorf("decodeJSON(nested %d deep) = %v", maxDepth, err)
	}
}
