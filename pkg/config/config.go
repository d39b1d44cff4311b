package config

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/peterbourgon/ff/v3"
)

// EnvPrefix prefixes every environment variable a component reads.
const EnvPrefix = "STRATA"

// Validator is implemented by every component's Config.
type Validator interface{ Validate() error }

// Parse fills fs from args, the environment and the config file, in that order of
// precedence. fs must not define a flag named "config": Parse adds it.
func Parse(fs *flag.FlagSet, args []string) error {
	if fs.Lookup("config") == nil {
		fs.String("config", "", "config file (JSON, or plain 'name value' lines); env STRATA_CONFIG")
	}
	err := ff.Parse(fs, args,
		ff.WithEnvVarPrefix(EnvPrefix),
		ff.WithConfigFileFlag("config"),
		ff.WithConfigFileParser(parseFile),
	)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return fmt.Errorf("config: %w", err)
	}
	return err
}

// parseFile reads JSON when the file starts with '{', plain lines otherwise.
func parseFile(r io.Reader, set func(name, value string) error) error {
	br := bufio.NewReader(r)
	for {
		b, err := br.Peek(1)
		if err != nil || !isSpace(b[0]) {
			break
		}
		_, _ = br.ReadByte()
	}
	if b, err := br.Peek(1); err == nil && b[0] == '{' {
		return ff.JSONParser(br, set)
	}
	return ff.PlainParser(br, set)
}

func isSpace(c byte) bool { return bytes.IndexByte([]byte(" \t\r\n"), c) >= 0 }

// SplitList splits a comma-separated flag value, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
