package event

import "testing"

// FuzzStreamName: the hand-written name checks agree with the regexps the rules are
// written as.
func FuzzStreamName(f *testing.F) {
	for _, s := range []string{"", "order", "Order", "o-1", "a_b-c9", "9a", "o.1:2@3+4=5~6-7", "-x", "x\x00", "é",
		"a23456789012345678901234567890123456789012345678901234567890123", "a234567890123456789012345678901234567890123456789012345678901234"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validTypeName(s), typeNameRe.MatchString(s); got != want {
			t.Fatalf("validTypeName(%q) = %v, the regexp says %v", s, got, want)
		}
		if got, want := validAggID(s), idRe.MatchString(s); got != want {
			t.Fatalf("validAggID(%q) = %v, the regexp says %v", s, got, want)
		}
	})
}
