package stream

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestParseExpected(t *testing.T) {
	good := map[string]string{"any": "any", "exists": "exists", "0": "0", "17": "17"}
	for in, want := range good {
		e, err := ParseExpected(in)
		if err != nil || e.String() != want {
			t.Errorf("ParseExpected(%q) = %v, %v", in, e, err)
		}
	}
	for _, in := range []string{"", "-1", "1.5", "ANY", "01", "+3", "9999999999999999999999", "x"} {
		if _, err := ParseExpected(in); !errors.Is(err, ErrBadExpected) {
			t.Errorf("ParseExpected(%q) err = %v, want ErrBadExpected", in, err)
		}
	}
}

func TestCheck(t *testing.T) {
	s := ID{"order", "o-1"}
	tests := []struct {
		exp     Expected
		current int64
		ok      bool
	}{
		{ExactVersion(0), 0, true}, {ExactVersion(0), 1, false}, {ExactVersion(3), 3, true},
		{ExactVersion(3), 4, false}, {Any, 0, true}, {Any, 9, true}, {Exists, 0, false}, {Exists, 1, true},
	}
	for _, tt := range tests {
		err := Check(s, tt.exp, tt.current)
		if (err == nil) != tt.ok {
			t.Errorf("Check(%v, %d) = %v", tt.exp, tt.current, err)
		}
		var ce *ConflictError
		if err != nil && (!errors.As(fmt.Errorf("wrap: %w", err), &ce) || ce.Current != tt.current || ce.Stream != s) {
			t.Errorf("conflict does not carry the current version: %v", err)
		}
	}
}

// TestPartitionFor_MatchesKafka compares with franz-go's default (Kafka-compatible) partitioner.
func TestPartitionFor_MatchesKafka(t *testing.T) {
	part := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for _, n := range []int{1, 3, 8, 12, 64} {
		for i := 0; i < 2000; i++ {
			key := fmt.Sprintf("agg-%d-%x", i, i*7919)
			if i%5 == 0 {
				key = key[:i%len(key)+1]
			}
			want := part.Partition(&kgo.Record{Key: []byte(key)}, n)
			if got := PartitionFor(key, n); got != want {
				t.Fatalf("PartitionFor(%q, %d) = %d, Kafka says %d", key, n, got, want)
			}
		}
	}
}

func TestHead_Advance(t *testing.T) {
	var h Head
	for v := int64(1); v <= RecentWindow+10; v++ {
		h = h.Advance([]Recent{{Source: "s", EventID: fmt.Sprint(v), Version: v}})
	}
	if h.Version != RecentWindow+10 || len(h.Recent) != RecentWindow || h.Recent[0].Version != 11 {
		t.Fatalf("head = v%d, %d recents from v%d", h.Version, len(h.Recent), h.Recent[0].Version)
	}
	if _, ok := h.Find("s", "5"); ok {
		t.Fatal("found an event older than the window")
	}
	if r, ok := h.Find("s", fmt.Sprint(RecentWindow+10)); !ok || r.Version != RecentWindow+10 {
		t.Fatal("newest event not found")
	}
}

// TestPending_MatchesAdvance checks that Pending answers exactly what the advanced head
// answers, for windows that are partly full, full, and overflowing with added events.
func TestPending_MatchesAdvance(t *testing.T) {
	rec := func(v int64) Recent { return Recent{Source: "s", EventID: fmt.Sprint(v), Version: v} }
	for _, older := range []int{0, 1, 30, RecentWindow} {
		for _, added := range []int{0, 1, 40, RecentWindow, RecentWindow + 7} {
			var prior Head
			for v := int64(1); v <= int64(older); v++ {
				prior = prior.Advance([]Recent{rec(v)})
			}
			p := Pending{Prior: prior}
			for v := int64(older) + 1; v <= int64(older+added); v++ {
				p.Added = append(p.Added, rec(v))
			}
			want := prior.Advance(p.Added)
			if p.Version() != want.Version || p.Head().Version != want.Version || len(p.Head().Recent) != len(want.Recent) {
				t.Fatalf("older %d added %d: version %d / head %+v, want %d / %d recents", older, added, p.Version(), p.Head(), want.Version, len(want.Recent))
			}
			for v := int64(0); v <= int64(older+added)+1; v++ {
				got, gok := p.Find("s", fmt.Sprint(v))
				exp, eok := want.Find("s", fmt.Sprint(v))
				if got != exp || gok != eok {
					t.Fatalf("older %d added %d: Find(v%d) = %v %v, want %v %v", older, added, v, got, gok, exp, eok)
				}
			}
		}
	}
}
