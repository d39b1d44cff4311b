// Package logging builds the zap loggers Strata's components use: JSON lines in production,
// a coloured console format in development. Components receive a *zap.Logger; nothing in
// Strata logs through a global logger.
package logging
