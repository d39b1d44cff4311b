package query_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/strata-platform/strata/pkg/query"
	"github.com/strata-platform/strata/pkg/stream"
)

// fakeHeads reports every stream at version 100, with the positions of its newest 64.
type fakeHeads struct{}

func (fakeHeads) Head(_ context.Context, s stream.ID) (stream.Head, error) {
	h := stream.Head{Version: 100}
	for v := int64(37); v <= 100; v++ {
		h.Recent = append(h.Recent, stream.Recent{Version: v, Position: stream.Position{Topic: "t", Offset: v}})
	}
	return h, nil
}

// staleIndex is an index that never caught up.
type staleIndex struct{}

func (staleIndex) GetMany(_ context.Context, _ string, keys []string) ([][]byte, error) {
	return make([][]byte, len(keys)), nil
}

// A read the index cannot serve within the deadline fails as unavailable instead of
// answering a shorter list.
func TestReader_IndexBehindIsUnavailable(t *testing.T) {
	r, err := query.NewReader(query.Config{Log: &query.EngineLog{}, Models: staleIndex{}, Heads: fakeHeads{}, CatchUp: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = r.ReadStream(context.Background(), stream.ID{Type: "order", ID: "o-1"}, 1, 100)
	if !errors.Is(err, query.ErrUnavailable) {
		t.Fatalf("read with a stale index: %v, want ErrUnavailable", err)
	}
	t.Logf("gave up after %v", time.Since(start))
}
