package event

import (
	"bytes"
	"testing"
	"time"
)

// FuzzAppendJSON: AppendJSON writes exactly the bytes sdk-go's MarshalJSON writes, for
// events with and without each optional attribute, every kind of data and extension
// values of the types Strata stamps and others, and keeps what dst held.
func FuzzAppendJSON(f *testing.F) {
	f.Add("e-1", "/orders", "order.placed", "", "application/json", []byte(`{"a":1}`), false, int64(0), "o-1", int64(3), uint8(0))
	f.Add("e\"2", "https://x.example/a?b#c", "t", "subj", "text/plain; charset=utf-8", []byte("hi\n"), false, int64(1714564800123), "", int64(-1), uint8(1))
	f.Add("é", "urn:a:b", "t", "s\\", "application/octet-stream", []byte{0, 1, 2}, true, int64(-5), "x\x01", int64(1<<40), uint8(2))
	f.Add("e", "/s", "t", "", "", []byte(nil), false, int64(0), "v", int64(7), uint8(3))
	f.Add("e", "/s", "t", "", "Application/JSON ; x=y", []byte(`[1]`), false, int64(0), "v", int64(7), uint8(4))
	f.Fuzz(func(t *testing.T, id, source, typ, subject, ct string, data []byte, b64 bool, ms int64, ext string, ver int64, shape uint8) {
		e := New()
		e.SetID(id)
		e.SetSource(source)
		e.SetType(typ)
		if subject != "" {
			e.SetSubject(subject)
		}
		if shape&1 == 1 {
			e.SetTime(time.UnixMilli(ms).In(time.FixedZone("x", 3600)))
		}
		if shape&2 == 2 {
			e.SetDataSchema("https://schemas.example/" + typ)
		}
		if data != nil || ct != "" {
			e.SetDataContentType(ct)
			e.DataEncoded = data
			e.DataBase64 = b64
		}
		Stamp(&e, "order", ext, ver)
		if shape&4 == 4 {
			e.SetExtension("flag", shape&8 == 8) // a Boolean: handed to sdk-go
		}
		want, werr := e.MarshalJSON()
		prefix := []byte("prefix")
		got, gerr := AppendJSON(bytes.Clone(prefix), &e)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("errors differ: AppendJSON %v, MarshalJSON %v", gerr, werr)
		}
		if werr != nil {
			return
		}
		if !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], want) {
			t.Fatalf("AppendJSON wrote\n%s\nMarshalJSON writes\n%s", got, want)
		}
	})
}

// TestAppendJSON_WritesStrataEvents: an event as Strata stores it (plain strings, JSON
// data, Strata's extensions) takes AppendJSON's own path, not sdk-go's.
func TestAppendJSON_WritesStrataEvents(t *testing.T) {
	e := New()
	e.SetID("e-1")
	e.SetSource("/orders")
	e.SetType("com.example.order.placed")
	e.SetTime(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	_ = e.SetData("application/json", []byte(`{"total":42.5}`))
	Stamp(&e, "order", "o-1", 1)
	got, ok := appendJSONFast(nil, &e)
	if !ok {
		t.Fatal("a Strata event was handed to sdk-go")
	}
	want, _ := e.MarshalJSON()
	if !bytes.Equal(got, want) {
		t.Fatalf("got %s, want %s", got, want)
	}
}
