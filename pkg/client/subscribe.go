package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventhttp"
)

// Subscription says what to follow.
type Subscription struct {
	Type string // aggregate type; empty: every type
	// From is the cursor (an SSE id handed out earlier) to resume from; empty: from now.
	From string
	// OnConnect, if set, is called with the cursor at every (re)connection.
	OnConnect func(cursor string)
}

// Subscribe follows live events and calls fn with each event and the cursor just past it,
// until ctx ends (nil) or fn fails (its error). A dropped connection is re-established with
// the last cursor, waiting 100ms to 2s between attempts; a 4xx refusal ends it with a
// *ProblemError.
func (c *Client) Subscribe(ctx context.Context, sub Subscription, fn func(e event.Event, cursor string) error) error {
	cursor := sub.From
	wait := 100 * time.Millisecond
	for {
		got, err := c.subscribeOnce(ctx, sub, &cursor, fn)
		if ctx.Err() != nil {
			return nil
		}
		var pe *ProblemError
		var fe fnError
		switch {
		case errors.As(err, &fe):
			return fe.err
		case errors.As(err, &pe) && pe.Status < 500:
			return err
		}
		if got {
			wait = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// fnError marks an error of the caller's callback.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// subscribeOnce runs one connection; it reports whether it received anything.
func (c *Client) subscribeOnce(ctx context.Context, sub Subscription, cursor *string, fn func(event.Event, string) error) (bool, error) {
	u := c.base + "/v1/tail"
	if sub.Type != "" {
		u += "?type=" + url.QueryEscape(sub.Type)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if *cursor != "" {
		req.Header.Set("Last-Event-ID", *cursor)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, problem(resp)
	}
	got := false
	var id, data strings.Builder
	hasID := false
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return got, err
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line != "" {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				id.Reset()
				id.WriteString(value)
				hasID = true
			case "data":
				if data.Len() > 0 {
					data.WriteByte('\n')
				}
				data.WriteString(value)
			}
			continue
		}
		// A blank line dispatches the message.
		got = true
		if hasID {
			*cursor = id.String()
		}
		if data.Len() == 0 {
			if hasID && sub.OnConnect != nil {
				sub.OnConnect(*cursor)
			}
			hasID = false
			continue
		}
		evs, err := eventhttp.DecodeResponse(&http.Response{Header: http.Header{"Content-Type": {eventhttp.MediaTypeStructured}},
			Body: io.NopCloser(strings.NewReader(data.String())), ContentLength: int64(data.Len())}, c.limits)
		if err != nil || len(evs) != 1 {
			return got, fnError{fmt.Errorf("client: tail event: %v", err)}
		}
		e := evs[0]
		data.Reset()
		hasID = false
		if err := fn(e, *cursor); err != nil {
			return got, fnError{err}
		}
	}
}
