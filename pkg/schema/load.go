package schema

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Load reads every schema file under cfg.Dir, checks that it follows the layout rule and
// compiles it. It refuses to start on any problem: a file or folder that breaks the rule
// (ErrLayout), a file that is not a valid schema (ErrInvalidSchema), two files with the same
// $id. The error lists every problem, each naming its file. Files whose names start with '.'
// and Markdown files (".md") are ignored, so a README may sit anywhere in the tree.
func Load(cfg Config) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	files, errs := scan(cfg.Dir)
	r := &Registry{require: cfg.Require, types: map[typeKey][]*compiled{}}
	ids := map[string]string{} // $id -> file that has it
	for _, f := range files {
		c, err := compileFile(cfg.Dir, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if c.id != "" {
			if other, dup := ids[c.id]; dup {
				errs = append(errs, schemaErr(f.path(cfg.Dir),
					fmt.Errorf("$id %q is also the $id of %s", c.id, filepath.Join(cfg.Dir, other))))
				continue
			}
			ids[c.id] = c.file
		}
		k := typeKey{f.agg, f.typ}
		r.types[k] = append(r.types[k], c)
		r.n++
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, versions := range r.types {
		slices.SortFunc(versions, func(a, b *compiled) int { return a.version - b.version })
	}
	return r, nil
}

// schemaFile is a file that follows the layout rule.
type schemaFile struct {
	agg, typ string
	version  int
	rel      string // under the schemas folder, slash-separated
}

func (f schemaFile) path(dir string) string { return filepath.Join(dir, filepath.FromSlash(f.rel)) }

func layoutErr(path, detail string) error {
	return fmt.Errorf("%w: %s: %s; %s", ErrLayout, path, detail, LayoutRule)
}

func schemaErr(path string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrInvalidSchema, path, err)
}

// ignored reports whether a file or folder is not part of the layout: dot-files and Markdown.
func ignored(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(strings.ToLower(name), ".md")
}

// scan lists the schema files under dir, one folder per aggregate type.
func scan(dir string) ([]schemaFile, []error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, []error{fmt.Errorf("schema: read schemas folder: %w", err)}
	}
	var files []schemaFile
	var errs []error
	for _, ent := range entries {
		name, path := ent.Name(), filepath.Join(dir, ent.Name())
		switch {
		case ignored(name):
		case !isDir(path, ent):
			errs = append(errs, layoutErr(path, "a file directly in the schemas folder"))
		case !validAggType(name):
			errs = append(errs, layoutErr(path, fmt.Sprintf("folder %q is not an aggregate type", name)))
		default:
			f, e := scanAggregate(dir, name)
			files, errs = append(files, f...), append(errs, e...)
		}
	}
	return files, errs
}

// scanAggregate lists the schema files of one aggregate type's folder.
func scanAggregate(dir, agg string) ([]schemaFile, []error) {
	entries, err := os.ReadDir(filepath.Join(dir, agg))
	if err != nil {
		return nil, []error{fmt.Errorf("schema: read %s: %w", filepath.Join(dir, agg), err)}
	}
	var files []schemaFile
	var errs []error
	for _, ent := range entries {
		name, path := ent.Name(), filepath.Join(dir, agg, ent.Name())
		if ignored(name) {
			continue
		}
		if isDir(path, ent) {
			errs = append(errs, layoutErr(path, "folders do not nest inside an aggregate type's folder"))
			continue
		}
		typ, version, ok := splitName(name)
		if !ok || !validEventType(typ) {
			errs = append(errs, layoutErr(path, fmt.Sprintf("%q is not <event type>.v<N>.json", name)))
			continue
		}
		files = append(files, schemaFile{agg: agg, typ: typ, version: version, rel: agg + "/" + name})
	}
	return files, errs
}

// isDir reports whether ent is a folder, following a symbolic link.
func isDir(path string, ent fs.DirEntry) bool {
	if ent.Type()&fs.ModeSymlink == 0 {
		return ent.IsDir()
	}
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

// compileFile reads and compiles one schema file on its own: a $ref cannot leave the file.
// Format assertions are on, so "format": "date-time" checks what it says.
func compileFile(dir string, f schemaFile) (*compiled, error) {
	path := f.path(dir)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("schema: read %s: %w", path, err)
	}
	doc, err := decodeJSON(data)
	if err != nil {
		return nil, schemaErr(path, fmt.Errorf("not JSON: %w", err))
	}
	id, err := schemaID(doc, f.version)
	if err != nil {
		return nil, schemaErr(path, err)
	}
	loc, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("schema: %s: %w", path, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(noLoader{})
	if err := c.AddResource(loc, doc); err != nil {
		return nil, schemaErr(path, err)
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return nil, schemaErr(path, err)
	}
	return &compiled{version: f.version, id: id, file: f.rel, schema: sch}, nil
}

// schemaID returns a schema's $id ("" when it has none). An $id is what events name in
// dataschema, so it must be an absolute URI, and a ".v<N>.json" suffix must agree with
// the file's version.
func schemaID(doc any, version int) (string, error) {
	obj, ok := doc.(map[string]any)
	if !ok {
		return "", nil // a boolean schema
	}
	raw, ok := obj["$id"]
	if !ok {
		return "", nil
	}
	id, ok := raw.(string)
	if !ok {
		return "", errors.New("$id must be a string")
	}
	if u, err := url.Parse(id); err != nil || !u.IsAbs() || u.Fragment != "" {
		return "", fmt.Errorf("$id %q must be an absolute URI without a fragment: events name it in dataschema", id)
	}
	if v := versionOfURL(id); v != 0 && v != version {
		return "", fmt.Errorf("$id %q names version %d but the file is version %d", id, v, version)
	}
	return id, nil
}

// noLoader refuses every URL the compiler would fetch: no network, no other files.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, errors.New("not loaded: a schema may refer only to itself and to standard metaschemas (put shared definitions in $defs)")
}
