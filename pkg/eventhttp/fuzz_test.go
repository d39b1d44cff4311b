package eventhttp_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/eventhttp"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/. The targets check that Decode never
// panics, that a refusal is a well-formed *DecodeError, and that every accepted event is
// valid and comes back identical when re-encoded, in its own mode (Go types included) and
// in the other two (canonical strings).

var fuzzLimits = eventhttp.Limits{MaxBodyBytes: 64 << 10, MaxEvents: 8,
	Event: event.Limits{MaxEventBytes: 32 << 10, MaxDataBytes: 16 << 10, MaxAttributeBytes: 1 << 10}}

func FuzzDecodeStructured(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecode(t, structured, bodyRequest(eventhttp.MediaTypeStructured, body))
	})
}

func FuzzDecodeBatch(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecode(t, batch, bodyRequest(eventhttp.MediaTypeBatch, body))
	})
}

func FuzzDecodeBinary(f *testing.F) {
	f.Fuzz(func(t *testing.T, contentType, specversion, id, source, typ, subject, extName, extValue string, body []byte) {
		if mt, _, _ := strings.Cut(contentType, ";"); strings.HasPrefix(strings.ToLower(strings.TrimSpace(mt)), "application/cloudevents") {
			return // structured or batch mode: the other targets fuzz those
		}
		r := bodyRequest(contentType, body)
		r.Header.Set("Ce-Specversion", specversion)
		for _, h := range [][2]string{{"Ce-Id", id}, {"Ce-Source", source}, {"Ce-Type", typ}, {"Ce-Subject", subject}} {
			if h[1] != "" {
				r.Header.Set(h[0], h[1])
			}
		}
		if extName != "" || extValue != "" {
			r.Header.Set("Ce-"+extName, extValue)
		}
		checkDecode(t, binary, r)
	})
}

func bodyRequest(contentType string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func checkDecode(t *testing.T, m mode, r *http.Request) {
	events, err := eventhttp.Decode(r, fuzzLimits)
	if err != nil {
		checkRefusal(t, err)
		return
	}
	if len(events) == 0 || (m != batch && len(events) != 1) || len(events) > fuzzLimits.MaxEvents {
		t.Fatalf("%s mode decoded %d events", m, len(events))
	}
	for i := range events {
		if err := event.Validate(&events[i], fuzzLimits.Event); err != nil {
			t.Fatalf("event %d accepted but invalid: %v", i, err)
		}
	}
	if m == batch {
		reencode(t, batch, events, true)
	}
	for _, to := range modes {
		for i := range events {
			reencode(t, to, events[i:i+1], to == m)
		}
	}
}

// reencode encodes events in mode, decodes them and compares.
func reencode(t *testing.T, m mode, events []event.Event, exactTypes bool) {
	r, err := encodeFuzz(m, events)
	if err != nil {
		var ve *event.ValidationError
		if m == binary && errors.Is(err, eventhttp.ErrEventHTTPEncode) && !errors.As(err, &ve) {
			return // binary mode cannot carry an application/cloudevents datacontenttype
		}
		t.Fatalf("re-encode %s: %v", m, err)
	}
	limits := fuzzLimits
	limits.MaxBodyBytes = 16 << 20
	got, err := eventhttp.Decode(r, limits)
	if err != nil {
		t.Fatalf("decode re-encoded %s: %v", m, err)
	}
	if len(got) != len(events) {
		t.Fatalf("re-encoded %d events in %s mode, decoded %d", len(events), m, len(got))
	}
	for i := range events {
		if d := diffEvents(&events[i], &got[i], exactTypes); d != "" {
			t.Fatalf("%s mode, event %d: %s\nevent: %v", m, i, d, events[i])
		}
	}
}

func encodeFuzz(m mode, events []event.Event) (*http.Request, error) {
	ctx := context.Background()
	switch m {
	case structured:
		return eventhttp.NewStructuredRequest(ctx, target, events[0])
	case binary:
		return eventhttp.NewBinaryRequest(ctx, target, events[0])
	}
	return eventhttp.NewBatchRequest(ctx, target, events...)
}

var knownCodes = map[string]int{
	"malformed_json": 400, "unsupported_media_type": 415, "body_too_large": 413,
	"too_many_events": 413, "empty_batch": 400, "unreadable_body": 400,
	string(event.CodeMissingAttribute): 400, string(event.CodeInvalidAttribute): 400,
	string(event.CodeBadSpecVersion): 400, string(event.CodeInvalidExtensionName): 400,
	string(event.CodeInvalidExtensionValue): 400, string(event.CodeAttributeTooLarge): 413,
	string(event.CodeDataTooLarge): 413, string(event.CodeEventTooLarge): 413,
}

var envelopeCodes = " " + strings.Join([]string{
	string(event.CodeMissingAttribute), string(event.CodeInvalidAttribute), string(event.CodeBadSpecVersion),
	string(event.CodeInvalidExtensionName), string(event.CodeInvalidExtensionValue),
	string(event.CodeAttributeTooLarge), string(event.CodeDataTooLarge), string(event.CodeEventTooLarge),
}, " ") + " "

func checkRefusal(t *testing.T, err error) {
	var de *eventhttp.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("refusal is %T, not *DecodeError: %v", err, err)
	}
	status, ok := knownCodes[de.Code]
	if !ok || status != de.Status {
		t.Fatalf("unknown code or status %d %q: %v", de.Status, de.Code, err)
	}
	var ve *event.ValidationError
	isEnvelope := errors.As(err, &ve)
	if isEnvelope != strings.Contains(envelopeCodes, " "+de.Code+" ") || isEnvelope && string(ve.Code) != de.Code {
		t.Fatalf("code %q does not match the wrapped ValidationError %v", de.Code, ve)
	}
	if de.Index < -1 || de.Index >= fuzzLimits.MaxEvents || de.Error() == "" {
		t.Fatalf("bad index or message: %#v", de)
	}
}

// TestFuzzSeeds keeps the checked-in seeds meaningful: those named valid-* decode, those
// named invalid-* are refused.
func TestFuzzSeeds(t *testing.T) {
	for _, target := range []string{"FuzzDecodeStructured", "FuzzDecodeBatch", "FuzzDecodeBinary"} {
		files, err := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no seeds (%v)", target, err)
		}
		for _, file := range files {
			name := filepath.Base(file)
			args := readSeed(t, file)
			var r *http.Request
			switch target {
			case "FuzzDecodeStructured":
				r = bodyRequest(eventhttp.MediaTypeStructured, []byte(args[0]))
			case "FuzzDecodeBatch":
				r = bodyRequest(eventhttp.MediaTypeBatch, []byte(args[0]))
			default:
				r = bodyRequest(args[0], []byte(args[8]))
				r.Header.Set("Ce-Specversion", args[1])
				for i, h := range []string{"Ce-Id", "Ce-Source", "Ce-Type", "Ce-Subject"} {
					if args[2+i] != "" {
						r.Header.Set(h, args[2+i])
					}
				}
				if args[6] != "" || args[7] != "" {
					r.Header.Set("Ce-"+args[6], args[7])
				}
			}
			_, err := eventhttp.Decode(r, fuzzLimits)
			if valid := strings.HasPrefix(name, "valid-"); valid != (err == nil) {
				t.Errorf("%s/%s: Decode error %v", target, name, err)
			}
		}
	}
}

// readSeed reads the arguments of a "go test fuzz v1" file holding only string and []byte
// values.
func readSeed(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if lines[0] != "go test fuzz v1" {
		t.Fatalf("%s: not a fuzz corpus file", file)
	}
	var args []string
	for _, line := range lines[1:] {
		lit := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(line, "[]byte("), "string("), ")")
		s, err := strconv.Unquote(lit)
		if err != nil {
			t.Fatalf("%s: %q: %v", file, line, err)
		}
		args = append(args, s)
	}
	return args
}
