package eventhttp_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventhttp"
)

func sortedNames(fx map[string]event.Event) []string {
	names := make([]string, 0, len(fx))
	for name := range fx {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func TestRoundTrip(t *testing.T) {
	fx := fixtures(t)
	for _, m := range modes {
		for _, name := range sortedNames(fx) {
			want := fx[name]
			for how, build := range map[string]func(testing.TB, mode, ...event.Event) *http.Request{
				"request": newRequest, "response": writeResponse,
			} {
				t.Run(string(m)+"/"+how+"/"+name, func(t *testing.T) {
					got, err := eventhttp.Decode(build(t, m, want), eventhttp.Limits{})
					if err != nil {
						t.Fatalf("Decode: %v", err)
					}
					if len(got) != 1 {
						t.Fatalf("got %d events", len(got))
					}
					if d := diffEvents(&want, &got[0], false); d != "" {
						t.Fatal(d)
					}
				})
			}
		}
	}
}

func TestRoundTrip_Batch(t *testing.T) {
	fx := fixtures(t)
	var want []event.Event
	for _, name := range sortedNames(fx) {
		want = append(want, fx[name])
	}
	got, err := eventhttp.Decode(newRequest(t, batch, want...), eventhttp.Limits{})
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if d := diffEvents(&want[i], &got[i], false); d != "" {
			t.Errorf("event %d: %s", i, d)
		}
	}
}

// TestRoundTrip_Stable checks that a decoded event re-encodes to itself in every mode, Go
// types of extension values included in the JSON modes.
func TestRoundTrip_Stable(t *testing.T) {
	fx := fixtures(t)
	for _, from := range modes {
		for _, name := range sortedNames(fx) {
			first, err := eventhttp.Decode(newRequest(t, from, fx[name]), eventhttp.Limits{})
			if err != nil {
				t.Fatalf("%s/%s: %v", from, name, err)
			}
			for _, to := range modes {
				again, err := eventhttp.Decode(newRequest(t, to, first[0]), eventhttp.Limits{})
				if err != nil {
					t.Fatalf("%s→%s/%s: %v", from, to, name, err)
				}
				if d := diffEvents(&first[0], &again[0], from == to); d != "" {
					t.Errorf("%s→%s/%s: %s", from, to, name, d)
				}
			}
		}
	}
}

// TestRoundTrip_Wire sends each mode through a real HTTP server and client: the server
// decodes the request and answers with the events in the mode the client asks for.
func TestRoundTrip_Wire(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		events, err := eventhttp.Decode(r, eventhttp.Limits{})
		var de *eventhttp.DecodeError
		if errors.As(err, &de) {
			http.Error(w, de.Error(), de.Status)
			return
		}
		switch mode(r.URL.Query().Get("reply")) {
		case structured:
			err = eventhttp.WriteStructured(w, http.StatusOK, events[0])
		case binary:
			err = eventhttp.WriteBinary(w, http.StatusOK, events[0])
		default:
			err = eventhttp.WriteBatch(w, http.StatusOK, events)
		}
		if err != nil {
			t.Errorf("write: %v", err)
		}
	}))
	t.Cleanup(srv.Close)
	fx := fixtures(t)
	for _, in := range modes {
		for _, out := range modes {
			for _, name := range sortedNames(fx) {
				want := fx[name]
				r := newRequest(t, in, want)
				r.URL, _ = r.URL.Parse(srv.URL + "/?reply=" + string(out))
				r.Host = ""
				resp, err := srv.Client().Do(r)
				if err != nil {
					t.Fatalf("%s→%s/%s: %v", in, out, name, err)
				}
				got, err := eventhttp.DecodeResponse(resp, eventhttp.Limits{})
				if err != nil {
					body, _ := io.ReadAll(resp.Body)
					t.Fatalf("%s→%s/%s: %v (%s)", in, out, name, err, strings.TrimSpace(string(body)))
				}
				_ = resp.Body.Close()
				if d := diffEvents(&want, &got[0], false); d != "" {
					t.Errorf("%s→%s/%s: %s", in, out, name, d)
				}
			}
		}
	}
}
