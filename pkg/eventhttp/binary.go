package eventhttp

import (
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/strata-platform/strata/pkg/event"
)

const (
	headerPrefix      = "Ce-"
	headerContentType = "Content-Type"
)

// ceHeaders returns the binary-mode headers of h as sdk-go should read them: ce-* names in
// canonical form, values percent-decoded (HTTP binding §3.1.3.2), Content-Type as it is.
// It refuses what sdk-go would accept silently or reject without a code: names that are
// not valid extension names, ce-datacontenttype (binary mode carries it in Content-Type),
// repeated headers, bad percent-encoding, and values sdk-go would trim or drop.
func ceHeaders(h http.Header) (http.Header, error) {
	out := http.Header{}
	if ct := h.Values(headerContentType); len(ct) > 0 {
		out[headerContentType] = ct[:1]
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if len(k) < len(headerPrefix) || !strings.EqualFold(k[:len(headerPrefix)], headerPrefix) {
			continue
		}
		name := strings.ToLower(k[len(headerPrefix):])
		v, err := ceHeader(name, h[k])
		if err != nil {
			return nil, err
		}
		key := textproto.CanonicalMIMEHeaderKey(headerPrefix + name)
		if _, dup := out[key]; dup {
			return nil, invalid(valueCode(name), name, "header appears more than once")
		}
		out[key] = []string{v}
	}
	return out, nil
}

// ceHeader checks one ce-* header and returns its decoded value.
func ceHeader(name string, values []string) (string, error) {
	switch {
	case name == "datacontenttype":
		return "", invalid(event.CodeInvalidAttribute, name, "binary mode carries it in Content-Type")
	case !contextAttributes[name]:
		if err := checkExtensionName(name); err != nil {
			return "", err
		}
	}
	if len(values) != 1 {
		return "", invalid(valueCode(name), name, "header appears more than once")
	}
	v, err := url.PathUnescape(values[0])
	if err != nil || !utf8.ValidString(v) {
		return "", invalid(valueCode(name), name, "must be percent-encoded UTF-8")
	}
	if contextAttributes[name] {
		return v, checkAttribute(name, v)
	}
	return v, nil
}

func valueCode(name string) event.Code {
	if contextAttributes[name] {
		return event.CodeInvalidAttribute
	}
	return event.CodeInvalidExtensionValue
}

// percentEncode encodes a header value as the HTTP binding requires: every byte outside
// printable ASCII, space, '"' and '%' as %XX.
func percentEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' || c == '"' || c == '%' {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
