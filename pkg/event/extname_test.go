package event

import (
	"regexp"
	"testing"
)

// TestValidExtName checks the hand-written check against the rule's regexp.
func TestValidExtName(t *testing.T) {
	re := regexp.MustCompile(`^[a-z0-9]{1,20}$`)
	for _, name := range []string{"", "a", "z9", "aggregateversion", "abcdefghij0123456789", "abcdefghij0123456789x",
		"A", "aB", "a-b", "a_b", "a b", "é", "a\x00", "0", "99999", "data", "`", "{", "/", ":"} {
		if got, want := validExtName(name), re.MatchString(name); got != want {
			t.Errorf("validExtName(%q) = %v, want %v", name, got, want)
		}
	}
}

// FuzzValidExtName compares the hand-written check with the rule's regexp on any name.
func FuzzValidExtName(f *testing.F) {
	re := regexp.MustCompile(`^[a-z0-9]{1,20}$`)
	f.Add("aggregateid")
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := validExtName(name), re.MatchString(name); got != want {
			t.Fatalf("validExtName(%q) = %v, want %v", name, got, want)
		}
	})
}

// TestStableURI_Cached checks that a remembered answer is the computed one, both ways.
func TestStableURI_Cached(t *testing.T) {
	for _, s := range []string{"/orders", "https://example.com/x", "A:/%2F ", "%zz", "urn:a:b"} {
		want := computeStableURI(s)
		for range 3 {
			if got := stableURI(s); got != want {
				t.Fatalf("stableURI(%q) = %v, want %v", s, got, want)
			}
		}
	}
}
