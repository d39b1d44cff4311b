package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-platform/strata/pkg/cluster"
	"github.com/strata-platform/strata/pkg/embedded"
	"github.com/strata-platform/strata/pkg/export"
	"github.com/strata-platform/strata/pkg/logging"
)

// progressEvery is how often export prints its progress on stderr.
const progressEvery = 5 * time.Second

type exportFlags struct {
	distributed
	data        string
	dataPrefix  string
	cluster     string
	topicPrefix string
	partitions  int
	json        bool
}

func (f *exportFlags) Validate() error {
	if f.data == "" {
		return errors.New("--data must name the embedded store's folder")
	}
	if f.partitions < 1 {
		return fmt.Errorf("--partitions %d: want at least 1", f.partitions)
	}
	return f.distributed.Validate()
}

// runExport copies an embedded store into Kafka topics and Redis heads; run again, it
// resumes where it stopped.
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f exportFlags
	fs := newFlagSet("export", stderr)
	f.register(fs)
	fs.StringVar(&f.data, "data", "./strata-data", "data folder of the embedded store to export")
	fs.StringVar(&f.dataPrefix, "data-topic-prefix", embedded.DefaultTopicPrefix, "topic prefix the embedded store was created with")
	fs.StringVar(&f.cluster, "cluster", "strata", "cluster name: the Redis namespace of the heads")
	fs.StringVar(&f.topicPrefix, "topic-prefix", "strata", "Kafka event topics are <prefix>.<type>.events")
	fs.IntVar(&f.partitions, "partitions", embedded.DefaultPartitions, "partition count; must be the store's")
	fs.BoolVar(&f.json, "json", false, "print the report as JSON on stdout")
	if err := parse(fs, args, &f); err != nil {
		return err
	}
	log, err := logging.New(f.Log)
	if err != nil {
		return usageError{err}
	}
	defer log.Sync()
	dir, _ := filepath.Abs(f.data)
	src, err := embedded.Open(embedded.Config{Dir: dir, Partitions: f.partitions, TopicPrefix: f.dataPrefix, Logger: log})
	if errors.Is(err, embedded.ErrPartitionMismatch) || errors.Is(err, embedded.ErrPrefixMismatch) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := cluster.Open(ctx, cluster.Config{Kafka: f.Kafka(), Redis: f.Redis, Cluster: f.cluster,
		TopicPrefix: f.topicPrefix, Partitions: f.partitions, Address: "strata-export", Logger: log})
	if err != nil {
		return err
	}
	defer dst.Close()
	rep, err := exportWithProgress(ctx, src, dst, f.Kafka(), stderr)
	switch {
	case errors.Is(err, export.ErrPartitions):
		return usageError{err}
	case errors.Is(err, export.ErrIncomplete):
		return checkError{err.Error()}
	case err != nil:
		return err
	}
	if f.json {
		return json.NewEncoder(stdout).Encode(rep)
	}
	_, err = fmt.Fprintf(stdout, "exported %d events of %d topics (%d already in Kafka) in %s\n",
		rep.Events, rep.Topics, rep.Skipped, rep.Duration.Round(time.Millisecond))
	return err
}

// exportWithProgress runs the export, printing its progress on stderr every progressEvery.
func exportWithProgress(ctx context.Context, src *embedded.Engine, dst *cluster.Store, seeds []string, stderr io.Writer) (export.Report, error) {
	var done, total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				fmt.Fprintf(stderr, "strata export: %d of %d events\n", done.Load(), total.Load())
			}
		}
	}()
	rep, err := export.Run(ctx, src, dst, seeds, func(d, n int64) { done.Store(d); total.Store(n) })
	close(stop)
	wg.Wait()
	return rep, err
}
