// Package history checks the histories of clients appending to Strata, Jepsen style, for
// tests that race or fault the append path: each client records its operations (Op: call
// and return times, what it sent, what it was answered), then the checkers compare them
// with the log as a plain read_committed Kafka consumer reads it.
//
// What it guarantees to check:
//   - CheckLog: I1 on the log — every stream lives in its topic and partition, its versions
//     are exactly 1..n in partition order, no (source, id) is stored twice, every record is
//     a valid Strata CloudEvent.
//   - CheckAnswers: every acknowledged append is stored whole at the answered versions and
//     positions (I3); a conflict or an "unavailable" stored nothing; an append whose outcome
//     is unknown is stored whole or not at all; nothing in the log was never sent.
//   - CheckLinearizable: per stream, the answers are linearizable (I2) under a porcupine
//     model whose state is the version; appends with unknown outcomes may or may not have
//     taken effect.
//
// It is test support: the checkers report through testing.TB.
package history
