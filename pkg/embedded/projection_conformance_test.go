package embedded

import (
	"context"
	"testing"
	"time"

	"github.com/strata-platform/strata/pkg/projection"
	"github.com/strata-platform/strata/pkg/projection/projectiontest"
)

// TestProjectionConformance runs the read side's I5 suite on the embedded engine: the
// projections run in-process (projection.RunLocal) with the engine as log and read-model
// store, in small batches so that the suite's crashes land inside them.
func TestProjectionConformance(t *testing.T) {
	projectiontest.Run(t, projectiontest.Harness{
		Open: func(t *testing.T) *projectiontest.Engine {
			e := openTest(t, t.TempDir(), 4)
			return &projectiontest.Engine{
				Store:  e,
				Models: e,
				Run: func(ctx context.Context, proj projection.Projection) error {
					return projection.RunLocal(ctx, e.LocalLog(), e, proj, 16, 10*time.Millisecond)
				},
				Lag: func(ctx context.Context, proj projection.Projection) (int64, error) {
					return projection.LocalLag(ctx, e.LocalLog(), e, proj)
				},
				Serve: func(ctx context.Context, proj projection.Projection) error {
					return e.ServeProjection(ctx, proj, ServeOptions{Batch: 16, Poll: 10 * time.Millisecond})
				},
				Active: e.Active,
			}
		},
	})
}
