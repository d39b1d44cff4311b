package eventhttp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/cloudevents/sdk-go/v2/types"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventhttp"
)

func TestWrite_Headers(t *testing.T) {
	full := fixtures(t)["full"]
	tests := []struct {
		mode        mode
		contentType string
	}{
		{structured, eventhttp.MediaTypeStructured},
		{batch, eventhttp.MediaTypeBatch},
		{binary, "application/json"},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			r := writeResponse(t, tt.mode, full)
			if got := r.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.contentType)
			}
			if got := r.Header.Get("Content-Length"); got == "" {
				t.Error("no Content-Length")
			}
			if tt.mode == binary && r.Header.Get("Ce-Aggregateversion") != "7" {
				t.Errorf("ce-aggregateversion = %q, want the canonical string 7", r.Header.Get("Ce-Aggregateversion"))
			}
		})
	}
}

func TestWriteBatch_Empty(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := eventhttp.WriteBatch(rec, http.StatusOK, nil); err != nil {
		t.Fatal(err)
	}
	if rec.Body.String() != "[]" || rec.Header().Get("Content-Type") != eventhttp.MediaTypeBatch {
		t.Fatalf("got %q, %q", rec.Body.String(), rec.Header().Get("Content-Type"))
	}
}

func TestEncode_Refuses(t *testing.T) {
	noID := event.New()
	noID.SetSource("/o")
	noID.SetType("t")
	ceType := fixtures(t)["minimal"]
	ceType.SetDataContentType("application/cloudevents+json")
	tests := []struct {
		name       string
		encode     func() error
		validation bool // wraps a *event.ValidationError
	}{
		{"WriteStructured invalid", func() error { return eventhttp.WriteStructured(httptest.NewRecorder(), 200, noID) }, true},
		{"WriteBinary invalid", func() error { return eventhttp.WriteBinary(httptest.NewRecorder(), 200, noID) }, true},
		{"WriteBatch invalid", func() error {
			return eventhttp.WriteBatch(httptest.NewRecorder(), 200, []event.Event{fixtures(t)["full"], noID})
		}, true},
		{"NewStructuredRequest invalid", func() error {
			_, err := eventhttp.NewStructuredRequest(context.Background(), target, noID)
			return err
		}, true},
		{"NewBinaryRequest invalid", func() error {
			_, err := eventhttp.NewBinaryRequest(context.Background(), target, noID)
			return err
		}, true},
		{"NewBatchRequest empty", func() error {
			_, err := eventhttp.NewBatchRequest(context.Background(), target)
			return err
		}, false},
		{"binary mode with a CloudEvents datacontenttype", func() error {
			_, err := eventhttp.NewBinaryRequest(context.Background(), target, ceType)
			return err
		}, false},
		{"bad URL", func() error {
			_, err := eventhttp.NewStructuredRequest(context.Background(), "://", fixtures(t)["full"])
			return err
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.encode()
			if err == nil {
				t.Fatal("encoded")
			}
			if tt.name == "bad URL" {
				return
			}
			if !errors.Is(err, eventhttp.ErrEventHTTPEncode) {
				t.Fatalf("errors.Is(ErrEventHTTPEncode) = false: %v", err)
			}
			var ve *event.ValidationError
			if errors.As(err, &ve) != tt.validation {
				t.Fatalf("errors.As(*event.ValidationError) = %v: %v", !tt.validation, err)
			}
		})
	}
}

func TestWrite_NothingOnError(t *testing.T) {
	noID := event.New()
	rec := httptest.NewRecorder()
	if err := eventhttp.WriteBinary(rec, http.StatusCreated, noID); err == nil {
		t.Fatal("encoded")
	}
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 || len(rec.Header()) != 0 || rec.Flushed {
		t.Fatalf("wrote %d %v %q", rec.Code, rec.Header(), rec.Body.String())
	}
}

func TestEncode_DoesNotModifyTheEvent(t *testing.T) {
	e := fixtures(t)["typed extensions"]
	e.SetDataContentType("application/json")
	e.DataEncoded = []byte("not json")
	before := e.Clone()
	for _, m := range modes {
		_ = newRequest(t, m, e)
		_ = writeResponse(t, m, e)
	}
	if !reflect.DeepEqual(before.Context, e.Context) || e.DataBase64 != before.DataBase64 {
		t.Fatalf("encoding changed the event:\n%v\n%v", before, e)
	}
	if _, ok := e.Extensions()["when"].(types.Timestamp); !ok {
		t.Fatalf("when is now %T", e.Extensions()["when"])
	}
}
