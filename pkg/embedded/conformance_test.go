package embedded

import (
	"context"
	"testing"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/appender/appendertest"
)

func TestConformance(t *testing.T) {
	appendertest.Run(t, appendertest.Harness{
		Open: func(t *testing.T) (appender.Store, func(*testing.T) appender.Store, func()) {
			dir := t.TempDir()
			var cur *Engine
			open := func(t *testing.T) appender.Store {
				e, err := Open(Config{Dir: dir, Partitions: 4})
				if err != nil {
					t.Fatal(err)
				}
				cur = e
				return e
			}
			s := open(t)
			return s, open, func() { _ = cur.Close() }
		},
		Log: func(t *testing.T, s appender.Store, aggType string) []appendertest.Stored {
			e := s.(*Engine)
			var out []appendertest.Stored
			for p := int32(0); p < int32(e.Partitions()); p++ {
				recs, err := e.Read(context.Background(), e.Topic(aggType), p, 0, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range recs {
					out = append(out, appendertest.Stored{Position: r.Position, Event: r.Event})
				}
			}
			return out
		},
	})
}
