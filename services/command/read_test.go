package command

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Bad read parameters are 400 invalid_parameter (or invalid_stream_name) before any read.
func TestRead_BadParameters(t *testing.T) {
	s, err := New(openapiFakeAppender{}, Config{Reads: openapiFakeReads{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ url, code string }{
		{"/v1/streams/order/o-1/events?from=0", CodeBadParameter},
		{"/v1/streams/order/o-1/events?from=x", CodeBadParameter},
		{"/v1/streams/order/o-1/events?limit=0", CodeBadParameter},
		{"/v1/streams/order/o-1/events?limit=1001", CodeBadParameter},
		{"/v1/streams/Order/o-1/events", "invalid_stream_name"},
		{"/v1/streams/order/o-1/state?version=0", CodeBadParameter},
		{"/v1/streams/order/o-1/state?at=yesterday", CodeBadParameter},
		{"/v1/streams/order/o-1/state?version=2&at=2026-01-01T00:00:00Z", CodeBadParameter},
		{"/v1/types/order/events?partition=-1", CodeBadParameter},
		{"/v1/types/order/events?offset=-1", CodeBadParameter},
		{"/v1/types/order/events?offset=3&time=2026-01-01T00:00:00Z", CodeBadParameter},
		{"/v1/types/order/events?time=noon", CodeBadParameter},
		{"/v1/types/Order/events", "invalid_stream_name"},
		{"/v1/tail?type=Order", "invalid_stream_name"},
	} {
		status, code := probe(t, s, http.MethodGet, tc.url)
		if status != http.StatusBadRequest || code != tc.code {
			t.Errorf("GET %s: %d %q, want 400 %q", tc.url, status, code, tc.code)
		}
	}
	for _, url := range []string{"/v1/streams/order/o-1/events?from=2&limit=1000", "/v1/streams/order/o-1/state?at=2026-01-01T00:00:00.5Z",
		"/v1/types/order/events?partition=2&time=2026-01-01T00:00:00Z"} {
		if status, code := probe(t, s, http.MethodGet, url); status != http.StatusOK {
			t.Errorf("GET %s: %d %q, want 200", url, status, code)
		}
	}
	// Without a read side the routes answer 503.
	s, _ = New(openapiFakeAppender{}, Config{})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/streams/order/o-1/events", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("no read side: %d", rec.Code)
	}
}
