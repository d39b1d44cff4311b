// Package appendertest is the conformance suite of the append path: one set of tests that
// every engine behind appender.Store must pass unchanged (the embedded engine in-process,
// Kafka + Redis on the real rig).
//
// It checks invariants I1–I4 end to end through the appender pipeline and then reads the
// engine's log back (Harness.Log) to compare what was acknowledged with what is stored:
// per stream, versions exactly 1..n in log order; every acknowledged append present, whole
// and contiguous; conflicts carrying the current version; retries writing nothing; and
// everything surviving a close and reopen of the engine.
package appendertest
