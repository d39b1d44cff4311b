package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventhttp"
	"github.com/strata-platform/strata/pkg/schema"
	"github.com/strata-platform/strata/pkg/stream"
)

// Appender is what the API needs from the append pipeline.
type Appender interface {
	Append(ctx context.Context, req appender.Request) (appender.Result, error)
	Head(ctx context.Context, s stream.ID) (stream.Head, error)
}

var _ Appender = (*appender.Appender)(nil)

// Config configures the API.
type Config struct {
	Limits         eventhttp.Limits // request and event size limits
	RequestTimeout time.Duration    // deadline of one append or read; default 10s
	Schemas        *schema.Registry // nil: no schema checks
	Logger         *zap.Logger
	Gatherer       prometheus.Gatherer // served at /metrics; nil: prometheus.NewRegistry()
	// Router, if set, sends requests for streams whose partition another instance writes to
	// that instance (one hop; see forward.go). Self is this instance's address.
	Router Router
	Self   string
	// Ready, if set, must also hold for /readyz (e.g. every owned partition caught up).
	Ready func() bool
	// Reads serves the read routes (read.go); nil: they answer 503.
	Reads Reads
}

// Validate checks the settings.
func (c Config) Validate() error {
	if c.RequestTimeout < 0 {
		return errors.New("command: request timeout must not be negative")
	}
	return nil
}

// Server is the HTTP API.
type Server struct {
	cfg    Config
	app    Appender
	ready  atomic.Bool
	mux    *http.ServeMux
	client *http.Client // forwards to partition owners
}

// New returns the API over app. It is not ready until SetReady(true).
func New(app Appender, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, app: app, mux: http.NewServeMux(), client: newForwardClient()}
	s.mux.HandleFunc("POST /v1/streams/{type}/{id}/events", s.handleAppend)
	s.mux.HandleFunc("GET /v1/streams/{type}/{id}", s.handleHead)
	s.registerReads()
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	s.mux.HandleFunc("GET /readyz", s.handleReady)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	return s, nil
}

// SetReady marks the API ready (its appender owns and has caught up its partitions) or not.
func (s *Server) SetReady(ok bool) { s.ready.Store(ok) }

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		writeProblem(w, Problem{Status: http.StatusNotFound, Code: "not_found", Detail: fmt.Sprintf("no resource %s %s", r.Method, r.URL.Path)})
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() || s.cfg.Ready != nil && !s.cfg.Ready() {
		writeProblem(w, Problem{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Detail: "not ready"})
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// AppendResponse is the body of a 201.
type AppendResponse struct {
	Version   int64             `json:"version"`
	Positions []stream.Position `json:"positions"`
	Duplicate bool              `json:"duplicate,omitempty"`
}

func (s *Server) handleAppend(w http.ResponseWriter, r *http.Request) {
	sid := stream.ID{Type: r.PathValue("type"), ID: r.PathValue("id")}
	if err := event.ValidateStreamName(sid.Type, sid.ID); err != nil {
		writeProblem(w, problemFor(err))
		return
	}
	exp, err := expectedOf(r)
	if err != nil {
		writeProblem(w, problemFor(err))
		return
	}
	var body []byte
	if s.cfg.Router != nil {
		if body, err = s.bufferBody(r); err != nil {
			writeProblem(w, Problem{Status: http.StatusBadRequest, Code: eventhttp.CodeUnreadableBody, Detail: "read body: " + err.Error()})
			return
		}
		if s.routed(w, r, sid, body, nil) {
			return
		}
	}
	events, err := eventhttp.Decode(r, s.cfg.Limits)
	if err != nil {
		writeProblem(w, problemFor(err))
		return
	}
	req := appender.Request{Stream: sid, Expected: exp, Events: make([]*event.Event, len(events))}
	for i := range events {
		req.Events[i] = &events[i]
		if err := s.checkSchema(sid, i, &events[i]); err != nil {
			writeProblem(w, err.(problemError).p)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	res, err := s.app.Append(ctx, req)
	if errors.Is(err, appender.ErrNotOwner) && s.routed(w, r, sid, body, err) {
		return
	}
	if err != nil {
		s.writeAppendError(w, sid, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", "/v1/streams/"+sid.Type+"/"+sid.ID)
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(AppendResponse{Version: res.Version, Positions: res.Positions, Duplicate: res.Duplicate})
}

type problemError struct{ p Problem }

func (e problemError) Error() string { return e.p.Detail }

func (s *Server) checkSchema(sid stream.ID, i int, e *event.Event) error {
	if s.cfg.Schemas == nil {
		return nil
	}
	if err := event.CheckStream(e, sid.Type, sid.ID); err != nil {
		return problemError{problemFor(err)}
	}
	if err := s.cfg.Schemas.Check(sid.Type, e); err != nil {
		p := problemFor(err)
		p.Index = &i
		return problemError{p}
	}
	return nil
}

func (s *Server) writeAppendError(w http.ResponseWriter, sid stream.ID, err error) {
	if errors.Is(err, context.DeadlineExceeded) {
		writeProblem(w, Problem{Status: http.StatusServiceUnavailable, Code: CodeTimeout,
			Detail: "the append did not finish within the deadline; its outcome is unknown: retry it with the same event ids"})
		return
	}
	p := problemFor(err)
	if p.Status >= 500 {
		s.cfg.Logger.Warn("append failed", zap.Stringer("stream", sid), zap.Error(err))
	}
	writeProblem(w, p)
}

// expectedOf reads the expected version from the Strata-Expected-Version header or the
// expected query parameter; absent means any. Both present and different is an error.
func expectedOf(r *http.Request) (stream.Expected, error) {
	h := strings.TrimSpace(r.Header.Get("Strata-Expected-Version"))
	q, inQuery := r.URL.Query()["expected"]
	switch {
	case inQuery && h != "" && q[0] != h:
		return stream.Expected{}, fmt.Errorf("%w: header says %q, query says %q", stream.ErrBadExpected, h, q[0])
	case h != "":
		return stream.ParseExpected(h)
	case inQuery:
		return stream.ParseExpected(q[0])
	}
	return stream.Any, nil
}

func (s *Server) handleHead(w http.ResponseWriter, r *http.Request) {
	sid := stream.ID{Type: r.PathValue("type"), ID: r.PathValue("id")}
	if err := event.ValidateStreamName(sid.Type, sid.ID); err != nil {
		writeProblem(w, problemFor(err))
		return
	}
	if s.routed(w, r, sid, nil, nil) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	h, err := s.app.Head(ctx, sid)
	if errors.Is(err, appender.ErrNotOwner) && s.routed(w, r, sid, nil, err) {
		return
	}
	if err != nil {
		s.writeAppendError(w, sid, err)
		return
	}
	if h.Version == 0 {
		writeProblem(w, Problem{Status: http.StatusNotFound, Code: CodeNotFound, Detail: "stream " + sid.String() + " has no events"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"type": sid.Type, "id": sid.ID, "version": h.Version})
}
