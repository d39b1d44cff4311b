package replay

import (
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"

	"github.com/strata-platform/strata/pkg/event"
)

// ParquetRow is one row of Parquet output: the column set of CSVHeader with Parquet types.
// Timestamps are TIMESTAMP columns in UTC (record timestamp in milliseconds, event time in
// nanoseconds), positions and versions INT64 (partition INT32), optional attributes are
// nullable strings, and data is a BYTE_ARRAY of the data's bytes as they are.
type ParquetRow struct {
	Topic            string  `parquet:"topic,dict"`
	Partition        int32   `parquet:"partition"`
	Offset           int64   `parquet:"offset,delta"`
	Timestamp        int64   `parquet:"timestamp,timestamp(millisecond)"`
	ID               string  `parquet:"id"`
	Source           string  `parquet:"source,dict"`
	Type             string  `parquet:"type,dict"`
	Subject          *string `parquet:"subject,optional"`
	Time             *int64  `parquet:"time,optional,timestamp(nanosecond)"`
	AggregateType    string  `parquet:"aggregatetype,dict"`
	AggregateID      string  `parquet:"aggregateid"`
	AggregateVersion int64   `parquet:"aggregateversion"`
	DataContentType  *string `parquet:"datacontenttype,optional,dict"`
	Data             []byte  `parquet:"data"`
}

// parquetRowGroup is how many rows go in a row group (unless a Commit cuts one earlier).
const parquetRowGroup = 128 << 10

// parquetEncoder buffers rows and writes them in batches; the file is readable only after
// close writes the footer. Commit cuts a row group, so commits should be rare.
type parquetEncoder struct {
	w    *parquet.GenericWriter[ParquetRow]
	rows []ParquetRow
}

func (e *parquetEncoder) begin(w io.Writer) error {
	e.w = parquet.NewGenericWriter[ParquetRow](w, parquet.Compression(&parquet.Snappy),
		parquet.MaxRowsPerRowGroup(parquetRowGroup))
	return nil
}

func (e *parquetEncoder) encode(_ io.Writer, r *Record) error {
	ev := &r.Event
	version, _, _ := event.AggregateVersion(ev)
	row := ParquetRow{
		Topic: r.Position.Topic, Partition: r.Position.Partition, Offset: r.Position.Offset,
		Timestamp: r.Timestamp.UnixMilli(), ID: ev.ID(), Source: ev.Source(), Type: ev.Type(),
		AggregateType: event.AggregateType(ev), AggregateID: event.AggregateID(ev), AggregateVersion: version,
		Data: ev.Data(),
	}
	if s := ev.Subject(); s != "" {
		row.Subject = &s
	}
	if t := ev.Time(); !t.IsZero() {
		ns := t.UnixNano()
		row.Time = &ns
	}
	if ct := ev.DataContentType(); ct != "" {
		row.DataContentType = &ct
	}
	e.rows = append(e.rows, row)
	if len(e.rows) == 1024 {
		return e.writeRows()
	}
	return nil
}

func (e *parquetEncoder) writeRows() error {
	if len(e.rows) == 0 {
		return nil
	}
	if _, err := e.w.Write(e.rows); err != nil {
		return fmt.Errorf("parquet: %w", err)
	}
	clear(e.rows)
	e.rows = e.rows[:0]
	return nil
}

func (e *parquetEncoder) flush(io.Writer) error {
	if err := e.writeRows(); err != nil {
		return err
	}
	return e.w.Flush()
}

func (e *parquetEncoder) close(io.Writer) error {
	if err := e.writeRows(); err != nil {
		return err
	}
	return e.w.Close()
}
