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
	start := len(dst)
	fail := func() ([]byte, bool) { return dst[:start], false }
	var ok2 bool
	str := func(name, v string) {
		if !ok2 {
			return
		}
		dst = append(dst, ',')
		if dst, ok2 = appendPlainString(dst, name); ok2 {
			dst = append(dst, ':')
			dst, ok2 = appendPlainString(dst, v)
		}
	}
	dst = append(dst, `{"specversion":"1.0","id":`...)
	dst, ok2 = appendPlainString(dst, ec.ID)
	str("source", Source(e))
	str("type", ec.Type)
	if ec.Subject != nil {
		str("subject", *ec.Subject)
	}
	if ec.DataContentType != nil {
		str("datacontenttype", *ec.DataContentType)
	}
	if ec.DataSchema != nil {
		str("dataschema", ec.DataSchema.String())
	}
	if ec.Time != nil {
		str("time", ec.Time.String())
	}
	if !ok2 {
		return fail()
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
			dst = append(dst, `,"data":`...)
			dst = append(dst, e.DataEncoded...)
		case e.DataBase64:
			dst = append(dst, `,"data_base64":"`...)
			dst = base64.StdEncoding.AppendEncode(dst, e.DataEncoded)
			dst = append(dst, '"')
		default:
			str("data", string(e.DataEncoded))
			if !ok2 {
				return fail()
			}
		}
	}
	if len(ec.Extensions) > 0 {
		var names [8]string
		sorted := names[:0]
		for name := range ec.Extensions {
			sorted = append(sorted, name)
		}
		slices.Sort(sorted)
		for _, name := range sorted {
			switch v := ec.Extensions[name].(type) {
			case string:
				str(name, v)
				if !ok2 {
					return fail()
				}
			case int32:
				dst = append(dst, ',')
				if dst, ok2 = appendPlainString(dst, name); !ok2 {
					return fail()
				}
				dst = append(dst, ':')
				dst = strconv.AppendInt(dst, int64(v), 10)
			default:
				return fail()
			}
		}
	}
	return append(dst, '}'), true
}

// appendPlainString appends s as a JSON string when every byte of it is one sdk-go's JSON
// writer copies unchanged (above 0x1f, not '"' or '\\'), and reports whether it was.
func appendPlainString(dst []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x1f || c == '"' || c == '\\' {
			return dst, false
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"'), true
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
