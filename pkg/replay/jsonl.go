package replay

import (
	"io"
	"net/http"

	"github.com/strata-platform/strata/pkg/eventhttp"
)

// jsonlEncoder writes each event in the CloudEvents JSON event format (structured mode) as
// eventhttp writes it for HTTP, followed by a newline. The JSON format has no raw newline
// inside an event (strings escape it, data is one JSON value or a string), so a line is an
// event.
type jsonlEncoder struct {
	rw bodyWriter
}

func (e *jsonlEncoder) begin(io.Writer) error { return nil }
func (e *jsonlEncoder) flush(io.Writer) error { return nil }
func (e *jsonlEncoder) close(io.Writer) error { return nil }

func (e *jsonlEncoder) encode(w io.Writer, r *Record) error {
	e.rw.w, e.rw.err = w, nil
	if err := eventhttp.WriteStructured(&e.rw, http.StatusOK, r.Event); err != nil {
		return err
	}
	if e.rw.err != nil {
		return e.rw.err
	}
	_, err := w.Write(newline)
	return err
}

var newline = []byte{'\n'}

// bodyWriter is the http.ResponseWriter eventhttp's encoders write to: it passes the body to
// w and drops the headers.
type bodyWriter struct {
	w      io.Writer
	header http.Header
	err    error
}

func (b *bodyWriter) Header() http.Header {
	if b.header == nil {
		b.header = http.Header{}
	}
	return b.header
}

func (b *bodyWriter) WriteHeader(int) {}

func (b *bodyWriter) Write(p []byte) (int, error) {
	n, err := b.w.Write(p)
	if err != nil && b.err == nil {
		b.err = err
	}
	return n, err
}
