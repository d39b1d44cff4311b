// Package testrig gives tests the addresses of a real Apache Kafka broker and a real Redis.
//
// It takes them from STRATA_KAFKA and STRATA_REDIS when those are set; otherwise it runs the
// repository's scripts/infra up (once per test process), which provisions and starts both
// on 127.0.0.1 or finds them already running. Before returning it waits until every broker
// answers a metadata request and Redis answers PING, so a test never races the rig's start.
//
// The rig outlives the test process on purpose (starting a broker costs seconds); the
// README's test command stops it, and scripts/infra down stops it by hand.
//
// Tests that need the rig are skipped under -short, and only then: a rig that cannot start
// fails the test with the script's output.
package testrig
