package event_test

import (
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/strata-platform/strata/pkg/event"
)

func stamped(t *testing.T) event.Event {
	t.Helper()
	e := newEvent(t)
	event.Stamp(&e, "order", "o-123", 7)
	return e
}

// validateStrataTests mutate a stamped event and say what ValidateStrata answers.
var validateStrataTests = []struct {
	name   string
	mutate func(e *event.Event)
	code   event.Code
	attr   string
}{
	{name: "stamped", mutate: func(e *event.Event) {}},
	{name: "version as a string, as binary mode carries it", mutate: func(e *event.Event) {
		e.SetExtension(event.ExtAggregateVersion, "7")
	}},
	{name: "max version", mutate: func(e *event.Event) { event.Stamp(e, "order", "o-123", event.MaxVersion) }},
	{name: "envelope error first", mutate: func(e *event.Event) { ctxOf(e).ID = "" },
		code: event.CodeMissingAttribute, attr: "id"},
	{name: "missing aggregatetype", mutate: func(e *event.Event) { e.SetExtension(event.ExtAggregateType, nil) },
		code: event.CodeMissingAttribute, attr: event.ExtAggregateType},
	{name: "missing aggregateid", mutate: func(e *event.Event) { e.SetExtension(event.ExtAggregateID, nil) },
		code: event.CodeMissingAttribute, attr: event.ExtAggregateID},
	{name: "missing partitionkey", mutate: func(e *event.Event) { e.SetExtension(event.ExtPartitionKey, nil) },
		code: event.CodeMissingAttribute, attr: event.ExtPartitionKey},
	{name: "missing aggregateversion", mutate: func(e *event.Event) { e.SetExtension(event.ExtAggregateVersion, nil) },
		code: event.CodeMissingAttribute, attr: event.ExtAggregateVersion},
	{name: "aggregateid not a string", mutate: func(e *event.Event) { e.SetExtension(event.ExtAggregateID, 5) },
		code: event.CodeInvalidExtensionValue, attr: event.ExtAggregateID},
	{name: "bad aggregate type", mutate: func(e *event.Event) { e.SetExtension(event.ExtAggregateType, "Order") },
		code: event.CodeInvalidStreamName, attr: event.ExtAggregateType},
	{name: "bad aggregate id", mutate: func(e *event.Event) {
		event.Stamp(e, "order", "o/1", 1)
	}, code: event.CodeInvalidStreamName, attr: event.ExtAggregateID},
	{name: "partitionkey differs from aggregateid", mutate: func(e *event.Event) {
		e.SetExtension(event.ExtPartitionKey, "o-999")
	}, code: event.CodeInvalidExtensionValue, attr: event.ExtPartitionKey},
	{name: "version abc", mutate: func(e *event.Event) { e.SetExtension(event.ExtAggregateVersion, "abc") },
		code: event.CodeInvalidExtensionValue, attr: event.ExtAggregateVersion},
	{name: "version 0", mutate: func(e *event.Event) { e.SetExtension(event.ExtAggregateVersion, 0) },
		code: event.CodeInvalidExtensionValue, attr: event.ExtAggregateVersion},
	{name: "version -1", mutate: func(e *event.Event) { e.SetExtension(event.ExtAggregateVersion, -1) },
		code: event.CodeInvalidExtensionValue, attr: event.ExtAggregateVersion},
	{name: "version string 0", mutate: func(e *event.Event) { e.SetExtension(event.ExtAggregateVersion, "0") },
		code: event.CodeInvalidExtensionValue, attr: event.ExtAggregateVersion},
	{name: "version 1.5 is not truncated", mutate: func(e *event.Event) { e.SetExtension(event.ExtAggregateVersion, "1.5") },
		code: event.CodeInvalidExtensionValue, attr: event.ExtAggregateVersion},
	{name: "version 1e0", mutate: func(e *event.Event) { e.SetExtension(event.ExtAggregateVersion, "1e0") },
		code: event.CodeInvalidExtensionValue, attr: event.ExtAggregateVersion},
	{name: "version +1", mutate: func(e *event.Event) { e.SetExtension(event.ExtAggregateVersion, "+1") },
		code: event.CodeInvalidExtensionValue, attr: event.ExtAggregateVersion},
	{name: "version 01", mutate: func(e *event.Event) { e.SetExtension(event.ExtAggregateVersion, "01") },
		code: event.CodeInvalidExtensionValue, attr: event.ExtAggregateVersion},
	{name: "version over int32", mutate: func(e *event.Event) { e.SetExtension(event.ExtAggregateVersion, "2147483648") },
		code: event.CodeInvalidExtensionValue, attr: event.ExtAggregateVersion},
	{name: "version a bool", mutate: func(e *event.Event) { e.SetExtension(event.ExtAggregateVersion, true) },
		code: event.CodeInvalidExtensionValue, attr: event.ExtAggregateVersion},
	{name: "version a float in the map", mutate: func(e *event.Event) { ctxOf(e).Extensions[event.ExtAggregateVersion] = 1.5 },
		code: event.CodeInvalidExtensionValue, attr: event.ExtAggregateVersion},
	{name: "Stamp past int32 does not wrap", mutate: func(e *event.Event) { event.Stamp(e, "order", "o-123", 1<<32+1) },
		code: event.CodeInvalidExtensionValue, attr: event.ExtAggregateVersion},
	{name: "Stamp below int32 does not wrap", mutate: func(e *event.Event) { event.Stamp(e, "order", "o-123", math.MinInt64) },
		code: event.CodeInvalidExtensionValue, attr: event.ExtAggregateVersion},
}

func TestValidateStrata(t *testing.T) {
	for _, tt := range validateStrataTests {
		t.Run(tt.name, func(t *testing.T) {
			e := stamped(t)
			tt.mutate(&e)
			wantCode(t, event.ValidateStrata(&e, event.Limits{}), tt.code, tt.attr)
		})
	}
}

func TestStamp(t *testing.T) {
	e := stamped(t)
	if got := event.AggregateType(&e); got != "order" {
		t.Errorf("AggregateType = %q", got)
	}
	if got := event.AggregateID(&e); got != "o-123" {
		t.Errorf("AggregateID = %q", got)
	}
	if got := event.PartitionKey(&e); got != "o-123" {
		t.Errorf("PartitionKey = %q", got)
	}
	if typ, id := event.StreamOf(&e); typ != "order" || id != "o-123" {
		t.Errorf("StreamOf = %q, %q", typ, id)
	}
	v, ok, err := event.AggregateVersion(&e)
	if v != 7 || !ok || err != nil {
		t.Errorf("AggregateVersion = %d, %v, %v", v, ok, err)
	}
	if _, isInt := e.Extensions()[event.ExtAggregateVersion].(int32); !isInt {
		t.Errorf("aggregateversion is %T, want int32", e.Extensions()[event.ExtAggregateVersion])
	}
	if got := event.StreamString("order", "o-123"); got != "order/o-123" {
		t.Errorf("StreamString = %q", got)
	}
	plain := newEvent(t)
	if _, ok, err := event.AggregateVersion(&plain); ok || err != nil {
		t.Errorf("AggregateVersion of an unstamped event = %v, %v", ok, err)
	}
}

func TestCheckStream(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(e *event.Event)
		code   event.Code
		attr   string
	}{
		{name: "matches", mutate: func(e *event.Event) {}},
		{name: "no extensions", mutate: func(e *event.Event) {
			for _, n := range []string{event.ExtAggregateType, event.ExtAggregateID, event.ExtPartitionKey, event.ExtAggregateVersion} {
				e.SetExtension(n, nil)
			}
		}},
		{name: "only partitionkey, matching", mutate: func(e *event.Event) {
			e.SetExtension(event.ExtAggregateType, nil)
			e.SetExtension(event.ExtAggregateID, nil)
		}},
		{name: "other type", mutate: func(e *event.Event) { e.SetExtension(event.ExtAggregateType, "invoice") },
			code: event.CodeStreamMismatch, attr: event.ExtAggregateType},
		{name: "other id", mutate: func(e *event.Event) { e.SetExtension(event.ExtAggregateID, "o-999") },
			code: event.CodeStreamMismatch, attr: event.ExtAggregateID},
		{name: "type of the wrong kind", mutate: func(e *event.Event) { e.SetExtension(event.ExtAggregateType, 1) },
			code: event.CodeStreamMismatch, attr: event.ExtAggregateType},
		{name: "other partitionkey", mutate: func(e *event.Event) { e.SetExtension(event.ExtPartitionKey, "o-999") },
			code: event.CodeStreamMismatch, attr: event.ExtPartitionKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := stamped(t)
			tt.mutate(&e)
			wantCode(t, event.CheckStream(&e, "order", "o-123"), tt.code, tt.attr)
		})
	}
}

func TestValidateStreamName(t *testing.T) {
	tests := []struct {
		typ, id string
		attr    string // "" when valid
	}{
		{"order", "o-123", ""},
		{"a", "1", ""},
		{"order_line-item2", "A.b_c:d@e+f=g~h-i", ""},
		{strings.Repeat("a", 63), strings.Repeat("i", 256), ""},
		{"", "o-1", event.ExtAggregateType},
		{"Order", "o-1", event.ExtAggregateType},
		{"1order", "o-1", event.ExtAggregateType},
		{"-order", "o-1", event.ExtAggregateType},
		{"order.v2", "o-1", event.ExtAggregateType},
		{strings.Repeat("a", 64), "o-1", event.ExtAggregateType},
		{"order", "", event.ExtAggregateID},
		{"order", ".o", event.ExtAggregateID},
		{"order", "-o", event.ExtAggregateID},
		{"order", "o/1", event.ExtAggregateID},
		{"order", "o 1", event.ExtAggregateID},
		{"order", "o%2F1", event.ExtAggregateID},
		{"order", "ö", event.ExtAggregateID},
		{"order", strings.Repeat("i", 257), event.ExtAggregateID},
	}
	for _, tt := range tests {
		t.Run(tt.typ+"/"+tt.id, func(t *testing.T) {
			code := event.CodeInvalidStreamName
			if tt.attr == "" {
				code = ""
			}
			wantCode(t, event.ValidateStreamName(tt.typ, tt.id), code, tt.attr)
		})
	}
}

func TestSize(t *testing.T) {
	e := event.New()
	e.SetID("1")
	e.SetSource("s")
	e.SetType("t")
	e.DataEncoded = []byte("abcd")
	// specversion(11)+"1.0"(3) + id(2)+1 + source(6)+1 + type(4)+1 + data 4
	if got, want := event.Size(&e), 11+3+2+1+6+1+4+1+4; got != want {
		t.Fatalf("Size = %d, want %d", got, want)
	}
}

// TestStamp_SameAsSetExtension checks that Stamp's in-place writes give the extensions,
// in the types, that sdk-go's SetExtension gives.
func TestStamp_SameAsSetExtension(t *testing.T) {
	for _, v := range []int64{1, 7, event.MaxVersion, 1<<32 + 1, math.MinInt64} {
		got, want := event.New(), event.New()
		event.Stamp(&got, "order", "o-123", v)
		want.SetExtension(event.ExtAggregateType, "order")
		want.SetExtension(event.ExtAggregateID, "o-123")
		if v < math.MinInt32 || v > event.MaxVersion {
			want.SetExtension(event.ExtAggregateVersion, strconv.FormatInt(v, 10))
		} else {
			want.SetExtension(event.ExtAggregateVersion, int32(v))
		}
		want.SetExtension(event.ExtPartitionKey, "o-123")
		if !reflect.DeepEqual(got.Extensions(), want.Extensions()) {
			t.Fatalf("version %d: Stamp gave %#v, SetExtension %#v", v, got.Extensions(), want.Extensions())
		}
	}
}
