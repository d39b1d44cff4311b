// Package replay is the analysts' replay: it reads one event topic (an aggregate type's
// "<prefix>.<type>.events", or any topic of CloudEvents in the Kafka binding) from a start
// to an end fixed when the replay begins, filters the events, and writes them to a sink:
// JSON Lines, CSV, Parquet, or a sandbox read model folded with a reducer.
//
// # Sources
//
// A Source is a log with Kafka's shape. KafkaSource reads Kafka with franz-go and delivers
// what a read_committed consumer delivers (committed records in offset order), settling
// transactions itself from the markers of a read_uncommitted fetch so that it sees every
// offset and ends each partition exactly (a read_committed consumer shows nothing at the
// end when the last records before it were aborted); EmbeddedSource reads the embedded
// engine (pkg/embedded), whose every stored record is committed. Records are decoded with pkg/eventkafka (Kafka) or the engine's own
// decoder (embedded); control records (transaction markers) and aborted records are never
// events. A record that is not a valid CloudEvent stops the replay with an error naming its
// position: a replay does not skip data silently.
//
// # Start and end
//
// Each partition starts at the first offset still in the log (default), at an offset (the
// same for every partition, or per partition; partitions not listed are then not read;
// an offset below the log's start begins at the start, one past the end reads nothing), or
// at a time: the first offset whose record timestamp is at or after it (Kafka's
// offsets-for-times, kadm ListOffsetsAfterMilli; on the embedded engine a scan of the
// partition, Engine.OffsetAfterTime, because record timestamps there need not grow with
// offsets). The end of every partition is fixed before the first record is read: Kafka's
// last stable offset (kadm ListCommittedOffsets), the embedded engine's end offset, or,
// with an end time, the first offset at or after that time if it comes earlier. Appends
// that land during the replay are past the end, so a replay always terminates. Records that
// retention deletes while a replay runs are not replayed: the Kafka consumer goes on from the
// log's new start, and a partition whose log now starts at or past its end is done.
//
// # Event time and record timestamps
//
// Two clocks describe an event, and they are different things:
//
//   - The record timestamp is the Kafka record's timestamp. On Kafka + Redis, Strata's
//     command service produces events without setting one, so the producer stamps the
//     append time (CreateTime at the transactional producer): it grows with offsets in a
//     partition, up to clock steps between command instances. On the embedded engine, the
//     record timestamp is the event's time attribute when it has one, else the commit time
//     (see pkg/embedded), so it is the producer's claim and may go backwards.
//   - The event's time attribute is the producing application's claim of when the event
//     happened. Strata validates its format, never its value.
//
// Positions use record timestamps: a start time or end time selects offsets with
// offsets-for-times, which only Kafka's time index can answer quickly. Filters use event
// time: Filter.TimeFrom/TimeTo keep events whose time attribute is in the range, falling back
// to the record timestamp for events without one. So "what was appended between t1 and t2"
// is a start and end time, and "what happened between t1 and t2 by the producers' clocks" is
// a time filter (over a wide enough slice of the log).
//
// # Sinks
//
// JSON Lines: one event per line in the CloudEvents JSON event format, written by
// pkg/eventhttp's structured-mode encoder (data inline when it reads back as the same bytes,
// else data_base64). CSV: the fixed columns of CSVHeader. Parquet: the columns of ParquetRow
// with Parquet types. Sandbox: one document per aggregate in a fresh read-model keyspace.
//
// # Resume
//
// With Config.StatePath, Run keeps a state file (JSON, replaced atomically by write, fsync,
// rename): the topic, the output, the output's length at the last flush and, per partition,
// the next offset and the fixed end. The sink is flushed and fsynced before the state is
// saved, so the state never claims more than the output holds. A resumed replay cuts a
// JSON Lines or CSV file back to the recorded length (dropping rows written after the last
// flush) and appends, so its output equals one uninterrupted run, no row twice. A sandbox
// commits its documents with per-partition checkpoints and skips events at or below each
// document's version, so a resume has no second effect either. Parquet output cannot be
// resumed: a Parquet file is readable only once its footer is written, and appending to it
// would mean rewriting it; CreateFile refuses (ErrReplayState), rerun the replay instead.
// Output to a stream (standard output) cannot be resumed either.
//
// # Guarantees
//
//   - Within a partition, events are written in offset order; partitions may interleave.
//   - Every committed record in [start, end) of every partition is read exactly once per
//     run; a resumed run reads each offset not yet flushed, and output holds each event once.
//   - Run returns only after the sink was flushed (also when ctx ends), and never claims in
//     the state file what the sink has not flushed.
//   - Run calls the sink from its own goroutine only. KafkaSource.Read decodes batches of
//     records on a few goroutines it waits for before it delivers them (decoding is most of
//     a Kafka replay's CPU), and closes its consumer before it returns.
package replay
