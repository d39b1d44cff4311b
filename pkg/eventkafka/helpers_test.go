package eventkafka_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/event"
)

// snapshot is an event as the binding promises to carry it: every attribute in canonical
// string form, and the data bytes. Two events are the same event when their snapshots are equal.
type snapshot struct {
	Attrs map[string]string
	Data  []byte
}

func snap(e *event.Event) snapshot {
	s := snapshot{Attrs: map[string]string{
		"specversion": e.SpecVersion(), "id": e.ID(), "source": e.Source(), "type": e.Type(),
	}, Data: e.Data()}
	opt := map[string]string{"subject": e.Subject(), "dataschema": e.DataSchema(), "datacontenttype": e.DataContentType()}
	if t := e.Time(); !t.IsZero() {
		opt["time"] = types.FormatTime(t)
	}
	for k, v := range opt {
		if v != "" {
			s.Attrs[k] = v
		}
	}
	for name, v := range e.Extensions() {
		str, err := types.Format(v)
		if err != nil {
			str = fmt.Sprintf("!%v", err)
		}
		s.Attrs[name] = str
	}
	return s
}

func (s snapshot) diff(o snapshot) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(s.Attrs)) {
		if v, ok := o.Attrs[k]; !ok || v != s.Attrs[k] {
			fmt.Fprintf(&b, "attribute %s: want %q, got %q (present %v)\n", k, s.Attrs[k], v, ok)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(o.Attrs)) {
		if _, ok := s.Attrs[k]; !ok {
			fmt.Fprintf(&b, "attribute %s: unexpected, got %q\n", k, o.Attrs[k])
		}
	}
	if !bytes.Equal(s.Data, o.Data) {
		fmt.Fprintf(&b, "data: want %d bytes %q, got %d bytes %q\n", len(s.Data), clip(s.Data), len(o.Data), clip(o.Data))
	}
	return b.String()
}

func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

func requireSame(t testing.TB, want, got *event.Event) {
	t.Helper()
	if d := snap(want).diff(snap(got)); d != "" {
		t.Fatalf("event %s differs:\n%s", want.ID(), d)
	}
}

func sameHeaders(a, b []kgo.RecordHeader) bool {
	return slices.EqualFunc(a, b, func(x, y kgo.RecordHeader) bool {
		return x.Key == y.Key && bytes.Equal(x.Value, y.Value)
	})
}

func dumpHeaders(hs []kgo.RecordHeader) string {
	var b strings.Builder
	for _, h := range hs {
		fmt.Fprintf(&b, "%s: %q\n", h.Key, h.Value)
	}
	return b.String()
}

// aggregate is one stream of the generated workload.
type aggregate struct {
	typ, id string
	version int64
}

// workload generates varied, valid Strata events over a set of aggregates, each appended in
// version order. The same seed gives the same events.
type workload struct {
	rng  *rand.Rand
	aggs []*aggregate
	base time.Time
	n    int
}

var aggTypes = []string{"order", "customer", "invoice_line"}

func newWorkload(seed uint64, aggregates int) *workload {
	w := &workload{rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), base: time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)}
	idForms := []string{"o-%d", "C%d", "inv:%d@eu", "a.b_%d~x", "%d"}
	for i := range aggregates {
		typ := aggTypes[i%len(aggTypes)]
		w.aggs = append(w.aggs, &aggregate{typ: typ, id: fmt.Sprintf(idForms[i%len(idForms)], i)})
	}
	return w
}

// next returns the next event of a random aggregate.
func (w *workload) next() event.Event {
	a := w.aggs[w.rng.IntN(len(w.aggs))]
	a.version++
	w.n++
	e := event.New()
	r := w.rng
	e.SetID(fmt.Sprintf("%s-%d-%016x", a.id, a.version, r.Uint64()))
	e.SetSource([]string{"/strata/" + a.typ, "https://svc.example.com/" + a.typ + "s?region=eu", "urn:example:" + a.typ}[r.IntN(3)])
	e.SetType(fmt.Sprintf("com.example.%s.%s", a.typ, []string{"created", "updated", "closed", "noted"}[r.IntN(4)]))
	if r.IntN(2) == 0 {
		e.SetSubject([]string{"line/" + fmt.Sprint(r.IntN(100)), "zürich/☃", "a b"}[r.IntN(3)])
	}
	if r.IntN(10) < 3 {
		e.SetDataSchema(fmt.Sprintf("https://schemas.example.com/%s/v%d.json", a.typ, 1+r.IntN(3)))
	}
	if r.IntN(10) < 7 {
		e.SetTime(w.randomTime())
	}
	event.Stamp(&e, a.typ, a.id, a.version)
	w.extensions(&e)
	w.data(&e)
	return e
}

func (w *workload) randomTime() time.Time {
	r := w.rng
	t := w.base.Add(time.Duration(w.n) * time.Second)
	switch r.IntN(4) {
	case 0: // whole seconds
	case 1:
		t = t.Add(time.Duration(r.IntN(1e6)) * time.Microsecond)
	case 2:
		t = t.Add(time.Duration(1 + r.IntN(1e9-1)))
	case 3: // another zone: Encode writes UTC, the instant is what counts
		t = t.Add(time.Duration(r.IntN(1e9))).In(time.FixedZone("X", 5*3600+30*60))
	}
	return t
}

func (w *workload) extensions(e *event.Event) {
	r := w.rng
	if r.IntN(10) < 4 {
		e.SetExtension("tenant", fmt.Sprintf("t-%d", r.IntN(5)))
	}
	if r.IntN(10) < 2 {
		e.SetExtension("traceparent", fmt.Sprintf("00-%016x%016x-%016x-01", r.Uint64(), r.Uint64(), r.Uint64()))
	}
	if r.IntN(10) == 0 {
		e.SetExtension("priority", int32(r.IntN(10)))
	}
	if r.IntN(20) == 0 {
		e.SetExtension("replayed", r.IntN(2) == 0)
	}
	if r.IntN(30) == 0 {
		e.SetExtension("note", "")
	}
}

func (w *workload) data(e *event.Event) {
	r := w.rng
	switch k := r.IntN(100); {
	case k < 35:
		_ = e.SetData("application/json", w.jsonDoc())
	case k < 45:
		e.SetDataContentType("application/json; charset=utf-8")
		e.DataEncoded = w.jsonDoc()
	case k < 60:
		e.SetDataContentType("application/octet-stream")
		e.DataEncoded = w.bytes(1 + r.IntN(16<<10))
	case k < 70:
		e.SetDataContentType("text/plain; charset=utf-8")
		e.DataEncoded = []byte(strings.Repeat("grüße ☃ ", 1+r.IntN(200)))
	case k < 80: // no data
	case k < 84: // a content type but no data
		e.SetDataContentType("application/json")
	case k < 94: // JSON without a content type
		e.DataEncoded = w.jsonDoc()
	case k < 99: // binary without a content type
		e.DataEncoded = w.bytes(1 + r.IntN(512))
	default: // a large one
		e.SetDataContentType("application/octet-stream")
		e.DataEncoded = w.bytes(100<<10 + r.IntN(300<<10))
	}
}

func (w *workload) jsonDoc() []byte {
	r := w.rng
	return fmt.Appendf(nil, `{"n":%d,"amount":%d.%02d,"ok":%v,"items":[%d,%d],"note":%q,"nested":{"k":"v"}}`,
		w.n, r.IntN(1e6), r.IntN(100), r.IntN(2) == 0, r.IntN(9), r.IntN(9), strings.Repeat("x", r.IntN(4000)))
}

func (w *workload) bytes(n int) []byte {
	b := make([]byte, (n+7)&^7)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], w.rng.Uint64())
	}
	return b[:n]
}
