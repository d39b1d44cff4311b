package schema

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/strata-platform/strata/pkg/event"
)

// FuzzCheck feeds arbitrary data to the order.placed schema. Check must not panic; an
// accepted event's data must be valid UTF-8 JSON; a refusal must be a *ViolationError
// listing at least one failure; and the decoder must agree with encoding/json.
// Seeds are in testdata/fuzz/FuzzCheck.
func FuzzCheck(f *testing.F) {
	r := loadRepo(f, true)
	f.Add([]byte(placedOK))
	f.Fuzz(func(t *testing.T, data []byte) {
		e := event.New()
		e.SetID("e-1")
		e.SetSource("/fuzz")
		e.SetType(typePlaced)
		if err := e.SetData("application/json", data); err != nil {
			t.Fatal(err)
		}
		err := r.Check("order", &e)
		if err == nil {
			if !json.Valid(data) || !utf8.Valid(data) {
				t.Fatalf("Check accepted data that is not JSON: %q", data)
			}
		} else {
			var verr *ViolationError
			if !errors.As(err, &verr) || verr.Code != CodeSchemaViolation || len(verr.Violations) == 0 {
				t.Fatalf("Check = %#v, want a *ViolationError with violations", err)
			}
			_ = err.Error()
		}
		if len(data) > 0 {
			checkDecode(t, data)
		}
	})
}
