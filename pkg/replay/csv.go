package replay

import (
	"encoding/csv"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"encoding/base64"

	"github.com/strata-platform/strata/pkg/event"
)

// CSVHeader is the fixed column set of CSV output, written as its first row:
//
//	topic, partition, offset     the record's position
//	timestamp                    the record timestamp, RFC 3339 in UTC, milliseconds
//	id, source, type, subject    CloudEvents attributes (subject empty when absent)
//	time                         the event's time, RFC 3339 in UTC, as precise as it is (empty when absent)
//	aggregatetype, aggregateid   the stream
//	aggregateversion             the event's version in its stream (decimal)
//	datacontenttype              empty when absent
//	data                         the data bytes as text when they are UTF-8, else standard base64
//
// The data column cannot tell base64 from text that looks like it: for binary data use
// JSON Lines (data_base64) or Parquet (a binary column).
var CSVHeader = []string{"topic", "partition", "offset", "timestamp", "id", "source", "type", "subject",
	"time", "aggregatetype", "aggregateid", "aggregateversion", "datacontenttype", "data"}

type csvEncoder struct {
	cw  *csv.Writer
	out io.Writer
	row []string
}

func (e *csvEncoder) writer(w io.Writer) *csv.Writer {
	if e.cw == nil || e.out != w {
		e.cw, e.out = csv.NewWriter(w), w
	}
	return e.cw
}

func (e *csvEncoder) begin(w io.Writer) error {
	cw := e.writer(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

func (e *csvEncoder) encode(w io.Writer, r *Record) error {
	ev := &r.Event
	version, _, _ := event.AggregateVersion(ev)
	e.row = append(e.row[:0],
		r.Position.Topic, strconv.Itoa(int(r.Position.Partition)), strconv.FormatInt(r.Position.Offset, 10),
		r.Timestamp.UTC().Format(timestampLayout), ev.ID(), ev.Source(), ev.Type(), ev.Subject(),
		formatTime(ev.Time()), event.AggregateType(ev), event.AggregateID(ev), strconv.FormatInt(version, 10),
		ev.DataContentType(), dataText(ev.Data()))
	return e.writer(w).Write(e.row)
}

func (e *csvEncoder) flush(w io.Writer) error {
	cw := e.writer(w)
	cw.Flush()
	return cw.Error()
}

func (e *csvEncoder) close(w io.Writer) error { return e.flush(w) }

// timestampLayout writes record timestamps (milliseconds) in RFC 3339.
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func dataText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return base64.StdEncoding.EncodeToString(b)
}
