package eventhttp_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/types"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventhttp"
)

const target = "http://strata.test/v1/streams/order/o-123/events"

// mode names an encoding of the HTTP binding.
type mode string

const (
	structured mode = "structured"
	batch      mode = "batch"
	binary     mode = "binary"
)

var modes = []mode{structured, batch, binary}

// newRequest encodes events in mode with the client-side helpers.
func newRequest(t testing.TB, m mode, events ...event.Event) *http.Request {
	t.Helper()
	var r *http.Request
	var err error
	switch m {
	case structured:
		r, err = eventhttp.NewStructuredRequest(context.Background(), target, events[0])
	case batch:
		r, err = eventhttp.NewBatchRequest(context.Background(), target, events...)
	case binary:
		r, err = eventhttp.NewBinaryRequest(context.Background(), target, events[0])
	}
	if err != nil {
		t.Fatalf("encode %s: %v", m, err)
	}
	return r
}

// writeResponse encodes events in mode with the server-side writers and returns the
// response as a request Decode can read.
func writeResponse(t testing.TB, m mode, events ...event.Event) *http.Request {
	t.Helper()
	rec := httptest.NewRecorder()
	var err error
	switch m {
	case structured:
		err = eventhttp.WriteStructured(rec, http.StatusOK, events[0])
	case batch:
		err = eventhttp.WriteBatch(rec, http.StatusOK, events)
	case binary:
		err = eventhttp.WriteBinary(rec, http.StatusOK, events[0])
	}
	if err != nil {
		t.Fatalf("write %s: %v", m, err)
	}
	r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(rec.Body.Bytes()))
	r.Header = rec.Header().Clone()
	return r
}

// rawRequest builds a request from literal parts; header pairs are name, value.
func rawRequest(contentType, body string, header ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	return r
}

// diffEvents describes how got differs from want, or returns "". It compares every
// attribute in its canonical string form, the extensions (their Go values too when
// exactTypes), and the data bytes.
func diffEvents(want, got *event.Event, exactTypes bool) string {
	var diffs []string
	wa, ga := canonical(want), canonical(got)
	for _, k := range keys(wa, ga) {
		if wa[k] != ga[k] {
			diffs = append(diffs, fmt.Sprintf("%s: want %q, got %q", k, wa[k], ga[k]))
		}
	}
	if exactTypes {
		for name, w := range want.Extensions() {
			if g := got.Extensions()[name]; !reflect.DeepEqual(w, g) {
				diffs = append(diffs, fmt.Sprintf("extension %s: want %T %#v, got %T %#v", name, w, w, g, g))
			}
		}
	}
	if !bytes.Equal(want.Data(), got.Data()) {
		diffs = append(diffs, fmt.Sprintf("data: want %q, got %q", want.Data(), got.Data()))
	}
	return strings.Join(diffs, "; ")
}

func canonical(e *event.Event) map[string]string {
	m := map[string]string{
		"specversion": e.SpecVersion(), "id": e.ID(), "source": e.Source(), "type": e.Type(),
		"subject": e.Subject(), "datacontenttype": e.DataContentType(), "dataschema": e.DataSchema(),
	}
	if t := e.Time(); !t.IsZero() {
		m["time"] = types.FormatTime(t)
	}
	for name, v := range e.Extensions() {
		s, err := types.Format(v)
		if err != nil {
			s = fmt.Sprintf("!%v", err)
		}
		m["ext:"+name] = s
	}
	return m
}

func keys(ms ...map[string]string) []string {
	set := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			set[k] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// fixtures are events that exercise every attribute, every kind of data and every
// character class the encodings must carry.
func fixtures(t testing.TB) map[string]event.Event {
	t.Helper()
	fx := map[string]event.Event{}
	attributeFixtures(fx)
	dataFixtures(t, fx)
	return fx
}

func baseEvent(id string) event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource("https://orders.example.com/api")
	e.SetType("com.example.order.placed")
	return e
}

func attributeFixtures(fx map[string]event.Event) {
	full := baseEvent("e-full")
	full.SetSubject("o-123")
	full.SetTime(time.Date(2024, 5, 1, 14, 30, 0, 123456789, time.FixedZone("CEST", 2*3600)))
	full.SetDataSchema("https://example.com/schemas/order-placed.json")
	full.SetDataContentType("application/json")
	full.DataEncoded = []byte(`{"total":42,"note":"<a & b>","items":[1,2.5e3,null]}`)
	full.SetExtension("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	full.SetExtension("priority", 3)
	full.SetExtension("urgent", true)
	event.Stamp(&full, "order", "o-123", 7)
	fx["full"] = full

	fx["minimal"] = baseEvent("e-minimal")

	hostile := baseEvent(`id with "quotes", 100% and spaces`)
	hostile.SetSource("urn:example:a%20b")
	hostile.SetType("com.example.été")
	hostile.SetSubject("50% off \"now\" – été ✓")
	hostile.SetExtension("tenant", "  edges kept  ")
	hostile.SetExtension("note", "%41 is not A")
	hostile.SetExtension("empty", "")
	fx["header-hostile values"] = hostile

	typed := baseEvent("e-typed-ext")
	typed.SetExtension("blob", []byte{0, 1, 2, 250})
	typed.SetExtension("link", &url.URL{Scheme: "https", Host: "example.com", Path: "/x"})
	typed.SetExtension("when", time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("", -7*3600)))
	typed.SetExtension("neg", -5)
	fx["typed extensions"] = typed
}

func dataFixtures(t testing.TB, fx map[string]event.Event) {
	withData := func(name, contentType string, data []byte) {
		e := baseEvent("e-" + strings.ReplaceAll(name, " ", "-"))
		if contentType != "" {
			e.SetDataContentType(contentType)
		}
		e.DataEncoded = data
		fx[name] = e
	}
	withData("text", "text/plain; charset=utf-8", []byte("line 1\nline \"2\"\t\x01 – été ✓ \u2028 end"))
	withData("spaced json", "application/json", []byte(" {\"a\": 1}\n"))
	withData("not json", "application/json", []byte("not json"))
	withData("upper-case content type", "Application/JSON; charset=utf-8", []byte(`{"a":"b"}`))
	withData("+json suffix", "application/vnd.order+json", []byte(`{"a":[true]}`))
	withData("implicit json", "", []byte(`[1,2,3]`))
	withData("json string", "application/json", []byte(`"just a string"`))
	withData("empty text", "text/plain", []byte{})

	octets := baseEvent("e-octets")
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	if err := octets.SetData("application/octet-stream", all); err != nil {
		t.Fatal(err)
	}
	fx["octets"] = octets
}
