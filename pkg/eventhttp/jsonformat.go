package eventhttp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"

	"github.com/strata-platform/strata/pkg/event"
)

// member is one name/value pair of a JSON object, the value kept raw.
type member struct {
	name string
	raw  json.RawMessage
}

// readObject splits one JSON object into its members, in order. It refuses anything but a
// single object, and duplicate names: sdk-go would keep one of them silently.
func readObject(data []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("an event must be a JSON object")
	}
	var members []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string)
		if seen[name] {
			return nil, errors.New("member " + strconv.Quote(name) + " appears twice")
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		members = append(members, member{name: name, raw: raw})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the end of the event")
	}
	return members, nil
}

// canonicalEvent checks the members of a structured event and returns them as the JSON
// object sdk-go should parse: null members dropped (the format treats null as absent, sdk-go
// does so only for some), specversion and datacontenttype first (sdk-go's reading of later
// members depends on them), and data given so that sdk-go keeps the bytes the format means.
func canonicalEvent(members []member) ([]byte, error) {
	var specversion, dct *member
	var rest []member
	for _, m := range members {
		if string(m.raw) == "null" {
			continue
		}
		if err := checkMember(m); err != nil {
			return nil, err
		}
		switch m.name {
		case "specversion":
			specversion = &m
		case "datacontenttype":
			dct = &m
		default:
			rest = append(rest, m)
		}
	}
	if specversion == nil {
		return nil, invalid(event.CodeMissingAttribute, "specversion", "is required")
	}
	ordered := []member{*specversion}
	var contentType string
	if dct != nil {
		ordered = append(ordered, *dct)
		_ = json.Unmarshal(dct.raw, &contentType) // checkMember made sure it is a string
	}
	if err := checkData(rest, contentType); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, m := range append(ordered, rest...) {
		if i > 0 {
			buf.WriteByte(',')
		}
		name, _ := json.Marshal(m.name)
		buf.Write(name)
		buf.WriteByte(':')
		buf.Write(m.raw)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// checkMember checks one non-null member's name and the type of its value.
func checkMember(m member) error {
	switch {
	case contextAttributes[m.name]:
		var s string
		if err := json.Unmarshal(m.raw, &s); err != nil {
			if m.name == "specversion" {
				return invalid(event.CodeBadSpecVersion, m.name, "must be the string %q", event.SpecVersion)
			}
			return invalid(event.CodeInvalidAttribute, m.name, "must be a JSON string")
		}
		return checkAttribute(m.name, s)
	case m.name == "data":
		return nil
	case m.name == "data_base64":
		var s string
		if err := json.Unmarshal(m.raw, &s); err != nil {
			return invalid(event.CodeInvalidAttribute, m.name, "must be a JSON string")
		}
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return invalid(event.CodeInvalidAttribute, m.name, "must be base64: %v", err)
		}
		return nil
	}
	if err := checkExtensionName(m.name); err != nil {
		return err
	}
	return checkExtensionValue(m)
}

// checkExtensionValue accepts the JSON forms of CloudEvents types: strings, booleans and
// Integers. sdk-go would truncate 1.5 to 1 and fail on objects without naming the member.
func checkExtensionValue(m member) error {
	switch m.raw[0] {
	case '"', 't', 'f':
		return nil
	case '{', '[':
		return invalid(event.CodeInvalidExtensionValue, m.name, "must be a string, boolean or Integer")
	}
	f, err := strconv.ParseFloat(string(m.raw), 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return invalid(event.CodeInvalidExtensionValue, m.name, "number %s is not an Integer", m.raw)
	}
	return nil
}

// checkData checks data against datacontenttype and rewrites it, in place, so that sdk-go
// reads the bytes the JSON format means: for JSON data the value's own bytes, passed as
// data_base64 where sdk-go would otherwise take them for a string; for other data the
// string's contents.
func checkData(members []member, dct string) error {
	data, hasBase64 := -1, false
	for i, m := range members {
		switch m.name {
		case "data":
			data = i
		case "data_base64":
			hasBase64 = true
		}
	}
	switch {
	case data < 0:
		return nil
	case hasBase64:
		return invalid(event.CodeInvalidAttribute, "data", "data and data_base64 are mutually exclusive")
	case !isJSONData(dct):
		if members[data].raw[0] != '"' {
			return invalid(event.CodeInvalidAttribute, "data", "must be a JSON string: datacontenttype %q is not JSON", dct)
		}
	case !sdkReadsJSON(dct):
		b64, _ := json.Marshal(base64.StdEncoding.EncodeToString(members[data].raw))
		members[data] = member{name: "data_base64", raw: b64}
	}
	return nil
}
