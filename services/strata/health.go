package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// checkError marks a probe that ran and found the target unhealthy.
type checkError struct{ msg string }

func (e checkError) Error() string { return e.msg }

func runHealth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8420/readyz", "health endpoint to probe")
	timeout := fs.Duration("timeout", 3*time.Second, "probe timeout")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return usageError{fmt.Errorf("url %q: %w", *url, err)}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return checkError{fmt.Sprintf("%s: %v", *url, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return checkError{fmt.Sprintf("%s: %s", *url, resp.Status)}
	}
	_, err = fmt.Fprintf(stdout, "%s: ok\n", *url)
	return err
}
