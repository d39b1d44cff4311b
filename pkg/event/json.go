package event

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
)

// AppendJSON appends e in the CloudEvents JSON format, byte for byte as sdk-go's
// Event.MarshalJSON writes it (FuzzAppendJSON compares them), and returns the extended
// buffer. It writes the common case itself: a 1.0 context whose strings need no JSON
// escaping and whose extensions are strings and Integers (as Stamp writes them). Anything
// else it hands to MarshalJSON. Writing into the caller's buffer, without sdk-go's
// pooled stream, its extension-name slice and the URL printing, costs a fraction of
// MarshalJSON on the append path, which encodes every event once.
func AppendJSON(dst []byte, e *Event) ([]byte, error) {
	if out, ok := appendJSONFast(dst, e); ok {
		return out, nil
	}
	b, err := e.MarshalJSON()
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

func appendJSONFast(dst []byte, e *Event) ([]byte, bool) {
	ec, ok := e.Context.(*cloudevents.EventContextV1)
	if !ok {
		return dst, false
	}
	w := plainJSON{b: append(dst, `{"specversion":"1.0","id":`...), ok: true}
	w.str(ec.ID)
	w.member("source", Source(e))
	w.member("type", ec.Type)
	if ec.Subject != nil {
		w.member("subject", *ec.Subject)
	}
	if ec.DataContentType != nil {
		w.member("datacontenttype", *ec.DataContentType)
	}
	if ec.DataSchema != nil {
		w.member("dataschema", ec.DataSchema.String())
	}
	if ec.Time != nil {
		w.member("time", ec.Time.String())
	}
	if e.DataEncoded != nil {
		mediaType := cloudevents.ApplicationJSON
		if ec.DataContentType != nil {
			ct := *ec.DataContentType
			if i := strings.IndexByte(ct, ';'); i >= 0 {
				ct = ct[:i]
			}
			mediaType = strings.TrimSpace(strings.ToLower(ct))
		}
		switch {
		case isJSONMediaType(mediaType) && !e.DataBase64:
			w.b = append(append(w.b, `,"data":`...), e.DataEncoded...)
		case e.DataBase64:
			w.b = base64.StdEncoding.AppendEncode(append(w.b, `,"data_base64":"`...), e.DataEncoded)
			w.b = append(w.b, '"')
		default:
			w.member("data", string(e.DataEncoded))
		}
	}
	var names [8]string
	sorted := names[:0]
	for name := range ec.Extensions {
		sorted = append(sorted, name)
	}
	slices.Sort(sorted)
	for _, name := range sorted {
		switch v := ec.Extensions[name].(type) {
		case string:
			w.member(name, v)
		case int32:
			w.name(name)
			w.b = strconv.AppendInt(w.b, int64(v), 10)
		default:
			w.ok = false
		}
	}
	if !w.ok {
		return dst, false
	}
	return append(w.b, '}'), true
}

// plainJSON writes JSON members whose strings sdk-go's JSON writer copies unchanged (every
// byte above 0x1f, not '"' or '\\'); ok turns false at the first string that is not.
type plainJSON struct {
	b  []byte
	ok bool
}

func (w *plainJSON) str(s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x1f || c == '"' || c == '\\' {
			w.ok = false
			return
		}
	}
	w.b = append(append(append(w.b, '"'), s...), '"')
}

func (w *plainJSON) name(n string) {
	w.b = append(w.b, ',')
	w.str(n)
	w.b = append(w.b, ':')
}

func (w *plainJSON) member(n, v string) {
	w.name(n)
	w.str(v)
}

// isJSONMediaType is sdk-go's test for data written inline as JSON.
func isJSONMediaType(mediaType string) bool {
	switch mediaType {
	case cloudevents.ApplicationJSON, cloudevents.TextJSON, cloudevents.ApplicationCloudEventsJSON,
		cloudevents.ApplicationCloudEventsBatchJSON, "":
		return true
	}
	return false
}
