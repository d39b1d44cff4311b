package eventkafka_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
)

// hdrs builds headers from "name: value" pairs.
func hdrs(kv ...string) []kgo.RecordHeader {
	hs := make([]kgo.RecordHeader, 0, len(kv))
	for _, s := range kv {
		k, v, _ := strings.Cut(s, ": ")
		hs = append(hs, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	return hs
}

// valid are the headers of a minimal valid binary-mode record.
var valid = []string{"ce_specversion: 1.0", "ce_id: 1", "ce_source: /s", "ce_type: t"}

func with(extra ...string) []kgo.RecordHeader {
	return hdrs(append(append([]string{}, valid...), extra...)...)
}

func without(name string, extra ...string) []kgo.RecordHeader {
	var kv []string
	for _, s := range valid {
		if !strings.HasPrefix(s, name+":") {
			kv = append(kv, s)
		}
	}
	return hdrs(append(kv, extra...)...)
}

func TestRecord_DecodeErrors(t *testing.T) {
	bad := func(s string) string { return s + "\xff" }
	cases := []struct {
		name     string
		rec      *kgo.Record
		code     eventkafka.Code
		sentinel error
	}{
		{"nil record", nil, eventkafka.CodeNotCloudEvent, eventkafka.ErrNotCloudEvent},
		{"no headers", &kgo.Record{Value: []byte("x")}, eventkafka.CodeNotCloudEvent, eventkafka.ErrNotCloudEvent},
		{"no ce_specversion", &kgo.Record{Headers: without("ce_specversion")}, eventkafka.CodeNotCloudEvent, eventkafka.ErrNotCloudEvent},
		{"only other headers", &kgo.Record{Headers: hdrs("traceparent: x", "content-type: text/plain")}, eventkafka.CodeNotCloudEvent, eventkafka.ErrNotCloudEvent},
		{"duplicate ce_id", &kgo.Record{Headers: with("ce_id: 2")}, eventkafka.CodeDuplicateHeader, eventkafka.ErrDuplicateHeader},
		{"duplicate in another case", &kgo.Record{Headers: with("CE_ID: 1")}, eventkafka.CodeDuplicateHeader, eventkafka.ErrDuplicateHeader},
		{"duplicate extension", &kgo.Record{Headers: with("ce_tenant: a", "ce_tenant: a")}, eventkafka.CodeDuplicateHeader, eventkafka.ErrDuplicateHeader},
		{"duplicate content-type", &kgo.Record{Headers: with("content-type: a/b", "Content-Type: a/b")}, eventkafka.CodeDuplicateHeader, eventkafka.ErrDuplicateHeader},
		{"ce_ alone", &kgo.Record{Headers: with("ce_: x")}, eventkafka.CodeInvalidHeader, eventkafka.ErrInvalidHeader},
		{"ce_data", &kgo.Record{Headers: with("ce_data: x")}, eventkafka.CodeInvalidHeader, eventkafka.ErrInvalidHeader},
		{"ce_datacontenttype", &kgo.Record{Headers: with("ce_datacontenttype: a/b")}, eventkafka.CodeInvalidHeader, eventkafka.ErrInvalidHeader},
		{"value not UTF-8", &kgo.Record{Headers: with(bad("ce_subject: s"))}, eventkafka.CodeInvalidHeader, eventkafka.ErrInvalidHeader},
		{"name not UTF-8", &kgo.Record{Headers: with(bad("ce_x") + ": s")}, eventkafka.CodeInvalidHeader, eventkafka.ErrInvalidHeader},
		{"content-type not UTF-8", &kgo.Record{Headers: with(bad("content-type: a/b"))}, eventkafka.CodeInvalidHeader, eventkafka.ErrInvalidHeader},
		{"time not RFC 3339", &kgo.Record{Headers: with("ce_time: yesterday")}, eventkafka.CodeInvalidAttributeValue, eventkafka.ErrInvalidAttributeValue},
		{"time without zone", &kgo.Record{Headers: with("ce_time: 2025-01-02T03:04:05")}, eventkafka.CodeInvalidAttributeValue, eventkafka.ErrInvalidAttributeValue},
		{"time before year 0 in UTC", &kgo.Record{Headers: with("ce_time: 0000-01-01T00:00:00+01:00")}, eventkafka.CodeInvalidAttributeValue, eventkafka.ErrInvalidAttributeValue},
		{"source not a URI-reference", &kgo.Record{Headers: without("ce_source", "ce_source: http://[::1")}, eventkafka.CodeInvalidAttributeValue, eventkafka.ErrInvalidAttributeValue},
		{"dataschema empty", &kgo.Record{Headers: with("ce_dataschema: ")}, eventkafka.CodeInvalidAttributeValue, eventkafka.ErrInvalidAttributeValue},
		{"dataschema not a URI", &kgo.Record{Headers: with("ce_dataschema: %zz")}, eventkafka.CodeInvalidAttributeValue, eventkafka.ErrInvalidAttributeValue},
		{"another event format", &kgo.Record{Headers: hdrs("content-type: application/cloudevents+avro"), Value: []byte("x")}, eventkafka.CodeUnsupportedFormat, eventkafka.ErrUnsupportedFormat},
		{"another event format with ce_ headers", &kgo.Record{Headers: with("content-type: Application/CloudEvents+avro")}, eventkafka.CodeUnsupportedFormat, eventkafka.ErrUnsupportedFormat},
		{"batch format", &kgo.Record{Headers: hdrs("content-type: application/cloudevents-batch+json"), Value: []byte("[]")}, eventkafka.CodeUnsupportedFormat, eventkafka.ErrUnsupportedFormat},
		{"structured not JSON", &kgo.Record{Headers: hdrs("content-type: application/cloudevents+json"), Value: []byte("{")}, eventkafka.CodeInvalidStructured, eventkafka.ErrInvalidStructured},
		{"structured empty", &kgo.Record{Headers: hdrs("content-type: application/cloudevents+json")}, eventkafka.CodeInvalidStructured, eventkafka.ErrInvalidStructured},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := eventkafka.Decode(tc.rec)
			var ke *eventkafka.Error
			if !errors.As(err, &ke) {
				t.Fatalf("Decode error = %v (%T), want *eventkafka.Error %s", err, err, tc.code)
			}
			if ke.Code != tc.code || !errors.Is(err, tc.sentinel) {
				t.Fatalf("Decode error = %v, want code %s", err, tc.code)
			}
			wrapped := fmt.Errorf("consume: %w", err)
			if !errors.Is(wrapped, tc.sentinel) || !errors.As(wrapped, &ke) {
				t.Fatal("the error is lost through wrapping")
			}
		})
	}
}

// TestRecord_DecodeInvalidEvent checks that a record that decodes into an invalid event is
// refused with event.Validate's *event.ValidationError.
func TestRecord_DecodeInvalidEvent(t *testing.T) {
	cases := []struct {
		name  string
		rec   *kgo.Record
		limit event.Limits
		code  event.Code
		attr  string
	}{
		{"specversion 0.3", &kgo.Record{Headers: without("ce_specversion", "ce_specversion: 0.3")}, event.Limits{}, event.CodeBadSpecVersion, "specversion"},
		{"no id", &kgo.Record{Headers: without("ce_id")}, event.Limits{}, event.CodeMissingAttribute, "id"},
		{"empty type", &kgo.Record{Headers: without("ce_type", "ce_type: ")}, event.Limits{}, event.CodeMissingAttribute, "type"},
		{"no source", &kgo.Record{Headers: without("ce_source")}, event.Limits{}, event.CodeMissingAttribute, "source"},
		{"empty subject", &kgo.Record{Headers: with("ce_subject: ")}, event.Limits{}, event.CodeInvalidAttribute, "subject"},
		{"empty content-type", &kgo.Record{Headers: with("content-type: ")}, event.Limits{}, event.CodeInvalidAttribute, "datacontenttype"},
		{"content-type not a media type", &kgo.Record{Headers: with("content-type: not a type")}, event.Limits{}, event.CodeInvalidAttribute, "datacontenttype"},
		{"relative dataschema", &kgo.Record{Headers: with("ce_dataschema: /schemas/x")}, event.Limits{}, event.CodeInvalidAttribute, "dataschema"},
		{"extension name with a dash", &kgo.Record{Headers: with("ce_bad-name: x")}, event.Limits{}, event.CodeInvalidExtensionName, "bad-name"},
		{"extension name too long", &kgo.Record{Headers: with("ce_abcdefghijklmnopqrstu: x")}, event.Limits{}, event.CodeInvalidExtensionName, "abcdefghijklmnopqrstu"},
		{"control character", &kgo.Record{Headers: with("ce_subject: a\nb")}, event.Limits{}, "", "subject"},
		{"data too large", &kgo.Record{Headers: with(), Value: make([]byte, 101)}, event.Limits{MaxDataBytes: 100}, event.CodeDataTooLarge, "data"},
		{"attribute too large", &kgo.Record{Headers: with("ce_note: " + strings.Repeat("n", 11))}, event.Limits{MaxAttributeBytes: 10}, event.CodeAttributeTooLarge, "note"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := eventkafka.Codec{Limits: tc.limit}.Decode(tc.rec)
			var ve *event.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, event.ErrInvalid) {
				t.Fatalf("Decode error = %v (%T), want *event.ValidationError", err, err)
			}
			if (tc.code != "" && ve.Code != tc.code) || ve.Attribute != tc.attr {
				t.Fatalf("Decode error = %v, want code %s on %q", err, tc.code, tc.attr)
			}
			var ke *eventkafka.Error
			if errors.As(err, &ke) {
				t.Fatal("a validation error also matches *eventkafka.Error")
			}
		})
	}
}

func TestRecord_EncodeErrors(t *testing.T) {
	base := func() event.Event {
		e := event.New()
		e.SetID("1")
		e.SetSource("/s")
		e.SetType("t")
		return e
	}
	cases := []struct {
		name   string
		mutate func(e *event.Event)
		kcode  eventkafka.Code // binding error, or
		vcode  event.Code      // validation error
	}{
		{"no context", func(e *event.Event) { e.Context = nil }, "", event.CodeMissingAttribute},
		{"missing type", func(e *event.Event) { e.SetType("") }, "", event.CodeMissingAttribute},
		{"year 10000", func(e *event.Event) { e.SetTime(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)) }, eventkafka.CodeInvalidAttributeValue, event.CodeInvalidAttribute},
		{"content type is an event format", func(e *event.Event) { e.SetDataContentType("application/cloudevents+json") }, eventkafka.CodeInvalidAttributeValue, ""},
		{"subject not UTF-8", func(e *event.Event) { e.SetSubject("a\xffb") }, eventkafka.CodeInvalidHeader, event.CodeInvalidAttribute},
		{"extension named data", func(e *event.Event) { e.SetExtension("data", "x") }, eventkafka.CodeInvalidHeader, event.CodeInvalidExtensionName},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := base()
			tc.mutate(&e)
			r, err := eventkafka.Encode(&e, "t")
			if err == nil {
				t.Fatalf("Encode accepted the event: %s", dumpHeaders(r.Headers))
			}
			var ve *event.ValidationError
			var ke *eventkafka.Error
			switch {
			case errors.As(err, &ve) && tc.vcode != "":
				if ve.Code != tc.vcode {
					t.Fatalf("Encode error = %v, want %s", err, tc.vcode)
				}
			case errors.As(err, &ke) && tc.kcode != "":
				if ke.Code != tc.kcode {
					t.Fatalf("Encode error = %v, want %s", err, tc.kcode)
				}
			default:
				t.Fatalf("Encode error = %v (%T), want %q or %q", err, err, tc.kcode, tc.vcode)
			}
		})
	}
	if _, err := eventkafka.Encode(nil, "t"); !errors.Is(err, event.ErrInvalid) {
		t.Fatalf("Encode(nil) = %v, want a validation error", err)
	}
}
