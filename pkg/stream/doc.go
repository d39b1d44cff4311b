// Package stream holds the rules of streams that every engine shares: how a stream is named,
// how an expected version is written and checked, what a stream head records, and which
// partition an aggregate lives in.
//
// Guarantees:
//   - Check(expected, current) is the single definition of optimistic concurrency: a number
//     n passes only when the stream's committed version is exactly n (0 = the stream must not
//     exist yet); Any always passes; Exists passes when the stream has at least one event.
//     A failed check is a *ConflictError that carries the stream, the expectation and the
//     current version.
//   - PartitionFor(aggregateID, p) is Kafka's own default partitioner for keyed records
//     (murmur2 of the key, positive, modulo the partition count), so Strata's routing, its
//     heads and any other Kafka producer agree on where an aggregate lives.
//   - A Head keeps the (source, id) of its most recent events, RecentWindow of them, which
//     is what makes retried appends idempotent (invariant I4) within that window.
package stream
