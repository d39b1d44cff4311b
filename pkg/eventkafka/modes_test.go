package eventkafka_test

import (
	"encoding/json"
	"testing"

	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
)

func mustDecode(t *testing.T, r *kgo.Record) event.Event {
	t.Helper()
	e, err := eventkafka.Decode(r)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return e
}

func TestRecord_Key(t *testing.T) {
	cases := []struct {
		name string
		rec  *kgo.Record
		want string // partitionkey, "" for none
	}{
		{"key and no header: partitionkey = key", &kgo.Record{Key: []byte("o-1"), Headers: with()}, "o-1"},
		{"header and key agree", &kgo.Record{Key: []byte("o-1"), Headers: with("ce_partitionkey: o-1")}, "o-1"},
		{"header wins over another key", &kgo.Record{Key: []byte("k"), Headers: with("ce_partitionkey: o-1")}, "o-1"},
		{"header without key", &kgo.Record{Headers: with("ce_partitionkey: o-1")}, "o-1"},
		{"no key, no header", &kgo.Record{Headers: with()}, ""},
		{"empty key", &kgo.Record{Key: []byte{}, Headers: with()}, ""},
		{"key not UTF-8 is not an attribute", &kgo.Record{Key: []byte{0xff, 0}, Headers: with()}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := mustDecode(t, tc.rec)
			_, has := e.Extensions()[event.ExtPartitionKey]
			if got := event.PartitionKey(&e); got != tc.want || has != (tc.want != "") {
				t.Fatalf("partitionkey = %q (present %v), want %q", got, has, tc.want)
			}
		})
	}
}

func TestRecord_HeaderNames(t *testing.T) {
	r := &kgo.Record{Headers: hdrs("CE_SpecVersion: 1.0", "Ce_Id: 1", "ce_SOURCE: /s", "ce_type: t",
		"Ce_Tenant: acme", "Content-Type: text/plain", "traceparent: 00-x", "ce-id: ignored", "x: y", "x: y")}
	e := mustDecode(t, r)
	if e.ID() != "1" || e.Source() != "/s" || e.DataContentType() != "text/plain" || e.Extensions()["tenant"] != "acme" {
		t.Fatalf("decoded %v", e)
	}
	if len(e.Extensions()) != 1 {
		t.Fatalf("extensions %v: only ce_ headers are attributes", e.Extensions())
	}
}

func TestRecord_EmptyValueIsNoData(t *testing.T) {
	// The Python SDK writes b"" for an event without data; the spec says "no value".
	for _, v := range [][]byte{nil, {}} {
		e := mustDecode(t, &kgo.Record{Headers: with("content-type: application/json"), Value: v})
		if e.Data() != nil {
			t.Fatalf("value %#v: data = %#v, want none", v, e.Data())
		}
	}
}

func TestRecord_Structured(t *testing.T) {
	want := sample()
	want.SetExtension("replayed", true)
	value, err := format.JSON.Marshal(&want)
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range []string{"application/cloudevents+json", "Application/CloudEvents+JSON; charset=UTF-8"} {
		r := &kgo.Record{Key: []byte("o-123"), Headers: hdrs("content-type: "+ct, "ce_id: ignored"), Value: value}
		got := mustDecode(t, r)
		requireSameJSON(t, &want, &got)
		roundTrip(t, &got) // and it re-encodes, in binary mode, to the same event
	}
	// The key fills in a missing partitionkey, as in binary mode.
	noPK := sample()
	noPK.SetExtension(event.ExtPartitionKey, nil)
	value, _ = format.JSON.Marshal(&noPK)
	got := mustDecode(t, &kgo.Record{Key: []byte("o-123"), Headers: hdrs("content-type: application/cloudevents+json"), Value: value})
	if event.PartitionKey(&got) != "o-123" {
		t.Fatalf("partitionkey = %q", event.PartitionKey(&got))
	}
}

// requireSameJSON compares events whose JSON data may have been re-serialised.
func requireSameJSON(t *testing.T, want, got *event.Event) {
	t.Helper()
	w, g := snap(want), snap(got)
	var wd, gd any
	if json.Unmarshal(w.Data, &wd) != nil || json.Unmarshal(g.Data, &gd) != nil {
		t.Fatalf("data is not JSON: %q / %q", w.Data, g.Data)
	}
	wj, _ := json.Marshal(wd)
	gj, _ := json.Marshal(gd)
	w.Data, g.Data = wj, gj
	if d := w.diff(g); d != "" {
		t.Fatalf("event %s differs:\n%s", want.ID(), d)
	}
}
