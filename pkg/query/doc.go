// Package query is Strata's read side over either engine: a stream's events by version, an
// aggregate's state at a version or a time, a slice of a type's topic, and a live tail.
//
// It is built on three small ports defined here: Log (records of one topic partition by
// offset; adapters KafkaLog, with direct read_committed Fetch requests to the partition
// leader, and EngineLog over the embedded engine), Models (the active version of the
// built-in index and snapshots projections; RedisModels, StoreModels) and Heads (the
// committed head of a stream; *appender.Appender).
//
// Guarantees:
//   - Streams are read by position, never by scanning a partition. The index projection
//     gives version → position; the records at those offsets are fetched one record batch
//     at a time (Kafka) or one run of consecutive offsets at a time (embedded), so a read
//     touches records in proportion to the stream, not to the partition. Every fetched
//     record is checked to be the stream's event at the expected version.
//   - Read your writes: a read first takes the stream's committed head, which reflects
//     every append acknowledged before the call. The newest stream.RecentWindow versions
//     come with their positions in the head and need no index. Older versions wait for the
//     index (its idxhead key) to reach them, polling for up to Config.CatchUp; if it does
//     not, the read fails with ErrUnavailable (HTTP 503), never with a shorter list.
//   - State at a version folds the newest snapshot at or before it (the snapshots
//     projection keeps only the newest; one past the wanted version is not used and the
//     fold starts from the first event) plus the events after it, with the type's reducer
//     (Config.Reducers, JSON merge patch by default). A snapshot is read from the active
//     version of the projection, so a rebuild never mixes two versions.
//   - State at a time T: the events of the stream are folded in version order while their
//     event time is at or before T; the first event after T ends the fold. The event time
//     is the CloudEvents time attribute when the producer set it, else the record timestamp.
//     On Kafka the record timestamp is the producer's create time at the append (Strata
//     does not copy the event's time into it); on the embedded engine it is the event's
//     time, else the commit time. Both rise with versions when producers leave time unset
//     or set it in order; for streams whose event times go backwards, the state at T is
//     that of the last version before the first event stamped after T. A snapshot is used
//     for T only when the event it was taken at is at or before T.
//   - A topic slice from a time starts at the first offset whose record timestamp is at or
//     after it (Kafka's offsets-for-times; on the embedded engine a scan of the partition,
//     whose record timestamps need not rise).
//   - A tail delivers, per partition in offset order, every committed event after its
//     start cursor exactly once. The cursor handed out with each event (the SSE id) names
//     the next offset of every partition of every type tailed, so resuming from it loses
//     and repeats nothing; a type it does not name is read from its first record, so
//     topics created during a tail are read whole. A tail finds new topics within
//     TailRequest.Discover (250ms).
package query
