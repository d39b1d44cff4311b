// Package projector runs Strata's projector workers on Kafka + Redis: the built-in
// projections (index, stats, snapshots) and any user projections, each as a consumer group
// so that more instances spread the partitions.
//
// Guarantees (from pkg/projection): every committed event is applied exactly once in effect
// to each projection's read model, across crashes and rebalances; aborted events are never
// applied; bumping a projection's version rebuilds it into a fresh keyspace and switches
// readers over atomically once it has caught up.
//
// It serves /healthz, /readyz (ready once every projection has an active, caught-up
// version) and Prometheus /metrics on its metrics address.
package projector
