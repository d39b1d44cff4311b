// Package export copies an embedded store into Kafka topics and Redis heads, so that a
// platform started with `strata dev` can move to Kafka + Redis without losing a stream.
//
// # Guarantees
//
//   - Every event topic of the source is copied partition by partition, in offset order,
//     into the cluster topic of the same aggregate type and the same partition. Each record
//     is eventkafka.Encode of the stored event, with the stored record timestamp. Streams
//     keep their versions, event ids and order.
//   - The copy uses an idempotent, non-transactional producer with acks=all. It writes no
//     transaction markers and no duplicates, so while nothing else writes the topics, Kafka
//     offset o holds the source's record at offset o.
//   - Run is resumable: each partition starts at Kafka's end offset. It refuses a topic
//     whose end offset is past the source's, or whose last record is not the source's record
//     at that offset (ErrForeignData): the topic holds data the source does not.
//   - After the copy every partition of the cluster is opened once, which catches the Redis
//     heads up with the log, and every partition's end offset is checked against the
//     source's (ErrIncomplete).
//   - The source and the cluster must have the same partition count (ErrPartitions):
//     a different count would move aggregates between partitions.
//
// Nothing else may write the cluster's event topics during an export: a command server
// writing concurrently breaks the offset correspondence the resume relies on.
package export
