package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newSet() (*flag.FlagSet, *string, *int) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	return fs, fs.String("http-addr", "default:1", ""), fs.Int("partitions", 8, "")
}

func writeFile(t *testing.T, name, body string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParse_Precedence(t *testing.T) {
	plain := writeFile(t, "c.conf", "# comment\nhttp-addr file:1\npartitions 3\n")
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantAddr  string
		wantParts int
	}{
		{"defaults", nil, nil, "default:1", 8},
		{"file", []string{"--config", plain}, nil, "file:1", 3},
		{"env beats file", []string{"--config", plain}, map[string]string{"STRATA_HTTP_ADDR": "env:1"}, "env:1", 3},
		{"flag beats env", []string{"--config", plain, "--http-addr", "flag:1"}, map[string]string{"STRATA_HTTP_ADDR": "env:1"}, "flag:1", 3},
		{"config via env", nil, map[string]string{"STRATA_CONFIG": plain}, "file:1", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			fs, addr, parts := newSet()
			if err := Parse(fs, tt.args); err != nil {
				t.Fatal(err)
			}
			if *addr != tt.wantAddr || *parts != tt.wantParts {
				t.Fatalf("got %q %d, want %q %d", *addr, *parts, tt.wantAddr, tt.wantParts)
			}
		})
	}
}

func TestParse_JSONFile(t *testing.T) {
	p := writeFile(t, "c.json", `  {"http-addr": "json:1", "partitions": 5}`)
	fs, addr, parts := newSet()
	if err := Parse(fs, []string{"--config", p}); err != nil {
		t.Fatal(err)
	}
	if *addr != "json:1" || *parts != 5 {
		t.Fatalf("got %q %d", *addr, *parts)
	}
}

func TestParse_Errors(t *testing.T) {
	unknown := writeFile(t, "u.conf", "no-such-flag 1\n")
	badJSON := writeFile(t, "b.json", `{"http-addr": `)
	for name, args := range map[string][]string{
		"unknown key":    {"--config", unknown},
		"missing file":   {"--config", filepath.Join(t.TempDir(), "absent")},
		"bad json":       {"--config", badJSON},
		"bad int flag":   {"--partitions", "x"},
		"undefined flag": {"--nope"},
	} {
		t.Run(name, func(t *testing.T) {
			fs, _, _ := newSet()
			if err := Parse(fs, args); err == nil {
				t.Fatal("Parse accepted bad input")
			}
		})
	}
	t.Run("bad env", func(t *testing.T) {
		t.Setenv("STRATA_PARTITIONS", "many")
		fs, _, _ := newSet()
		if err := Parse(fs, nil); err == nil {
			t.Fatal("Parse accepted a non-integer from the environment")
		}
	})
}

func TestSplitList(t *testing.T) {
	got := SplitList(" a:1, ,b:2,")
	if len(got) != 2 || got[0] != "a:1" || got[1] != "b:2" {
		t.Fatalf("SplitList = %q", got)
	}
}
