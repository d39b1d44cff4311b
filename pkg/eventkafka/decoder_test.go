package eventkafka_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
)

// strataRecord is a record as the append path writes it: binary mode, Strata's extensions,
// a JSON merge patch as data.
func strataRecord(t testing.TB, i int, withTime bool) *kgo.Record {
	t.Helper()
	e := event.New()
	e.SetID("e-" + strconv.Itoa(i))
	e.SetSource("/bench")
	e.SetType("com.example.order.updated")
	if withTime {
		e.SetTime(time.Date(2026, 11, 26, 14, 0, 0, 123456789, time.UTC))
		e.SetSubject("orders")
	}
	if err := e.SetData("application/json", map[string]any{"n": i}); err != nil {
		t.Fatal(err)
	}
	event.Stamp(&e, "order", "o-"+strconv.Itoa(i%7), int64(i+1))
	r, err := eventkafka.Encode(&e, "t")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// requireAgree checks that a Decoder and its Codec's Decode give the same answer for r:
// equal events (reflect.DeepEqual, down to sdk-go's context struct) or equal errors.
func requireAgree(t *testing.T, d *eventkafka.Decoder, r *kgo.Record) {
	t.Helper()
	want, wantErr := d.Codec.Decode(r)
	got, gotErr := d.Decode(r)
	if !reflect.DeepEqual(gotErr, wantErr) {
		t.Fatalf("Decoder error %v, Decode error %v", gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Decoder event differs from Decode's:\n%#v\n%#v\n%s", got.Context, want.Context, snap(&want).diff(snap(&got)))
	}
	st, ok := d.Fields(r)
	if !ok {
		return
	}
	if wantErr != nil {
		t.Fatalf("Fields accepted a record Decode refuses (%v)", wantErr)
	}
	ext := want.Extensions()
	str := func(name string) string {
		s, _ := ext[name].(string)
		return s
	}
	if st.AggregateType != str(event.ExtAggregateType) || st.AggregateID != str(event.ExtAggregateID) ||
		st.AggregateVersion != str(event.ExtAggregateVersion) || !bytes.Equal(st.Data, want.Data()) ||
		(st.Data == nil) != (want.Data() == nil) {
		t.Fatalf("Fields %+v; Decode's event has extensions %v and data %q", st, ext, want.Data())
	}
}

func TestDecoder_FastPath(t *testing.T) {
	var d eventkafka.Decoder
	for i := range 20 {
		r := strataRecord(t, i, i%2 == 0)
		if !eventkafka.DecodedFast(&d, r) {
			t.Fatalf("record %d: a record Encode wrote did not take the fast path", i)
		}
		if _, ok := d.Fields(r); !ok {
			t.Fatalf("record %d: Fields refused a record Encode wrote", i)
		}
		requireAgree(t, &d, r)
	}
	// The key stands in for a missing ce_partitionkey.
	r := strataRecord(t, 1, false)
	var hs []kgo.RecordHeader
	for _, h := range r.Headers {
		if h.Key != "ce_partitionkey" {
			hs = append(hs, h)
		}
	}
	r.Headers = hs
	if !eventkafka.DecodedFast(&d, r) {
		t.Fatal("a record whose partition key is its key did not take the fast path")
	}
	requireAgree(t, &d, r)
}

// TestDecoder_SlowPathAgrees: records off the fast path get Decode's answers.
func TestDecoder_SlowPathAgrees(t *testing.T) {
	edits := map[string]func(r *kgo.Record){
		"upper-case name":   func(r *kgo.Record) { r.Headers[1].Key = "CE_ID" },
		"duplicate":         func(r *kgo.Record) { r.Headers = append(r.Headers, r.Headers[1]) },
		"no specversion":    func(r *kgo.Record) { r.Headers = r.Headers[1:] },
		"specversion 0.3":   func(r *kgo.Record) { r.Headers[0].Value = []byte("0.3") },
		"blank id":          func(r *kgo.Record) { r.Headers[1].Value = []byte(" ") },
		"id edge space":     func(r *kgo.Record) { r.Headers[1].Value = []byte("x ") },
		"unstable source":   func(r *kgo.Record) { r.Headers[2].Value = []byte("A:/%2F ") },
		"non-ASCII id":      func(r *kgo.Record) { r.Headers[1].Value = []byte("é") },
		"control character": func(r *kgo.Record) { r.Headers[1].Value = []byte("a\tb") },
		"structured":        func(r *kgo.Record) { r.Headers[len(r.Headers)-1].Value = []byte("application/cloudevents+json") },
		"bad media type":    func(r *kgo.Record) { r.Headers[len(r.Headers)-1].Value = []byte("application/") },
		"long extension": func(r *kgo.Record) {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: "ce_abcdefghijklmnopqrstu", Value: []byte("x")})
		},
		"ce_data": func(r *kgo.Record) {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: "ce_data", Value: []byte("x")})
		},
		"dataschema": func(r *kgo.Record) {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: "ce_dataschema", Value: []byte("https://x/s")})
		},
		"bad time": func(r *kgo.Record) {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: "ce_time", Value: []byte("yesterday")})
		},
		"other header": func(r *kgo.Record) {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: "traceparent", Value: []byte{0xff}})
		},
		"big data":           func(r *kgo.Record) { r.Value = make([]byte, event.DefaultLimits.MaxDataBytes+1) },
		"big attribute":      func(r *kgo.Record) { r.Headers[1].Value = []byte(string(make([]byte, 0)) + repeat('a', 5000)) },
		"aggregateversion x": func(r *kgo.Record) { setHeader(r, "ce_aggregateversion", "x") },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			var d eventkafka.Decoder
			r := strataRecord(t, 3, true)
			edit(r)
			requireAgree(t, &d, r)
		})
	}
}

func repeat(c byte, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return string(b)
}

func setHeader(r *kgo.Record, key, value string) {
	for i := range r.Headers {
		if r.Headers[i].Key == key {
			r.Headers[i].Value = []byte(value)
		}
	}
}

// TestDecoder_Workload decodes varied events of many aggregates with one Decoder, as a
// Runner does: its caches see values come, collide and go, and every answer must still be
// Decode's.
func TestDecoder_Workload(t *testing.T) {
	w := newWorkload(7, 3000)
	var d eventkafka.Decoder
	fast := 0
	for i := range 6000 {
		e := w.next()
		r, err := eventkafka.Encode(&e, "t")
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if eventkafka.DecodedFast(&d, r) {
			fast++
		}
		requireAgree(t, &d, r)
	}
	if fast == 0 {
		t.Fatal("no record of the workload took the fast path")
	}
	t.Logf("%d of 6000 records on the fast path", fast)
}

// TestDecoder_SizeLimit puts MaxEventBytes at an event's size and one byte under it: the
// Decoder must count every attribute as Validate does (time in its canonical form, however
// the record wrote it), so that it accepts and refuses exactly the records Decode does.
func TestDecoder_SizeLimit(t *testing.T) {
	base := strataRecord(t, 1, true)
	times := []string{"2026-11-26T14:00:00Z", "2026-11-26T14:00:00.1Z", "2026-11-26T14:00:00.120Z",
		"2026-11-26T14:00:00.123456789Z", "2026-11-26T14:00:00.000000001Z", "2026-11-26T14:00:00.100000000Z",
		"2026-11-26T16:00:00.5+02:00", "2026-11-26T14:00:00.1234567891234Z", "0001-01-01T00:00:00Z",
		"0000-01-01T00:30:00+01:00"}
	for _, tm := range times {
		r := &kgo.Record{Key: base.Key, Value: base.Value, Headers: slices.Clone(base.Headers)}
		setHeader(r, "ce_time", tm)
		e, err := eventkafka.Decode(r)
		if err != nil {
			requireAgree(t, &eventkafka.Decoder{}, r)
			continue
		}
		size := event.Size(&e)
		for _, max := range []int{size, size - 1} {
			d := eventkafka.Decoder{Codec: eventkafka.Codec{Limits: event.Limits{MaxEventBytes: max}}}
			requireAgree(t, &d, r)
			if fast := eventkafka.DecodedFast(&d, r); fast != (max == size) {
				t.Errorf("time %s, MaxEventBytes %d (size %d): fast path %v", tm, max, size, fast)
			}
		}
	}
}

// FuzzDecoder checks that a Decoder answers exactly as Decode on arbitrary records, with
// FuzzDecode's seeds.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte("o-1"), []byte(`{"a":1}`), []byte("ce_specversion:1.0\nce_id:1\nce_source:/s\nce_type:t\ncontent-type:application/json"))
	f.Add([]byte(""), []byte(`{"a":1}`), []byte("ce_specversion:1.0\nce_id:1\nce_source:/s\nce_type:t\nce_time:2026-01-02T03:04:05.1+02:00\nce_subject:x\nce_aggregateversion:7\ncontent-type:application/json"))
	f.Add([]byte("o-1"), []byte(`{"a":1}`), []byte("ce_specversion:1.0\nce_id:1\nce_source:/s\nce_type:t\nce_time:2026-02-28T23:59:59.123456789Z\nce_aggregateid:o-1\nce_partitionkey:o-1\ncontent-type:application/json"))
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecode", "*"))
	for _, file := range files {
		if _, err := os.Stat(file); err == nil {
			args := readSeed(f, file)
			f.Add(args[0], args[1], args[2])
		}
	}
	var d eventkafka.Decoder // shared, as a Runner shares one: its caches must not leak
	f.Fuzz(func(t *testing.T, key, value, headers []byte) {
		requireAgree(t, &d, &kgo.Record{Key: key, Value: value, Headers: fuzzHeaders(headers)})
	})
}

// benchCorpus returns n records like the projection benchmark's (benchRecord in
// pkg/projection): events of streams drawn at random from streams order streams, each with
// the next version of its stream and a small JSON merge patch as data; withTime adds a
// time and a subject.
func benchCorpus(tb testing.TB, n, streams int, withTime bool) []*kgo.Record {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	versions := map[string]int64{}
	recs := make([]*kgo.Record, n)
	for i := range recs {
		id := "o-" + strconv.Itoa(rng.IntN(streams))
		versions[id]++
		e := event.New()
		e.SetID("c-" + strconv.Itoa(i))
		e.SetSource("/bench")
		e.SetType("com.example.order.updated")
		if withTime {
			e.SetTime(time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(time.Hour)))))
			e.SetSubject("orders")
		}
		patch := map[string]any{"n": i, "k" + strconv.Itoa(rng.IntN(8)): rng.IntN(1000)}
		if err := e.SetData("application/json", patch); err != nil {
			tb.Fatal(err)
		}
		event.Stamp(&e, "order", id, versions[id])
		r, err := eventkafka.Encode(&e, "t")
		if err != nil {
			tb.Fatal(err)
		}
		recs[i] = r
	}
	return recs
}

// BenchmarkDecode decodes records like the ones Strata appends, 20,000 events over 2,000
// streams: the Codec, the Decoder's Decode, its Fields, and Decode of records that also carry
// a time and a subject.
func BenchmarkDecode(b *testing.B) {
	recs := benchCorpus(b, 20_000, 2_000, false)
	timed := benchCorpus(b, 20_000, 2_000, true)
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := eventkafka.Decode(recs[i%len(recs)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decoder", func(b *testing.B) {
		b.ReportAllocs()
		var d eventkafka.Decoder
		for i := 0; b.Loop(); i++ {
			if _, err := d.Decode(recs[i%len(recs)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DecoderTime", func(b *testing.B) {
		b.ReportAllocs()
		var d eventkafka.Decoder
		for i := 0; b.Loop(); i++ {
			if _, err := d.Decode(timed[i%len(timed)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Fields", func(b *testing.B) {
		b.ReportAllocs()
		var d eventkafka.Decoder
		for i := 0; b.Loop(); i++ {
			if _, ok := d.Fields(recs[i%len(recs)]); !ok {
				b.Fatal("Fields refused a record Encode wrote")
			}
		}
	})
}
