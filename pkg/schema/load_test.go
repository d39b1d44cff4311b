package schema

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad_RepoSchemas(t *testing.T) {
	r := loadRepo(t, true)
	if r.Len() != 4 {
		t.Errorf("Len = %d, want the 4 sample order schemas", r.Len())
	}
}

const okSchema = `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object"}`

func TestLoad_Errors(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		wantIs error
		wantIn []string // substrings of the error; paths are relative to the folder
	}{
		{name: "no version", files: map[string]string{"order/com.example.order.placed.json": okSchema},
			wantIs: ErrLayout, wantIn: []string{"order/com.example.order.placed.json", LayoutRule}},
		{name: "version 0", files: map[string]string{"order/com.example.order.placed.v0.json": okSchema},
			wantIs: ErrLayout, wantIn: []string{"placed.v0.json"}},
		{name: "leading zero", files: map[string]string{"order/com.example.order.placed.v01.json": okSchema},
			wantIs: ErrLayout, wantIn: []string{"placed.v01.json"}},
		{name: "upper-case V", files: map[string]string{"order/com.example.order.placed.V1.json": okSchema},
			wantIs: ErrLayout, wantIn: []string{"placed.V1.json"}},
		{name: "not .json", files: map[string]string{"order/com.example.order.placed.v1.yaml": "type: object"},
			wantIs: ErrLayout, wantIn: []string{"placed.v1.yaml"}},
		{name: "no type", files: map[string]string{"order/.v1.json.json": okSchema, "order/v1.json": okSchema},
			wantIs: ErrLayout, wantIn: []string{"order/v1.json"}},
		{name: "type starts with '-'", files: map[string]string{"order/-placed.v1.json": okSchema},
			wantIs: ErrLayout, wantIn: []string{"-placed.v1.json"}},
		{name: "file at the top", files: map[string]string{"com.example.order.placed.v1.json": okSchema},
			wantIs: ErrLayout, wantIn: []string{"directly in the schemas folder", LayoutRule}},
		{name: "folder not an aggregate type", files: map[string]string{"Order/com.example.order.placed.v1.json": okSchema},
			wantIs: ErrLayout, wantIn: []string{`folder "Order" is not an aggregate type`}},
		{name: "nested folder", files: map[string]string{"order/v1/com.example.order.placed.v1.json": okSchema},
			wantIs: ErrLayout, wantIn: []string{"order/v1", "do not nest"}},
		{name: "not JSON", files: map[string]string{"order/com.example.order.placed.v1.json": `{"type":`},
			wantIs: ErrInvalidSchema, wantIn: []string{"order/com.example.order.placed.v1.json", "not JSON"}},
		{name: "duplicate keyword", files: map[string]string{"order/com.example.order.placed.v1.json": `{"type":"object","type":"string"}`},
			wantIs: ErrInvalidSchema, wantIn: []string{`duplicate member name "type"`}},
		{name: "keyword of the wrong type", files: map[string]string{"order/com.example.order.placed.v1.json": `{"type":5}`},
			wantIs: ErrInvalidSchema, wantIn: []string{"placed.v1.json"}},
		{name: "negative minLength", files: map[string]string{"order/com.example.order.placed.v1.json": `{"minLength":-1}`},
			wantIs: ErrInvalidSchema, wantIn: []string{"placed.v1.json"}},
		{name: "bad regexp", files: map[string]string{"order/com.example.order.placed.v1.json": `{"pattern":"("}`},
			wantIs: ErrInvalidSchema, wantIn: []string{"placed.v1.json"}},
		{name: "$ref to another file", files: map[string]string{
			"order/com.example.order.placed.v1.json": `{"$ref":"com.example.order.paid.v1.json"}`,
			"order/com.example.order.paid.v1.json":   okSchema,
		}, wantIs: ErrInvalidSchema, wantIn: []string{"placed.v1.json", "may refer only to itself"}},
		{name: "$ref to the network", files: map[string]string{"order/com.example.order.placed.v1.json": `{"$ref":"https://example.com/s.json"}`},
			wantIs: ErrInvalidSchema, wantIn: []string{"may refer only to itself"}},
		{name: "unknown $schema", files: map[string]string{"order/com.example.order.placed.v1.json": `{"$schema":"https://example.com/meta"}`},
			wantIs: ErrInvalidSchema, wantIn: []string{"placed.v1.json"}},
		{name: "relative $id", files: map[string]string{"order/com.example.order.placed.v1.json": `{"$id":"placed.v1.json"}`},
			wantIs: ErrInvalidSchema, wantIn: []string{"must be an absolute URI"}},
		{name: "$id of another version", files: map[string]string{
			"order/com.example.order.placed.v2.json": `{"$id":"https://schemas.example.com/order/com.example.order.placed.v1.json"}`,
		}, wantIs: ErrInvalidSchema, wantIn: []string{"names version 1 but the file is version 2"}},
		{name: "same $id twice", files: map[string]string{
			"order/com.example.order.placed.v1.json": `{"$id":"urn:example:placed"}`,
			"order/com.example.order.paid.v1.json":   `{"$id":"urn:example:placed"}`,
		}, wantIs: ErrInvalidSchema, wantIn: []string{`$id "urn:example:placed" is also the $id of`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, tt.files)
			r, err := Load(Config{Dir: dir})
			if err == nil {
				t.Fatalf("Load = %v, nil; want an error", r)
			}
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("Load = %v, want errors.Is %v", err, tt.wantIs)
			}
			msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			msg = filepath.ToSlash(msg)
			for _, s := range tt.wantIn {
				if !strings.Contains(msg, s) {
					t.Errorf("Load error %q does not contain %q", msg, s)
				}
			}
		})
	}
}

func TestLoad_ReportsEveryProblem(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"order/placed.json":                      okSchema,
		"order/com.example.order.paid.v1.json":   `{"type":5}`,
		"order/com.example.order.placed.v1.json": okSchema,
		"invoice/com.example.invoice.sent.json":  okSchema,
	})
	_, err := Load(Config{Dir: dir})
	if !errors.Is(err, ErrLayout) || !errors.Is(err, ErrInvalidSchema) {
		t.Fatalf("Load = %v, want both ErrLayout and ErrInvalidSchema", err)
	}
	for _, f := range []string{"placed.json", "paid.v1.json", "invoice.sent.json"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("Load error does not name %s: %v", f, err)
		}
	}
	if strings.Contains(err.Error(), "placed.v1.json") {
		t.Errorf("Load error names a good file: %v", err)
	}
}

func TestLoad_IgnoresDocsAndDotFiles(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"README.md":                              "# schemas",
		".git/config":                            "x",
		".editorconfig":                          "x",
		"order/README.md":                        "# orders",
		"order/.DS_Store":                        "x",
		"order/com.example.order.placed.v1.json": okSchema,
		"order/com.example.order.placed.v2.json": `true`,
		"order/com.example.order.closed.v1.json": `false`,
	})
	r, err := Load(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 3 {
		t.Errorf("Len = %d, want 3", r.Len())
	}
	if err := r.Check("order", newEvent(t, "com.example.order.closed", `{}`)); err == nil {
		t.Error("the false schema accepted an event")
	}
}

func TestLoad_EmptyAndMissingFolder(t *testing.T) {
	r, err := Load(Config{Dir: t.TempDir()})
	if err != nil || r.Len() != 0 {
		t.Fatalf("Load(empty folder) = %v, %v; want an empty registry", r, err)
	}
	if _, err := Load(Config{Dir: filepath.Join(t.TempDir(), "nope")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing folder) = %v, want os.ErrNotExist", err)
	}
}

func TestConfig_Validate(t *testing.T) {
	if err := (Config{}).Validate(); err == nil {
		t.Error("empty Dir passed Validate")
	}
	if _, err := Load(Config{Dir: " "}); err == nil {
		t.Error("Load accepted a blank Dir")
	}
	if err := (Config{Dir: "schemas", Require: true}).Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}
}
