package command

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/embedded"
)

// forwardPair is two API instances over their own embedded engines, with routers the test
// controls: which one owns the partitions, and what address each recorded.
type forwardPair struct {
	a, b       *httptest.Server
	appA, appB *appender.Appender // own nothing until acquire
	ownerOfA   atomic.Value       // the address instance a finds recorded for partitions it does not own
	ownerOfB   atomic.Value
}

// own makes app the writer of both partitions, or of none.
func own(app *appender.Appender, yes bool) {
	for p := range 2 {
		if yes {
			app.Acquire(p)
		} else {
			app.Release(p)
		}
	}
}

func newForwardPair(t *testing.T) *forwardPair {
	fp := &forwardPair{}
	fp.ownerOfA.Store("")
	fp.ownerOfB.Store("")
	mk := func(owner *atomic.Value) (*httptest.Server, *appender.Appender) {
		eng, err := embedded.Open(embedded.Config{Dir: t.TempDir(), Partitions: 2})
		if err != nil {
			t.Fatal(err)
		}
		app, err := appender.NewDynamic(eng, appender.Config{})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(nil)
		router := OwnerRouter{Partitions: 2, Self: srv.Listener.Addr().String(), Wait: 300 * time.Millisecond,
			Owns:  app.Owns,
			Owner: func(context.Context, int) (string, error) { return owner.Load().(string), nil }}
		api, err := New(app, Config{Router: router, Self: router.Self})
		if err != nil {
			t.Fatal(err)
		}
		api.SetReady(true)
		srv.Config.Handler = api
		srv.Start()
		t.Cleanup(func() { srv.Close(); _ = app.Close(); _ = eng.Close() })
		return srv, app
	}
	fp.a, fp.appA = mk(&fp.ownerOfA)
	fp.b, fp.appB = mk(&fp.ownerOfB)
	return fp
}

func postTo(t *testing.T, srv *httptest.Server, id string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/streams/order/o-1/events", strings.NewReader(structured(id, `{"n":1}`)))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestForward_OneHopToTheOwner(t *testing.T) {
	fp := newForwardPair(t)
	bAddr := fp.b.Listener.Addr().String()
	own(fp.appB, true)
	fp.ownerOfA.Store(bAddr)

	// a does not own the partition: it forwards to b, which commits.
	resp := postTo(t, fp.a, "e-1", nil)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Strata-Served-By") != bAddr {
		t.Fatalf("append through a: %d served by %q, want 201 from %s", resp.StatusCode, resp.Header.Get("Strata-Served-By"), bAddr)
	}
	// Head reads are routed the same way.
	hr, err := http.Get(fp.a.URL + "/v1/streams/order/o-1")
	if err != nil {
		t.Fatal(err)
	}
	hr.Body.Close()
	if hr.StatusCode != http.StatusOK || hr.Header.Get("Strata-Served-By") != bAddr {
		t.Fatalf("head through a: %d served by %q", hr.StatusCode, hr.Header.Get("Strata-Served-By"))
	}

	// A forwarded request that reaches a non-owner is never forwarded again.
	own(fp.appB, false)
	fp.ownerOfB.Store(fp.a.Listener.Addr().String())
	resp = postTo(t, fp.b, "e-2", map[string]string{ForwardedHeader: "elsewhere"})
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("forwarded request at a non-owner: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	// No owner anywhere: after the router's wait, 503 not_owner, nothing written.
	fp.ownerOfA.Store("")
	resp = postTo(t, fp.a, "e-3", nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("no owner: %d, want 503", resp.StatusCode)
	}
	own(fp.appB, true)
	hr, err = http.Get(fp.b.URL + "/v1/streams/order/o-1")
	if err != nil {
		t.Fatal(err)
	}
	var body strings.Builder
	buf := make([]byte, 512)
	n, _ := hr.Body.Read(buf)
	body.Write(buf[:n])
	hr.Body.Close()
	if !strings.Contains(body.String(), `"version":1`) {
		t.Fatalf("b's stream after the refused appends: %s, want version 1", body.String())
	}
}
