package command

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/cluster"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventhttp"
	"github.com/strata-platform/strata/pkg/schema"
	"github.com/strata-platform/strata/pkg/testrig"
)

// newTestAPI serves the API over the real Kafka + Redis, with the repository's schemas
// required.
func newTestAPI(t *testing.T) (*httptest.Server, cluster.Config) {
	a := testrig.Get(t)
	name := testrig.Name(t, "api")
	cfg := cluster.Config{Kafka: a.Kafka, Redis: a.Redis, Cluster: name, TopicPrefix: name, Partitions: 2}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	store, err := cluster.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	app, err := appender.New(ctx, store, appender.Config{})
	if err != nil {
		t.Fatal(err)
	}
	root, _ := testrig.RepoRoot()
	reg, err := schema.Load(schema.Config{Dir: filepath.Join(root, "schemas"), Require: true})
	if err != nil {
		t.Fatal(err)
	}
	api, err := New(app, Config{Schemas: reg, Limits: eventhttp.Limits{MaxBodyBytes: 64 << 10, MaxEvents: 5}})
	if err != nil {
		t.Fatal(err)
	}
	api.SetReady(true)
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		srv.Close()
		_ = app.Close()
		store.Close()
		testrig.DeleteTopic(t, name+".order.events")
		rdb := redis.NewClient(&redis.Options{Addr: a.Redis})
		keys, _ := rdb.Keys(context.Background(), name+":*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
		rdb.Close()
	})
	return srv, cfg
}

const placed = `{"orderId":"o-1","customerId":"c-1","currency":"EUR","placedAt":"2026-11-26T10:00:00Z","items":[{"sku":"SKU-1","quantity":1,"unitPrice":999}]}`

func structured(id, data string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/shop","type":"com.example.order.placed","datacontenttype":"application/json","data":%s}`, id, data)
}

func do(t *testing.T, method, url, ctype string, hdr map[string]string, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("%d answered with %q, want problem+json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, m
}

func TestAPI_AppendModesAndConflict(t *testing.T) {
	srv, _ := newTestAPI(t)
	url := srv.URL + "/v1/streams/order/o-1/events"
	st, body := do(t, "POST", url, "application/cloudevents+json", map[string]string{"Strata-Expected-Version": "0"}, structured("e1", placed))
	if st != 201 || body["version"] != float64(1) {
		t.Fatalf("structured append: %d %v", st, body)
	}
	batch := "[" + structured("e2", placed) + "," + structured("e3", placed) + "]"
	st, body = do(t, "POST", url+"?expected=1", "application/cloudevents-batch+json", nil, batch)
	if st != 201 || body["version"] != float64(3) || len(body["positions"].([]any)) != 2 {
		t.Fatalf("batch append: %d %v", st, body)
	}
	bin := map[string]string{"ce-specversion": "1.0", "ce-id": "e4", "ce-source": "/shop", "ce-type": "com.example.order.placed", "Strata-Expected-Version": "3"}
	if st, body = do(t, "POST", url, "application/json", bin, placed); st != 201 || body["version"] != float64(4) {
		t.Fatalf("binary append: %d %v", st, body)
	}
	st, body = do(t, "POST", url, "application/cloudevents+json", map[string]string{"Strata-Expected-Version": "2"}, structured("e5", placed))
	if st != 409 || body["code"] != CodeConflict || body["current_version"] != float64(4) {
		t.Fatalf("stale append: %d %v", st, body)
	}
	st, body = do(t, "POST", url, "application/cloudevents+json", map[string]string{"Strata-Expected-Version": "0"}, structured("e1", placed))
	if st != 201 || body["duplicate"] != true || body["version"] != float64(1) {
		t.Fatalf("retried append: %d %v", st, body)
	}
	if st, body = do(t, "GET", srv.URL+"/v1/streams/order/o-1", "", nil, ""); st != 200 || body["version"] != float64(4) {
		t.Fatalf("head: %d %v", st, body)
	}
	if st, body = do(t, "GET", srv.URL+"/v1/streams/order/nope", "", nil, ""); st != 404 || body["code"] != CodeNotFound {
		t.Fatalf("missing head: %d %v", st, body)
	}
}

// TestAPI_BadInputWritesNothing sends each kind of bad input and checks the status, the
// code, and that the stream still has no events.
func TestAPI_BadInputWritesNothing(t *testing.T) {
	srv, _ := newTestAPI(t)
	url := srv.URL + "/v1/streams/order/o-bad/events"
	ce := "application/cloudevents+json"
	many := "[" + strings.Repeat(structured("x", placed)+",", 5) + structured("y", placed) + "]"
	tests := []struct {
		name, url, ctype string
		hdr              map[string]string
		body             string
		status           int
		code             string
	}{
		{"malformed json", url, ce, nil, `{"specversion":`, 400, eventhttp.CodeMalformedJSON},
		{"missing id", url, ce, nil, `{"specversion":"1.0","source":"/s","type":"com.example.order.placed"}`, 400, string(event.CodeMissingAttribute)},
		{"wrong content type", url, "text/plain", nil, "hello", 415, eventhttp.CodeUnsupportedMediaType},
		{"body over limit", url, ce, nil, structured("big", `"`+strings.Repeat("x", 70<<10)+`"`), 413, eventhttp.CodeBodyTooLarge},
		{"too many events", url, "application/cloudevents-batch+json", nil, many, 413, eventhttp.CodeTooManyEvents},
		{"invalid expected version", url, ce, map[string]string{"Strata-Expected-Version": "-3"}, structured("e", placed), 400, CodeBadExpected},
		{"illegal stream name", srv.URL + "/v1/streams/Order!/o-1/events", ce, nil, structured("e", placed), 400, string(event.CodeInvalidStreamName)},
		{"schema violation", url, ce, nil, structured("e", `{"order_id": 5}`), 422, string(schema.CodeSchemaViolation)},
		{"unknown type", url, ce, nil, strings.Replace(structured("e", placed), "order.placed", "order.teleported", 1), 422, string(schema.CodeUnknownType)},
		{"stream mismatch", url, ce, nil, strings.Replace(structured("e", placed), `"id"`, `"aggregateid":"o-other","id"`, 1), 400, string(event.CodeStreamMismatch)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, body := do(t, "POST", tt.url, tt.ctype, tt.hdr, tt.body)
			if st != tt.status || body["code"] != tt.code {
				t.Fatalf("got %d %v, want %d %s", st, body["code"], tt.status, tt.code)
			}
		})
	}
	if st, _ := do(t, "GET", srv.URL+"/v1/streams/order/o-bad", "", nil, ""); st != 404 {
		t.Fatalf("a refused append wrote to the stream (head status %d)", st)
	}
}
