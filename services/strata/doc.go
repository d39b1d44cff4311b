// Command strata is Strata's one binary. Its subcommands run one role each (command,
// projector, replay) on Kafka + Redis, or the whole platform in one process on the embedded
// engine (dev). main.go only dispatches; each subcommand has its own file, parses its flags
// with pkg/config (flags > STRATA_* env > config file > defaults), validates its Config
// before it starts anything, and exits with a meaningful code:
//
//	0  success
//	1  runtime failure (a server stopped with an error)
//	2  usage or configuration error (bad flag, bad config, invalid value)
//	3  a check failed (health: the endpoint was not healthy)
package main
