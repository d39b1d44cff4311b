package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/strata-platform/strata/pkg/embedded"
)

type verifyFlags struct {
	data       string
	partitions int
	asJSON     bool
}

func (v *verifyFlags) Validate() error {
	if v.data == "" {
		return errors.New("--data must name the data folder of a strata dev store")
	}
	return nil
}

// runVerify checks every stored event of an embedded store: record checksums, per-stream
// versions 1..n with no gap or duplicate, offsets, and heads against the log.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f verifyFlags
	fs := newFlagSet("verify", stderr)
	fs.StringVar(&f.data, "data", "./strata-data", "data folder of the embedded engine")
	fs.IntVar(&f.partitions, "partitions", 8, "partition count the store was created with")
	fs.BoolVar(&f.asJSON, "json", false, "print the report as JSON")
	if err := parse(fs, args, &f); err != nil {
		return err
	}
	dir, _ := filepath.Abs(f.data)
	eng, err := embedded.Open(embedded.Config{Dir: dir, Partitions: f.partitions})
	if errors.Is(err, embedded.ErrPartitionMismatch) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	defer eng.Close()
	rep, err := eng.Verify(ctx)
	if err != nil {
		return err
	}
	if f.asJSON {
		if err := json.NewEncoder(stdout).Encode(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "%s: %d records, %d streams, %d heads checked\n", dir, rep.Records, rep.Streams, rep.Heads)
		for _, p := range rep.Problems {
			fmt.Fprintf(stdout, "problem at %s: %s\n", p.Key, p.Detail)
		}
	}
	if !rep.OK() {
		return checkError{fmt.Sprintf("%d problems found", len(rep.Problems)+rep.MoreProblems)}
	}
	return nil
}
