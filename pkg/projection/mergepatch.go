package projection

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/strata-platform/strata/pkg/schema"
)

// MergePatch is the declarative reducer: each event's data is an RFC 7386 JSON merge patch
// applied to the state (starting from {}). Events without data leave the state unchanged.
//
// It gives the results of evanphx/json-patch's MergePatch (which pkg/client uses), as JSON
// values: number literals are kept as written, and where that library deviates from the RFC
// (null members of objects inside an array patch are dropped, a null state is
// jsonpatch.ErrBadJSONDoc) it does the same. Object members come out sorted by name, so
// equal states are equal bytes. The Snapshots projection keeps states decoded across events
// with this reducer, with the same results.
func MergePatch(state json.RawMessage, env *Envelope) (json.RawMessage, error) {
	if len(state) == 0 {
		state = json.RawMessage(`{}`)
	}
	data := env.Event.Data()
	if len(data) == 0 {
		return state, nil
	}
	doc, err := decodeJSON(state)
	if err != nil {
		return nil, fmt.Errorf("merge patch of %s v%d: %w", env.Stream, env.Version, jsonpatch.ErrBadJSONDoc)
	}
	out, err := mergeData(doc, env)
	if err != nil {
		return nil, err
	}
	return appendJSON(nil, out)
}

// mergeData applies env's data, a merge patch, to a decoded state; it may change doc.
func mergeData(doc any, env *Envelope) (any, error) {
	data := env.Event.Data()
	if len(data) == 0 {
		return doc, nil
	}
	patch, err := decodeJSON(data)
	if err != nil {
		return nil, fmt.Errorf("merge patch of %s v%d: %w", env.Stream, env.Version, jsonpatch.ErrBadJSONPatch)
	}
	if doc == nil {
		return nil, fmt.Errorf("merge patch of %s v%d: %w", env.Stream, env.Version, jsonpatch.ErrBadJSONDoc)
	}
	switch p := patch.(type) {
	case map[string]any:
		return mergeValue(doc, p), nil
	case []any:
		pruneNulls(p)
		return p, nil
	default:
		return patch, nil
	}
}

// decodeJSON decodes one JSON value, numbers as json.Number (their literal text): the
// value json.Decoder gives, and its errors. schema.DecodeJSON, about 2.5× faster, decodes
// what it takes (nearly every patch); what it refuses, json.Decoder decodes.
func decodeJSON(b []byte) (any, error) {
	if v, err := schema.DecodeJSON(b); err == nil {
		return v, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if rest := bytes.TrimLeft(b[d.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, fmt.Errorf("json: %d bytes after the value", len(rest))
	}
	return v, nil
}

// mergeValue merges patch into doc as json-patch's merge does: into an object doc, member
// by member (null deletes); over anything else, the patch with its nulls pruned.
func mergeValue(doc, patch any) any {
	d, ok := doc.(map[string]any)
	if !ok {
		pruneNulls(patch)
		return patch
	}
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	for k, v := range p {
		switch cur, ok := d[k]; {
		case v == nil:
			delete(d, k)
		case !ok || cur == nil:
			pruneNulls(v)
			d[k] = v
		default:
			d[k] = mergeValue(cur, v)
		}
	}
	return d
}

// pruneNulls drops null members of objects, recursively, through objects and arrays (an
// array's null elements stay).
func pruneNulls(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if e == nil {
				delete(v, k)
			} else {
				pruneNulls(e)
			}
		}
	case []any:
		for _, e := range v {
			pruneNulls(e)
		}
	}
}

// appendJSON appends v, a value decoded by decodeJSON (or built from such values), as
// json.Marshal encodes it: object members sorted by name, strings escaped alike. Strings of
// plain ASCII are written directly, others (and any other type) through json.Marshal.
func appendJSON(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case json.Number:
		if !validNumber(string(v)) {
			return nil, fmt.Errorf("json: invalid number literal %q", v)
		}
		return append(b, v...), nil
	case string:
		return appendJSONString(b, v)
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		var small [16]string
		keys := small[:0]
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSONString(b, k); err != nil {
				return nil, err
			}
			b = append(b, ':')
			if b, err = appendJSON(b, v[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	out, err := json.Marshal(v)
	return append(b, out...), err
}

// appendJSONString appends s quoted as json.Marshal quotes it.
func appendJSONString(b []byte, s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			out, err := json.Marshal(s)
			return append(b, out...), err
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), nil
}

// validNumber reports whether s is a JSON number literal.
func validNumber(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		if s = s[1:]; s == "" {
			return false
		}
	}
	switch {
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		s = strings.TrimLeft(s, "0123456789")
	default:
		return false
	}
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		s = strings.TrimLeft(s[1:], "0123456789")
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			if s = s[1:]; s == "" {
				return false
			}
		}
		if t := strings.TrimLeft(s, "0123456789"); len(t) == len(s) {
			return false
		} else {
			s = t
		}
	}
	return s == ""
}
