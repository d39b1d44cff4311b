package projection

import "encoding/json"

// scanJSON decodes b as decodeJSON does, for the common shape of a merge patch: objects,
// arrays, numbers, literals and strings of printable ASCII without escapes, nested at most
// scanMaxDepth deep. ok false means only that b is not of that shape (or not valid JSON):
// decode it with json.Decoder. FuzzScanJSON checks that every value it returns is the
// value json.Decoder returns.
func scanJSON(b []byte) (v any, ok bool) {
	s := jsonScanner{b: b}
	s.space()
	v, ok = s.value(0)
	if !ok {
		return nil, false
	}
	s.space()
	return v, s.i == len(s.b)
}

// scanMaxDepth bounds the nesting scanJSON takes (json.Decoder's own limit is 10,000).
const scanMaxDepth = 64

type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) value(depth int) (any, bool) {
	if s.i == len(s.b) || depth > scanMaxDepth {
		return nil, false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(depth)
	case c == '[':
		return s.array(depth)
	case c == '"':
		str, ok := s.str()
		return str, ok
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	default:
		for _, lit := range [...]struct {
			text string
			v    any
		}{{"true", true}, {"false", false}, {"null", nil}} {
			if len(s.b)-s.i >= len(lit.text) && string(s.b[s.i:s.i+len(lit.text)]) == lit.text {
				s.i += len(lit.text)
				return lit.v, true
			}
		}
		return nil, false
	}
}

func (s *jsonScanner) object(depth int) (any, bool) {
	s.i++ // {
	m := map[string]any{}
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return m, true
	}
	for {
		if s.i == len(s.b) || s.b[s.i] != '"' {
			return nil, false
		}
		k, ok := s.str()
		if !ok {
			return nil, false
		}
		s.space()
		if s.i == len(s.b) || s.b[s.i] != ':' {
			return nil, false
		}
		s.i++
		s.space()
		v, ok := s.value(depth + 1)
		if !ok {
			return nil, false
		}
		m[k] = v // a later duplicate wins, as with json.Decoder
		s.space()
		if s.i == len(s.b) {
			return nil, false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.space()
		case '}':
			s.i++
			return m, true
		default:
			return nil, false
		}
	}
}

func (s *jsonScanner) array(depth int) (any, bool) {
	s.i++ // [
	a := []any{}
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return a, true
	}
	for {
		v, ok := s.value(depth + 1)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		s.space()
		if s.i == len(s.b) {
			return nil, false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.space()
		case ']':
			s.i++
			return a, true
		default:
			return nil, false
		}
	}
}

// str reads a string of printable ASCII without escapes.
func (s *jsonScanner) str() (string, bool) {
	s.i++ // "
	start := s.i
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			str := string(s.b[start:s.i])
			s.i++
			return str, true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return "", false
		}
	}
	return "", false
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? as a json.Number.
func (s *jsonScanner) number() (any, bool) {
	start := s.i
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		s.digits()
	default:
		return nil, false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if !s.digits() {
			return nil, false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if !s.digits() {
			return nil, false
		}
	}
	return json.Number(s.b[start:s.i]), true
}

// digits reads [0-9]+.
func (s *jsonScanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}
