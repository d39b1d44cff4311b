// Package projectiontest is the conformance suite of the read side (invariant I5): one set
// of tests that every engine runs unchanged — the embedded engine in-process
// (projection.RunLocal over embedded.Engine as log and read-model store) and Kafka + Redis
// on the real rig (projection.Runner over RedisStore).
//
// The projection under test has no guard of its own: per stream it stores the last version
// it applied and flags any event that is not exactly the next version. So an event applied
// twice, skipped or out of order shows up, and only the runtime's atomic, checkpointed
// batches can make it pass. The suite checks:
//
//   - every committed event is applied exactly once in effect, while appends flow, across
//     projector restarts at random points inside batches (a handler error and a cancelled
//     context, neither of which may commit half a batch);
//   - with a consumer group (Engine.Rebalance), the same across rebalances between two
//     workers of one projection;
//   - events of an aborted transaction are never applied (Engine.ProduceAborted);
//   - a rebuild into a new version switches readers over only with a complete model, and
//     readers see the complete old model until then.
package projectiontest
