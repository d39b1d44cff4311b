package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes; see doc.go.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitCheck   = 3
)

// usageError marks errors that are the caller's: bad flags, bad config.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

type subcommand struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func subcommands() []subcommand {
	return []subcommand{
		{"dev", "run the whole platform in one process on the embedded engine", runDev},
		{"demo", "strata dev with a sample order domain seeded (streams, read models, snapshots)", runDemo},
		{"command", "run the command API (appends, reads) on Kafka + Redis", runCommand},
		{"projector", "run projector workers on Kafka + Redis", runProjector},
		{"replay", "replay a topic into a file or a sandbox projection", runReplay},
		{"verify", "check every stored event of a strata dev data folder", runVerify},
		{"export", "copy an embedded store into Kafka topics and Redis heads (resumable)", runExport},
		{"health", "probe a Strata health endpoint (for container health checks)", runHealth},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, sc := range subcommands() {
		if sc.name != args[0] {
			continue
		}
		err := sc.run(ctx, args[1:], stdout, stderr)
		return exitCode(stderr, sc.name, err)
	}
	fmt.Fprintf(stderr, "strata: unknown command %q (run 'strata help')\n", args[0])
	return exitUsage
}

func exitCode(stderr io.Writer, name string, err error) int {
	var ue usageError
	var ce checkError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "strata %s: %v\n", name, err)
		return exitUsage
	case errors.As(err, &ce):
		fmt.Fprintf(stderr, "strata %s: %v\n", name, err)
		return exitCheck
	default:
		fmt.Fprintf(stderr, "strata %s: %v\n", name, err)
		return exitFailure
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: strata <command> [flags]")
	fmt.Fprintln(w)
	for _, sc := range subcommands() {
		fmt.Fprintf(w, "  %-10s %s\n", sc.name, sc.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Flags can also be set as STRATA_<FLAG> environment variables or in a --config file.")
}
