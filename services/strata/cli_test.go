package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/embedded"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/stream"
)

func TestRun_ExitCodes(t *testing.T) {
	// scripts/test exports the rig's addresses; these cases must not see them.
	t.Setenv("STRATA_KAFKA", "")
	t.Setenv("STRATA_REDIS", "")
	tests := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"version"}, exitOK, "strata "},
		{[]string{"nope"}, exitUsage, "unknown command"},
		{[]string{"command"}, exitUsage, "--kafka"},
		{[]string{"command", "--kafka", "k:1", "--redis", "r:1", "--log-format", "xml"}, exitUsage, "log format"},
		{[]string{"projector", "--kafka", "k:1", "--redis", "r:1", "--reducers", "order=magic"}, exitUsage, "merge-patch"},
		{[]string{"dev", "--http", "nonsense"}, exitUsage, "--http"},
		{[]string{"health", "--url", "http://127.0.0.1:1/readyz", "--timeout", "200ms"}, exitCheck, "127.0.0.1:1"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tt.args, &out, &errOut)
		if code != tt.code || !strings.Contains(out.String()+errOut.String(), tt.out) {
			t.Errorf("strata %v: exit %d, output %q %q; want exit %d containing %q", tt.args, code, out.String(), errOut.String(), tt.code, tt.out)
		}
	}
}

func TestVerify_CleanStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	eng, err := embedded.Open(embedded.Config{Dir: dir, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	app, err := appender.New(context.Background(), eng, appender.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e := event.New()
	e.SetID("1")
	e.SetSource("/t")
	e.SetType("t")
	if _, err := app.Append(context.Background(), appender.Request{Stream: stream.ID{Type: "order", ID: "o-1"}, Expected: stream.Any, Events: []*event.Event{&e}}); err != nil {
		t.Fatal(err)
	}
	_ = app.Close()
	_ = eng.Close()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"verify", "--data", dir, "--partitions", "2"}, &out, &errOut); code != exitOK || !strings.Contains(out.String(), "1 records") {
		t.Fatalf("verify: exit %d, %q %q", code, out.String(), errOut.String())
	}
	if code := run(context.Background(), []string{"verify", "--data", dir, "--partitions", "3"}, &out, &errOut); code != exitUsage {
		t.Fatalf("verify with the wrong partition count: exit %d", code)
	}
}
