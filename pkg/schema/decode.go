package schema

import (
	"encoding/json"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of arrays and objects in data, as encoding/json does.
const maxDepth = 10000

// Bounds on numbers. The validator does exact arithmetic on them (math/big), whose cost grows
// with their digits and exponent: a 400,000-digit number takes seconds. These bounds hold
// every IEEE 754 double and every 256-bit integer, far beyond what JSON carries between
// programs reliably (RFC 7493, I-JSON).
const (
	maxNumberDigits = 100 // digits before and after the '.'
	maxExponent     = 400 // |exponent| as written after 'e'
)

// decodeError says why data is not the JSON Strata accepts.
type decodeError struct {
	kind   decodeKind
	offset int // byte offset into the data
	msg    string
}

type decodeKind int

const (
	errSyntax    decodeKind = iota // not JSON by RFC 8259's grammar
	errUTF8                        // not UTF-8
	errDuplicate                   // an object repeats a member name
	errDepth                       // nested deeper than maxDepth
	errRange                       // a number beyond maxNumberDigits or maxExponent
)

func (e *decodeError) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.offset) }

// DecodeJSON is decodeJSON for other packages: where it returns a value, that value is the
// one encoding/json's Decoder with UseNumber returns for data (TestDecodeJSON); where it
// refuses data that encoding/json takes (repeated member names, invalid UTF-8, numbers
// beyond its bounds), the caller decodes with encoding/json. The projection runtime decodes
// merge patches so.
func DecodeJSON(data []byte) (any, error) { return decodeJSON(data) }

// decodeJSON parses data as exactly one JSON value into the types the validator expects:
// map[string]any, []any, string, json.Number, bool and nil. Beyond encoding/json it refuses
// invalid UTF-8 and objects that repeat a member name: consumers disagree on which of two
// equal names wins, so data that carries both is not checked, whichever one we would read.
func decodeJSON(data []byte) (any, error) {
	if !utf8.Valid(data) {
		return nil, &decodeError{kind: errUTF8, msg: "invalid UTF-8"}
	}
	d := decoder{data: data}
	d.skipSpace()
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	d.skipSpace()
	if d.pos != len(d.data) {
		return nil, d.fail(errSyntax, "unexpected data after the top-level value")
	}
	return v, nil
}

type decoder struct {
	data  []byte
	pos   int
	depth int
}

func (d *decoder) fail(kind decodeKind, format string, args ...any) *decodeError {
	return &decodeError{kind: kind, offset: d.pos, msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) value() (any, error) {
	if d.pos >= len(d.data) {
		return nil, d.fail(errSyntax, "unexpected end of data")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return d.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	default:
		return nil, d.fail(errSyntax, "unexpected character %q", c)
	}
}

func (d *decoder) literal(lit string) error {
	if len(d.data)-d.pos < len(lit) || string(d.data[d.pos:d.pos+len(lit)]) != lit {
		return d.fail(errSyntax, "invalid literal, want %s", lit)
	}
	d.pos += len(lit)
	return nil
}

func (d *decoder) enter() error {
	d.depth++
	if d.depth > maxDepth {
		return d.fail(errDepth, "nested deeper than %d", maxDepth)
	}
	d.pos++ // the '{' or '['
	d.skipSpace()
	return nil
}

func (d *decoder) object() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	m := map[string]any{}
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		d.depth--
		return m, nil
	}
	for {
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, d.fail(errSyntax, "want a member name")
		}
		at := d.pos
		name, err := d.str()
		if err != nil {
			return nil, err
		}
		if _, dup := m[name]; dup {
			return nil, &decodeError{kind: errDuplicate, offset: at, msg: fmt.Sprintf("duplicate member name %q", name)}
		}
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, d.fail(errSyntax, "want ':' after a member name")
		}
		d.pos++
		d.skipSpace()
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		m[name] = v
		if done, err := d.next('}'); done || err != nil {
			return m, err
		}
	}
}

func (d *decoder) array() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	a := []any{}
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		d.depth--
		return a, nil
	}
	for {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		if done, err := d.next(']'); done || err != nil {
			return a, err
		}
	}
}

// next consumes the ',' between two elements (done false) or the closing byte (done true).
func (d *decoder) next(closing byte) (done bool, err error) {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return false, d.fail(errSyntax, "unexpected end of data")
	}
	switch d.data[d.pos] {
	case ',':
		d.pos++
		d.skipSpace()
		return false, nil
	case closing:
		d.pos++
		d.depth--
		return true, nil
	default:
		return false, d.fail(errSyntax, "want ',' or %q", closing)
	}
}

// str decodes the string at d.pos; the data is known to be UTF-8.
func (d *decoder) str() (string, error) {
	start := d.pos + 1
	for i := start; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			d.pos = i + 1
			return string(d.data[start:i]), nil
		case c == '\\':
			return d.escaped(start, i)
		case c < 0x20:
			d.pos = i
			return "", d.fail(errSyntax, "control character in string")
		}
	}
	d.pos = len(d.data)
	return "", d.fail(errSyntax, "unterminated string")
}

// escaped decodes a string with escapes: data[start:i] is its plain prefix, data[i] a '\\'.
func (d *decoder) escaped(start, i int) (string, error) {
	b := make([]byte, 0, 2*(i-start)+16)
	b = append(b, d.data[start:i]...)
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return string(b), nil
		case c < 0x20:
			d.pos = i
			return "", d.fail(errSyntax, "control character in string")
		case c != '\\':
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(d.data) {
			break
		}
		var n int
		var ok bool
		b, n, ok = unescape(b, d.data[i:])
		if !ok {
			d.pos = i
			return "", d.fail(errSyntax, "invalid escape in string")
		}
		i += n
	}
	d.pos = len(d.data)
	return "", d.fail(errSyntax, "unterminated string")
}

// unescape appends the character the escape at the start of s stands for, and returns how
// many bytes of s it took. Unpaired surrogates become U+FFFD, as with encoding/json.
func unescape(b, s []byte) ([]byte, int, bool) {
	switch s[1] {
	case '"', '\\', '/':
		return append(b, s[1]), 2, true
	case 'b':
		return append(b, '\b'), 2, true
	case 'f':
		return append(b, '\f'), 2, true
	case 'n':
		return append(b, '\n'), 2, true
	case 'r':
		return append(b, '\r'), 2, true
	case 't':
		return append(b, '\t'), 2, true
	case 'u':
	default:
		return b, 0, false
	}
	r := hex4(s[2:])
	if r < 0 {
		return b, 0, false
	}
	if !utf16.IsSurrogate(r) {
		return utf8.AppendRune(b, r), 6, true
	}
	if len(s) >= 12 && s[6] == '\\' && s[7] == 'u' {
		if r2 := hex4(s[8:]); r2 >= 0 {
			if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
				return utf8.AppendRune(b, dec), 12, true
			}
		}
	}
	return utf8.AppendRune(b, utf8.RuneError), 6, true
}

// hex4 decodes four hex digits at the start of s, or returns -1.
func hex4(s []byte) rune {
	if len(s) < 4 {
		return -1
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// number decodes -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? as a json.Number, within
// maxNumberDigits and maxExponent.
func (d *decoder) number() (any, error) {
	start := d.pos
	if d.data[d.pos] == '-' {
		d.pos++
	}
	var n int // mantissa digits
	switch {
	case d.pos < len(d.data) && d.data[d.pos] == '0':
		d.pos++
		n = 1
	default:
		if n, _ = d.digits(); n == 0 {
			return nil, d.fail(errSyntax, "invalid number")
		}
	}
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		d.pos++
		frac, _ := d.digits()
		if frac == 0 {
			return nil, d.fail(errSyntax, "invalid number: want digits after '.'")
		}
		n += frac
	}
	var exp int
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			d.pos++
		}
		var digits int
		if digits, exp = d.digits(); digits == 0 {
			return nil, d.fail(errSyntax, "invalid number: want digits in the exponent")
		}
	}
	if n > maxNumberDigits || exp > maxExponent {
		return nil, &decodeError{kind: errRange, offset: start, msg: fmt.Sprintf(
			"number out of range: at most %d digits and an exponent within ±%d", maxNumberDigits, maxExponent)}
	}
	return json.Number(d.data[start:d.pos]), nil
}

// digits consumes decimal digits and returns how many there were and their value, which
// saturates above maxExponent.
func (d *decoder) digits() (n, value int) {
	for d.pos < len(d.data) && d.data[d.pos] >= '0' && d.data[d.pos] <= '9' {
		if value <= maxExponent {
			value = value*10 + int(d.data[d.pos]-'0')
		}
		d.pos++
		n++
	}
	return n, value
}
