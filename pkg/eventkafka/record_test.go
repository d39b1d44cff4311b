package eventkafka_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
)

// sample is the event the docs page shows, byte for byte.
func sample() event.Event {
	e := event.New()
	e.SetID("o-123-7")
	e.SetSource("/strata/order")
	e.SetType("com.example.order.paid")
	e.SetSubject("payment/p-9")
	e.SetDataSchema("https://schemas.example.com/order/paid/v1.json")
	e.SetTime(time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC))
	event.Stamp(&e, "order", "o-123", 7)
	e.SetExtension("tenant", "acme")
	_ = e.SetData("application/json", []byte(`{"amount":42.5,"currency":"EUR"}`))
	return e
}

func TestRecord_RoundTrip(t *testing.T) {
	nanos := time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.UTC)
	cases := map[string]func(e *event.Event){
		"every attribute": func(e *event.Event) { *e = sample() },
		"required only":   func(e *event.Event) {},
		"time with nanoseconds": func(e *event.Event) {
			e.SetTime(nanos)
		},
		"time in another zone": func(e *event.Event) {
			e.SetTime(nanos.In(time.FixedZone("minus7", -7*3600)))
		},
		"strata extensions": func(e *event.Event) { event.Stamp(e, "order", "o:1@eu", 3) },
		"typed extensions": func(e *event.Event) {
			e.SetExtension("priority", int32(-5))
			e.SetExtension("replayed", true)
			e.SetExtension("blob", []byte{0, 1, 2})
			e.SetExtension("note", "")
			e.SetExtension("link", mustURL("https://example.com/x"))
		},
		"no data with content type": func(e *event.Event) { e.SetDataContentType("application/json") },
		"binary data": func(e *event.Event) {
			e.SetDataContentType("application/octet-stream")
			e.DataEncoded = []byte{0, 0xff, 0xfe, '\n', 0x80}
		},
		"binary data without content type": func(e *event.Event) { e.DataEncoded = []byte{0xc3, 0x28} },
		"JSON data":                        func(e *event.Event) { _ = e.SetData("application/json", map[string]any{"a": []int{1, 2}}) },
		"text data":                        func(e *event.Event) { _ = e.SetData("text/plain; charset=utf-8", "grüße ☃") },
		"unicode and inner spaces": func(e *event.Event) {
			e.SetID("id with inner spaces")
			e.SetSubject("zürich / ☃")
			e.SetSource("urn:example:ö")
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			e := event.New()
			e.SetID("id-1")
			e.SetSource("/src")
			e.SetType("com.example.t")
			mutate(&e)
			roundTrip(t, &e)
		})
	}
}

// roundTrip checks Decode(Encode(e)) == e and that re-encoding gives the same bytes.
func roundTrip(t *testing.T, e *event.Event) {
	t.Helper()
	r, err := eventkafka.Encode(e, "topic")
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if r.Topic != "topic" {
		t.Fatalf("topic = %q", r.Topic)
	}
	if pk := event.PartitionKey(e); string(r.Key) != pk {
		t.Fatalf("key = %q, want partitionkey %q", r.Key, pk)
	}
	if len(e.Data()) == 0 && r.Value != nil {
		t.Fatalf("value = %q, want nil for an event without data", r.Value)
	}
	got, err := eventkafka.Decode(r)
	if err != nil {
		t.Fatalf("Decode: %v\n%s", err, dumpHeaders(r.Headers))
	}
	requireSame(t, e, &got)
	if !got.Time().Equal(e.Time()) {
		t.Fatalf("time = %v, want %v", got.Time(), e.Time())
	}
	r2, err := eventkafka.Encode(&got, "topic")
	if err != nil {
		t.Fatalf("re-Encode: %v", err)
	}
	if !sameHeaders(r.Headers, r2.Headers) || string(r.Key) != string(r2.Key) || string(r.Value) != string(r2.Value) {
		t.Fatalf("re-encoded record differs:\n%s---\n%s", dumpHeaders(r.Headers), dumpHeaders(r2.Headers))
	}
}

func TestRecord_HeaderOrder(t *testing.T) {
	e := sample()
	r, err := eventkafka.Encode(&e, "strata.order.events")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, h := range r.Headers {
		keys = append(keys, h.Key)
	}
	want := "ce_specversion ce_id ce_source ce_type ce_aggregateid ce_aggregatetype ce_aggregateversion " +
		"ce_dataschema ce_partitionkey ce_subject ce_tenant ce_time content-type"
	if got := strings.Join(keys, " "); got != want {
		t.Fatalf("header order\n got %s\nwant %s", got, want)
	}
	for range 20 { // map iteration order must not leak into the record
		r2, _ := eventkafka.Encode(&e, "strata.order.events")
		if !sameHeaders(r.Headers, r2.Headers) {
			t.Fatal("two encodings of one event differ")
		}
	}
}

// TestRecord_Golden pins the exact record of the sample event, and checks that the docs page
// shows that same record.
func TestRecord_Golden(t *testing.T) {
	e := sample()
	r, err := eventkafka.Encode(&e, "strata.order.events")
	if err != nil {
		t.Fatal(err)
	}
	got := dumpRecord(r)
	want, err := os.ReadFile(filepath.Join("testdata", "sample_record.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("record differs from testdata/sample_record.golden; got:\n%s", got)
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "formats", "kafka-record.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), got) {
		t.Fatalf("docs/formats/kafka-record.md does not show the sample record:\n%s", got)
	}
}

// dumpRecord renders a record's key, headers (in order) and value; every byte string is
// Go-quoted, so the dump pins the exact bytes.
func dumpRecord(r *kgo.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "topic: %s\n", r.Topic)
	fmt.Fprintf(&b, "key (%d bytes): %q\n", len(r.Key), r.Key)
	fmt.Fprintf(&b, "headers (%d, in this order):\n", len(r.Headers))
	for _, h := range r.Headers {
		fmt.Fprintf(&b, "  %-20s %q\n", h.Key, h.Value)
	}
	fmt.Fprintf(&b, "value (%d bytes): %q\n", len(r.Value), r.Value)
	return b.String()
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
