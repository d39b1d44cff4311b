package event

import "testing"

// FuzzSource: Source gives what sdk-go's Event.Source gives, for every source sdk-go
// accepts.
func FuzzSource(f *testing.F) {
	for _, s := range []string{"/bench", "", "/", "//host/x", "a:b", "./a:b", "/a b", "/a%20b", "https://example.com/x",
		"urn:uuid:1234", "/x?y", "/x#y", "mailto:a@b", "/~a/_b/-c/.d", "relative/path", "/é", "?", "#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := New()
		e.SetSource(s)
		if got, want := Source(&e), e.Source(); got != want {
			t.Fatalf("Source of %q = %q, sdk-go says %q", s, got, want)
		}
	})
}
