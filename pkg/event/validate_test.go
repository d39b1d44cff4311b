package event_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"

	"github.com/strata-platform/strata/pkg/event"
)

// newEvent returns a valid event with every optional attribute set.
func newEvent(t *testing.T) event.Event {
	t.Helper()
	e := event.New()
	e.SetID("e-1")
	e.SetSource("/orders")
	e.SetType("com.example.order.placed")
	e.SetSubject("o-123")
	e.SetTime(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	e.SetDataSchema("https://example.com/schemas/order-placed.json")
	e.SetDataContentType("application/json")
	e.DataEncoded = []byte(`{"total":42}`)
	e.SetExtension("traceparent", "00-abc-def-01")
	if err := e.Validate(); err != nil {
		t.Fatalf("sdk-go refuses the base event: %v", err)
	}
	return e
}

func ctxOf(e *event.Event) *cloudevents.EventContextV1 {
	return e.Context.(*cloudevents.EventContextV1)
}

func ptr(s string) *string { return &s }

// wantCode checks that err is a *event.ValidationError with code and attribute, found with
// errors.As through a layer of wrapping, and that it matches event.ErrInvalid.
func wantCode(t *testing.T, err error, code event.Code, attr string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("want no error, got %v", err)
		}
		return
	}
	wrapped := fmt.Errorf("append: %w", err)
	var ve *event.ValidationError
	if !errors.As(wrapped, &ve) {
		t.Fatalf("want *ValidationError %s/%s, got %T %v", code, attr, err, err)
	}
	if ve.Code != code || ve.Attribute != attr {
		t.Fatalf("want %s/%q, got %s/%q (%v)", code, attr, ve.Code, ve.Attribute, ve)
	}
	if !errors.Is(wrapped, event.ErrInvalid) {
		t.Fatalf("errors.Is(%v, ErrInvalid) = false", err)
	}
	if ve.Error() == "" || ve.Detail == "" {
		t.Fatalf("empty message in %#v", ve)
	}
}

// validateTests mutate a valid event (newEvent) and say what Validate answers.
var validateTests = []struct {
	name   string
	mutate func(e *event.Event)
	limits event.Limits
	code   event.Code
	attr   string
}{
	{name: "valid", mutate: func(e *event.Event) {}},
	{name: "minimal", mutate: func(e *event.Event) {
		*e = event.New()
		e.SetID("1")
		e.SetSource("s")
		e.SetType("t")
	}},
	{name: "nil context", mutate: func(e *event.Event) { e.Context = nil },
		code: event.CodeMissingAttribute, attr: "specversion"},
	{name: "missing id", mutate: func(e *event.Event) { ctxOf(e).ID = "" },
		code: event.CodeMissingAttribute, attr: "id"},
	{name: "blank id", mutate: func(e *event.Event) { ctxOf(e).ID = " \t" },
		code: event.CodeMissingAttribute, attr: "id"},
	{name: "SetID empty on a fresh event", mutate: func(e *event.Event) {
		*e = event.New()
		e.SetID("")
		e.SetSource("s")
		e.SetType("t")
	}, code: event.CodeMissingAttribute, attr: "id"},
	{name: "SetID empty keeps old id, records error", mutate: func(e *event.Event) { e.SetID("") },
		code: event.CodeInvalidAttribute, attr: "id"},
	{name: "missing source", mutate: func(e *event.Event) { ctxOf(e).Source = types.URIRef{} },
		code: event.CodeMissingAttribute, attr: "source"},
	{name: "missing type", mutate: func(e *event.Event) { ctxOf(e).Type = "" },
		code: event.CodeMissingAttribute, attr: "type"},
	{name: "specversion 0.3", mutate: func(e *event.Event) { e.SetSpecVersion("0.3") },
		code: event.CodeBadSpecVersion, attr: "specversion"},
	{name: "specversion 2.0", mutate: func(e *event.Event) { e.SetSpecVersion("2.0") },
		code: event.CodeBadSpecVersion, attr: "specversion"},
	{name: "invalid datacontenttype", mutate: func(e *event.Event) { e.SetDataContentType("not a type") },
		code: event.CodeInvalidAttribute, attr: "datacontenttype"},
	{name: "blank datacontenttype", mutate: func(e *event.Event) { ctxOf(e).DataContentType = ptr("  ") },
		code: event.CodeInvalidAttribute, attr: "datacontenttype"},
	{name: "relative dataschema", mutate: func(e *event.Event) { e.SetDataSchema("/schemas/order.json") },
		code: event.CodeInvalidAttribute, attr: "dataschema"},
	{name: "empty dataschema", mutate: func(e *event.Event) { ctxOf(e).DataSchema = &types.URI{} },
		code: event.CodeInvalidAttribute, attr: "dataschema"},
	{name: "blank subject", mutate: func(e *event.Event) { ctxOf(e).Subject = ptr(" ") },
		code: event.CodeInvalidAttribute, attr: "subject"},
	{name: "subject with edge space", mutate: func(e *event.Event) { ctxOf(e).Subject = ptr(" o-1") },
		code: event.CodeInvalidAttribute, attr: "subject"},
	{name: "id with edge space", mutate: func(e *event.Event) { ctxOf(e).ID = "e-1 " },
		code: event.CodeInvalidAttribute, attr: "id"},
	{name: "type with edge nbsp", mutate: func(e *event.Event) { ctxOf(e).Type = "t\u00a0" },
		code: event.CodeInvalidAttribute, attr: "type"},
	{name: "subject with newline", mutate: func(e *event.Event) { ctxOf(e).Subject = ptr("a\nb") },
		code: event.CodeInvalidAttribute, attr: "subject"},
	{name: "subject with C1 control", mutate: func(e *event.Event) { ctxOf(e).Subject = ptr("a\u0085b") },
		code: event.CodeInvalidAttribute, attr: "subject"},
	{name: "id not UTF-8", mutate: func(e *event.Event) { ctxOf(e).ID = "a\xffb" },
		code: event.CodeInvalidAttribute, attr: "id"},
	{name: "type with noncharacter", mutate: func(e *event.Event) { ctxOf(e).Type = "a\uffffb" },
		code: event.CodeInvalidAttribute, attr: "type"},
	{name: "unicode subject", mutate: func(e *event.Event) { e.SetSubject("commande-été-✓") }},
	{name: "time after 9999", mutate: func(e *event.Event) { e.SetTime(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)) },
		code: event.CodeInvalidAttribute, attr: "time"},
	{name: "time before year 0 in UTC", mutate: func(e *event.Event) {
		e.SetTime(time.Date(0, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600)))
	}, code: event.CodeInvalidAttribute, attr: "time"},
	{name: "extension upper case in the map", mutate: func(e *event.Event) { ctxOf(e).Extensions["TraceID"] = "x" },
		code: event.CodeInvalidExtensionName, attr: "TraceID"},
	{name: "extension upper case through SetExtension is lower-cased", mutate: func(e *event.Event) { e.SetExtension("TraceID", "x") }},
	{name: "extension 20 chars", mutate: func(e *event.Event) { e.SetExtension(strings.Repeat("a", 20), "x") }},
	{name: "extension 21 chars", mutate: func(e *event.Event) { e.SetExtension(strings.Repeat("a", 21), "x") },
		code: event.CodeInvalidExtensionName, attr: strings.Repeat("a", 21)},
	{name: "extension underscore", mutate: func(e *event.Event) { e.SetExtension("trace_id", "x") },
		code: event.CodeInvalidExtensionName, attr: "trace_id"},
	{name: "extension underscore in the map", mutate: func(e *event.Event) { ctxOf(e).Extensions["trace_id"] = "x" },
		code: event.CodeInvalidExtensionName, attr: "trace_id"},
	{name: "extension named data", mutate: func(e *event.Event) { e.SetExtension("data", "x") },
		code: event.CodeInvalidExtensionName, attr: "data"},
	{name: "extension named id", mutate: func(e *event.Event) { e.SetExtension("id", "x") },
		code: event.CodeInvalidExtensionName, attr: "id"},
	{name: "extension named id in the map", mutate: func(e *event.Event) { ctxOf(e).Extensions["id"] = "x" },
		code: event.CodeInvalidExtensionName, attr: "id"},
	{name: "extension value not a CloudEvents type", mutate: func(e *event.Event) { e.SetExtension("tags", []int{1}) },
		code: event.CodeInvalidExtensionValue, attr: "tags"},
	{name: "extension value not a CloudEvents type in the map", mutate: func(e *event.Event) { ctxOf(e).Extensions["tags"] = struct{}{} },
		code: event.CodeInvalidExtensionValue, attr: "tags"},
	{name: "extension value with control character", mutate: func(e *event.Event) { e.SetExtension("tenant", "a\x00b") },
		code: event.CodeInvalidExtensionValue, attr: "tenant"},
	{name: "extension typed values", mutate: func(e *event.Event) {
		e.SetExtension("flag", true)
		e.SetExtension("count", 3)
		e.SetExtension("blob", []byte{0, 1})
		e.SetExtension("when", time.Unix(0, 0))
	}},
	{name: "attribute too large", mutate: func(e *event.Event) { e.SetSubject(strings.Repeat("s", 65)) },
		limits: event.Limits{MaxAttributeBytes: 64}, code: event.CodeAttributeTooLarge, attr: "subject"},
	{name: "attribute at the limit", mutate: func(e *event.Event) { e.SetSubject(strings.Repeat("s", 64)) },
		limits: event.Limits{MaxAttributeBytes: 64}},
	{name: "extension too large", mutate: func(e *event.Event) { e.SetExtension("tenant", strings.Repeat("x", 65)) },
		limits: event.Limits{MaxAttributeBytes: 64}, code: event.CodeAttributeTooLarge, attr: "tenant"},
	{name: "default attribute limit", mutate: func(e *event.Event) { e.SetSubject(strings.Repeat("s", 4<<10+1)) },
		code: event.CodeAttributeTooLarge, attr: "subject"},
	{name: "data too large", mutate: func(e *event.Event) { e.DataEncoded = []byte(`"12345"`) },
		limits: event.Limits{MaxDataBytes: 6}, code: event.CodeDataTooLarge, attr: "data"},
	{name: "data at the limit", mutate: func(e *event.Event) { e.DataEncoded = []byte(`"1234"`) },
		limits: event.Limits{MaxDataBytes: 6}},
	{name: "event too large", mutate: func(e *event.Event) {}, limits: event.Limits{MaxEventBytes: 100},
		code: event.CodeEventTooLarge, attr: ""},
}

func TestValidate(t *testing.T) {
	for _, tt := range validateTests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEvent(t)
			tt.mutate(&e)
			wantCode(t, event.Validate(&e, tt.limits), tt.code, tt.attr)
		})
	}
}

func TestValidate_EventSizeBoundary(t *testing.T) {
	e := newEvent(t)
	n := event.Size(&e)
	wantCode(t, event.Validate(&e, event.Limits{MaxEventBytes: n}), "", "")
	wantCode(t, event.Validate(&e, event.Limits{MaxEventBytes: n - 1}), event.CodeEventTooLarge, "")
}

func TestValidate_UpperCaseExtensionIsFoldedBySDK(t *testing.T) {
	// sdk-go lower-cases names in SetExtension, so Validate cannot see the original case;
	// decoders of raw input (pkg/eventhttp) must refuse upper-case names themselves.
	e := newEvent(t)
	e.SetExtension("TraceID", "x")
	if _, ok := e.Extensions()["traceid"]; !ok {
		t.Fatalf("extensions = %v, want traceid", e.Extensions())
	}
}

func TestValidate_UnstableURI(t *testing.T) {
	e := newEvent(t)
	e.SetSource("A:/%2F ") // sdk-go stores the parsed URL, which prints as "a://%20"
	wantCode(t, event.Validate(&e, event.Limits{}), event.CodeInvalidAttribute, "source")
	e = newEvent(t)
	ctxOf(&e).DataSchema = types.ParseURI("A:/%2F ")
	wantCode(t, event.Validate(&e, event.Limits{}), event.CodeInvalidAttribute, "dataschema")
}
