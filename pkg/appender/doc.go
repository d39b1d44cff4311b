// Package appender is Strata's append pipeline: it turns append requests (events for one
// stream under an expected version) into group commits on a Store, one writer per partition.
//
// Guarantees, for any Store that keeps the Store contract (store.go):
//   - I1/I2: appends to one stream are serialised by its partition's single writer and checked
//     against the committed head, in arrival order, including appends accepted earlier in the
//     same group; committed versions are 1..n with no gap or duplicate; a failed expectation
//     is a *stream.ConflictError carrying the version that was current.
//   - All events of one append are committed in one Store commit, so they become visible
//     together or not at all; one append's bad input never affects another (it is refused
//     before it joins a group).
//   - I3: an append is answered as committed only after the Store's Commit returned, which
//     for each engine means durable (Kafka acks=all transaction committed; embedded: fsync).
//     On a Pipelined partition (embedded) the writer applies the next group while earlier
//     ones wait for their fsync, and every answer of a group, of any kind, is given only
//     after that group (and so every group before it) is durable.
//   - I4: an append whose first event's (source, id) is among the stream's last
//     stream.RecentWindow events is a retry: it writes nothing and gets the original version
//     and positions; if only some of its events match, it is refused (ErrPartialRetry).
//   - When a commit's outcome is unknown, no affected append is answered until the Store has
//     recovered its heads from the log; each is then answered from what the log holds.
//
// The writer's comment in writer.go states the steps of a group commit and its invariants.
package appender
