package schema

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/strata-platform/strata/pkg/event"
)

// at is a violation as the tests name it: instance pointer and schema keyword pointer.
type at struct{ ptr, kw string }

func TestRegistry_Check(t *testing.T) {
	placedAllWrong := `{"orderId":"x","customerId":"","currency":"usd",` +
		`"items":[{"sku":"AB","quantity":0,"unitPrice":-1,"extra":1}],` +
		`"placedAt":"yesterday","bogus":true,"shippingAddress":{"city":"X"}}`
	tests := []struct {
		name    string
		agg     string
		e       *event.Event
		require bool
		want    []at   // nil: accepted
		wantMsg string // in err.Error() when set
	}{
		{name: "placed ok", e: newEvent(t, typePlaced, placedOK)},
		{name: "item-added ok", e: newEvent(t, typeItemAdded, itemAddedOK)},
		{name: "paid by card ok", e: newEvent(t, typePaid, paidCardOK)},
		{name: "paid by transfer ok", e: newEvent(t, typePaid, paidTransferOK)},
		{name: "cancelled ok", e: newEvent(t, typeCancelled, cancelledOK)},
		{name: "datacontenttype absent is JSON", e: newEvent(t, typePlaced, placedOK, withContentType(""))},
		{name: "+json suffix with charset", e: newEvent(t, typePlaced, placedOK,
			withContentType("application/vnd.example.order+json; charset=utf-8"))},
		{name: "every kind of violation, all listed", e: newEvent(t, typePlaced, placedAllWrong), want: []at{
			{"", "/additionalProperties"},
			{"/currency", "/properties/currency/$ref/pattern"},
			{"/customerId", "/properties/customerId/minLength"},
			{"/items/0", "/properties/items/items/$ref/additionalProperties"},
			{"/items/0/quantity", "/properties/items/items/$ref/properties/quantity/minimum"},
			{"/items/0/sku", "/properties/items/items/$ref/properties/sku/pattern"},
			{"/items/0/unitPrice", "/properties/items/items/$ref/properties/unitPrice/minimum"},
			{"/orderId", "/properties/orderId/$ref/pattern"},
			{"/placedAt", "/properties/placedAt/format"},
			{"/shippingAddress", "/properties/shippingAddress/$ref/required"},
		}, wantMsg: "additional properties 'bogus' not allowed"},
		{name: "missing required and wrong types", e: newEvent(t, typePlaced, `{"orderId":5,"items":"none"}`), want: []at{
			{"", "/required"},
			{"/items", "/properties/items/type"},
			{"/orderId", "/properties/orderId/$ref/type"},
		}, wantMsg: "missing properties 'customerId', 'currency', 'placedAt'"},
		{name: "empty items and too many", e: newEvent(t, typePlaced, strings.Replace(placedOK,
			`[{"sku":"SKU-1","name":"Mug","quantity":2,"unitPrice":1250}]`, `[]`, 1)),
			want: []at{{"/items", "/properties/items/minItems"}}},
		{name: "nested item of item-added", e: newEvent(t, typeItemAdded,
			`{"orderId":"o-1","item":{"sku":"SKU-2","quantity":1.5},"addedAt":"2025-11-26T09:46:00Z"}`), want: []at{
			{"/item", "/properties/item/required"},
			{"/item/quantity", "/properties/item/properties/quantity/type"},
		}},
		{name: "if/then: card needs cardLast4", e: newEvent(t, typePaid, strings.Replace(paidCardOK, `"cardLast4":"4242",`, ``, 1)),
			want: []at{{"", "/then/required"}}, wantMsg: "missing property 'cardLast4'"},
		{name: "if/else: no cardLast4 unless card", e: newEvent(t, typePaid, strings.Replace(paidTransferOK, `"paidAt"`, `"cardLast4":"4242","paidAt"`, 1)),
			want: []at{{"", "/else"}}, wantMsg: "'not' failed"},
		{name: "enum and conditional note", e: newEvent(t, typeCancelled,
			`{"orderId":"o-1","reason":"bored","cancelledBy":"bot","cancelledAt":"2025-11-26T10:00:00Z"}`), want: []at{
			{"/cancelledBy", "/properties/cancelledBy/enum"},
			{"/reason", "/properties/reason/enum"},
		}},
		{name: "no data is checked as null", e: newEvent(t, typePlaced, ""),
			want: []at{{"", "/type"}}, wantMsg: "got null, want object"},
		{name: "datacontenttype not JSON", e: newEvent(t, typePlaced, placedOK, withContentType("text/plain")),
			want: []at{{"", ""}}, wantMsg: `data must be JSON, but datacontenttype is "text/plain"`},
		{name: "malformed JSON", e: newEvent(t, typePlaced, `{"orderId":`),
			want: []at{{"", ""}}, wantMsg: "data must be JSON: unexpected end of data"},
		{name: "trailing data", e: newEvent(t, typePlaced, placedOK+` {}`),
			want: []at{{"", ""}}, wantMsg: "unexpected data after the top-level value"},
		{name: "duplicate member name", e: newEvent(t, typePlaced, strings.Replace(placedOK, `"orderId":"o-1001"`, `"orderId":"o-1001","orderId":7`, 1)),
			want: []at{{"", ""}}, wantMsg: `duplicate member name "orderId"`},
		{name: "number beyond the bounds", e: newEvent(t, typePlaced, strings.Replace(placedOK, `"quantity":2`, `"quantity":1`+strings.Repeat("0", 400), 1)),
			want: []at{{"", ""}}, wantMsg: "number out of range"},
		{name: "invalid UTF-8", e: newEvent(t, typePlaced, strings.Replace(placedOK, "Mug", "M\xffg", 1)),
			want: []at{{"", ""}}, wantMsg: "invalid UTF-8"},
		{name: "unknown type, Require off", e: newEvent(t, "com.example.order.shipped", `{"any":"thing"}`)},
		{name: "unknown type not JSON, Require off", e: newEvent(t, "com.example.order.shipped", "hi", withContentType("text/plain"))},
		{name: "unknown type, Require on", e: newEvent(t, "com.example.order.shipped", `{}`), require: true,
			wantMsg: "schema: unknown_type: no schema for event type \"com.example.order.shipped\" of aggregate type \"order\": add schemas/order/com.example.order.shipped.v1.json"},
		{name: "unknown type names dataschema's version", require: true,
			e:       newEvent(t, "com.example.order.shipped", `{}`, withDataSchema("https://schemas.example.com/order/com.example.order.shipped.v3.json")),
			wantMsg: "add schemas/order/com.example.order.shipped.v3.json"},
		{name: "type known under another aggregate type", agg: "invoice", e: newEvent(t, typePlaced, placedOK), require: true,
			wantMsg: "add schemas/invoice/com.example.order.placed.v1.json"},
		{name: "type that cannot name a file", e: newEvent(t, "order placed/v1", `{}`), require: true,
			wantMsg: "none can be added"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			agg := tt.agg
			if agg == "" {
				agg = "order"
			}
			err := loadRepo(t, tt.require).Check(agg, tt.e)
			checkAnswer(t, err, tt.want, tt.wantMsg)
		})
	}
}

// checkAnswer compares Check's answer with the violations and message a test wants; with
// neither, it wants nil.
func checkAnswer(t *testing.T, err error, want []at, wantMsg string) {
	t.Helper()
	if want == nil && wantMsg == "" {
		if err != nil {
			t.Fatalf("Check = %v, want nil", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("Check = nil, want a refusal")
	}
	if !errors.Is(err, ErrRejected) {
		t.Errorf("errors.Is(%v, ErrRejected) = false", err)
	}
	if wantMsg != "" && !strings.Contains(err.Error(), wantMsg) {
		t.Errorf("Check = %q, want it to contain %q", err, wantMsg)
	}
	var verr *ViolationError
	if want == nil {
		if errors.As(err, &verr) {
			t.Fatalf("Check = %v, want a *MissingSchemaError", err)
		}
		return
	}
	if !errors.As(err, &verr) || verr.Code != CodeSchemaViolation {
		t.Fatalf("Check = %#v, want a *ViolationError with code %s", err, CodeSchemaViolation)
	}
	got := make([]at, len(verr.Violations))
	for i, v := range verr.Violations {
		got[i] = at{v.Pointer, v.Keyword}
		if v.Message == "" {
			t.Errorf("violation %d has no message", i)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("violations:\n got %v\nwant %v\n(%v)", got, want, err)
	}
}

func TestRegistry_CheckMissingSchemaError(t *testing.T) {
	r := loadRepo(t, true)
	err := r.Check("order", newEvent(t, "com.example.order.shipped", `{}`))
	var m *MissingSchemaError
	if !errors.As(fmt.Errorf("append order/o-1: %w", err), &m) {
		t.Fatalf("Check = %v, want a *MissingSchemaError", err)
	}
	want := MissingSchemaError{Code: CodeUnknownType, AggregateType: "order", Type: "com.example.order.shipped",
		File: "order/com.example.order.shipped.v1.json"}
	if *m != want {
		t.Errorf("got %+v, want %+v", *m, want)
	}
	if code, ok := CodeOf(fmt.Errorf("wrapped: %w", err)); !ok || code != CodeUnknownType {
		t.Errorf("CodeOf = %q, %v", code, ok)
	}
	if _, ok := CodeOf(errors.New("other")); ok {
		t.Error("CodeOf(other error) = true")
	}
}

// versionDir is a schemas folder whose versions each accept only {"v": N}.
func versionDir(t *testing.T) string {
	t.Helper()
	schema := func(id string, v int) string {
		idKw := ""
		if id != "" {
			idKw = fmt.Sprintf(`"$id": %q,`, id)
		}
		return fmt.Sprintf(`{%s "type":"object","required":["v"],"properties":{"v":{"const":%d}}}`, idKw, v)
	}
	return writeTree(t, map[string]string{
		"order/com.example.order.placed.v1.json":  schema("https://schemas.example.com/order/com.example.order.placed.v1.json", 1),
		"order/com.example.order.placed.v2.json":  schema("urn:example:order:placed:2", 2),
		"order/com.example.order.placed.v10.json": schema("", 10),
		"order/com.example.order.paid.v1.json":    schema("https://schemas.example.com/order/com.example.order.paid.v1.json", 1),
	})
}

func TestRegistry_CheckVersionSelection(t *testing.T) {
	tests := []struct {
		name        string
		dataschema  string
		wantVersion int    // the version checked against; 0: refused as unknown_dataschema
		wantFile    string // MissingSchemaError.File when wantVersion is 0
	}{
		{name: "no dataschema: highest version, numerically", wantVersion: 10},
		{name: "$id match", dataschema: "https://schemas.example.com/order/com.example.order.placed.v1.json", wantVersion: 1},
		{name: "$id match without suffix", dataschema: "urn:example:order:placed:2", wantVersion: 2},
		{name: "suffix on another host, query and fragment", dataschema: "https://elsewhere.example/s/com.example.order.placed.v2.json?ref=main#x", wantVersion: 2},
		{name: "suffix picks a version without $id", dataschema: "https://schemas.example.com/order/com.example.order.placed.v10.json", wantVersion: 10},
		{name: "another type's $id picks by its suffix", dataschema: "https://schemas.example.com/order/com.example.order.paid.v1.json", wantVersion: 1},
		{name: "version we do not have", dataschema: "https://schemas.example.com/order/com.example.order.placed.v3.json",
			wantFile: "order/com.example.order.placed.v3.json"},
		{name: "leading zero is no version", dataschema: "https://schemas.example.com/order/com.example.order.placed.v01.json"},
		{name: "no version at all", dataschema: "https://schemas.example.com/order/placed"},
	}
	dir := versionDir(t)
	for _, require := range []bool{false, true} {
		r, err := Load(Config{Dir: dir, Require: require})
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/require=%v", tt.name, require), func(t *testing.T) {
				var opts []evOpt
				if tt.dataschema != "" {
					opts = append(opts, withDataSchema(tt.dataschema))
				}
				if tt.wantVersion == 0 {
					checkDataSchemaRefused(t, r.Check("order", newEvent(t, typePlaced, `{"v":1}`, opts...)), tt.wantFile)
					return
				}
				ok := newEvent(t, typePlaced, fmt.Sprintf(`{"v":%d}`, tt.wantVersion), opts...)
				if err := r.Check("order", ok); err != nil {
					t.Fatalf("Check(v=%d) = %v, want nil", tt.wantVersion, err)
				}
				var verr *ViolationError
				err := r.Check("order", newEvent(t, typePlaced, `{"v":999}`, opts...))
				wantFile := fmt.Sprintf("order/%s.v%d.json", typePlaced, tt.wantVersion)
				if !errors.As(err, &verr) || verr.File != wantFile {
					t.Fatalf("Check(v=999) = %v, want a violation of %s", err, wantFile)
				}
			})
		}
	}
}

func checkDataSchemaRefused(t *testing.T, err error, wantFile string) {
	t.Helper()
	var m *MissingSchemaError
	if !errors.As(err, &m) || m.Code != CodeUnknownDataSchema {
		t.Fatalf("Check = %v, want a *MissingSchemaError with code %s", err, CodeUnknownDataSchema)
	}
	if m.File != wantFile {
		t.Errorf("File = %q, want %q", m.File, wantFile)
	}
	if wantFile != "" && !strings.Contains(err.Error(), "add schemas/"+wantFile) {
		t.Errorf("error %q does not say which file to add", err)
	}
}

func TestRegistry_CheckNullSchema(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"order/com.example.order.touched.v1.json": `{"type":["object","null"],"additionalProperties":false}`,
	})
	r, err := Load(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Check("order", newEvent(t, "com.example.order.touched", "")); err != nil {
		t.Errorf("no data against a schema allowing null: %v", err)
	}
	if err := r.Check("order", newEvent(t, "com.example.order.touched", `{"x":1}`)); err == nil {
		t.Error("data with an extra property was accepted")
	}
}

func TestRegistry_CheckConcurrent(t *testing.T) {
	r := loadRepo(t, true)
	events := []*event.Event{
		newEvent(t, typePlaced, placedOK),
		newEvent(t, typePlaced, `{"orderId":5}`),
		newEvent(t, typePaid, paidCardOK),
		newEvent(t, typeCancelled, `{"reason":"x"}`),
		newEvent(t, "com.example.order.shipped", `{}`),
	}
	want := make([]string, len(events))
	for i, e := range events {
		want[i] = fmt.Sprint(r.Check("order", e))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := (g + i) % len(events)
				if got := fmt.Sprint(r.Check("order", events[k])); got != want[k] {
					t.Errorf("concurrent Check(%d) = %s, want %s", k, got, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestIsJSON(t *testing.T) {
	for ct, want := range map[string]bool{
		"":                                 true,
		"application/json":                 true,
		"Application/JSON; charset=utf-8":  true,
		"text/json":                        true,
		"application/cloudevents+json":     true,
		"application/vnd.example.v1+json ": true,
		"application/+json":                false,
		"+json":                            false,
		"application/jsonx":                false,
		"text/plain":                       false,
		"application/octet-stream":         false,
		"application/xml":                  false,
	} {
		if got := isJSON(ct); got != want {
			t.Errorf("isJSON(%q) = %v, want %v", ct, got, want)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	r := loadRepo(b, true)
	items := make([]string, 50)
	for i := range items {
		items[i] = fmt.Sprintf(`{"sku":"SKU-%d","name":"Item %d","quantity":%d,"unitPrice":%d}`, i, i, i+1, 100*i)
	}
	bigPlaced := strings.Replace(placedOK, `[{"sku":"SKU-1","name":"Mug","quantity":2,"unitPrice":1250}]`,
		"["+strings.Join(items, ",")+"]", 1)
	cases := []struct {
		name  string
		typ   string
		data  string
		valid bool
	}{
		{"placed/valid", typePlaced, placedOK, true},
		{"placed/valid-50-items", typePlaced, bigPlaced, true},
		{"placed/invalid", typePlaced, `{"orderId":"x","currency":"usd","items":[]}`, false},
		{"paid/valid", typePaid, paidCardOK, true},
		{"unknown-type", "com.example.order.shipped", `{}`, false},
	}
	for _, c := range cases {
		e := newEvent(b, c.typ, c.data)
		if err := r.Check("order", e); (err == nil) != c.valid {
			b.Fatalf("%s: Check = %v", c.name, err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				_ = r.Check("order", e)
			}
		})
	}
}
