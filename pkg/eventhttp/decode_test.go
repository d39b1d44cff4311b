package eventhttp_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventhttp"
)

// ev is a valid structured event with extra members spliced in before the closing brace.
func ev(extra string) string {
	return `{"specversion":"1.0","id":"e-1","source":"/orders","type":"order.placed"` + extra + `}`
}

const ceJSON, ceBatch = eventhttp.MediaTypeStructured, eventhttp.MediaTypeBatch

// requestFunc builds a fresh request each time a table test runs: a body reads once.
type requestFunc func() *http.Request

func raw(contentType, body string, header ...string) requestFunc {
	return func() *http.Request { return rawRequest(contentType, body, header...) }
}

// bin builds a binary-mode request: a valid event's headers, then overrides (name, value;
// an empty value deletes the header).
func bin(contentType, body string, overrides ...string) requestFunc {
	return func() *http.Request {
		r := rawRequest(contentType, body, "ce-specversion", "1.0", "ce-id", "e-1",
			"ce-source", "/orders", "ce-type", "order.placed")
		for i := 0; i+1 < len(overrides); i += 2 {
			if overrides[i+1] == "" {
				r.Header.Del(overrides[i])
				continue
			}
			r.Header.Set(overrides[i], overrides[i+1])
		}
		return r
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// smallLimits make the size codes easy to reach.
var smallLimits = eventhttp.Limits{MaxBodyBytes: 256, MaxEvents: 2,
	Event: event.Limits{MaxAttributeBytes: 32, MaxDataBytes: 8, MaxEventBytes: 160}}

func chunked(f requestFunc) requestFunc {
	return func() *http.Request { r := f(); r.ContentLength = -1; return r }
}

func unreadable() *http.Request {
	r := rawRequest(ceJSON, "")
	r.Body = io.NopCloser(errReader{})
	return r
}

func repeated(f requestFunc, name string, values ...string) requestFunc {
	return func() *http.Request {
		r := f()
		for _, v := range values {
			r.Header.Add(name, v)
		}
		return r
	}
}

func noBody(f requestFunc) requestFunc {
	return func() *http.Request { r := f(); r.Body = nil; return r }
}

// decodeErrorTests are requests Decode refuses, one or more for every code.
var decodeErrorTests = []struct {
	name   string
	req    requestFunc
	limits eventhttp.Limits
	status int
	code   string
	index  int
	attr   string // the *event.ValidationError's attribute, for envelope codes
}{
	// Media types.
	{name: "text/plain without ce-specversion", req: raw("text/plain", "hello"), status: 415, code: "unsupported_media_type", index: -1},
	{name: "no content type, no ce headers", req: raw("", ev("")), status: 415, code: "unsupported_media_type", index: -1},
	{name: "plain JSON is not structured mode", req: raw("application/json", ev("")), status: 415, code: "unsupported_media_type", index: -1},
	{name: "structured XML", req: raw("application/cloudevents+xml", "<event/>"), status: 415, code: "unsupported_media_type", index: -1},
	{name: "structured protobuf", req: raw("application/cloudevents+protobuf", "x", "ce-specversion", "1.0"), status: 415, code: "unsupported_media_type", index: -1},

	// Body size.
	{name: "body over the limit, length known", req: raw(ceJSON, ev(`,"subject":"`+strings.Repeat("s", 300)+`"`)), limits: smallLimits, status: 413, code: "body_too_large", index: -1},
	{name: "body over the limit, chunked", req: chunked(raw(ceJSON, ev(`,"subject":"`+strings.Repeat("s", 300)+`"`))), limits: smallLimits, status: 413, code: "body_too_large", index: -1},
	{name: "unreadable body", req: unreadable, status: 400, code: "unreadable_body", index: -1},

	// Malformed JSON.
	{name: "empty structured body", req: raw(ceJSON, ""), status: 400, code: "malformed_json", index: 0},
	{name: "truncated object", req: raw(ceJSON, `{"specversion":"1.0"`), status: 400, code: "malformed_json", index: 0},
	{name: "array in structured mode", req: raw(ceJSON, "["+ev("")+"]"), status: 400, code: "malformed_json", index: 0},
	{name: "trailing data", req: raw(ceJSON, ev("")+` {}`), status: 400, code: "malformed_json", index: 0},
	{name: "duplicate member", req: raw(ceJSON, ev(`,"id":"e-2"`)), status: 400, code: "malformed_json", index: 0},
	{name: "not UTF-8", req: raw(ceJSON, ev(`,"subject":"`+"\xff"+`"`)), status: 400, code: "malformed_json", index: -1},
	{name: "batch not an array", req: raw(ceBatch, ev("")), status: 400, code: "malformed_json", index: -1},
	{name: "batch element not an object", req: raw(ceBatch, "["+ev("")+`,"x"]`), status: 400, code: "malformed_json", index: 1},
	{name: "batch element malformed", req: raw(ceBatch, "["+ev("")+`,{"id":}]`), status: 400, code: "malformed_json", index: 1},
	{name: "batch unterminated", req: raw(ceBatch, "["+ev("")), status: 400, code: "malformed_json", index: -1},
	{name: "batch trailing data", req: raw(ceBatch, "["+ev("")+"]]"), status: 400, code: "malformed_json", index: -1},

	// Batch size.
	{name: "empty batch", req: raw(ceBatch, " [ ] "), status: 400, code: "empty_batch", index: -1},
	{name: "too many events", req: raw(ceBatch, "["+ev("")+","+ev("")+","+ev("")+"]"), limits: eventhttp.Limits{MaxEvents: 2}, status: 413, code: "too_many_events", index: -1},

	// Required attributes and specversion, in each mode.
	{name: "missing id", req: raw(ceJSON, `{"specversion":"1.0","source":"/o","type":"t"}`), status: 400, code: "missing_attribute", index: 0, attr: "id"},
	{name: "null id", req: raw(ceJSON, `{"specversion":"1.0","id":null,"source":"/o","type":"t"}`), status: 400, code: "missing_attribute", index: 0, attr: "id"},
	{name: "empty source", req: raw(ceJSON, `{"specversion":"1.0","id":"1","source":"","type":"t"}`), status: 400, code: "missing_attribute", index: 0, attr: "source"},
	{name: "missing type in batch", req: raw(ceBatch, "["+ev("")+`,{"specversion":"1.0","id":"1","source":"/o"}]`), status: 400, code: "missing_attribute", index: 1, attr: "type"},
	{name: "missing specversion", req: raw(ceJSON, `{"id":"1","source":"/o","type":"t"}`), status: 400, code: "missing_attribute", index: 0, attr: "specversion"},
	{name: "specversion 0.3", req: raw(ceJSON, `{"specversion":"0.3","id":"1","source":"/o","type":"t"}`), status: 400, code: "bad_specversion", index: 0, attr: "specversion"},
	{name: "specversion a number", req: raw(ceJSON, `{"specversion":1.0,"id":"1","source":"/o","type":"t"}`), status: 400, code: "bad_specversion", index: 0, attr: "specversion"},
	{name: "binary specversion 0.3", req: bin("", "", "ce-specversion", "0.3"), status: 400, code: "bad_specversion", index: 0, attr: "specversion"},
	{name: "binary specversion 2.0", req: bin("", "", "ce-specversion", "2.0"), status: 400, code: "bad_specversion", index: 0, attr: "specversion"},
	{name: "binary missing id", req: bin("", "", "ce-id", ""), status: 400, code: "missing_attribute", index: 0, attr: "id"},
	{name: "binary blank id", req: bin("", "", "ce-id", "%20"), status: 400, code: "missing_attribute", index: 0, attr: "id"},

	// Malformed optional attributes.
	{name: "source that does not read back as itself", req: raw(ceJSON, `{"specversion":"1.0","id":"1","source":"A:/%2F ","type":"t"}`), status: 400, code: "invalid_attribute", index: 0, attr: "source"},
	{name: "id a number", req: raw(ceJSON, `{"specversion":"1.0","id":7,"source":"/o","type":"t"}`), status: 400, code: "invalid_attribute", index: 0, attr: "id"},
	{name: "invalid datacontenttype", req: raw(ceJSON, ev(`,"datacontenttype":"not a type"`)), status: 400, code: "invalid_attribute", index: 0, attr: "datacontenttype"},
	{name: "empty datacontenttype", req: raw(ceJSON, ev(`,"datacontenttype":""`)), status: 400, code: "invalid_attribute", index: 0, attr: "datacontenttype"},
	{name: "binary invalid content type", req: bin("not a type", "x"), status: 400, code: "invalid_attribute", index: 0, attr: "datacontenttype"},
	{name: "binary ce-datacontenttype", req: bin("", "", "ce-datacontenttype", "text/plain"), status: 400, code: "invalid_attribute", index: 0, attr: "datacontenttype"},
	{name: "relative dataschema", req: raw(ceJSON, ev(`,"dataschema":"/schemas/order"`)), status: 400, code: "invalid_attribute", index: 0, attr: "dataschema"},
	{name: "unparsable dataschema", req: raw(ceJSON, ev(`,"dataschema":"::"`)), status: 400, code: "invalid_attribute", index: 0, attr: "dataschema"},
	{name: "binary relative dataschema", req: bin("", "", "ce-dataschema", "/schemas/order"), status: 400, code: "invalid_attribute", index: 0, attr: "dataschema"},
	{name: "blank subject", req: raw(ceJSON, ev(`,"subject":"  "`)), status: 400, code: "invalid_attribute", index: 0, attr: "subject"},
	{name: "empty subject", req: raw(ceJSON, ev(`,"subject":""`)), status: 400, code: "invalid_attribute", index: 0, attr: "subject"},
	{name: "binary empty subject", req: bin("", "", "ce-subject", "%20"), status: 400, code: "invalid_attribute", index: 0, attr: "subject"},
	{name: "binary subject with edge space", req: bin("", "", "ce-subject", "%20o-1"), status: 400, code: "invalid_attribute", index: 0, attr: "subject"},
	{name: "id with edge space", req: raw(ceJSON, `{"specversion":"1.0","id":" 1","source":"/o","type":"t"}`), status: 400, code: "invalid_attribute", index: 0, attr: "id"},
	{name: "subject with control character", req: raw(ceJSON, ev(`,"subject":"a\u0007b"`)), status: 400, code: "invalid_attribute", index: 0, attr: "subject"},
	{name: "binary bad percent-encoding", req: bin("", "", "ce-subject", "100%"), status: 400, code: "invalid_attribute", index: 0, attr: "subject"},
	{name: "binary percent-encoded non-UTF-8", req: bin("", "", "ce-subject", "%FF"), status: 400, code: "invalid_attribute", index: 0, attr: "subject"},
	{name: "binary repeated header", req: repeated(bin("", ""), "ce-subject", "a", "b"), status: 400, code: "invalid_attribute", index: 0, attr: "subject"},
	{name: "bad time", req: raw(ceJSON, ev(`,"time":"yesterday"`)), status: 400, code: "invalid_attribute", index: 0, attr: "time"},
	{name: "binary bad time", req: bin("", "", "ce-time", "2024-13-01T00:00:00Z"), status: 400, code: "invalid_attribute", index: 0, attr: "time"},
	{name: "data_base64 not base64", req: raw(ceJSON, ev(`,"data_base64":"***"`)), status: 400, code: "invalid_attribute", index: 0, attr: "data_base64"},
	{name: "data and data_base64", req: raw(ceJSON, ev(`,"data":1,"data_base64":"AA=="`)), status: 400, code: "invalid_attribute", index: 0, attr: "data"},
	{name: "object data for text/plain", req: raw(ceJSON, ev(`,"datacontenttype":"text/plain","data":{"a":1}`)), status: 400, code: "invalid_attribute", index: 0, attr: "data"},

	// Extension names and values.
	{name: "extension upper case", req: raw(ceJSON, ev(`,"TraceID":"x"`)), status: 400, code: "invalid_extension_name", index: 0, attr: "TraceID"},
	{name: "context attribute in upper case", req: raw(ceJSON, ev(`,"Subject":"x"`)), status: 400, code: "invalid_extension_name", index: 0, attr: "Subject"},
	{name: "extension underscore", req: raw(ceJSON, ev(`,"trace_id":"x"`)), status: 400, code: "invalid_extension_name", index: 0, attr: "trace_id"},
	{name: "extension 21 characters", req: raw(ceJSON, ev(`,"`+strings.Repeat("a", 21)+`":"x"`)), status: 400, code: "invalid_extension_name", index: 0, attr: strings.Repeat("a", 21)},
	{name: "binary extension underscore", req: bin("", "", "ce-trace_id", "x"), status: 400, code: "invalid_extension_name", index: 0, attr: "trace_id"},
	{name: "binary extension dot", req: bin("", "", "ce-trace.id", "x"), status: 400, code: "invalid_extension_name", index: 0, attr: "trace.id"},
	{name: "binary extension 21 characters", req: bin("", "", "ce-"+strings.Repeat("a", 21), "x"), status: 400, code: "invalid_extension_name", index: 0, attr: strings.Repeat("a", 21)},
	{name: "binary header named ce-", req: bin("", "", "ce-", "x"), status: 400, code: "invalid_extension_name", index: 0, attr: ""},
	{name: "binary extension named data", req: bin("", "", "ce-data", "x"), status: 400, code: "invalid_extension_name", index: 0, attr: "data"},
	{name: "extension 1.5", req: raw(ceJSON, ev(`,"aggregateversion":1.5`)), status: 400, code: "invalid_extension_value", index: 0, attr: "aggregateversion"},
	{name: "extension beyond int32", req: raw(ceJSON, ev(`,"count":2147483648`)), status: 400, code: "invalid_extension_value", index: 0, attr: "count"},
	{name: "extension object", req: raw(ceJSON, ev(`,"meta":{"a":1}`)), status: 400, code: "invalid_extension_value", index: 0, attr: "meta"},
	{name: "extension array", req: raw(ceJSON, ev(`,"tags":["a"]`)), status: 400, code: "invalid_extension_value", index: 0, attr: "tags"},
	{name: "extension control character", req: raw(ceJSON, ev(`,"tenant":"a\nb"`)), status: 400, code: "invalid_extension_value", index: 0, attr: "tenant"},
	{name: "binary extension bad percent-encoding", req: bin("", "", "ce-tenant", "%zz"), status: 400, code: "invalid_extension_value", index: 0, attr: "tenant"},

	// Sizes of one event.
	{name: "attribute too large", req: raw(ceJSON, ev(`,"subject":"`+strings.Repeat("s", 33)+`"`)), limits: smallLimits, status: 413, code: "attribute_too_large", index: 0, attr: "subject"},
	{name: "binary extension too large", req: bin("", "", "ce-tenant", strings.Repeat("t", 33)), limits: smallLimits, status: 413, code: "attribute_too_large", index: 0, attr: "tenant"},
	{name: "data too large", req: raw(ceJSON, ev(`,"data":"123456789"`)), limits: smallLimits, status: 413, code: "data_too_large", index: 0, attr: "data"},
	{name: "binary data too large", req: bin("text/plain", "123456789"), limits: smallLimits, status: 413, code: "data_too_large", index: 0, attr: "data"},
	{name: "event too large in batch", req: raw(ceBatch, "["+ev("")+","+ev(`,"a":"`+strings.Repeat("a", 30)+`","b":"`+strings.Repeat("b", 30)+`","c":"`+strings.Repeat("c", 30)+`","d":"`+strings.Repeat("d", 30)+`"`)+"]"), limits: eventhttp.Limits{Event: smallLimits.Event}, status: 413, code: "event_too_large", index: 1, attr: ""},
}

func TestDecode_Errors(t *testing.T) {
	for _, tt := range decodeErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := eventhttp.Decode(tt.req(), tt.limits)
			if err == nil {
				t.Fatalf("Decode accepted %d events, want %s", len(events), tt.code)
			}
			wantDecodeError(t, err, tt.status, tt.code, tt.index, tt.attr)
		})
	}
}

// wantDecodeError checks err through a layer of wrapping, as a server would see it.
func wantDecodeError(t *testing.T, err error, status int, code string, index int, attr string) {
	t.Helper()
	err = fmt.Errorf("append: %w", err)
	var de *eventhttp.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("want *DecodeError, got %T: %v", err, err)
	}
	if de.Status != status || de.Code != code || de.Index != index {
		t.Fatalf("got %d %s index %d, want %d %s index %d (%v)", de.Status, de.Code, de.Index, status, code, index, de)
	}
	if !errors.Is(err, eventhttp.ErrEventHTTPDecode) {
		t.Fatalf("errors.Is(ErrEventHTTPDecode) = false for %v", err)
	}
	var ve *event.ValidationError
	isEnvelope := errors.As(err, &ve)
	if own := map[string]bool{"malformed_json": true, "unsupported_media_type": true, "body_too_large": true,
		"too_many_events": true, "empty_batch": true, "unreadable_body": true}[code]; own {
		if isEnvelope {
			t.Fatalf("%s wraps a *event.ValidationError: %v", code, ve)
		}
		return
	}
	if !isEnvelope {
		t.Fatalf("%s does not wrap a *event.ValidationError: %v", code, err)
	}
	if string(ve.Code) != code || ve.Attribute != attr {
		t.Fatalf("ValidationError %s/%q, want %s/%q", ve.Code, ve.Attribute, code, attr)
	}
	if !errors.Is(err, event.ErrInvalid) {
		t.Fatalf("errors.Is(event.ErrInvalid) = false for %v", err)
	}
}

// decodeAcceptTests are requests Decode accepts, with a check of the event it returns.
var decodeAcceptTests = []struct {
	name  string
	req   requestFunc
	check func(t *testing.T, e event.Event)
}{
	{name: "members in any order, specversion last", req: raw(ceJSON,
		`{"data":{"a":1},"datacontenttype":"application/json","id":"1","source":"/o","type":"t","specversion":"1.0"}`),
		check: wantData(`{"a":1}`)},
	{name: "null is absent", req: raw(ceJSON, ev(`,"subject":null,"time":null,"datacontenttype":null,"tenant":null,"data":null`)),
		check: func(t *testing.T, e event.Event) {
			if e.Subject() != "" || !e.Time().IsZero() || e.DataContentType() != "" || len(e.Extensions()) != 0 || e.Data() != nil {
				t.Fatalf("nulls not absent: %v", e)
			}
		}},
	{name: "content type parameters and case", req: raw("Application/CloudEvents+JSON; charset=utf-8", ev("")),
		check: func(t *testing.T, e event.Event) {}},
	{name: "+json data is JSON", req: raw(ceJSON, ev(`,"datacontenttype":"application/vnd.order+json","data":{"a": [1]}`)),
		check: wantData(`{"a": [1]}`)},
	{name: "upper-case JSON type keeps raw bytes", req: raw(ceJSON, ev(`,"datacontenttype":"APPLICATION/JSON","data":"s"`)),
		check: wantData(`"s"`)},
	{name: "text data is the string's contents", req: raw(ceJSON, ev(`,"datacontenttype":"text/plain","data":"a\"b\u00e9"`)),
		check: wantData(`a"bé`)},
	{name: "data_base64", req: raw(ceJSON, ev(`,"datacontenttype":"application/octet-stream","data_base64":"AP8="`)),
		check: wantData("\x00\xff")},
	{name: "integral extension number", req: raw(ceJSON, ev(`,"aggregateversion":7.0,"urgent":true`)),
		check: func(t *testing.T, e event.Event) {
			if v, ok, err := event.AggregateVersion(&e); v != 7 || !ok || err != nil {
				t.Fatalf("AggregateVersion = %d %v %v", v, ok, err)
			}
			if e.Extensions()["urgent"] != true {
				t.Fatalf("urgent = %#v", e.Extensions()["urgent"])
			}
		}},
	{name: "binary percent-decoding", req: bin("text/plain", "hi", "ce-subject", "50%25%20off%20%C3%A9t%C3%A9", "ce-tenant", "%20a%20"),
		check: func(t *testing.T, e event.Event) {
			if e.Subject() != "50% off été" || e.Extensions()["tenant"] != " a " || string(e.Data()) != "hi" {
				t.Fatalf("got subject %q tenant %q data %q", e.Subject(), e.Extensions()["tenant"], e.Data())
			}
		}},
	{name: "binary header names are case-insensitive", req: bin("", "", "CE-TENANT", "a", "Ce-Id", "x"),
		check: func(t *testing.T, e event.Event) {
			if e.Extensions()["tenant"] != "a" || e.ID() != "x" {
				t.Fatalf("got %v", e)
			}
		}},
	{name: "binary with no body", req: noBody(bin("", "")),
		check: wantData("")},
	{name: "binary strata extensions are strings", req: bin("", "", "ce-aggregateversion", "3"),
		check: func(t *testing.T, e event.Event) {
			if v, _, err := event.AggregateVersion(&e); v != 3 || err != nil {
				t.Fatalf("AggregateVersion = %d %v", v, err)
			}
		}},
}

func TestDecode_Accepts(t *testing.T) {
	for _, tt := range decodeAcceptTests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := eventhttp.Decode(tt.req(), eventhttp.Limits{})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			tt.check(t, events[0])
		})
	}
}

func wantData(want string) func(t *testing.T, e event.Event) {
	return func(t *testing.T, e event.Event) {
		t.Helper()
		if string(e.Data()) != want {
			t.Fatalf("data = %q, want %q", e.Data(), want)
		}
	}
}

func TestDecode_BatchLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	for i := range 100 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(ev(""))
	}
	b.WriteString("]")
	events, err := eventhttp.Decode(rawRequest(ceBatch, b.String()), eventhttp.Limits{})
	if err != nil || len(events) != 100 {
		t.Fatalf("100 events at the default limit: %d, %v", len(events), err)
	}
	_, err = eventhttp.Decode(rawRequest(ceBatch, b.String()[:b.Len()-1]+","+ev("")+"]"), eventhttp.Limits{})
	wantDecodeError(t, err, 413, "too_many_events", -1, "")
}

func TestDecodeResponse_WithoutRequest(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := eventhttp.WriteStructured(rec, http.StatusOK, fixtures(t)["full"]); err != nil {
		t.Fatal(err)
	}
	resp := rec.Result()
	resp.Request = nil
	if _, err := eventhttp.DecodeResponse(resp, eventhttp.Limits{}); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeResponse_EmptyBatch(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := eventhttp.WriteBatch(rec, http.StatusOK, nil); err != nil {
		t.Fatal(err)
	}
	events, err := eventhttp.DecodeResponse(rec.Result(), eventhttp.Limits{})
	if err != nil || len(events) != 0 {
		t.Fatalf("got %d events, %v", len(events), err)
	}
}
