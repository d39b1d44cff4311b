package event

import (
	"mime"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
)

// Limits bounds the size of an event. Zero fields take the defaults.
type Limits struct {
	MaxEventBytes     int // data plus every attribute name and value; default 900 KiB (under Kafka's 1 MiB record limit)
	MaxDataBytes      int // data alone; default 512 KiB
	MaxAttributeBytes int // one attribute value; default 4 KiB
}

// DefaultLimits are the limits used when a field of Limits is zero.
var DefaultLimits = Limits{MaxEventBytes: 900 << 10, MaxDataBytes: 512 << 10, MaxAttributeBytes: 4 << 10}

// WithDefaults returns l with every zero (or negative) field set to its default: the
// limits Validate applies.
func (l Limits) WithDefaults() Limits {
	if l.MaxEventBytes <= 0 {
		l.MaxEventBytes = DefaultLimits.MaxEventBytes
	}
	if l.MaxDataBytes <= 0 {
		l.MaxDataBytes = DefaultLimits.MaxDataBytes
	}
	if l.MaxAttributeBytes <= 0 {
		l.MaxAttributeBytes = DefaultLimits.MaxAttributeBytes
	}
	return l
}

// Size is the size Limits.MaxEventBytes bounds: len(data) plus, for every attribute that is
// set, the length of its name and of its canonical string value.
func Size(e *Event) int { return sizeOf(e, attributes(e, extensions(e))) }

func sizeOf(e *Event, attrs []attr) int {
	n := len(e.Data())
	for _, a := range attrs {
		n += len(a.name) + len(a.value)
	}
	return n
}

// attr is one set attribute and its canonical string.
type attr struct{ name, value string }

// attrView is what the checks read: every set attribute as its canonical string, sorted by
// name, and the extensions. Validate builds it once per event (sdk-go copies the extension
// map on every Extensions call); a slice, not a map: an event has about ten attributes.
type attrView struct {
	attrs []attr
	ext   map[string]any
}

func newAttrView(e *Event) *attrView {
	v := &attrView{ext: extensions(e)}
	v.attrs = attributes(e, v.ext)
	slices.SortFunc(v.attrs, func(a, b attr) int { return strings.Compare(a.name, b.name) })
	return v
}

// get returns the canonical string of the attribute name, or "" if it is not set.
func (v *attrView) get(name string) string {
	for _, a := range v.attrs {
		if a.name == name {
			return a.value
		}
	}
	return ""
}

// attributes returns every set attribute as its canonical string, once per name (an
// extension named like a context attribute replaces it); ext is e's extensions.
func attributes(e *Event, ext map[string]any) []attr {
	out := make([]attr, 0, 8+len(ext))
	out = append(out, attr{"specversion", e.SpecVersion()}, attr{"id", e.ID()},
		attr{"source", Source(e)}, attr{"type", e.Type()})
	if s := e.Subject(); s != "" {
		out = append(out, attr{"subject", s})
	}
	if ct := e.DataContentType(); ct != "" {
		out = append(out, attr{"datacontenttype", ct})
	}
	if ds := e.DataSchema(); ds != "" {
		out = append(out, attr{"dataschema", ds})
	}
	if t := e.Time(); !t.IsZero() {
		out = append(out, attr{"time", types.FormatTime(t)})
	}
	context := len(out)
	for name, v := range ext {
		s, err := types.Format(v)
		if err != nil {
			s = ""
		}
		if i := slices.IndexFunc(out[:context], func(a attr) bool { return a.name == name }); i >= 0 {
			out[i].value = s
			continue
		}
		out = append(out, attr{name, s})
	}
	return out
}

// Validate checks that e is a well-formed CloudEvent 1.0 within limits. It returns the
// first problem found as a *ValidationError, checking in a fixed order so that the same
// event always gets the same answer.
//
// Beyond the letter of the spec, Validate refuses what would make an event read differently
// depending on how it travelled: leading or trailing white space in id, type, subject and
// datacontenttype (sdk-go trims them when it sets them, so a binary-mode or Kafka copy would
// lose it), a time that cannot be written back as RFC 3339, and an extension named like a
// context attribute or "data".
func Validate(e *Event, limits Limits) error {
	limits = limits.WithDefaults()
	if err := checkSpecVersion(e); err != nil {
		return err
	}
	v := newAttrView(e)
	if err := checkRequired(e, v); err != nil {
		return err
	}
	if err := fieldErrors(e); err != nil {
		return err
	}
	for _, check := range []func(*Event, *attrView) error{checkOptional, checkExtensions, checkStrings} {
		if err := check(e, v); err != nil {
			return err
		}
	}
	return checkSizes(e, v, limits)
}

func checkSpecVersion(e *Event) error {
	if e.Context == nil || e.SpecVersion() == "" {
		return invalid(CodeMissingAttribute, "specversion", "is required")
	}
	if sv := e.SpecVersion(); sv != SpecVersion {
		return invalid(CodeBadSpecVersion, "specversion", "must be %q, got %q", SpecVersion, sv)
	}
	if err, ok := e.FieldErrors["specversion"]; ok {
		return invalid(CodeBadSpecVersion, "specversion", "%v", err)
	}
	return nil
}

func checkRequired(e *Event, v *attrView) error {
	for _, attr := range []string{"id", "source", "type"} {
		if strings.TrimSpace(v.get(attr)) == "" {
			return invalid(CodeMissingAttribute, attr, "is required and must not be empty")
		}
	}
	if !stableURI(Source(e)) {
		return invalid(CodeInvalidAttribute, "source", "must be a URI-reference that reads back as itself")
	}
	return nil
}

func checkOptional(e *Event, v *attrView) error {
	if attr := blankOptional(e); attr != "" {
		return invalid(CodeInvalidAttribute, attr, "must not be empty when present")
	}
	for _, attr := range []string{"id", "type", "subject", "datacontenttype"} {
		if s := v.get(attr); s != strings.TrimSpace(s) {
			return invalid(CodeInvalidAttribute, attr, "must not begin or end with white space")
		}
	}
	if ct := e.DataContentType(); ct != "" && !validMediaType(ct) {
		_, _, err := mime.ParseMediaType(ct)
		return invalid(CodeInvalidAttribute, "datacontenttype", "must be an RFC 2046 media type: %v", err)
	}
	if ds := e.DataSchema(); ds != "" {
		if u, err := url.Parse(ds); err != nil || !u.IsAbs() || !stableURI(ds) {
			return invalid(CodeInvalidAttribute, "dataschema", "must be an absolute URI that reads back as itself")
		}
	}
	if t := e.Time(); !t.IsZero() {
		if y := t.UTC().Year(); y < 0 || y > 9999 {
			return invalid(CodeInvalidAttribute, "time", "year %d in UTC cannot be written as RFC 3339", y)
		}
	}
	return nil
}

// stableURI reports whether s parses and prints back as s. sdk-go keeps source and
// dataschema as parsed URLs, and net/url does not always print what it would parse the
// same way again ("A:/%2F " prints as "a://%20", which does not parse), so an event whose
// URI is not such a fixed point would change, or fail, on its next decode.
//
// The answer for each of the first answersSize distinct short URIs is remembered: an
// event's source is usually one of a few, and the parse and print cost more than the
// rest of its checks.
func stableURI(s string) bool { return stableURIs.get(s) }

// validMediaType reports whether s parses as an RFC 2046 media type, remembering the
// answer like stableURI: an event's datacontenttype is usually one of a few, and
// mime.ParseMediaType builds a map of parameters on every call.
func validMediaType(s string) bool { return mediaTypes.get(s) }

var (
	stableURIs = answers{compute: computeStableURI}
	mediaTypes = answers{compute: func(s string) bool {
		_, _, err := mime.ParseMediaType(s)
		return err == nil
	}}
)

// answers remembers compute's answer for each of the first answersSize distinct strings
// of at most answersMaxLen bytes it is asked about; longer or later ones are computed
// every time.
type answers struct {
	compute func(string) bool
	cache   sync.Map // string → bool
	n       atomic.Int64
}

const (
	answersSize   = 4096
	answersMaxLen = 512
)

func (a *answers) get(s string) bool {
	if len(s) > answersMaxLen {
		return a.compute(s)
	}
	if ok, hit := a.cache.Load(s); hit {
		return ok.(bool)
	}
	ok := a.compute(s)
	if a.n.Add(1) <= answersSize {
		a.cache.Store(s, ok)
	}
	return ok
}

func computeStableURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.String() == s
}

// reservedNames may not be used as extension names: the context attributes, and the members
// the JSON format uses for data.
var reservedNames = map[string]bool{
	"specversion": true, "id": true, "source": true, "type": true, "subject": true, "time": true,
	"datacontenttype": true, "dataschema": true, "data": true, "data_base64": true,
}

// checkExtensions checks extension names and that every value is a CloudEvents type.
func checkExtensions(_ *Event, v *attrView) error {
	ext := v.ext
	names := make([]string, 0, len(ext))
	for name := range ext {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !validExtName(name) || reservedNames[name] {
			return invalid(CodeInvalidExtensionName, name,
				"extension names are 1-20 lower-case ASCII letters or digits, and not a reserved name")
		}
		if _, err := types.Validate(ext[name]); err != nil {
			return invalid(CodeInvalidExtensionValue, name, "%v", err)
		}
	}
	return nil
}

// validExtName reports whether name is 1-20 lower-case ASCII letters or digits (checked by
// hand: a regexp match per extension per event was a visible share of validation).
func validExtName(name string) bool {
	if len(name) < 1 || len(name) > 20 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// checkStrings applies the CloudEvents String rule to every attribute's canonical string:
// valid UTF-8 without control characters, surrogates or noncharacters.
func checkStrings(_ *Event, v *attrView) error {
	for _, a := range v.attrs {
		if validString(a.value) {
			continue
		}
		code := CodeInvalidAttribute
		if _, ok := v.ext[a.name]; ok {
			code = CodeInvalidExtensionValue
		}
		return invalid(code, a.name, "must be UTF-8 without control characters or noncharacters")
	}
	return nil
}

func validString(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r <= 0x1f, r >= 0x7f && r <= 0x9f: // control characters
			return false
		case r >= 0xfdd0 && r <= 0xfdef, r&0xfffe == 0xfffe: // noncharacters
			return false
		}
	}
	return true
}

func checkSizes(e *Event, v *attrView, limits Limits) error {
	for _, a := range v.attrs {
		if len(a.value) > limits.MaxAttributeBytes {
			return invalid(CodeAttributeTooLarge, a.name, "is %d bytes, over the limit of %d",
				len(a.value), limits.MaxAttributeBytes)
		}
	}
	if n := len(e.Data()); n > limits.MaxDataBytes {
		return invalid(CodeDataTooLarge, "data", "is %d bytes, over the limit of %d", n, limits.MaxDataBytes)
	}
	if n := sizeOf(e, v.attrs); n > limits.MaxEventBytes {
		return invalid(CodeEventTooLarge, "", "is %d bytes, over the limit of %d", n, limits.MaxEventBytes)
	}
	return nil
}

// fieldErrors turns errors sdk-go recorded while the event was decoded into our codes.
func fieldErrors(e *Event) error {
	if len(e.FieldErrors) == 0 {
		return nil
	}
	keys := make([]string, 0, len(e.FieldErrors))
	for k := range e.FieldErrors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	k := keys[0]
	if name, ok := strings.CutPrefix(k, "extension:"); ok {
		code := CodeInvalidExtensionValue
		if !cloudevents.IsExtensionNameValid(name) || reservedNames[strings.ToLower(name)] {
			code = CodeInvalidExtensionName
		}
		return invalid(code, name, "%v", e.FieldErrors[k])
	}
	return invalid(CodeInvalidAttribute, k, "%v", e.FieldErrors[k])
}

// blankOptional returns the name of an optional string attribute that is present but blank.
func blankOptional(e *Event) string {
	ec, ok := e.Context.(*cloudevents.EventContextV1)
	if !ok {
		return ""
	}
	if ec.Subject != nil && strings.TrimSpace(*ec.Subject) == "" {
		return "subject"
	}
	if ec.DataContentType != nil && strings.TrimSpace(*ec.DataContentType) == "" {
		return "datacontenttype"
	}
	if ec.DataSchema != nil && ec.DataSchema.String() == "" {
		return "dataschema"
	}
	return ""
}

// ValidateStrata checks Validate plus Strata's extensions: aggregatetype and aggregateid are
// present and follow the naming rules, aggregateversion is a positive Integer, and
// partitionkey equals aggregateid.
func ValidateStrata(e *Event, limits Limits) error {
	if err := Validate(e, limits); err != nil {
		return err
	}
	ext := extensions(e)
	for _, name := range []string{ExtAggregateType, ExtAggregateID, ExtPartitionKey} {
		raw, ok := ext[name]
		if !ok {
			return invalid(CodeMissingAttribute, name, "is required on a Strata event")
		}
		if _, err := types.ToString(raw); err != nil {
			return invalid(CodeInvalidExtensionValue, name, "must be a String")
		}
	}
	if err := ValidateStreamName(AggregateType(e), AggregateID(e)); err != nil {
		return err
	}
	if PartitionKey(e) != AggregateID(e) {
		return invalid(CodeInvalidExtensionValue, ExtPartitionKey, "must equal aggregateid %q", AggregateID(e))
	}
	_, ok, err := AggregateVersion(e)
	if err != nil {
		return err
	}
	if !ok {
		return invalid(CodeMissingAttribute, ExtAggregateVersion, "is required on a Strata event")
	}
	return nil
}

// CheckStream checks that e's Strata extensions, where present, name stream (aggType, aggID).
// An append fills in missing ones with Stamp; a present one that disagrees is an error.
func CheckStream(e *Event, aggType, aggID string) error {
	ext := extensions(e)
	if _, ok := ext[ExtAggregateType]; ok && AggregateType(e) != aggType {
		return invalid(CodeStreamMismatch, ExtAggregateType, "is %q but the stream's type is %q", AggregateType(e), aggType)
	}
	if _, ok := ext[ExtAggregateID]; ok && AggregateID(e) != aggID {
		return invalid(CodeStreamMismatch, ExtAggregateID, "is %q but the stream's id is %q", AggregateID(e), aggID)
	}
	if _, ok := ext[ExtPartitionKey]; ok && PartitionKey(e) != aggID {
		return invalid(CodeStreamMismatch, ExtPartitionKey, "is %q but must equal the aggregate id %q", PartitionKey(e), aggID)
	}
	return nil
}
