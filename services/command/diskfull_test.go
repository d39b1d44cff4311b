package command

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/embedded"
)

// TestProblem_DiskFull: an append the embedded engine refused for lack of disk space, as
// the append pipeline wraps it, is answered 507 with the stable code disk_full.
func TestProblem_DiskFull(t *testing.T) {
	err := fmt.Errorf("%w: %w", appender.ErrUnavailable,
		fmt.Errorf("embedded: commit partition 3: %w: /data has 0.0 KiB free", embedded.ErrDiskFull))
	rec := httptest.NewRecorder()
	writeProblem(rec, problemFor(err))
	if rec.Code != http.StatusInsufficientStorage {
		t.Fatalf("status %d, want 507", rec.Code)
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Code != CodeDiskFull || p.Type != "https://strata.dev/problems/disk_full" || p.Detail == "" {
		t.Fatalf("problem %+v", p)
	}
}
