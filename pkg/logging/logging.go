package logging

import (
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Format names an output format.
const (
	FormatJSON    = "json"
	FormatConsole = "console"
)

// Config selects a logger's format and level.
type Config struct {
	Format string // "json" (production) or "console" (development)
	Level  string // debug, info, warn, error
}

// Validate reports a format or level zap does not know.
func (c Config) Validate() error {
	if c.Format != FormatJSON && c.Format != FormatConsole {
		return fmt.Errorf("log format %q: want %q or %q", c.Format, FormatJSON, FormatConsole)
	}
	if _, err := zapcore.ParseLevel(c.Level); err != nil {
		return fmt.Errorf("log level %q: want debug, info, warn or error", c.Level)
	}
	return nil
}

// New returns a logger writing to stderr.
func New(c Config) (*zap.Logger, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	level, _ := zapcore.ParseLevel(c.Level)
	var zc zap.Config
	if c.Format == FormatJSON {
		zc = zap.NewProductionConfig()
	} else {
		zc = zap.NewDevelopmentConfig()
		zc.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
		zc.DisableStacktrace = true
	}
	zc.Level = zap.NewAtomicLevelAt(level)
	zc.OutputPaths = []string{"stderr"}
	zc.ErrorOutputPaths = []string{"stderr"}
	return zc.Build()
}
