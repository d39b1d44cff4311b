package replay

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Sink receives a replay's events.
type Sink interface {
	// Write adds one event. On an error the sink's output is undefined past its last Commit.
	Write(r *Record) error
	// Commit makes everything written so far durable (a file: flushed and fsynced; a
	// sandbox: committed with its checkpoints). next holds, per partition, the offset the
	// replay reads next. It returns the output's length in bytes, 0 for sinks that are not
	// files.
	Commit(next map[int32]int64) (int64, error)
	// Close finishes the output (a Parquet footer) and releases it.
	Close() error
}

// Format is a file format of a replay's output.
type Format string

// Formats.
const (
	JSONLines Format = "jsonl"   // CloudEvents JSON event format (structured mode), one per line
	CSV       Format = "csv"     // the columns of CSVHeader
	Parquet   Format = "parquet" // the columns of ParquetRow
)

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case JSONLines, CSV, Parquet:
		return f, nil
	}
	return "", fmt.Errorf("%w: format %q: want jsonl, csv or parquet", ErrReplayConfig, s)
}

// encoder writes records in one format.
type encoder interface {
	begin(w io.Writer) error // at the start of a fresh output
	encode(w io.Writer, r *Record) error
	flush(w io.Writer) error // before the buffered output is flushed
	close(w io.Writer) error // at the end of the output
}

func newEncoder(f Format) encoder {
	switch f {
	case CSV:
		return &csvEncoder{}
	case Parquet:
		return &parquetEncoder{}
	default:
		return &jsonlEncoder{}
	}
}

// fileSink writes one format to a file or a stream.
type fileSink struct {
	enc    encoder
	f      *os.File // nil when writing to a stream that is not ours
	closer io.Closer
	bw     *bufio.Writer
	cw     countingWriter
	err    error
}

// countingWriter counts the bytes that reach the underlying writer.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// CreateFile returns a sink writing format f to the file path. With resumeAt < 0 it creates
// the file (replacing one that exists). With resumeAt >= 0 (a resumed replay: State.OutputBytes)
// it cuts the existing file back to resumeAt bytes and appends; a file shorter than that, or
// a Parquet output, is ErrReplayState.
func CreateFile(path string, f Format, resumeAt int64) (Sink, error) {
	if resumeAt < 0 {
		file, err := os.Create(path)
		if err != nil {
			return nil, fmt.Errorf("create output: %w", err)
		}
		return newFileSink(file, f, file, 0, true)
	}
	if f == Parquet {
		return nil, fmt.Errorf("%w: %s output cannot be resumed", ErrReplayState, f)
	}
	file, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) && resumeAt == 0 {
		file, err = os.Create(path)
	}
	if err != nil {
		return nil, fmt.Errorf("open output to resume: %w", err)
	}
	st, err := file.Stat()
	if err == nil && st.Size() < resumeAt {
		err = fmt.Errorf("%w: %s has %d bytes, the state says %d were written", ErrReplayState, path, st.Size(), resumeAt)
	}
	if err == nil {
		err = file.Truncate(resumeAt)
	}
	if err == nil {
		_, err = file.Seek(resumeAt, io.SeekStart)
	}
	if err != nil {
		_ = file.Close()
		return nil, fmt.Errorf("open output to resume: %w", err)
	}
	return newFileSink(file, f, file, resumeAt, resumeAt == 0)
}

// NewWriterSink returns a sink writing format f to w (standard output, a pipe). Commit
// flushes its buffer; it cannot be resumed.
func NewWriterSink(w io.Writer, f Format) (Sink, error) {
	return newFileSink(nil, f, w, 0, true)
}

// newFileSink returns a sink over w, which holds size bytes already; a fresh one gets the
// format's header.
func newFileSink(file *os.File, f Format, w io.Writer, size int64, fresh bool) (Sink, error) {
	s := &fileSink{enc: newEncoder(f), f: file, cw: countingWriter{w: w, n: size}}
	if file != nil {
		s.closer = file
	}
	s.bw = bufio.NewWriterSize(&s.cw, 256<<10)
	if fresh {
		if err := s.enc.begin(s.bw); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *fileSink) Write(r *Record) error {
	if s.err != nil {
		return s.err
	}
	if err := s.enc.encode(s.bw, r); err != nil {
		s.err = err
	}
	return s.err
}

func (s *fileSink) Commit(map[int32]int64) (int64, error) {
	if s.err != nil {
		return 0, s.err
	}
	if err := s.enc.flush(s.bw); err != nil {
		s.err = err
		return 0, err
	}
	if err := s.bw.Flush(); err != nil {
		s.err = err
		return 0, err
	}
	if s.f != nil {
		if err := s.f.Sync(); err != nil {
			s.err = err
			return 0, err
		}
	}
	return s.cw.n, nil
}

func (s *fileSink) Close() error {
	err := s.err
	if err == nil {
		err = s.enc.close(s.bw)
	}
	if err == nil {
		err = s.bw.Flush()
	}
	if err == nil && s.f != nil {
		err = s.f.Sync()
	}
	if s.closer != nil {
		if cerr := s.closer.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Discard returns a sink that drops every event (for counting and benchmarks).
func Discard() Sink { return discard{} }

type discard struct{}

func (discard) Write(*Record) error                   { return nil }
func (discard) Commit(map[int32]int64) (int64, error) { return 0, nil }
func (discard) Close() error                          { return nil }
