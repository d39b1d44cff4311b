// Package config loads a component's settings with one precedence everywhere: command-line
// flags, then STRATA_* environment variables, then a config file, then the defaults the
// flags were declared with.
//
// A flag named "log-format" is read from STRATA_LOG_FORMAT in the environment and from the
// key "log-format" in a config file. The file is named by --config (or STRATA_CONFIG); it is
// JSON when it starts with '{', otherwise plain "name value" lines with '#' comments. A key
// the component does not define is an error, as is a config file that cannot be read, so a
// typo never silently falls back to a default.
//
// Parse only fills flag values; each component's Config struct says what the values mean and
// checks them in its Validate method, which callers run before starting anything.
package config
