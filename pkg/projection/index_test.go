package projection

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/strata-platform/strata/pkg/stream"
	"github.com/strata-platform/strata/pkg/testrig"
)

// TestIndex_Chunks applies random batches of events (gaps, redeliveries, chunk boundaries,
// a topic JSON must escape) through Tx, one batch under the previous one as the runner does,
// and checks every chunk against a model kept here: each chunk is the JSON that
// json.Marshal gives for it, every indexed version's position is the one of its first
// event, versions never seen are null, and the head is the highest version seen.
func TestIndex_Chunks(t *testing.T) {
	seed := testrig.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	streams := []stream.ID{{Type: "order", ID: "a"}, {Type: "order", ID: "b"}, {Type: "weird", ID: "c"}}
	topics := map[string]string{"order": "strata.order.events", "weird": `we"ird\é`}
	type model struct {
		head int64
		pos  map[int64]stream.Position
	}
	want := map[stream.ID]*model{}
	st := &countingStore{m: map[string][]byte{}}
	var under *Tx
	offset := int64(0)
	for batch := 0; batch < 60; batch++ {
		tx := newTx(context.Background(), st, "ks")
		tx.under = under
		var envs []*Envelope
		for range 1 + rng.IntN(20) {
			s := streams[rng.IntN(len(streams))]
			m := want[s]
			if m == nil {
				m = &model{head: -1, pos: map[int64]stream.Position{}}
				want[s] = m
			}
			v := m.head + 1 // mostly the next version
			switch rng.IntN(10) {
			case 0:
				v = max(m.head-int64(rng.IntN(3)), 0) // a redelivery
			case 1:
				v = m.head + 2 + int64(rng.IntN(100)) // a gap, maybe past a chunk
			}
			offset++
			env := &Envelope{Stream: s, Version: v, Position: stream.Position{Topic: topics[s.Type], Partition: int32(rng.IntN(3)), Offset: offset}}
			envs = append(envs, env)
			if v > m.head {
				m.head, m.pos[v] = v, env.Position
			}
		}
		if err := tx.prefetch(indexHandler{}, envs); err != nil {
			t.Fatal(err)
		}
		for _, env := range envs {
			if err := (indexHandler{}).Apply(context.Background(), tx, env); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.seal(); err != nil {
			t.Fatal(err)
		}
		if under != nil { // the previous batch commits only now: tx read it from under
			commitTo(st, under)
		}
		under = tx
	}
	commitTo(st, under)
	for s, m := range want {
		if got := string(st.m[IndexHeadKey(s)]); got != strconv.FormatInt(m.head, 10) {
			t.Fatalf("%s: head %s, want %d", s, got, m.head)
		}
		for c := int64(0); c <= m.head/IndexChunk; c++ {
			raw, ok := st.m[IndexKey(s, c*IndexChunk)]
			var at [][]int64
			for v := c * IndexChunk; v <= min(m.head, c*IndexChunk+IndexChunk-1); v++ {
				if p, ok := m.pos[v]; ok {
					at = append(at, []int64{int64(p.Partition), p.Offset})
				} else {
					at = append(at, nil)
				}
			}
			for len(at) > 0 && at[len(at)-1] == nil {
				at = at[:len(at)-1] // a chunk ends at its highest indexed version
			}
			if len(at) == 0 { // a chunk the stream skipped is never written
				if ok {
					t.Fatalf("%s chunk %d: %s, want none", s, c, raw)
				}
				continue
			}
			exp, _ := json.Marshal(struct {
				Topic string    `json:"topic"`
				At    [][]int64 `json:"at"`
			}{topics[s.Type], at})
			if string(raw) != string(exp) {
				t.Fatalf("%s chunk %d:\n got %s\nwant %s", s, c, raw, exp)
			}
			for v := c * IndexChunk; v < c*IndexChunk+IndexChunk; v++ {
				p, ok, err := IndexPosition(raw, v)
				wp, wok := m.pos[v]
				if err != nil || ok != wok || p != wp {
					t.Fatalf("%s v%d: %+v %v %v, want %+v %v", s, v, p, ok, err, wp, wok)
				}
			}
		}
	}
}

// commitTo stores a sealed batch's writes in st.
func commitTo(st *countingStore, tx *Tx) {
	puts, dels := tx.writes()
	for _, kv := range puts {
		st.m[kv.Key] = kv.Value
	}
	for _, k := range dels {
		delete(st.m, k)
	}
}
