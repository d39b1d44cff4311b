package projection

import (
	"context"
	"testing"

	"github.com/strata-platform/strata/pkg/stream"
)

// countingStore is an in-memory MultiReader that counts its calls.
type countingStore struct {
	m           map[string][]byte
	gets, multi int
	lastMany    []string
}

func (s *countingStore) Get(_ context.Context, _, key string) ([]byte, bool, error) {
	s.gets++
	v, ok := s.m[key]
	return v, ok, nil
}

func (s *countingStore) GetMany(_ context.Context, _ string, keys []string) ([][]byte, []bool, error) {
	s.multi++
	s.lastMany = keys
	vals, oks := make([][]byte, len(keys)), make([]bool, len(keys))
	for i, k := range keys {
		vals[i], oks[i] = s.m[k]
	}
	return vals, oks, nil
}

// TestTx_Prefetch: a Prefetcher's keys are read in one call, Get serves them (and the
// batch's own writes over them) without going to the store, and the folds come out as
// without prefetching.
func TestTx_Prefetch(t *testing.T) {
	envs := []*Envelope{
		{Stream: stream.ID{Type: "order", ID: "a"}, Version: 3},
		{Stream: stream.ID{Type: "order", ID: "b"}, Version: 1},
		{Stream: stream.ID{Type: "order", ID: "a"}, Version: 4},
	}
	h := Fold(func(n int, _ *Envelope) (int, error) { return n + 1, nil })
	run := func(prefetch bool) (*countingStore, map[string]string) {
		st := &countingStore{m: map[string][]byte{DocKey(envs[0].Stream): []byte(`{"version":2,"state":10}`)}}
		tx := newTx(context.Background(), st, "ks")
		if prefetch {
			if err := tx.prefetch(h, envs); err != nil {
				t.Fatal(err)
			}
		}
		for _, env := range envs {
			if err := h.Apply(context.Background(), tx, env); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.seal(); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		puts, _ := tx.writes()
		for _, kv := range puts {
			out[kv.Key] = string(kv.Value)
		}
		return st, out
	}
	st, got := run(true)
	if st.multi != 1 || st.gets != 0 {
		t.Fatalf("prefetching: %d GetMany and %d Get calls, want 1 and 0", st.multi, st.gets)
	}
	st2, want := run(false)
	if st2.gets != 2 {
		t.Fatalf("without prefetching: %d Get calls, want 2 (one per aggregate)", st2.gets)
	}
	if len(got) != 2 || got[DocKey(envs[0].Stream)] != `{"version":4,"state":12}` {
		t.Fatalf("writes %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: %s with prefetching, %s without", k, got[k], v)
		}
	}
}

// TestTx_Under: a batch applied while the previous one's commit is in flight reads that
// batch's writes before the store, and does not prefetch the keys it wrote.
func TestTx_Under(t *testing.T) {
	st := &countingStore{m: map[string][]byte{"a": []byte("store-a"), "b": []byte("store-b"), "c": []byte("store-c")}}
	prev := newTx(context.Background(), st, "ks")
	prev.Put("a", []byte("prev-a"))
	prev.Delete("b")
	tx := newTx(context.Background(), st, "ks")
	tx.under = prev
	h := prefetchAll{"a", "b", "c"}
	if err := tx.prefetch(h, []*Envelope{{}}); err != nil {
		t.Fatal(err)
	}
	tx.Put("c", []byte("own-c"))
	for key, want := range map[string]string{"a": "prev-a", "b": "", "c": "own-c"} {
		v, ok, err := tx.Get(key)
		if err != nil || string(v) != want || ok != (want != "") {
			t.Errorf("Get(%s) = %q, %v, %v; want %q", key, v, ok, err, want)
		}
	}
	if st.multi != 1 || st.gets != 0 || len(st.lastMany) != 1 || st.lastMany[0] != "c" {
		t.Fatalf("%d GetMany (of %v), %d Get calls; want 1 (of [c]) and 0", st.multi, st.lastMany, st.gets)
	}
}

// prefetchAll is a Prefetcher naming fixed keys.
type prefetchAll []string

func (p prefetchAll) Apply(context.Context, *Tx, *Envelope) error  { return nil }
func (p prefetchAll) Prefetch(_ *Envelope, keys []string) []string { return append(keys, p...) }
