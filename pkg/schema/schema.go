package schema

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/strata-platform/strata/pkg/event"
)

// Config says where the schemas are and how strict the door is.
type Config struct {
	// Dir is the schemas folder, laid out as <aggregatetype>/<event type>.v<N>.json.
	// Required; the repository's is "schemas".
	Dir string
	// Require refuses events whose type has no schema (CodeUnknownType). Off by default, so
	// that a team can add schemas one type at a time; a type that has a schema is always
	// checked, whatever Require says.
	Require bool
}

// Validate reports a Config that Load cannot use.
func (c Config) Validate() error {
	if strings.TrimSpace(c.Dir) == "" {
		return errors.New("schema: Config.Dir is required (the repository's schemas folder is \"schemas\")")
	}
	return nil
}

// Registry holds the compiled schemas of a schemas folder. It never changes after Load, so
// it is safe for concurrent use.
type Registry struct {
	require bool
	types   map[typeKey][]*compiled // each slice sorted by version, ascending
	n       int
}

type typeKey struct{ agg, typ string }

// compiled is one schema file, ready to check data.
type compiled struct {
	version int
	id      string // the schema's $id, "" when it has none
	file    string // under the schemas folder, slash-separated: "order/com.example.order.placed.v1.json"
	schema  *jsonschema.Schema
}

// Len returns the number of schemas in the registry.
func (r *Registry) Len() int { return r.n }

// Check checks e, appended to a stream of aggregate type aggType, against its schema.
//
// The schema is the one for (aggType, e.Type()). When e has a dataschema, it picks the
// version: the schema whose $id equals it, else the version in its ".v<N>.json" suffix;
// without a dataschema the highest version is used. Check returns nil when the data
// satisfies that schema, a *ViolationError when it does not (or is not JSON), and a
// *MissingSchemaError when the schema does not exist (for a type with no schema at all,
// only when Config.Require is set). Event data that is absent is checked as JSON null.
//
// e must have passed event.Validate.
func (r *Registry) Check(aggType string, e *event.Event) error {
	versions := r.types[typeKey{aggType, e.Type()}]
	if len(versions) == 0 {
		if !r.require {
			return nil
		}
		return missingType(aggType, e)
	}
	c, err := pick(versions, aggType, e)
	if err != nil {
		return err
	}
	return c.check(aggType, e)
}

// missingType names the file that would give e's type a schema.
func missingType(aggType string, e *event.Event) error {
	err := &MissingSchemaError{Code: CodeUnknownType, AggregateType: aggType, Type: e.Type(), DataSchema: e.DataSchema()}
	version := versionOfURL(e.DataSchema())
	if version == 0 {
		version = 1
	}
	if validAggType(aggType) && validEventType(e.Type()) {
		err.File = fileName(aggType, e.Type(), version)
	}
	return err
}

// pick selects the version e's dataschema names, or the highest one.
func pick(versions []*compiled, aggType string, e *event.Event) (*compiled, error) {
	ds := e.DataSchema()
	if ds == "" {
		return versions[len(versions)-1], nil
	}
	for _, c := range versions {
		if c.id == ds {
			return c, nil
		}
	}
	err := &MissingSchemaError{Code: CodeUnknownDataSchema, AggregateType: aggType, Type: e.Type(), DataSchema: ds}
	v := versionOfURL(ds)
	if v == 0 {
		return nil, err
	}
	for _, c := range versions {
		if c.version == v {
			return c, nil
		}
	}
	err.File = fileName(aggType, e.Type(), v)
	return nil, err
}

// check validates e's data, decoded once.
func (c *compiled) check(aggType string, e *event.Event) error {
	if ct := e.DataContentType(); !isJSON(ct) {
		return c.refuse(aggType, e, []Violation{{
			Message: fmt.Sprintf("data must be JSON, but datacontenttype is %q", ct),
		}})
	}
	var doc any // no data is JSON null
	if data := e.Data(); len(data) > 0 {
		v, err := decodeJSON(data)
		if err != nil {
			return c.refuse(aggType, e, []Violation{{Message: "data must be JSON: " + err.Error()}})
		}
		doc = v
	}
	err := c.schema.Validate(doc)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return c.refuse(aggType, e, []Violation{{Message: err.Error()}})
	}
	out := verr.DetailedOutput()
	vs := leaves(out, nil)
	if len(vs) == 0 { // cannot happen: a failed unit has an error or causes
		vs = []Violation{{Message: verr.Error()}}
	}
	sort.Slice(vs, func(i, j int) bool {
		if vs[i].Pointer != vs[j].Pointer {
			return vs[i].Pointer < vs[j].Pointer
		}
		if vs[i].Keyword != vs[j].Keyword {
			return vs[i].Keyword < vs[j].Keyword
		}
		return vs[i].Message < vs[j].Message
	})
	return c.refuse(aggType, e, vs)
}

func (c *compiled) refuse(aggType string, e *event.Event, vs []Violation) error {
	return &ViolationError{Code: CodeSchemaViolation, AggregateType: aggType, Type: e.Type(), File: c.file, Violations: vs}
}

// leaves collects the failures at the leaves of jsonschema's detailed output: the inner
// units only group their causes.
func leaves(u *jsonschema.OutputUnit, out []Violation) []Violation {
	if len(u.Errors) == 0 {
		if u.Error != nil {
			out = append(out, Violation{Pointer: u.InstanceLocation, Keyword: u.KeywordLocation, Message: u.Error.String()})
		}
		return out
	}
	for i := range u.Errors {
		out = leaves(&u.Errors[i], out)
	}
	return out
}

// isJSON reports whether a datacontenttype says JSON: absent (the CloudEvents default),
// application/json, text/json or any "+json" structured syntax suffix, with any parameters.
func isJSON(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	if strings.EqualFold(mt, "application/json") || strings.EqualFold(mt, "text/json") {
		return true
	}
	const suffix = "+json"
	slash := strings.IndexByte(mt, '/')
	return slash > 0 && len(mt)-slash > len(suffix)+1 && strings.EqualFold(mt[len(mt)-len(suffix):], suffix)
}

// versionOfURL returns N when the path of URL u ends in ".v<N>.json", else 0.
func versionOfURL(u string) int {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if i := strings.LastIndexByte(u, '/'); i >= 0 {
		u = u[i+1:]
	}
	_, v, ok := splitName(u)
	if !ok {
		return 0
	}
	return v
}

// splitName splits a schema file name "<event type>.v<N>.json" into type and version.
// It does not check the type's characters.
func splitName(name string) (typ string, version int, ok bool) {
	base, found := strings.CutSuffix(name, ".json")
	if !found {
		return "", 0, false
	}
	i := strings.LastIndex(base, ".v")
	if i <= 0 {
		return "", 0, false
	}
	digits := base[i+2:]
	if len(digits) == 0 || len(digits) > maxVersionDigits || digits[0] == '0' {
		return "", 0, false
	}
	v := 0
	for j := 0; j < len(digits); j++ {
		if digits[j] < '0' || digits[j] > '9' {
			return "", 0, false
		}
		v = v*10 + int(digits[j]-'0')
	}
	return base[:i], v, true
}

// maxVersionDigits bounds N in ".v<N>.json" (a million versions is plenty).
const maxVersionDigits = 6

func fileName(aggType, eventType string, version int) string {
	return aggType + "/" + eventType + ".v" + strconv.Itoa(version) + ".json"
}

// validAggType applies the stream naming rule for aggregate types.
func validAggType(s string) bool { return event.ValidateStreamName(s, "x") == nil }

// validEventType reports whether an event type can name a schema file: letters, digits,
// '.', '_' and '-', starting with a letter or digit.
func validEventType(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !alnum && (i == 0 || (c != '.' && c != '_' && c != '-')) {
			return false
		}
	}
	return true
}
