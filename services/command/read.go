package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventhttp"
	"github.com/strata-platform/strata/pkg/query"
	"github.com/strata-platform/strata/pkg/stream"
)

// Reads is what the read routes need; *query.Reader is the implementation.
type Reads interface {
	ReadStream(ctx context.Context, s stream.ID, from int64, limit int) (query.StreamPage, error)
	State(ctx context.Context, s stream.ID, at query.At) (query.State, error)
	TopicSlice(ctx context.Context, q query.SliceRequest) (query.Slice, error)
	Tail(ctx context.Context, q query.TailRequest, start func(cursor string) error, fn func(rec query.Record, cursor string) error) error
	MaxLimit() int
}

var _ Reads = (*query.Reader)(nil)

// Codes of the read routes.
const (
	CodeBadParameter    = "invalid_parameter"
	CodeVersionNotFound = "version_not_found"
)

// Response headers of the read routes.
const (
	HeaderStreamVersion = "Strata-Stream-Version" // the stream's committed version when the read started
	HeaderNextVersion   = "Strata-Next-Version"   // the from of the next page (absent on the last page)
	HeaderNextOffset    = "Strata-Next-Offset"    // the offset of the next slice of the partition
)

// defaultLimit is the page size when a read gives no limit.
const defaultLimit = 100

// tailPing is how often an idle tail writes an SSE comment, so proxies keep it open.
const tailPing = 15 * time.Second

func (s *Server) registerReads() {
	if s.cfg.Reads != nil {
		s.cfg.Reads = &tailStopper{Reads: s.cfg.Reads, stop: make(chan struct{})}
	}
	s.mux.HandleFunc("GET /v1/streams/{type}/{id}/events", s.handleReadStream)
	s.mux.HandleFunc("GET /v1/streams/{type}/{id}/state", s.handleState)
	s.mux.HandleFunc("GET /v1/types/{type}/events", s.handleTopicSlice)
	s.mux.HandleFunc("GET /v1/tail", s.handleTail)
}

// StateResponse is the body of GET .../state.
type StateResponse struct {
	State   json.RawMessage `json:"state"`
	Version int64           `json:"version"`
}

func badParam(format string, args ...any) Problem {
	return Problem{Status: http.StatusBadRequest, Code: CodeBadParameter, Detail: fmt.Sprintf(format, args...)}
}

// intParam reads an optional integer query parameter.
func intParam(r *http.Request, name string, def, lo, hi int64) (int64, *Problem) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || v < lo || v > hi {
		p := badParam("%s=%q: want an integer in %d..%d", name, raw, lo, hi)
		return 0, &p
	}
	return v, nil
}

// timeParam reads an optional RFC 3339 query parameter.
func timeParam(r *http.Request, name string) (time.Time, *Problem) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		p := badParam("%s=%q: want an RFC 3339 time, e.g. 2026-01-02T15:04:05Z", name, raw)
		return time.Time{}, &p
	}
	return t, nil
}

func (s *Server) reads(w http.ResponseWriter) bool {
	if s.cfg.Reads == nil {
		writeProblem(w, Problem{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Detail: "this instance serves no reads"})
		return false
	}
	return true
}

func streamOf(w http.ResponseWriter, r *http.Request) (stream.ID, bool) {
	sid := stream.ID{Type: r.PathValue("type"), ID: r.PathValue("id")}
	if err := event.ValidateStreamName(sid.Type, sid.ID); err != nil {
		writeProblem(w, problemFor(err))
		return sid, false
	}
	return sid, true
}

func (s *Server) handleReadStream(w http.ResponseWriter, r *http.Request) {
	sid, ok := streamOf(w, r)
	if !ok || !s.reads(w) || s.routed(w, r, sid, nil, nil) {
		return // the stream's head (read your writes) is on its partition's owner
	}
	from, p := intParam(r, "from", 1, 1, event.MaxVersion)
	if p != nil {
		writeProblem(w, *p)
		return
	}
	limit, p := intParam(r, "limit", defaultLimit, 1, int64(s.cfg.Reads.MaxLimit()))
	if p != nil {
		writeProblem(w, *p)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	page, err := s.cfg.Reads.ReadStream(ctx, sid, from, int(limit))
	if errors.Is(err, appender.ErrNotOwner) && s.routed(w, r, sid, nil, err) {
		return
	}
	if err != nil {
		s.writeReadError(w, err)
		return
	}
	w.Header().Set(HeaderStreamVersion, strconv.FormatInt(page.Head, 10))
	if next := from + int64(len(page.Records)); len(page.Records) > 0 && next <= page.Head {
		w.Header().Set(HeaderNextVersion, strconv.FormatInt(next, 10))
	}
	s.writeRecords(w, page.Records)
}

func (s *Server) writeRecords(w http.ResponseWriter, recs []query.Record) {
	events := make([]event.Event, len(recs))
	for i := range recs {
		events[i] = recs[i].Event
	}
	if err := eventhttp.WriteBatch(w, http.StatusOK, events); err != nil {
		s.cfg.Logger.Error("encode stored events", zap.Error(err))
		writeProblem(w, Problem{Status: http.StatusInternalServerError, Code: CodeInternal, Detail: err.Error()})
	}
}

func (s *Server) handleState(w http.ResponseWriter, r *http.Request) {
	sid, ok := streamOf(w, r)
	if !ok || !s.reads(w) || s.routed(w, r, sid, nil, nil) {
		return // the stream's head (read your writes) is on its partition's owner
	}
	version, p := intParam(r, "version", 0, 1, event.MaxVersion)
	if p != nil {
		writeProblem(w, *p)
		return
	}
	at, p := timeParam(r, "at")
	if p != nil {
		writeProblem(w, *p)
		return
	}
	if version > 0 && !at.IsZero() {
		writeProblem(w, badParam("give version or at, not both"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	st, err := s.cfg.Reads.State(ctx, sid, query.At{Version: version, Time: at})
	if errors.Is(err, appender.ErrNotOwner) && s.routed(w, r, sid, nil, err) {
		return
	}
	if err != nil {
		s.writeReadError(w, err)
		return
	}
	state := st.State
	if state == nil {
		state = json.RawMessage("null")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(HeaderStreamVersion, strconv.FormatInt(st.Head, 10))
	_ = json.NewEncoder(w).Encode(StateResponse{State: state, Version: st.Version})
}

func (s *Server) handleTopicSlice(w http.ResponseWriter, r *http.Request) {
	typ := r.PathValue("type")
	if err := event.ValidateStreamName(typ, "x"); err != nil {
		writeProblem(w, problemFor(err))
		return
	}
	if !s.reads(w) {
		return
	}
	q := r.URL.Query()
	partition, p := intParam(r, "partition", 0, 0, 1<<31-1)
	if p != nil {
		writeProblem(w, *p)
		return
	}
	offset, p := intParam(r, "offset", 0, 0, 1<<62)
	if p != nil {
		writeProblem(w, *p)
		return
	}
	at, p := timeParam(r, "time")
	if p != nil {
		writeProblem(w, *p)
		return
	}
	if q.Get("offset") != "" && !at.IsZero() {
		writeProblem(w, badParam("give offset or time, not both"))
		return
	}
	limit, p := intParam(r, "limit", defaultLimit, 1, int64(s.cfg.Reads.MaxLimit()))
	if p != nil {
		writeProblem(w, *p)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	sl, err := s.cfg.Reads.TopicSlice(ctx, query.SliceRequest{Type: typ, Partition: int32(partition), Offset: offset, Time: at, Limit: int(limit)})
	if err != nil {
		s.writeReadError(w, err)
		return
	}
	w.Header().Set(HeaderNextOffset, strconv.FormatInt(sl.Next, 10))
	s.writeRecords(w, sl.Records)
}

func (s *Server) writeReadError(w http.ResponseWriter, err error) {
	var p Problem
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		p = Problem{Status: http.StatusServiceUnavailable, Code: CodeTimeout, Detail: "the read did not finish within the deadline"}
	case errors.Is(err, query.ErrBadRequest):
		p = Problem{Status: http.StatusBadRequest, Code: CodeBadParameter, Detail: err.Error()}
	case errors.Is(err, query.ErrVersionNotFound):
		p = Problem{Status: http.StatusNotFound, Code: CodeVersionNotFound, Detail: err.Error()}
	case errors.Is(err, query.ErrUnavailable):
		p = Problem{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Detail: err.Error()}
	default:
		p = problemFor(err)
	}
	if p.Status >= 500 {
		s.cfg.Logger.Warn("read failed", zap.Error(err))
	}
	writeProblem(w, p)
}

// handleTail streams live events as Server-Sent Events. Each event's id is the tail's
// cursor just past it; a client that reconnects with that id in Last-Event-ID (or the
// last_event_id query parameter) gets every later event exactly once. The first message
// carries only the starting id, so a client that reconnects before any event arrived
// also resumes without loss.
func (s *Server) handleTail(w http.ResponseWriter, r *http.Request) {
	typ := r.URL.Query().Get("type")
	if typ != "" {
		if err := event.ValidateStreamName(typ, "x"); err != nil {
			writeProblem(w, problemFor(err))
			return
		}
	}
	if !s.reads(w) {
		return
	}
	from := r.Header.Get("Last-Event-ID")
	if from == "" {
		from = r.URL.Query().Get("last_event_id")
	}
	rc := http.NewResponseController(w)
	var mu sync.Mutex // guards w between the tail and the pings
	started := false
	send := func(b []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	ctx, cancel := context.WithCancel(r.Context())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	err := s.cfg.Reads.Tail(ctx, query.TailRequest{Type: typ, From: from},
		func(cursor string) error {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			started = true
			wg.Add(1)
			go func() { defer wg.Done(); ping(ctx, send) }()
			return send([]byte("retry: 1000\nid: " + cursor + "\n\n"))
		},
		func(rec query.Record, cursor string) error {
			msg, err := sseEvent(rec.Event, cursor)
			if err != nil {
				return err
			}
			return send(msg)
		})
	if err != nil && !started {
		s.writeReadError(w, err)
		return
	}
	if err != nil && ctx.Err() == nil {
		s.cfg.Logger.Info("tail ended", zap.Error(err))
	}
}

func ping(ctx context.Context, send func([]byte) error) {
	t := time.NewTicker(tailPing)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if send([]byte(": ping\n\n")) != nil {
				return
			}
		}
	}
}

// sseEvent is one SSE message: the cursor as id, the event in structured mode as data
// (one data line per line of the JSON, as SSE requires).
func sseEvent(e event.Event, cursor string) ([]byte, error) {
	var bw bufferWriter
	if err := eventhttp.WriteStructured(&bw, http.StatusOK, e); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.WriteString("id: " + cursor + "\n")
	for _, line := range bytes.Split(bytes.TrimRight(bw.buf.Bytes(), "\n"), []byte("\n")) {
		out.WriteString("data: ")
		out.Write(bytes.TrimSuffix(line, []byte("\r")))
		out.WriteByte('\n')
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// bufferWriter is an http.ResponseWriter into memory, for the eventhttp encoders.
type bufferWriter struct {
	h   http.Header
	buf bytes.Buffer
}

func (b *bufferWriter) Header() http.Header {
	if b.h == nil {
		b.h = http.Header{}
	}
	return b.h
}
func (b *bufferWriter) Write(p []byte) (int, error) { return b.buf.Write(p) }
func (b *bufferWriter) WriteHeader(int)             {}

// tailStopper ends every running tail when the server shuts down (http.Server.Shutdown
// waits for handlers, and a tail never ends by itself).
type tailStopper struct {
	Reads
	once sync.Once
	stop chan struct{}
}

func (t *tailStopper) Tail(ctx context.Context, q query.TailRequest, start func(string) error, fn func(query.Record, string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	defer func() { cancel(); <-done }()
	go func() {
		defer close(done)
		select {
		case <-t.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return t.Reads.Tail(ctx, q, start, fn)
}

// EndTails ends every running tail and refuses new ones; pass it to
// http.Server.RegisterOnShutdown.
func (s *Server) EndTails() {
	if ts, ok := s.cfg.Reads.(*tailStopper); ok {
		ts.once.Do(func() { close(ts.stop) })
	}
}
