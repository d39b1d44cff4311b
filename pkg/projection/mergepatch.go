package projection

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

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
	return decodeStd(b)
}

// decodeStd is decodeJSON's slow path: json.Decoder with UseNumber, refusing trailing bytes.
func decodeStd(b []byte) (any, error) {
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
	if !plainString(s) {
		out, err := json.Marshal(s)
		return append(b, out...), err
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), nil
}

// plainString reports whether json.Marshal writes s between quotes as it is: plain ASCII
// without control characters, quotes, backslashes or HTML's <, > and &.
func plainString[S string | []byte](s S) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
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

// A state that the Snapshots projection keeps decoded for MergePatch is a jvalue: an object
// as its members sorted by name, so that a patch merges into it member by member and it
// encodes without sorting; any other value as its encoding, which a patch can only replace.
// A jvalue encodes to what appendJSON writes for the value that decodeJSON decodes from that
// encoding, and mergePatch gives what mergeData gives. Most patches are merged straight from
// their bytes (mergeFast), without building the value decodeJSON returns.

// jvalue is a JSON value kept decoded for merge patches.
type jvalue struct {
	obj *jobject // an object; nil for any other value
	raw []byte   // when obj is nil: the value as appendJSON encodes it, in a buffer of its own
}

// jobject is an object's members, sorted by name, each name once. find searches their
// names' prefixes first, which lie together, instead of the names, which lie each apart.
type jobject struct {
	members  []jmember
	prefixes []uint64 // namePrefix of each member's name
}

// namePrefix is the first 8 bytes of a name, big-endian, padded with zeros: names with
// different prefixes compare as their prefixes do.
func namePrefix[S string | []byte](name S) uint64 {
	var p uint64
	for i := range 8 {
		p <<= 8
		if i < len(name) {
			p |= uint64(name[i])
		}
	}
	return p
}

// insert inserts m at i.
func (o *jobject) insert(i int, m jmember) {
	o.members = slices.Insert(o.members, i, m)
	o.prefixes = slices.Insert(o.prefixes, i, namePrefix(m.name))
}

// remove removes the member at i.
func (o *jobject) remove(i int) {
	o.members = slices.Delete(o.members, i, i+1)
	o.prefixes = slices.Delete(o.prefixes, i, i+1)
}

// sort sorts members appended in any order, and sets their prefixes.
func (o *jobject) sort() {
	slices.SortFunc(o.members, func(a, b jmember) int { return strings.Compare(a.name, b.name) })
	o.prefixes = make([]uint64, len(o.members), cap(o.members))
	for i := range o.members {
		o.prefixes[i] = namePrefix(o.members[i].name)
	}
}

type jmember struct {
	name   string
	quoted string // the name as appendJSONString writes it, when that is not "name" ("" else)
	val    jvalue
}

func newMember(name string, v jvalue) jmember {
	m := jmember{name: name, val: v}
	if !plainString(name) {
		q, _ := appendJSONString(nil, name) // a string encodes without error
		m.quoted = string(q)
	}
	return m
}

func (v *jvalue) isNull() bool { return v.obj == nil && string(v.raw) == "null" }

// appendJSON appends v's encoding.
func (v *jvalue) appendJSON(b []byte) []byte {
	if v.obj == nil {
		return append(b, v.raw...)
	}
	b = append(b, '{')
	for i := range v.obj.members {
		m := &v.obj.members[i]
		if i > 0 {
			b = append(b, ',')
		}
		if m.quoted != "" {
			b = append(b, m.quoted...)
		} else {
			b = append(append(append(b, '"'), m.name...), '"')
		}
		b = m.val.appendJSON(append(b, ':'))
	}
	return append(b, '}')
}

// toJValue converts v, a value decoded by decodeJSON (or built from such values).
func toJValue(v any) (jvalue, error) {
	m, ok := v.(map[string]any)
	if !ok {
		raw, err := appendJSON(nil, v)
		return jvalue{raw: raw}, err
	}
	o := &jobject{members: make([]jmember, 0, len(m))}
	for name, e := range m {
		ev, err := toJValue(e)
		if err != nil {
			return jvalue{}, err
		}
		o.members = append(o.members, newMember(name, ev))
	}
	o.sort()
	return jvalue{obj: o}, nil
}

// find returns the index of the member named name, or where it would go, and whether it
// is there.
func (o *jobject) find(name []byte) (int, bool) {
	p := namePrefix(name)
	lo, hi := 0, len(o.prefixes)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		c := -1
		switch {
		case o.prefixes[h] > p:
			c = 1
		case o.prefixes[h] < p:
		case len(o.members[h].name) <= 8 && len(name) <= 8:
			c = len(o.members[h].name) - len(name) // the shorter is the other's prefix
		default:
			c = compareName(o.members[h].name, name)
		}
		switch {
		case c < 0:
			lo = h + 1
		case c > 0:
			hi = h
		default:
			return h, true
		}
	}
	return lo, false
}

// compareName compares a and b as strings.Compare does; a loop, for short names.
func compareName(a string, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return len(a) - len(b)
}

// mergePatch merges env's data, a merge patch, into v as mergeData does into the value
// decoded from v's encoding.
func (v *jvalue) mergePatch(env *Envelope) error {
	data := env.Event.Data()
	if len(data) == 0 || v.mergeFast(data) {
		return nil
	}
	return v.mergeSlow(data, env)
}

// mergeSlow is mergePatch for every patch: it decodes data with decodeJSON and merges the
// value into v.
func (v *jvalue) mergeSlow(data []byte, env *Envelope) error {
	patch, err := decodeJSON(data)
	if err != nil {
		return fmt.Errorf("merge patch of %s v%d: %w", env.Stream, env.Version, jsonpatch.ErrBadJSONPatch)
	}
	if v.isNull() {
		return fmt.Errorf("merge patch of %s v%d: %w", env.Stream, env.Version, jsonpatch.ErrBadJSONDoc)
	}
	if p, ok := patch.(map[string]any); ok {
		return v.mergeAny(p)
	}
	pruneNulls(patch) // an array patch; a scalar has no nulls to prune
	*v, err = toJValue(patch)
	return err
}

// mergeAny merges patch, a value decoded by decodeJSON, into v as mergeValue does.
func (v *jvalue) mergeAny(patch any) error {
	p, ok := patch.(map[string]any)
	if v.obj == nil || !ok {
		if v.obj == nil {
			pruneNulls(patch)
		}
		nv, err := toJValue(patch)
		*v = nv
		return err
	}
	o := v.obj
	for name, e := range p {
		i, found := o.find([]byte(name))
		switch {
		case e == nil:
			if found {
				o.remove(i)
			}
		case found && o.members[i].val.obj != nil:
			if err := o.members[i].val.mergeAny(e); err != nil {
				return err
			}
		default:
			pruneNulls(e)
			ev, err := toJValue(e)
			if err != nil {
				return err
			}
			if found {
				o.members[i].val = ev
			} else {
				o.insert(i, newMember(name, ev))
			}
		}
	}
	return nil
}

// fastDepth bounds the nesting of the patches mergeFast takes.
const fastDepth = 64

// mergeFast merges patch into v straight from its bytes, as mergePatch does, and reports
// whether it did. It leaves v as it is and returns false for what it leaves to mergePatch:
// patches that are not valid UTF-8 or that checkJSON refuses, and every patch of a null
// state (an error).
func (v *jvalue) mergeFast(patch []byte) bool {
	if v.isNull() || !utf8.Valid(patch) {
		return false
	}
	start := skipSpace(patch, 0)
	end, ok := checkJSON(patch, start, 0)
	if !ok || skipSpace(patch, end) != len(patch) {
		return false
	}
	if p := patch[start:end]; p[0] == '{' {
		v.merge(p)
	} else {
		v.set(p) // mergeData prunes an array patch
	}
	return true
}

// merge merges p, a checked object, into v as mergeValue does.
func (v *jvalue) merge(p []byte) {
	if v.obj == nil {
		v.set(p)
		return
	}
	o := v.obj
	for i := skipSpace(p, 1); p[i] != '}'; {
		name, val, next := member(p, i)
		i = next
		k, found := o.find(name)
		if !found {
			if val[0] != 'n' { // null: nothing to delete
				var nv jvalue
				nv.set(val)
				o.insert(k, newMember(string(name), nv))
			}
			continue
		}
		switch m := &o.members[k]; {
		case val[0] == 'n':
			o.remove(k)
		case m.val.obj == nil:
			m.val.set(val)
		case val[0] == '{':
			m.val.merge(val)
		default: // over an object, mergeValue takes a value that is not one as it is
			m.val = jvalue{raw: appendCanonical(nil, val, false)}
		}
	}
}

// set sets v to val, a checked value, with the null members of its objects dropped,
// recursively (pruneNulls). It reuses v's buffer.
func (v *jvalue) set(val []byte) {
	if val[0] == '{' {
		*v = jvalue{obj: newObject(val)}
		return
	}
	var buf []byte
	if v.obj == nil {
		buf = v.raw[:0]
	}
	*v = jvalue{raw: appendCanonical(buf, val, true)}
}

// newObject returns p, a checked object, with its null members dropped, recursively.
func newObject(p []byte) *jobject {
	o := &jobject{}
	for i := skipSpace(p, 1); p[i] != '}'; {
		name, val, next := member(p, i)
		i = next
		if val[0] == 'n' {
			continue
		}
		var nv jvalue
		nv.set(val)
		o.members = append(o.members, newMember(string(name), nv))
	}
	o.sort()
	return o
}

// member returns the member of the checked object p that starts at p[i] (its name's quote):
// its name, its value, and where the next member (or the closing brace) starts.
func member(p []byte, i int) (name, val []byte, next int) {
	end := i + 1 + bytes.IndexByte(p[i+1:], '"') // checkJSON took no escapes in names
	name = p[i+1 : end]
	j := skipSpace(p, skipSpace(p, end+1)+1) // past the ':'
	k := skipValue(p, j)
	next = skipSpace(p, k)
	if p[next] == ',' {
		next = skipSpace(p, next+1)
	}
	return name, p[j:k], next
}

// appendCanonical appends b, a checked value, as appendJSON encodes the value decodeJSON
// decodes from it, with the null members of its objects dropped, recursively, if prune.
func appendCanonical(dst, b []byte, prune bool) []byte {
	switch b[0] {
	case '"':
		return appendCanonicalString(dst, b)
	case '[':
		dst = append(dst, '[')
		for i := skipSpace(b, 1); b[i] != ']'; {
			k := skipValue(b, i)
			dst = appendCanonical(dst, b[i:k], prune)
			if i = skipSpace(b, k); b[i] == ',' {
				dst = append(dst, ',')
				i = skipSpace(b, i+1)
			}
		}
		return append(dst, ']')
	case '{':
		type kv struct{ name, val []byte }
		var small [8]kv
		members := small[:0]
		for i := skipSpace(b, 1); b[i] != '}'; {
			name, val, next := member(b, i)
			i = next
			if !prune || val[0] != 'n' {
				members = append(members, kv{name, val})
			}
		}
		slices.SortFunc(members, func(x, y kv) int { return bytes.Compare(x.name, y.name) })
		dst = append(dst, '{')
		for i, m := range members {
			if i > 0 {
				dst = append(dst, ',')
			}
			if plainString(m.name) {
				dst = append(append(append(dst, '"'), m.name...), '"')
			} else { // checkJSON took no escapes in names: the bytes are the name
				dst, _ = appendJSONString(dst, string(m.name))
			}
			dst = appendCanonical(append(dst, ':'), m.val, prune)
		}
		return append(dst, '}')
	}
	return append(dst, b...) // a number, true, false or null: as written
}

// appendCanonicalString appends b, a checked string, as appendJSONString quotes the
// string it stands for.
func appendCanonicalString(dst, b []byte) []byte {
	in := b[1 : len(b)-1]
	if plainString(in) {
		return append(dst, b...)
	}
	var s string
	if bytes.IndexByte(in, '\\') < 0 {
		s = string(in)
	} else if err := json.Unmarshal(b, &s); err != nil {
		panic(fmt.Sprintf("projection: checked JSON string %q: %v", b, err)) // checkJSON took it
	}
	dst, _ = appendJSONString(dst, s) // a string encodes without error
	return dst
}

// skipValue returns where the checked value that starts at b[i] ends.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		for depth := 0; ; i++ {
			switch b[i] {
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			case '"':
				i = skipString(b, i) - 1
			}
		}
	}
	for i < len(b) && !isJSONSpace(b[i]) && b[i] != ',' && b[i] != '}' && b[i] != ']' {
		i++ // a number or a literal
	}
	return i
}

// skipString returns where the checked string that starts at b[i] ends.
func skipString(b []byte, i int) int {
	for i++; ; i++ {
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			i++
		}
	}
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return i
}

// checkJSON checks the JSON value that starts at b[i] (b is valid UTF-8) and returns where it
// ends. Besides what is not JSON, it refuses what mergeFast leaves to mergePatch: objects
// with a member name that holds an escape or that repeats, and nesting deeper than fastDepth.
func checkJSON(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch c := b[i]; {
	case c == '{':
		return checkObject(b, i, depth+1)
	case c == '[':
		return checkArray(b, i, depth+1)
	case c == '"':
		end, _, ok := checkString(b, i)
		return end, ok
	case c == 't':
		return checkLiteral(b, i, "true")
	case c == 'f':
		return checkLiteral(b, i, "false")
	case c == 'n':
		return checkLiteral(b, i, "null")
	case c == '-' || '0' <= c && c <= '9':
		return checkNumber(b, i)
	}
	return 0, false
}

// checkObject checks the object that starts at b[i] (see checkJSON).
func checkObject(b []byte, i, depth int) (int, bool) {
	if depth > fastDepth {
		return 0, false
	}
	var small [16][]byte
	names := small[:0]       // the first names, to find a repeated one
	var more map[string]bool // all of them, past len(small)
	if i = skipSpace(b, i+1); i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, false
		}
		end, escaped, ok := checkString(b, i)
		if !ok || escaped {
			return 0, false
		}
		name := b[i+1 : end-1]
		if len(names) < len(small) {
			for _, n := range names {
				if bytes.Equal(n, name) {
					return 0, false
				}
			}
			names = append(names, name)
		} else {
			if more == nil {
				more = make(map[string]bool, 2*len(names))
				for _, n := range names {
					more[string(n)] = true
				}
			}
			if more[string(name)] {
				return 0, false
			}
			more[string(name)] = true
		}
		if i = skipSpace(b, end); i >= len(b) || b[i] != ':' {
			return 0, false
		}
		if i, ok = checkJSON(b, skipSpace(b, i+1), depth); !ok {
			return 0, false
		}
		if i = skipSpace(b, i); i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// checkArray checks the array that starts at b[i] (see checkJSON).
func checkArray(b []byte, i, depth int) (int, bool) {
	if depth > fastDepth {
		return 0, false
	}
	if i = skipSpace(b, i+1); i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		var ok bool
		if i, ok = checkJSON(b, i, depth); !ok {
			return 0, false
		}
		if i = skipSpace(b, i); i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// checkString checks the string that starts at b[i] (a quote) and returns where it ends and
// whether it holds an escape.
func checkString(b []byte, i int) (end int, escaped, ok bool) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, escaped, true
		case c < 0x20:
			return 0, false, false
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return 0, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if len(b)-i < 6 || !isHex4(b[i+2:i+6]) {
					return 0, false, false
				}
				i += 5
			default:
				return 0, false, false
			}
		}
	}
	return 0, false, false
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// checkNumber checks the number that starts at b[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func checkNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = skipDigits(b, i)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

func checkLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}
