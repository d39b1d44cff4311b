package event

import (
	"regexp"
	"testing"
)

// integerRe is the CloudEvents Integer's string form as a regular expression: the reference
// isIntegerString is checked against.
var integerRe = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

func TestIsIntegerString(t *testing.T) {
	for _, s := range []string{"", "-", "0", "-0", "00", "01", "1", "7", "-7", "10", "+1", "1.5", "1e0",
		" 1", "1 ", "2147483647", "99999999999", "１", "0x1", "--1"} {
		if got, want := isIntegerString(s), integerRe.MatchString(s); got != want {
			t.Errorf("isIntegerString(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzIsIntegerString(f *testing.F) {
	for _, s := range []string{"0", "-12", "012", "+1", "1.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isIntegerString(s), integerRe.MatchString(s); got != want {
			t.Fatalf("isIntegerString(%q) = %v, want %v", s, got, want)
		}
	})
}
