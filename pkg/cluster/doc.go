// Package cluster is Strata's distributed engine: events in partitioned Kafka topics, stream
// heads in Redis, and the Kafka group through which command instances share the partitions.
// Store implements appender.Store; docs/formats/redis.md gives the Redis key layout and the
// contract of every Lua script, docs/architecture.md the ownership protocol.
//
// Guarantees:
//   - Topics: event topics are <prefix>.<type>.events with the platform's P partitions,
//     cleanup.policy=delete and infinite retention; Open refuses to run against an event
//     topic whose partition count, retention or cleanup policy differs, saying why. An event
//     goes to the partition of its aggregate id (stream.PartitionFor), keyed by that id.
//   - One writer per partition, fenced: opening partition p initialises the transactional
//     producer <cluster>-p<p> (which fences every earlier producer of p in Kafka) and then
//     claims p in Redis under a new owner epoch. Every heads script checks the Redis
//     generation and that epoch, so a superseded owner can change neither Kafka nor Redis;
//     Confirm tells a writer whether it still owns p.
//   - Atomic, durable commits: a group is one Kafka transaction (idempotent, acks=all), so a
//     read_committed consumer sees all of it or none of it. Heads are written after the
//     transaction, in order, each write a compare-and-set on the prior version; they never
//     run ahead of the log. A failed heads write changes no answer: the heads are caught up
//     from the log before the partition answers from them again.
//   - Unknown outcomes: a commit whose outcome is unknown returns an error wrapping
//     appender.ErrUncertain: a failed produce or EndTxn, and a transaction the client ended
//     without sending an EndTxn commit (txnLog: franz-go may turn a commit into an abort
//     and return nil; when that abort is known to have succeeded, the group is written once
//     more instead). A group is answered as committed only after that request. Recover re-initialises the producer (fencing the open
//     transaction) and catches the heads up to the last stable offset, past this owner's
//     last commit, so the heads say what the log holds.
//   - Redis loss: a head read or commit that finds the generation changed (Redis flushed or
//     restarted empty) re-opens the partition and rebuilds its heads from the log first; a
//     missing head is never taken for version 0 under a changed generation.
//   - Membership (RunMembership): instances of one cluster join the Kafka group
//     <cluster>-command over the control topic <cluster>.control, whose partition p stands
//     for partition p of every event topic; an assignment acquires p, a revocation or loss
//     releases it (the appender stops writing p before the release returns).
package cluster
