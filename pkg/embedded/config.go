package embedded

import (
	"errors"
	"fmt"
	"regexp"

	"go.uber.org/zap"
)

// Defaults of Config.
const (
	DefaultPartitions  = 8
	DefaultTopicPrefix = "strata"
	// MaxPartitions bounds Config.Partitions; Kafka topics rarely have more.
	MaxPartitions = 4096
)

// A topic prefix uses Kafka's topic characters and leaves room for ".<type>.events" with a
// 63-character type under Kafka's 249-character topic limit.
var prefixRe = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,170}$`)

// Config configures an Engine.
type Config struct {
	// Dir is the data folder. It is created if missing. Required.
	Dir string
	// Partitions is the partition count P of every event topic, fixed when the data folder
	// is created; opening it later with another count is refused. Default 8.
	Partitions int
	// TopicPrefix names event topics "<prefix>.<type>.events", fixed at creation like
	// Partitions. Default "strata".
	TopicPrefix string
	// Logger receives the engine's and pebble's messages. Default: no logging.
	Logger *zap.Logger
}

func (c Config) withDefaults() Config {
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = DefaultTopicPrefix
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// Validate reports a configuration Open would refuse. Zero fields take their defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Dir == "" {
		return errors.New("embedded: Dir is required")
	}
	if c.Partitions < 1 || c.Partitions > MaxPartitions {
		return fmt.Errorf("embedded: Partitions %d: want 1..%d", c.Partitions, MaxPartitions)
	}
	if !prefixRe.MatchString(c.TopicPrefix) {
		return fmt.Errorf("embedded: TopicPrefix %q must match %s", c.TopicPrefix, prefixRe)
	}
	return nil
}
