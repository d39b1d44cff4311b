package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/embedded"
	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/logging"
	"github.com/strata-platform/strata/pkg/projection"
	"github.com/strata-platform/strata/pkg/stream"
)

// `strata demo` is `strata dev` with a sample order domain seeded first, so that a newcomer
// sees streams, read models and snapshots at once. The sample is deterministic (same
// streams, event ids, data and times on every run) and goes through the real append path
// with expected versions, so a second run finds every event already there: each append is
// answered as a duplicate and nothing is written twice (I4).
//
// It runs in two steps on one data folder: it opens the engine, runs dev's projections,
// seeds and waits until the projections have read everything, prints what is there and
// closes the engine; then it is `strata dev` (runDev) with the same flags.

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg devFlags
	var orders int
	fs := newFlagSet("demo", stderr)
	cfg.register(fs)
	cfg.api.register(fs)
	fs.StringVar(&cfg.data, "data", "./strata-data", "data folder of the embedded engine")
	fs.Int64Var(&cfg.snapshotEvery, "snapshot-every", 2, "snapshot a stream every N events")
	fs.IntVar(&orders, "orders", 36, "sample orders to seed (1..10000)")
	_ = fs.Set("log-format", logging.FormatConsole)
	if err := parse(fs, args, &cfg); err != nil {
		return err
	}
	if orders < 1 || orders > 10000 {
		return usageError{fmt.Errorf("--orders %d: want 1..10000", orders)}
	}
	log, err := logging.New(cfg.Log)
	if err != nil {
		return usageError{err}
	}
	defer log.Sync()
	dir, _ := filepath.Abs(cfg.data)
	tour, err := seedAndTour(ctx, dir, cfg, orders, log)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tour)
	var devArgs []string
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "orders" && f.Name != "snapshot-every" && f.Name != "data" {
			devArgs = append(devArgs, "--"+f.Name+"="+f.Value.String())
		}
	})
	devArgs = append(devArgs, "--data="+dir, "--snapshot-every="+strconv.FormatInt(cfg.snapshotEvery, 10))
	return runDev(ctx, devArgs, stdout, stderr)
}

// seedAndTour seeds the sample into the data folder with dev's projections running, waits
// until they have read it all, and returns what to show the newcomer.
func seedAndTour(ctx context.Context, dir string, cfg devFlags, orders int, log *zap.Logger) (string, error) {
	eng, err := embedded.Open(embedded.Config{Dir: dir, Partitions: cfg.api.Partitions, Logger: log})
	if err != nil {
		return "", err
	}
	defer eng.Close()
	stop := runLocalProjections(ctx, eng, cfg.snapshotEvery, log)
	defer stop()
	rep, err := seedDemo(ctx, eng, orders, log)
	if err != nil {
		return "", fmt.Errorf("seed the sample domain: %w", err)
	}
	if err := waitProjections(ctx, eng, cfg.snapshotEvery); err != nil {
		return "", err
	}
	return fmt.Sprintf("strata demo: %s\n%s", rep, demoTour(ctx, eng, cfg.api.HTTP, dir)), nil
}

// demoReport counts what a seeding did.
type demoReport struct {
	Streams, Appends, Written, Duplicates, Skipped int
}

func (r demoReport) String() string {
	s := fmt.Sprintf("seeded the sample domain: %d streams, %d appends (%d written, %d already there",
		r.Streams, r.Appends, r.Written, r.Duplicates)
	if r.Skipped > 0 {
		s += fmt.Sprintf(", %d skipped: the stream has moved on since", r.Skipped)
	}
	return s + ")"
}

// demoAppend is one append of the sample domain.
type demoAppend struct {
	stream   stream.ID
	expected int64 // the version before it
	evType   string
	at       time.Time
	data     map[string]any
}

// demoDomain returns the sample: customers c-1..c-8 (registered), and orders o-1001...
// (placed; three in four paid; of those, two in three shipped).
func demoDomain(orders int) []demoAppend {
	base := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	var out []demoAppend
	const customers = 8
	for c := 1; c <= customers; c++ {
		out = append(out, demoAppend{stream: stream.ID{Type: "customer", ID: fmt.Sprintf("c-%d", c)},
			evType: "com.example.customer.registered", at: base.Add(time.Duration(c) * time.Minute),
			data: map[string]any{"name": fmt.Sprintf("Customer %d", c), "email": fmt.Sprintf("c-%d@example.com", c)}})
	}
	skus := []string{"SKU-TEA", "SKU-MUG", "SKU-PEN", "SKU-BAG"}
	for i := 1; i <= orders; i++ {
		s := stream.ID{Type: "order", ID: fmt.Sprintf("o-%d", 1000+i)}
		placed := base.Add(time.Hour + time.Duration(i)*37*time.Minute)
		qty, price := 1+i%3, float64(5+i%4*3)
		total := float64(qty) * price
		out = append(out, demoAppend{stream: s, expected: 0, evType: "com.example.order.placed", at: placed,
			data: map[string]any{"status": "placed", "customer": fmt.Sprintf("c-%d", 1+i%customers),
				"items": []map[string]any{{"sku": skus[i%len(skus)], "qty": qty, "price": price}}, "total": total}})
		if i%4 == 0 {
			continue
		}
		out = append(out, demoAppend{stream: s, expected: 1, evType: "com.example.order.paid", at: placed.Add(2 * time.Hour),
			data: map[string]any{"status": "paid", "payment": map[string]any{"method": "card", "amount": total}}})
		if i%3 == 0 {
			continue
		}
		out = append(out, demoAppend{stream: s, expected: 2, evType: "com.example.order.shipped", at: placed.Add(26 * time.Hour),
			data: map[string]any{"status": "shipped", "shipment": map[string]any{"carrier": "DHL", "tracking": fmt.Sprintf("TRK%d", 1000+i)}}})
	}
	return out
}

// seedDemo appends the sample through the append pipeline. Event ids are derived from the
// stream and the event type, so a second run retries the same events: duplicates, no-ops.
// A stream that has since moved past the window of remembered ids answers a conflict; it is
// skipped.
func seedDemo(ctx context.Context, store appender.Store, orders int, log *zap.Logger) (demoReport, error) {
	app, err := appender.New(ctx, store, appender.Config{Logger: log})
	if err != nil {
		return demoReport{}, err
	}
	defer app.Close()
	var rep demoReport
	seen := map[stream.ID]bool{}
	for _, a := range demoDomain(orders) {
		ev := event.New()
		ev.SetID("demo-" + a.stream.ID + "-" + a.evType[strings.LastIndexByte(a.evType, '.')+1:])
		ev.SetSource("/strata/demo")
		ev.SetType(a.evType)
		ev.SetTime(a.at)
		if err := ev.SetData("application/json", a.data); err != nil {
			return rep, err
		}
		res, err := app.Append(ctx, appender.Request{Stream: a.stream, Expected: stream.ExactVersion(a.expected), Events: []*event.Event{&ev}})
		var ce *stream.ConflictError
		switch {
		case errors.As(err, &ce):
			rep.Skipped++
		case err != nil:
			return rep, fmt.Errorf("append %s to %s: %w", a.evType, a.stream, err)
		case res.Duplicate:
			rep.Duplicates++
		default:
			rep.Written++
		}
		rep.Appends++
		if !seen[a.stream] {
			seen[a.stream] = true
			rep.Streams++
		}
	}
	return rep, nil
}

// waitProjections waits until dev's projections (runLocalProjections) have read the log.
func waitProjections(ctx context.Context, eng *embedded.Engine, every int64) error {
	projs := []projection.Projection{
		projection.Index(nil, 1),
		projection.Stats(nil, 1),
		projection.Snapshots(nil, 1, projection.Reducers{"*": projection.MergePatch}, projection.SnapshotPolicy{Every: every}, nil, ""),
	}
	for {
		var lag int64
		for _, p := range projs {
			n, err := projection.LocalLag(ctx, eng.LocalLog(), eng, p)
			if err != nil {
				return err
			}
			lag += n
		}
		if lag == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// demoTour shows a stream's head, its snapshot from the read store, and curl commands.
func demoTour(ctx context.Context, eng *embedded.Engine, addr, dir string) string {
	var b strings.Builder
	s := stream.ID{Type: "order", ID: "o-1001"}
	if raw, ok, err := eng.Get(ctx, "snapshots.v1", projection.SnapshotKey(s)); err == nil && ok {
		var snap projection.Snapshot
		if json.Unmarshal(raw, &snap) == nil {
			fmt.Fprintf(&b, "snapshot of %s at version %d: %s\n", s, snap.Version, snap.State)
		}
	}
	var total int64
	for _, typ := range []string{"order", "customer"} {
		for p := int32(0); p < int32(eng.Partitions()); p++ {
			raw, _, _ := eng.Get(ctx, "stats.v1", projection.StatsKey(typ, p))
			var n int64
			_, _ = fmt.Sscan(string(raw), &n)
			total += n
		}
	}
	fmt.Fprintf(&b, "stats: %d events counted in topics %s\n", total, strings.Join(eng.Topics(), ", "))
	url := "http://" + addr
	fmt.Fprintf(&b, "try:\n")
	fmt.Fprintf(&b, "  curl %s/v1/streams/order/o-1001\n", url)
	fmt.Fprintf(&b, "  curl %s/v1/streams/order/o-1001/events\n", url)
	fmt.Fprintf(&b, "  curl %s/v1/streams/order/o-1001/state\n", url)
	fmt.Fprintf(&b, "  curl %s/v1/streams/customer/c-1\n", url)
	fmt.Fprintf(&b, "  curl -i -X POST %s/v1/streams/order/o-1004/events \\\n"+
		"    -H 'Content-Type: application/cloudevents+json' -H 'Strata-Expected-Version: 1' \\\n"+
		"    -d '{\"specversion\":\"1.0\",\"id\":\"pay-o-1004\",\"source\":\"/shop\",\"type\":\"com.example.order.paid\",\"data\":{\"status\":\"paid\"}}'\n", url)
	fmt.Fprintf(&b, "  curl -s %s/metrics | grep '^strata_'\n", url)
	fmt.Fprintf(&b, "  strata verify --data %s   # after stopping it: checks every stored event", dir)
	return b.String()
}
