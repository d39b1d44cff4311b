package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventhttp"
	"github.com/strata-platform/strata/pkg/stream"
)

// Client talks to one Strata HTTP API. It is safe for concurrent use.
type Client struct {
	base   string
	hc     *http.Client
	limits eventhttp.Limits
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient uses hc for every request (default: a client without a timeout; requests
// end with their context).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// New returns a client of the API at base, e.g. "http://127.0.0.1:8420".
func New(base string, opts ...Option) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http(s)://host:port", base)
	}
	c := &Client{base: strings.TrimRight(base, "/"), hc: &http.Client{},
		limits: eventhttp.Limits{MaxEvents: 1 << 20, MaxBodyBytes: 1 << 30}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

func (c *Client) streamURL(s stream.ID, suffix string) string {
	return c.base + "/v1/streams/" + url.PathEscape(s.Type) + "/" + url.PathEscape(s.ID) + suffix
}

// problem reads a refusal.
func problem(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	pe := &ProblemError{Problem: Problem{Status: resp.StatusCode}}
	if err := json.Unmarshal(body, &pe.Problem); err != nil || pe.Code == "" {
		pe.Problem = Problem{Status: resp.StatusCode, Code: "http_" + strconv.Itoa(resp.StatusCode), Detail: strings.TrimSpace(string(body))}
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		pe.RetryAfter = time.Duration(s) * time.Second
	}
	return pe
}

// AppendResult is a committed append.
type AppendResult struct {
	Version   int64             `json:"version"`
	Positions []stream.Position `json:"positions"`
	Duplicate bool              `json:"duplicate,omitempty"`
}

// Append commits events to s if its version satisfies expected (stream.Any to skip the
// check). A conflict is a *ConflictError; other refusals are *ProblemError.
func (c *Client) Append(ctx context.Context, s stream.ID, expected stream.Expected, events ...event.Event) (AppendResult, error) {
	if len(events) == 0 {
		return AppendResult{}, errors.New("client: an append needs at least one event")
	}
	req, err := eventhttp.NewBatchRequest(ctx, c.streamURL(s, "/events"), events...)
	if err != nil {
		return AppendResult{}, fmt.Errorf("append %s: %w", s, err)
	}
	req.Header.Set("Strata-Expected-Version", expected.String())
	// Appends are idempotent by event ids (a retry returns the original outcome), so the
	// transport may resend one whose connection dropped before an answer.
	req.Header["Idempotency-Key"] = nil
	resp, err := c.hc.Do(req)
	if err != nil {
		return AppendResult{}, fmt.Errorf("append %s: %w", s, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		err := problem(resp)
		var pe *ProblemError
		if errors.As(err, &pe) && pe.Code == "conflict" && pe.CurrentVersion != nil {
			return AppendResult{}, &ConflictError{Stream: s, Expected: expected, Current: *pe.CurrentVersion, Problem: pe}
		}
		return AppendResult{}, fmt.Errorf("append %s: %w", s, err)
	}
	var res AppendResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return AppendResult{}, fmt.Errorf("append %s: answer: %w", s, err)
	}
	return res, nil
}

// ReadStream returns up to limit events of s from version from on (one page; fewer than
// limit means the end of the stream was reached).
func (c *Client) ReadStream(ctx context.Context, s stream.ID, from int64, limit int) ([]event.Event, error) {
	u := c.streamURL(s, "/events") + "?from=" + strconv.FormatInt(from, 10) + "&limit=" + strconv.Itoa(limit)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read %s: %w", s, problem(resp))
	}
	evs, err := eventhttp.DecodeResponse(resp, c.limits)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s, err)
	}
	return evs, nil
}

// pageSize is the page ReadAll and Load ask for (the server's maximum by default).
const pageSize = 1000

// ReadAll returns every event of s from version from on, page by page.
func (c *Client) ReadAll(ctx context.Context, s stream.ID, from int64) ([]event.Event, error) {
	var out []event.Event
	for {
		page, err := c.ReadStream(ctx, s, from, pageSize)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < pageSize {
			return out, nil
		}
		from += int64(len(page))
	}
}

// Aggregate is a stream's state at a version.
type Aggregate struct {
	Stream  stream.ID
	State   json.RawMessage // nil at version 0
	Version int64
}

// At asks for a state at a version or a time (both zero: the current state).
type At struct {
	Version int64
	Time    time.Time
}

// State asks the server for s's state at a version or a time.
func (c *Client) State(ctx context.Context, s stream.ID, at At) (Aggregate, error) {
	q := url.Values{}
	if at.Version > 0 {
		q.Set("version", strconv.FormatInt(at.Version, 10))
	}
	if !at.Time.IsZero() {
		q.Set("at", at.Time.UTC().Format(time.RFC3339Nano))
	}
	u := c.streamURL(s, "/state")
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Aggregate{}, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return Aggregate{}, fmt.Errorf("state of %s: %w", s, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Aggregate{}, fmt.Errorf("state of %s: %w", s, problem(resp))
	}
	var body struct {
		State   json.RawMessage `json:"state"`
		Version int64           `json:"version"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return Aggregate{}, fmt.Errorf("state of %s: %w", s, err)
	}
	agg := Aggregate{Stream: s, State: body.State, Version: body.Version}
	if bytes.Equal(agg.State, []byte("null")) {
		agg.State = nil
	}
	return agg, nil
}

// Fold applies one event to an aggregate's JSON state (nil: no events yet).
type Fold func(state json.RawMessage, e event.Event) (json.RawMessage, error)

// MergePatch is the default Fold, the same as the server's declarative reducer: the
// event's data is an RFC 7386 merge patch of the state (starting from {}).
func MergePatch(state json.RawMessage, e event.Event) (json.RawMessage, error) {
	if len(state) == 0 {
		state = json.RawMessage(`{}`)
	}
	if len(e.Data()) == 0 {
		return state, nil
	}
	return jsonpatch.MergePatch(state, e.Data())
}

// Load returns s's current state: the server's snapshot + tail fold, then the events
// appended since, folded with fold (nil: MergePatch; it must be the reducer the server uses
// for the type).
func (c *Client) Load(ctx context.Context, s stream.ID, fold Fold) (Aggregate, error) {
	if fold == nil {
		fold = MergePatch
	}
	agg, err := c.State(ctx, s, At{})
	if err != nil {
		return Aggregate{}, err
	}
	tail, err := c.ReadAll(ctx, s, agg.Version+1)
	if err != nil {
		return Aggregate{}, err
	}
	for _, e := range tail {
		if agg.State, err = fold(agg.State, e); err != nil {
			return Aggregate{}, fmt.Errorf("load %s: fold v%d: %w", s, agg.Version+1, err)
		}
		agg.Version++
	}
	return agg, nil
}

// Decide returns the events to append after an aggregate's current state (none: nothing
// to do).
type Decide func(agg Aggregate) ([]event.Event, error)

// ErrTooManyConflicts is returned by AppendWithRetry when every attempt conflicted.
var ErrTooManyConflicts = errors.New("client: the stream kept changing: every attempt conflicted")

// AppendWithRetry loads s, decides, and appends expecting the loaded version; on a conflict
// it loads and decides again, at most attempts times (default 5). The error after the last
// attempt wraps ErrTooManyConflicts and the last *ConflictError.
func (c *Client) AppendWithRetry(ctx context.Context, s stream.ID, fold Fold, decide Decide, attempts int) (AppendResult, error) {
	if attempts <= 0 {
		attempts = 5
	}
	var last error
	for i := 0; i < attempts; i++ {
		agg, err := c.Load(ctx, s, fold)
		if err != nil {
			return AppendResult{}, err
		}
		evs, err := decide(agg)
		if err != nil || len(evs) == 0 {
			return AppendResult{Version: agg.Version}, err
		}
		res, err := c.Append(ctx, s, stream.ExactVersion(agg.Version), evs...)
		var ce *ConflictError
		if !errors.As(err, &ce) {
			return res, err
		}
		last = err
	}
	return AppendResult{}, fmt.Errorf("%w: %w", ErrTooManyConflicts, last)
}
