package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/schema"
	"github.com/strata-platform/strata/services/command"
)

// apiFlags are the settings of the command API, shared by `strata dev` and `strata command`.
type apiFlags struct {
	HTTP           string
	Partitions     int
	SchemaDir      string
	RequireSchemas bool
}

func (a *apiFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.HTTP, "http", "127.0.0.1:8420", "HTTP listen address")
	fs.IntVar(&a.Partitions, "partitions", 8, "partition count P of every event topic (fixed once topics exist)")
	fs.StringVar(&a.SchemaDir, "schemas", "", "folder of JSON Schemas (schemas/<type>/<event type>.v<N>.json); empty: no checks")
	fs.BoolVar(&a.RequireSchemas, "require-schemas", false, "refuse event types that have no schema")
}

func (a *apiFlags) Validate() error {
	if _, _, err := net.SplitHostPort(a.HTTP); err != nil {
		return fmt.Errorf("--http %q: want host:port", a.HTTP)
	}
	if a.Partitions < 1 || a.Partitions > 1024 {
		return fmt.Errorf("--partitions %d: want 1..1024", a.Partitions)
	}
	if a.RequireSchemas && a.SchemaDir == "" {
		return errors.New("--require-schemas needs --schemas")
	}
	return nil
}

func (a *apiFlags) schemas() (*schema.Registry, error) {
	if a.SchemaDir == "" {
		return nil, nil
	}
	return schema.Load(schema.Config{Dir: a.SchemaDir, Require: a.RequireSchemas})
}

// sharer shares the partitions with other instances: it runs the group membership that
// acquires and releases partitions, and says where their owners are.
type sharer interface {
	register(reg prometheus.Registerer) // the engine's own collectors
	runMembership(ctx context.Context, app *appender.Appender) error
	router(app *appender.Appender) command.Router
	address() string
}

// readSide builds the read routes' query side over the appender's heads; the returned
// close releases it after the server stopped.
type readSide func(app *appender.Appender) (r command.Reads, close func(), err error)

// serveAPI runs the command API over store until ctx ends. With share nil it writes every
// partition; otherwise the partitions this instance writes come and go with share. reads
// (nil: none) serves the read routes.
func serveAPI(ctx context.Context, store appender.Store, share sharer, reads readSide, flags apiFlags, log *zap.Logger, stdout io.Writer, banner string) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	schemas, err := flags.schemas()
	if err != nil {
		return usageError{err}
	}
	ln, err := net.Listen("tcp", flags.HTTP)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", flags.HTTP, err)
	}
	acfg := appender.Config{Logger: log, Metrics: appender.NewMetrics(reg)}
	ccfg := command.Config{Schemas: schemas, Logger: log, Gatherer: reg}
	var app *appender.Appender
	if share != nil {
		share.register(reg)
	}
	if share == nil {
		app, err = appender.New(ctx, store, acfg)
	} else {
		app, err = appender.NewDynamic(store, acfg)
	}
	if err != nil {
		ln.Close()
		return err
	}
	defer app.Close()
	if share != nil {
		ccfg.Router, ccfg.Self, ccfg.Ready = share.router(app), share.address(), app.Ready
		mctx, mcancel := context.WithCancel(ctx)
		mdone := make(chan struct{})
		go func() {
			defer close(mdone)
			if err := share.runMembership(mctx, app); err != nil {
				log.Error("membership stopped", zap.Error(err))
			}
		}()
		defer func() { mcancel(); <-mdone }()
	}
	if reads != nil {
		r, closeReads, err := reads(app)
		if err != nil {
			ln.Close()
			return err
		}
		defer closeReads()
		ccfg.Reads = r
	}
	api, err := command.New(app, ccfg)
	if err != nil {
		ln.Close()
		return err
	}
	api.SetReady(true)
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(api.EndTails) // tails never end by themselves
	fmt.Fprintf(stdout, "%s\nlistening on http://%s\n", banner, ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	api.SetReady(false)
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-errc
	log.Info("stopped")
	return err
}
