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
	// DefaultDiskReserve is the free space Config.DiskReserve keeps by default: room for
	// pebble to rotate its WAL, flush a memtable (4 MiB) and compact while appends are refused.
	DefaultDiskReserve = 64 << 20
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
	// DiskReserve is the free space, in bytes, that writes leave on the data folder's file
	// system: an append or read-model commit that would leave less fails with ErrDiskFull
	// before pebble writes anything. Pebble cannot survive a failed WAL write (see doc.go),
	// so the reserve is what keeps a filling disk from ending the process. Default
	// DefaultDiskReserve; negative turns the check off.
	DiskReserve int64
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
	if c.DiskReserve == 0 {
		c.DiskReserve = DefaultDiskReserve
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
