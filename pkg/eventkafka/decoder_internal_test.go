package eventkafka

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/types"
)

// TestPrintable compares printable, which reads eight bytes at a time, with the byte loop it
// stands for: every byte value at every position of values of 1 to 24 bytes, in a value
// otherwise printable, and after a byte that is not.
func TestPrintable(t *testing.T) {
	want := func(b []byte) bool {
		for _, c := range b {
			if c < 0x20 || c > 0x7e {
				return false
			}
		}
		return len(b) > 0
	}
	if printable(nil) || printable([]byte{}) {
		t.Fatal("printable accepted an empty value")
	}
	for n := 1; n <= 24; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				for _, fill := range []byte{' ', 'a', '~', 0x1f, 0x80} {
					b := make([]byte, n)
					for i := range b {
						b[i] = "az AZ09~!"[i%9]
					}
					if pos > 0 {
						b[pos-1] = fill
					}
					b[pos] = byte(c)
					if got := printable(b); got != want(b) {
						t.Fatalf("printable(%q) = %v", b, got)
					}
				}
			}
		}
	}
}

// TestCanonicalTimeLen compares canonicalTimeLen with the length of types.FormatTime.
func TestCanonicalTimeLen(t *testing.T) {
	base := time.Date(2026, 11, 26, 14, 0, 0, 0, time.FixedZone("X", 3600))
	for _, ns := range []int{0, 1, 9, 10, 100, 120, 999, 1000, 123456789, 100000000, 999999999, 500000000, 1001} {
		for _, tm := range []time.Time{base.Add(time.Duration(ns)), time.Date(0, 1, 1, 0, 0, 0, ns, time.UTC),
			time.Date(9999, 12, 31, 23, 59, 59, ns, time.UTC)} {
			if got, want := canonicalTimeLen(tm), len(types.FormatTime(tm)); got != want {
				t.Errorf("canonicalTimeLen(%v) = %d, want %d", tm, got, want)
			}
		}
	}
}

// parseTimeRef is what parseTime stands for: types.ParseTime of the string, and a year
// that RFC 3339 can write.
func parseTimeRef(v []byte) (time.Time, bool) {
	t, err := types.ParseTime(string(v))
	if err != nil {
		return time.Time{}, false
	}
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return time.Time{}, false
	}
	return t, true
}

// timeSeeds are times in and near the plain RFC 3339 form, several of which only the slow
// path of time.Parse reads, or nothing reads.
var timeSeeds = []string{
	"2026-11-26T14:00:00Z", "2026-11-26T14:00:00.123456789Z", "2026-11-26T14:00:00.1234567891234Z",
	"2026-11-26T14:00:00+01:00", "2026-11-26T14:00:00.5-23:59", "2026-11-26T14:00:00+24:00",
	"2026-11-26T14:00:00+23:60", "2026-11-26T14:00:00,5Z", "2026-11-26T14:00:00.Z", "2026-11-26T14:00:00z",
	"2026-11-26t14:00:00Z", "2026-11-26T24:00:00Z", "2026-11-26T23:60:00Z", "2026-11-26T23:59:60Z",
	"2026-02-29T00:00:00Z", "2024-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
	"2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-01-00T00:00:00Z",
	"0000-01-01T00:00:00Z", "0000-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01", "2026-1-26T14:00:00Z",
	"2026-11-26T4:00:00Z", "2026-11-26T14:00:00", "2026-11-26T14:00:00+0100", "2026-11-26T14:00:00 +01:00",
	"+026-11-26T14:00:00Z", "2026-11-26T14:00:00.1+01:00x", "2026-11-26T14:00:00Z ", "2026-11-26T14:00:00.-1Z",
}

// TestParseTime compares parseTime with types.ParseTime on the seeds.
func TestParseTime(t *testing.T) {
	for _, s := range timeSeeds {
		checkParseTime(t, []byte(s))
	}
}

// FuzzParseTime compares parseTime with types.ParseTime on arbitrary values.
func FuzzParseTime(f *testing.F) {
	for _, s := range timeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkParseTime)
}

func checkParseTime(t *testing.T, v []byte) {
	want, wantOK := parseTimeRef(v)
	got, ok := parseTime(v)
	if ok != wantOK || !reflect.DeepEqual(got, want) {
		t.Fatalf("parseTime(%q) = %v, %v; types.ParseTime: %v, %v", v, got, ok, want, wantOK)
	}
}

func BenchmarkParseTime(b *testing.B) {
	for _, v := range []string{"2026-11-26T14:00:00.123456789Z", "2026-11-26T14:00:00Z", "2026-11-26T16:00:00.5+02:00"} {
		b.Run(v, func(b *testing.B) {
			b.Run("parseTime", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					parseTime([]byte(v))
				}
			})
			b.Run("types.ParseTime", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					parseTimeRef([]byte(v))
				}
			})
		})
	}
}

// TestValueCache: values come back equal whether they hit, miss or evict one another, a
// value longer than cacheMaxLen is never kept, and a box holds its value.
func TestValueCache(t *testing.T) {
	var d Decoder
	vc := d.cache()
	long := []byte(strings.Repeat("x", cacheMaxLen+1))
	for round := range 2 {
		for i := range 3 * cacheSlots {
			v := []byte("o-" + strconv.Itoa(i))
			if got := vc.str(v); got != string(v) {
				t.Fatalf("round %d: str(%q) = %q", round, v, got)
			}
			if got := vc.box(v); got != any(string(v)) {
				t.Fatalf("round %d: box(%q) = %v", round, v, got)
			}
		}
		if got := vc.str(long); got != string(long) {
			t.Fatalf("str of a long value = %q", got)
		}
	}
	for i := range vc.slots {
		if len(vc.slots[i].s) > cacheMaxLen {
			t.Fatalf("slot %d holds a %d-byte value", i, len(vc.slots[i].s))
		}
	}
}
