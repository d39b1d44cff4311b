package eventhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/strata-platform/strata/pkg/event"
)

// The media types of the JSON modes.
const (
	MediaTypeStructured = "application/cloudevents+json"
	MediaTypeBatch      = "application/cloudevents-batch+json"
)

type mode int

const (
	modeStructured mode = iota + 1
	modeBatch
	modeBinary
)

// Decode reads the CloudEvents in an HTTP request, in the mode its Content-Type selects:
// application/cloudevents+json is one structured event, application/cloudevents-batch+json
// a batch of 1 to limits.MaxEvents events, and any other request with a ce-specversion
// header one binary-mode event. It reads at most limits.MaxBodyBytes of the body. Every
// event it returns passes event.Validate with limits.Event; every refusal is a *DecodeError.
func Decode(r *http.Request, limits Limits) ([]event.Event, error) {
	return decode(r.Context(), r.Header, r.Body, r.ContentLength, limits, false)
}

// DecodeResponse reads the CloudEvents in an HTTP response, as Decode reads a request's,
// except that an empty batch is no error: a read can find no event.
func DecodeResponse(resp *http.Response, limits Limits) ([]event.Event, error) {
	ctx := context.Background()
	if resp.Request != nil {
		ctx = resp.Request.Context()
	}
	return decode(ctx, resp.Header, resp.Body, resp.ContentLength, limits, true)
}

func decode(ctx context.Context, h http.Header, r io.ReadCloser, size int64, limits Limits, emptyOK bool) ([]event.Event, error) {
	limits = limits.withDefaults()
	m, err := detectMode(h)
	if err != nil {
		return nil, err
	}
	body, err := readBody(r, size, limits.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	var events []event.Event
	switch m {
	case modeStructured:
		events, err = decodeStructured(ctx, body)
	case modeBatch:
		events, err = decodeBatch(ctx, body, limits.MaxEvents, emptyOK)
	default:
		events, err = decodeBinary(ctx, h, body)
	}
	if err != nil {
		return nil, err
	}
	for i := range events {
		if err := event.Validate(&events[i], limits.Event); err != nil {
			return nil, envelopeError(i, err)
		}
	}
	return events, nil
}

func detectMode(h http.Header) (mode, error) {
	mt := mediaType(h.Get(headerContentType))
	if strings.HasPrefix(mt, "application/cloudevents") {
		switch mt {
		case MediaTypeStructured:
			return modeStructured, nil
		case MediaTypeBatch:
			return modeBatch, nil
		}
		return 0, decodeError(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, -1, nil,
			"event format %q is not supported; use %s or %s", mt, MediaTypeStructured, MediaTypeBatch)
	}
	for k := range h {
		if strings.EqualFold(k, headerPrefix+"specversion") {
			return modeBinary, nil
		}
	}
	return 0, decodeError(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, -1, nil,
		"content type %q is neither %s, %s, nor binary mode (a ce-specversion header)",
		mt, MediaTypeStructured, MediaTypeBatch)
}

// readBody reads the whole body, at most max bytes, as http.MaxBytesReader counts them.
func readBody(r io.ReadCloser, size int64, max int) ([]byte, error) {
	if r == nil || r == http.NoBody {
		return nil, nil
	}
	if size > int64(max) {
		return nil, decodeError(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, -1, nil,
			"body of %d bytes is over the limit of %d", size, max)
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r, int64(max)))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, decodeError(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, -1, err,
			"body is over the limit of %d bytes", max)
	case err != nil:
		return nil, decodeError(http.StatusBadRequest, CodeUnreadableBody, -1, err, "read body: %v", err)
	}
	return body, nil
}

func decodeStructured(ctx context.Context, body []byte) ([]event.Event, error) {
	if !utf8.Valid(body) {
		return nil, malformed(-1, nil, "body is not UTF-8")
	}
	e, err := decodeObject(ctx, body, 0)
	if err != nil {
		return nil, err
	}
	return []event.Event{e}, nil
}

// decodeBatch splits a JSON array into its events, refusing it as soon as it holds more
// than max of them, and when it holds none unless emptyOK.
func decodeBatch(ctx context.Context, body []byte, max int, emptyOK bool) ([]event.Event, error) {
	if !utf8.Valid(body) {
		return nil, malformed(-1, nil, "body is not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, malformed(-1, err, "a batch must be a JSON array")
	}
	var raws []json.RawMessage
	for dec.More() {
		if len(raws) == max {
			return nil, decodeError(http.StatusRequestEntityTooLarge, CodeTooManyEvents, -1, nil,
				"a batch holds at most %d events", max)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, malformed(len(raws), err, "%v", err)
		}
		raws = append(raws, raw)
	}
	if _, err := dec.Token(); err != nil {
		return nil, malformed(-1, err, "%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformed(-1, nil, "data after the end of the batch")
	}
	if len(raws) == 0 && !emptyOK {
		return nil, decodeError(http.StatusBadRequest, CodeEmptyBatch, -1, nil, "a batch holds at least one event")
	}
	events := make([]event.Event, len(raws))
	for i, raw := range raws {
		e, err := decodeObject(ctx, raw, i)
		if err != nil {
			return nil, err
		}
		events[i] = e
	}
	return events, nil
}

// decodeObject decodes one event in the JSON format with sdk-go, after checking and
// normalising its members (see canonicalEvent).
func decodeObject(ctx context.Context, data []byte, index int) (event.Event, error) {
	members, err := readObject(data)
	if err != nil {
		return event.Event{}, malformed(index, err, "%v", err)
	}
	canonical, err := canonicalEvent(members)
	if err != nil {
		return event.Event{}, envelopeError(index, err)
	}
	header := http.Header{headerContentType: {MediaTypeStructured}}
	e, err := binding.ToEvent(ctx, cehttp.NewMessage(header, io.NopCloser(bytes.NewReader(canonical))))
	if err != nil {
		return event.Event{}, malformed(index, err, "%v", err)
	}
	return *e, nil
}

func decodeBinary(ctx context.Context, h http.Header, body []byte) ([]event.Event, error) {
	header, err := ceHeaders(h)
	if err != nil {
		return nil, envelopeError(0, err)
	}
	e, err := binding.ToEvent(ctx, cehttp.NewMessage(header, io.NopCloser(bytes.NewReader(body))))
	if err != nil {
		return nil, envelopeError(0, err)
	}
	return []event.Event{*e}, nil
}
