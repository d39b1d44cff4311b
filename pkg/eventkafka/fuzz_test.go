package eventkafka_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventkafka"
)

// fuzzHeaders turns fuzz bytes into record headers: one header per line, the name before
// the first ':' and the value after it (a line without ':' is a name with a nil value).
func fuzzHeaders(b []byte) []kgo.RecordHeader {
	if len(b) == 0 {
		return nil
	}
	var hs []kgo.RecordHeader
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			v = nil
		}
		hs = append(hs, kgo.RecordHeader{Key: string(k), Value: v})
	}
	return hs
}

// FuzzDecode feeds Decode arbitrary records. It must not panic; an error must be one of the
// two documented types; an accepted event must be valid and must re-encode to a record that
// decodes to the same event, and encoding that event again must give the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("o-1"), []byte(`{"a":1}`), []byte("ce_specversion:1.0\nce_id:1\nce_source:/s\nce_type:t\ncontent-type:application/json"))
	f.Fuzz(func(t *testing.T, key, value, headers []byte) {
		r := &kgo.Record{Key: key, Value: value, Headers: fuzzHeaders(headers)}
		e, err := eventkafka.Decode(r)
		if err != nil {
			var ke *eventkafka.Error
			var ve *event.ValidationError
			if !errors.As(err, &ke) && !errors.As(err, &ve) {
				t.Fatalf("Decode error %v is %T, neither *eventkafka.Error nor *event.ValidationError", err, err)
			}
			return
		}
		if err := event.Validate(&e, event.Limits{}); err != nil {
			t.Fatalf("Decode accepted an invalid event: %v", err)
		}
		r2, err := eventkafka.Encode(&e, "t")
		if err != nil {
			t.Fatalf("Encode of a decoded event: %v", err)
		}
		e2, err := eventkafka.Decode(r2)
		if err != nil {
			t.Fatalf("Decode of a re-encoded event: %v\n%s", err, dumpHeaders(r2.Headers))
		}
		requireSame(t, &e, &e2)
		r3, err := eventkafka.Encode(&e2, "t")
		if err != nil || !sameHeaders(r2.Headers, r3.Headers) || !bytes.Equal(r2.Key, r3.Key) || !bytes.Equal(r2.Value, r3.Value) {
			t.Fatalf("encoding is not a fixpoint (%v):\n%s---\n%s", err, dumpHeaders(r2.Headers), dumpHeaders(r3.Headers))
		}
	})
}

// TestFuzzDecode_Seeds checks that the checked-in seeds are what their names say: valid_*
// records decode, invalid_* ones are refused.
func TestFuzzDecode_Seeds(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecode", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no seeds: %v", err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		args := readSeed(t, file)
		r := &kgo.Record{Key: args[0], Value: args[1], Headers: fuzzHeaders(args[2])}
		_, err := eventkafka.Decode(r)
		switch {
		case strings.HasPrefix(name, "valid_") && err != nil:
			t.Errorf("%s: %v", name, err)
		case strings.HasPrefix(name, "invalid_") && err == nil:
			t.Errorf("%s: accepted", name)
		}
	}
}

// readSeed parses a "go test fuzz v1" file of three []byte values.
func readSeed(t testing.TB, file string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 4 || lines[0] != "go test fuzz v1" {
		t.Fatalf("%s: not a three-value go test fuzz v1 file", file)
	}
	var args [][]byte
	for _, l := range lines[1:] {
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(l, "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %q: %v", file, l, err)
		}
		args = append(args, []byte(s))
	}
	return args
}
