package eventhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/binding"
	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/cloudevents/sdk-go/v2/types"

	"github.com/strata-platform/strata/pkg/event"
)

// unlimited lets encoders check that an event is well-formed without bounding its size:
// what an encoder writes is bounded by whoever stored the event.
var unlimited = event.Limits{MaxEventBytes: math.MaxInt, MaxDataBytes: math.MaxInt, MaxAttributeBytes: math.MaxInt}

// WriteStructured writes e as a structured-mode response (application/cloudevents+json).
// Nothing is written if e cannot be encoded.
func WriteStructured(w http.ResponseWriter, status int, e event.Event) error {
	var buf bytes.Buffer
	if err := writeJSON(&buf, 0, e); err != nil {
		return err
	}
	return writeBody(w, status, http.Header{headerContentType: {MediaTypeStructured}}, buf.Bytes())
}

// WriteBatch writes events, possibly none, as a batch-mode response
// (application/cloudevents-batch+json). Nothing is written if an event cannot be encoded.
func WriteBatch(w http.ResponseWriter, status int, events []event.Event) error {
	body, err := encodeBatch(events)
	if err != nil {
		return err
	}
	return writeBody(w, status, http.Header{headerContentType: {MediaTypeBatch}}, body)
}

// WriteBinary writes e as a binary-mode response: ce-* headers with percent-encoded
// values in their canonical string form, Content-Type from datacontenttype, data as the
// body. Nothing is written if e cannot be encoded.
func WriteBinary(w http.ResponseWriter, status int, e event.Event) error {
	header, body, err := encodeBinary(e)
	if err != nil {
		return err
	}
	if _, ok := header[headerContentType]; !ok {
		header[headerContentType] = nil // no datacontenttype: stop net/http sniffing one
	}
	return writeBody(w, status, header, body)
}

func writeBody(w http.ResponseWriter, status int, header http.Header, body []byte) error {
	for k, v := range header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
}

// NewStructuredRequest returns a POST request to url carrying e in structured mode.
func NewStructuredRequest(ctx context.Context, url string, e event.Event) (*http.Request, error) {
	var buf bytes.Buffer
	if err := writeJSON(&buf, 0, e); err != nil {
		return nil, err
	}
	return newRequest(ctx, url, http.Header{headerContentType: {MediaTypeStructured}}, buf.Bytes())
}

// NewBatchRequest returns a POST request to url carrying events, at least one, in batch mode.
func NewBatchRequest(ctx context.Context, url string, events ...event.Event) (*http.Request, error) {
	if len(events) == 0 {
		return nil, encodeError(0, errors.New("a batch request needs at least one event"))
	}
	body, err := encodeBatch(events)
	if err != nil {
		return nil, err
	}
	return newRequest(ctx, url, http.Header{headerContentType: {MediaTypeBatch}}, body)
}

// NewBinaryRequest returns a POST request to url carrying e in binary mode.
func NewBinaryRequest(ctx context.Context, url string, e event.Event) (*http.Request, error) {
	header, body, err := encodeBinary(e)
	if err != nil {
		return nil, err
	}
	return newRequest(ctx, url, header, body)
}

func newRequest(ctx context.Context, url string, header http.Header, body []byte) (*http.Request, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		r.Header[k] = v
	}
	return r, nil
}

func encodeBatch(events []event.Event) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, e := range events {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := writeJSON(&buf, i, e); err != nil {
			return nil, err
		}
	}
	buf.WriteByte(']')
	return buf.Bytes(), nil
}

// writeJSON writes e in the JSON event format with sdk-go's writer (not json.Marshal, which
// would rewrite '<', '>' and '&' inside data). Data goes inline only where Decode reads the
// same bytes back; otherwise it goes as data_base64.
func writeJSON(buf *bytes.Buffer, index int, e event.Event) error {
	if err := event.Validate(&e, unlimited); err != nil {
		return encodeError(index, err)
	}
	e.DataBase64 = e.DataBase64 || !inlineData(e)
	canonicalExtensions(&e)
	if err := cloudevents.WriteJson(&e, buf); err != nil {
		return encodeError(index, err)
	}
	return nil
}

// inlineData reports whether e's data can go in the "data" member and be read back as the
// same bytes: JSON data that is one JSON value without surrounding space, which sdk-go
// writes raw; other data that is UTF-8, which sdk-go writes as a string.
func inlineData(e event.Event) bool {
	data, dct := e.Data(), e.DataContentType()
	if data == nil {
		return true
	}
	if isJSONData(dct) != sdkWritesJSON(dct) {
		return false
	}
	if isJSONData(dct) {
		trimmed := bytes.TrimSpace(data)
		return len(trimmed) == len(data) && json.Valid(data)
	}
	return utf8.Valid(data)
}

// canonicalExtensions replaces, in a copy of e's context, extension values that the JSON
// format writes as strings (Binary, URI, URI-reference, Timestamp) with their canonical
// string form: sdk-go would write a Timestamp in its own zone, not in UTC.
func canonicalExtensions(e *event.Event) {
	var names []string
	for name, v := range e.Extensions() {
		switch v.(type) {
		case string, bool, int32:
		default:
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return
	}
	e.Context = e.Context.Clone()
	for _, name := range names {
		s, _ := types.Format(e.Extensions()[name]) // Validate made sure it is a CloudEvents type
		_ = e.Context.SetExtension(name, s)
	}
}

// encodeBinary returns e's binary-mode headers and body, written by sdk-go, with ce-*
// values percent-encoded.
func encodeBinary(e event.Event) (http.Header, []byte, error) {
	if err := event.Validate(&e, unlimited); err != nil {
		return nil, nil, encodeError(0, err)
	}
	if strings.HasPrefix(mediaType(e.DataContentType()), "application/cloudevents") {
		return nil, nil, encodeError(0, errors.New("binary mode cannot carry datacontenttype "+e.DataContentType()))
	}
	r := &http.Request{Header: http.Header{}}
	ctx := binding.WithForceBinary(context.Background())
	if err := cehttp.WriteRequest(ctx, binding.ToMessage(&e), r); err != nil {
		return nil, nil, encodeError(0, err)
	}
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return nil, nil, encodeError(0, err)
		}
	}
	for k, v := range r.Header {
		if strings.HasPrefix(k, headerPrefix) {
			r.Header[k] = []string{percentEncode(v[0])}
		}
	}
	return r.Header, body, nil
}
