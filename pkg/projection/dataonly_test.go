package projection

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
	"github.com/strata-platform/strata/pkg/stream"
)

// TestDecodeInto_DataOnly: an envelope decoded for a data-only handler has the Stream,
// Version, Position, Time and data of the full one, and a record whose version the full
// decode refuses is refused alike.
func TestDecodeInto_DataOnly(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var dec eventkafka.Decoder
	for i := range 50 {
		rec, err := benchRecord(rng, "strata.order.events", stream.ID{Type: "order", ID: "o-1"}, int64(i+1), i)
		if err != nil {
			t.Fatal(err)
		}
		rec.Offset = int64(i)
		versions := []string{"", "1", "12", "007", "0", "-1", "+5", "1.0", "2147483647", "2147483648", "x", " 1"}
		ver := versions[i%len(versions)]
		var hs []kgo.RecordHeader
		for _, h := range rec.Headers {
			switch {
			case h.Key != "ce_"+event.ExtAggregateVersion:
				hs = append(hs, h)
			case ver != "":
				hs = append(hs, kgo.RecordHeader{Key: h.Key, Value: []byte(ver)})
			}
		}
		rec.Headers = hs
		var full, lean Envelope
		errFull := decodeInto(&full, &dec, rec, false)
		errLean := decodeInto(&lean, &dec, rec, true)
		if (errFull == nil) != (errLean == nil) || errFull != nil && errFull.Error() != errLean.Error() {
			t.Fatalf("version %q: full decode %v, data-only %v", ver, errFull, errLean)
		}
		if errFull != nil {
			continue
		}
		if lean.Stream != full.Stream || lean.Version != full.Version || lean.Position != full.Position ||
			!lean.Time.Equal(full.Time) || !bytes.Equal(lean.Event.Data(), full.Event.Data()) {
			t.Fatalf("version %q: data-only %+v, full %+v", ver, lean, full)
		}
		if _, ok := dec.Fields(rec); ok && lean.Event.Context != nil {
			t.Fatalf("version %q: data-only envelope built the event", ver)
		}
	}
}

func TestPlainVersion(t *testing.T) {
	for _, s := range []string{"", "1", "9", "10", "007", "0", "-1", "+5", "1.0", "2147483647", "2147483648", "x", " 1", "1 "} {
		v, ok := plainVersion(s)
		if !ok {
			continue
		}
		e := event.New()
		if s != "" {
			e.SetExtension(event.ExtAggregateVersion, s)
		}
		want, _, err := event.AggregateVersion(&e)
		if err != nil || v != want {
			t.Errorf("plainVersion(%q) = %d; event.AggregateVersion: %d, %v", s, v, want, err)
		}
	}
	if _, ok := plainVersion("007"); ok {
		t.Error("plainVersion accepted a leading zero")
	}
}

func TestDataOnlyHandlers(t *testing.T) {
	other := func(s json.RawMessage, _ *Envelope) (json.RawMessage, error) { return s, nil }
	for _, c := range []struct {
		h    Handler
		want bool
	}{
		{Stats(nil, 1).Handler, true},
		{Index(nil, 1).Handler, true},
		{Snapshots(nil, 1, Reducers{"*": MergePatch}, SnapshotPolicy{}, nil, "").Handler, true},
		{Snapshots(nil, 1, Reducers{"*": MergePatch, "x": other}, SnapshotPolicy{}, nil, "").Handler, false},
		{Fold(tallyFold), false},
	} {
		if got := isDataOnly(c.h); got != c.want {
			t.Errorf("%s: data-only %v, want %v", reflect.TypeOf(c.h), got, c.want)
		}
	}
}
