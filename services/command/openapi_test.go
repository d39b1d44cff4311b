package command

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventhttp"
	"github.com/strata-platform/strata/pkg/query"
	"github.com/strata-platform/strata/pkg/schema"
	"github.com/strata-platform/strata/pkg/stream"
)

// These tests check docs/openapi.yaml against the code: the routes the Server serves, the
// problem codes the API can answer with, the JSON shapes and the stream naming rules. They
// use a fake Appender: they check the document, not the engine.

// openapiFakeAppender commits every append at once and reports every stream at version 3.
type openapiFakeAppender struct{}

func (openapiFakeAppender) Append(_ context.Context, req appender.Request) (appender.Result, error) {
	pos := make([]stream.Position, len(req.Events))
	for i := range pos {
		pos[i] = stream.Position{Topic: "strata.order.events", Partition: 1, Offset: int64(i)}
	}
	return appender.Result{Version: int64(len(req.Events)), Positions: pos}, nil
}

func (openapiFakeAppender) Head(context.Context, stream.ID) (stream.Head, error) {
	return stream.Head{Version: 3}, nil
}

// openapiFakeReads answers every read with nothing, and a tail that ends at once.
type openapiFakeReads struct{}

func (openapiFakeReads) ReadStream(context.Context, stream.ID, int64, int) (query.StreamPage, error) {
	return query.StreamPage{Head: 3}, nil
}

func (openapiFakeReads) State(context.Context, stream.ID, query.At) (query.State, error) {
	return query.State{State: json.RawMessage(`{}`), Version: 3, Head: 3}, nil
}

func (openapiFakeReads) TopicSlice(context.Context, query.SliceRequest) (query.Slice, error) {
	return query.Slice{}, nil
}

func (openapiFakeReads) Tail(_ context.Context, _ query.TailRequest, start func(string) error, _ func(query.Record, string) error) error {
	return start("")
}

func (openapiFakeReads) MaxLimit() int { return 1000 }

// openapiRoutes are the routes New registers in server.go, as method and doc path.
var openapiRoutes = []struct{ method, path string }{
	{http.MethodPost, "/v1/streams/{type}/{id}/events"},
	{http.MethodGet, "/v1/streams/{type}/{id}"},
	{http.MethodGet, "/v1/streams/{type}/{id}/events"},
	{http.MethodGet, "/v1/streams/{type}/{id}/state"},
	{http.MethodGet, "/v1/types/{type}/events"},
	{http.MethodGet, "/v1/tail"},
	{http.MethodGet, "/healthz"},
	{http.MethodGet, "/readyz"},
	{http.MethodGet, "/metrics"},
}

// openapiDesignRoutes are the fixed paths of DESIGN §8. Those the document does not (yet)
// describe must not be served either.
var openapiDesignRoutes = []struct{ method, path string }{
	{http.MethodPost, "/v1/streams/{type}/{id}/events"},
	{http.MethodGet, "/v1/streams/{type}/{id}"},
	{http.MethodGet, "/v1/streams/{type}/{id}/events"},
	{http.MethodGet, "/v1/streams/{type}/{id}/state"},
	{http.MethodGet, "/v1/types/{type}/events"},
	{http.MethodGet, "/v1/tail"},
	{http.MethodGet, "/healthz"},
	{http.MethodGet, "/readyz"},
	{http.MethodGet, "/metrics"},
}

// openapiRouteCodes are the codes of requests for no route: they are not listed under any
// operation's responses.
var openapiRouteCodes = map[string]bool{"not_found": true, CodeMethodNotAllowed: true}

// openapiCodes are every problem code the API can answer with, and its HTTP status. A new
// code constant must be added here and documented in docs/openapi.yaml.
var openapiCodes = []struct {
	code   string
	status int
}{
	// services/command
	{CodeConflict, http.StatusConflict},
	{CodePartialRetry, http.StatusConflict},
	{CodeBadExpected, http.StatusBadRequest},
	{CodeUnavailable, http.StatusServiceUnavailable},
	{CodeTimeout, http.StatusServiceUnavailable},
	{CodeNotOwner, http.StatusServiceUnavailable},
	{CodeOutcomeUnknown, http.StatusServiceUnavailable},
	{CodeNotFound, http.StatusNotFound},
	{CodeMethodNotAllowed, http.StatusMethodNotAllowed},
	{CodeInternal, http.StatusInternalServerError},
	{CodeBadParameter, http.StatusBadRequest},
	{CodeVersionNotFound, http.StatusNotFound},
	{CodeDiskFull, http.StatusInsufficientStorage},
	{"not_found", http.StatusNotFound}, // Server.ServeHTTP, for no route
	// pkg/eventhttp
	{eventhttp.CodeMalformedJSON, http.StatusBadRequest},
	{eventhttp.CodeUnsupportedMediaType, http.StatusUnsupportedMediaType},
	{eventhttp.CodeBodyTooLarge, http.StatusRequestEntityTooLarge},
	{eventhttp.CodeTooManyEvents, http.StatusRequestEntityTooLarge},
	{eventhttp.CodeEmptyBatch, http.StatusBadRequest},
	{eventhttp.CodeUnreadableBody, http.StatusBadRequest},
	// pkg/event
	{string(event.CodeMissingAttribute), http.StatusBadRequest},
	{string(event.CodeInvalidAttribute), http.StatusBadRequest},
	{string(event.CodeBadSpecVersion), http.StatusBadRequest},
	{string(event.CodeInvalidExtensionName), http.StatusBadRequest},
	{string(event.CodeInvalidExtensionValue), http.StatusBadRequest},
	{string(event.CodeAttributeTooLarge), http.StatusRequestEntityTooLarge},
	{string(event.CodeDataTooLarge), http.StatusRequestEntityTooLarge},
	{string(event.CodeEventTooLarge), http.StatusRequestEntityTooLarge},
	{string(event.CodeInvalidStreamName), http.StatusBadRequest},
	{string(event.CodeStreamMismatch), http.StatusBadRequest},
	{string(event.CodeDuplicateEvent), http.StatusBadRequest},
	// pkg/schema
	{string(schema.CodeSchemaViolation), http.StatusUnprocessableEntity},
	{string(schema.CodeUnknownType), http.StatusUnprocessableEntity},
	{string(schema.CodeUnknownDataSchema), http.StatusUnprocessableEntity},
}

var openapiMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// openapiDoc is docs/openapi.yaml as generic maps.
type openapiDoc map[string]any

func loadOpenAPI(t *testing.T) openapiDoc {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.work not found above the working directory")
		}
		dir = parent
	}
	b, err := os.ReadFile(filepath.Join(dir, "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	return doc
}

// resolve follows a local $ref ("#/components/...").
func (d openapiDoc) resolve(t *testing.T, v any) map[string]any {
	t.Helper()
	m, _ := v.(map[string]any)
	for m != nil {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		if !strings.HasPrefix(ref, "#/") {
			t.Fatalf("non-local $ref %q", ref)
		}
		var cur any = map[string]any(d)
		for _, k := range strings.Split(ref[2:], "/") {
			cm, _ := cur.(map[string]any)
			cur = cm[k]
		}
		if cur == nil {
			t.Fatalf("$ref %q resolves to nothing", ref)
		}
		m, _ = cur.(map[string]any)
	}
	if m == nil {
		t.Fatalf("expected a mapping, got %T", v)
	}
	return m
}

func (d openapiDoc) paths(t *testing.T) map[string]any {
	t.Helper()
	p, ok := d["paths"].(map[string]any)
	if !ok {
		t.Fatal("no paths")
	}
	return p
}

// operation returns the operation for method and path, or nil.
func (d openapiDoc) operation(t *testing.T, method, path string) map[string]any {
	t.Helper()
	item, _ := d.paths(t)[path].(map[string]any)
	op, _ := item[strings.ToLower(method)].(map[string]any)
	return op
}

func (d openapiDoc) schema(t *testing.T, name string) map[string]any {
	t.Helper()
	s := d.resolve(t, map[string]any{"$ref": "#/components/schemas/" + name})
	if _, ok := s["properties"].(map[string]any); !ok {
		t.Fatalf("schema %s has no properties", name)
	}
	return s
}

// openapiURL fills in a doc path with valid stream names.
func openapiURL(t *testing.T, path string) string {
	t.Helper()
	u := strings.NewReplacer("{type}", "order", "{id}", "o-1").Replace(path)
	if strings.ContainsAny(u, "{}") {
		t.Fatalf("path %s has a parameter the test does not know", path)
	}
	return u
}

// probe sends method url through s and returns the status and the problem code, if any.
func probe(t *testing.T, s *Server, method, url string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, url, nil)
	if method == http.MethodPost {
		body := `{"specversion":"1.0","id":"e-1","source":"/shop","type":"com.example.order.placed","data":{}}`
		req = httptest.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Content-Type", eventhttp.MediaTypeStructured)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var p struct {
		Code string `json:"code"`
	}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatalf("%s %s: problem body: %v", method, url, err)
		}
	}
	return rec.Code, p.Code
}

func newOpenAPIServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(openapiFakeAppender{}, Config{Reads: openapiFakeReads{}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOpenAPI_Version(t *testing.T) {
	doc := loadOpenAPI(t)
	v, _ := doc["openapi"].(string)
	if !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(v) {
		t.Fatalf("openapi = %q, want 3.1.x", v)
	}
	if info, _ := doc["info"].(map[string]any); info["title"] == nil || info["version"] == nil {
		t.Fatal("info needs title and version")
	}
}

// Every documented operation is served, and answers only with documented statuses.
func TestOpenAPI_DocumentedRoutesAreServed(t *testing.T) {
	doc := loadOpenAPI(t)
	s := newOpenAPIServer(t)
	for _, ready := range []bool{false, true} {
		s.SetReady(ready)
		for path, item := range doc.paths(t) {
			for _, m := range openapiMethods {
				op, _ := item.(map[string]any)[strings.ToLower(m)].(map[string]any)
				if op == nil {
					continue
				}
				status, code := probe(t, s, m, openapiURL(t, path))
				if code == "not_found" {
					t.Errorf("%s %s is documented but not served", m, path)
					continue
				}
				responses, _ := op["responses"].(map[string]any)
				if _, ok := responses[strconv.Itoa(status)]; !ok {
					t.Errorf("%s %s (ready %v) answered %d (%q), which is not documented", m, path, ready, status, code)
				}
				if ready && status/100 != 2 {
					t.Errorf("%s %s answered %d (%q) over an appender that always succeeds", m, path, status, code)
				}
			}
		}
	}
}

// Every route of server.go is documented; what is not documented is not served.
func TestOpenAPI_ServedRoutesAreDocumented(t *testing.T) {
	doc := loadOpenAPI(t)
	s := newOpenAPIServer(t)
	s.SetReady(true)
	for _, r := range openapiRoutes {
		if doc.operation(t, r.method, r.path) == nil {
			t.Errorf("%s %s is served (server.go) but not documented", r.method, r.path)
		}
		if _, code := probe(t, s, r.method, openapiURL(t, r.path)); code == "not_found" {
			t.Errorf("%s %s is in the test's route list but not served: update openapiRoutes", r.method, r.path)
		}
	}
	for _, r := range openapiDesignRoutes {
		if doc.operation(t, r.method, r.path) != nil {
			continue
		}
		if status, code := probe(t, s, r.method, openapiURL(t, r.path)); status != http.StatusNotFound || code != "not_found" {
			t.Errorf("%s %s is not documented but answered %d %q: document it", r.method, r.path, status, code)
		}
	}
	for _, url := range []string{"/v1/nope", "/", "/v1/streams/order", "/v1/streams/order/o-1/events/x"} {
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			if status, code := probe(t, s, m, url); status != http.StatusNotFound || code != "not_found" {
				t.Errorf("%s %s answered %d %q, want 404 not_found", m, url, status, code)
			}
		}
	}
	// Methods a documented path does not list are not served.
	for path, item := range doc.paths(t) {
		for _, m := range openapiMethods {
			if _, ok := item.(map[string]any)[strings.ToLower(m)]; ok {
				continue
			}
			status, code := probe(t, s, m, openapiURL(t, path))
			if code != "not_found" && code != CodeMethodNotAllowed {
				t.Errorf("%s %s is not documented but answered %d %q", m, path, status, code)
			}
		}
	}
}

// Problem.code's enum is exactly the codes the API has, and every code is listed in the
// description of a response of its status.
func TestOpenAPI_ProblemCodes(t *testing.T) {
	doc := loadOpenAPI(t)
	problem := doc.schema(t, "Problem")
	codeSchema, _ := problem["properties"].(map[string]any)["code"].(map[string]any)
	enum, _ := codeSchema["enum"].([]any)
	documented := map[string]bool{}
	for _, v := range enum {
		c, _ := v.(string)
		if documented[c] {
			t.Errorf("Problem.code enum lists %q twice", c)
		}
		documented[c] = true
	}
	known := map[string]bool{}
	for _, c := range openapiCodes {
		known[c.code] = true
		if !documented[c.code] {
			t.Errorf("code %q is missing from Problem.code's enum", c.code)
		}
	}
	for c := range documented {
		if !known[c] {
			t.Errorf("Problem.code's enum lists %q, which no code constant has", c)
		}
	}

	// The descriptions of the documented responses, by status.
	descriptions := map[string][]string{}
	for path, item := range doc.paths(t) {
		for _, m := range openapiMethods {
			op, _ := item.(map[string]any)[strings.ToLower(m)].(map[string]any)
			if op == nil {
				continue
			}
			responses, _ := op["responses"].(map[string]any)
			for status, r := range responses {
				resp := doc.resolve(t, r)
				d, _ := resp["description"].(string)
				descriptions[status] = append(descriptions[status], d)
				content, _ := resp["content"].(map[string]any)
				if _, ok := content["application/problem+json"]; ok {
					ps := doc.resolve(t, content["application/problem+json"].(map[string]any)["schema"])
					if !reflect.DeepEqual(ps, problem) {
						t.Errorf("%s %s %s: problem+json body is not the Problem schema", m, path, status)
					}
					if !strings.Contains(d, "Codes:") {
						t.Errorf("%s %s %s: description does not list its codes", m, path, status)
					}
				}
				if status == "503" {
					headers, _ := resp["headers"].(map[string]any)
					if headers["Retry-After"] == nil {
						t.Errorf("%s %s 503 does not document Retry-After", m, path)
					}
				}
			}
		}
	}
	for _, c := range openapiCodes {
		if openapiRouteCodes[c.code] {
			continue
		}
		found := false
		for _, d := range descriptions[strconv.Itoa(c.status)] {
			if strings.Contains(d, "`"+c.code+"`") {
				found = true
			}
		}
		if !found {
			t.Errorf("code %q is not listed in the description of any %d response", c.code, c.status)
		}
	}
}

// jsonFields returns the JSON member names of a struct type, and those without omitempty.
func jsonFields(typ reflect.Type) (all, required []string) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		all = append(all, name)
		if !strings.Contains(opts, "omitempty") {
			required = append(required, name)
		}
	}
	sort.Strings(all)
	sort.Strings(required)
	return all, required
}

func stringsOf(t *testing.T, v any) []string {
	t.Helper()
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, ok := x.(string)
		if !ok {
			t.Fatalf("%v is not a string", x)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// The JSON bodies' schemas have the members of the Go types that write them.
func TestOpenAPI_BodySchemas(t *testing.T) {
	doc := loadOpenAPI(t)
	for name, typ := range map[string]reflect.Type{
		"AppendResponse": reflect.TypeFor[AppendResponse](),
		"Position":       reflect.TypeFor[stream.Position](),
		"Problem":        reflect.TypeFor[Problem](),
		"Violation":      reflect.TypeFor[schema.Violation](),
		"StateResponse":  reflect.TypeFor[StateResponse](),
		// handleHead writes a map with these members, all always present.
		"StreamHead": reflect.TypeFor[struct {
			Type    string `json:"type"`
			ID      string `json:"id"`
			Version int64  `json:"version"`
		}](),
	} {
		s := doc.schema(t, name)
		var props []string
		for p := range s["properties"].(map[string]any) {
			props = append(props, p)
		}
		sort.Strings(props)
		all, required := jsonFields(typ)
		if !slices.Equal(props, all) {
			t.Errorf("schema %s has properties %v, the Go type writes %v", name, props, all)
		}
		if got := stringsOf(t, s["required"]); !slices.Equal(got, required) {
			t.Errorf("schema %s requires %v, the Go type always writes %v", name, got, required)
		}
	}
	op := doc.operation(t, http.MethodPost, "/v1/streams/{type}/{id}/events")
	body := doc.resolve(t, op["requestBody"])
	content, _ := body["content"].(map[string]any)
	for _, mt := range []string{eventhttp.MediaTypeStructured, eventhttp.MediaTypeBatch, "*/*"} {
		if content[mt] == nil {
			t.Errorf("append request body does not document %s", mt)
		}
	}
	var params []string
	for _, p := range op["parameters"].([]any) {
		pm := doc.resolve(t, p)
		params = append(params, pm["in"].(string)+":"+strings.ToLower(pm["name"].(string)))
	}
	for _, want := range []string{"header:strata-expected-version", "query:expected", "header:ce-specversion",
		"header:ce-id", "header:ce-source", "header:ce-type", "header:ce-subject", "header:ce-time", "header:ce-dataschema"} {
		if !slices.Contains(params, want) {
			t.Errorf("append does not document parameter %s", want)
		}
	}
}

// The path parameters' patterns accept exactly the names event.ValidateStreamName accepts.
func TestOpenAPI_StreamNamePatterns(t *testing.T) {
	doc := loadOpenAPI(t)
	patterns := map[string]string{}
	for path, item := range doc.paths(t) {
		im := item.(map[string]any)
		lists := []any{im["parameters"]}
		for _, m := range openapiMethods {
			if op, ok := im[strings.ToLower(m)].(map[string]any); ok {
				lists = append(lists, op["parameters"])
			}
		}
		for _, l := range lists {
			ps, _ := l.([]any)
			for _, p := range ps {
				pm := doc.resolve(t, p)
				if pm["in"] != "path" {
					continue
				}
				name := pm["name"].(string)
				if !strings.Contains(path, "{"+name+"}") {
					t.Errorf("%s: path parameter %s is not in the path", path, name)
				}
				sch := doc.resolve(t, pm["schema"])
				pat, _ := sch["pattern"].(string)
				if prev, ok := patterns[name]; ok && prev != pat {
					t.Errorf("path parameter %s has patterns %q and %q", name, prev, pat)
				}
				patterns[name] = pat
			}
		}
	}
	long := func(n int, c string) string { return strings.Repeat(c, n) }
	check := func(param string, samples []string, valid func(string) bool) {
		pat, ok := patterns[param]
		if !ok || pat == "" {
			t.Fatalf("path parameter %s has no pattern", param)
		}
		re, err := regexp.Compile(pat)
		if err != nil {
			t.Fatalf("pattern of %s: %v", param, err)
		}
		for _, s := range samples {
			if got, want := re.MatchString(s), valid(s); got != want {
				t.Errorf("%s %q: doc pattern %s says %v, event.ValidateStreamName says %v", param, s, pat, got, want)
			}
		}
	}
	check("type", []string{
		"order", "a", "order_line-2", "a" + long(62, "b"), "a" + long(63, "b"),
		"", "Order", "1order", "_order", "-order", "or.der", "or der", "order\n", "ordér", "order/x",
	}, func(s string) bool { return event.ValidateStreamName(s, "x") == nil })
	check("id", []string{
		"o-1", "A", "0", "x.y_z:w@v+u=t~s-r", long(256, "a"), long(257, "a"),
		"", "-x", ".x", "_x", "a/b", "a b", "a\n", "ü", "a%20b", "a?b", "a#b",
	}, func(s string) bool { return event.ValidateStreamName("order", s) == nil })
}
