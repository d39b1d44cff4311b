package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/strata-platform/strata/pkg/config"
	"github.com/strata-platform/strata/pkg/logging"
)

// common holds the settings every role shares.
type common struct {
	Log logging.Config
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.Log.Format, "log-format", logging.FormatJSON, "log format: json or console")
	fs.StringVar(&c.Log.Level, "log-level", "info", "log level: debug, info, warn, error")
}

// distributed holds the addresses of Kafka and Redis.
type distributed struct {
	common
	kafka string
	Redis string
}

func (d *distributed) register(fs *flag.FlagSet) {
	d.common.register(fs)
	fs.StringVar(&d.kafka, "kafka", "", "Kafka seed brokers, comma-separated (env STRATA_KAFKA)")
	fs.StringVar(&d.Redis, "redis", "", "Redis address host:port (env STRATA_REDIS)")
}

// Kafka returns the seed brokers.
func (d *distributed) Kafka() []string { return config.SplitList(d.kafka) }

// Validate reports missing or malformed addresses.
func (d *distributed) Validate() error {
	if len(d.Kafka()) == 0 {
		return errors.New("--kafka (or STRATA_KAFKA) is required: a comma-separated list of host:port seed brokers")
	}
	if d.Redis == "" {
		return errors.New("--redis (or STRATA_REDIS) is required: host:port")
	}
	return d.Log.Validate()
}

// parse fills fs from args/env/config file and validates v.
func parse(fs *flag.FlagSet, args []string, v config.Validator) error {
	if err := config.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %q", fs.Args())}
	}
	if err := v.Validate(); err != nil {
		return usageError{err}
	}
	return nil
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("strata "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
