// Package client is the Go client of Strata's HTTP API: append events to a stream, load an
// aggregate, read a stream, and subscribe to live events.
//
// Guarantees:
//   - Append sends the events as one CloudEvents batch: they commit together or not at
//     all. A refusal is a *ProblemError (the server's RFC 9457 problem, with its stable
//     code); a version conflict is a *ConflictError carrying the stream's current version.
//     errors.As finds both through any wrapping.
//   - AppendWithRetry loads the aggregate, asks the caller's decide function for the
//     events, and appends them expecting the loaded version; on a conflict it loads again
//     and decides again, up to the attempts given. So a decision is always made on the
//     state it is appended after.
//   - Load returns the aggregate's state and version: the server's snapshot plus tail
//     fold (GET .../state), then any events appended since (GET .../events) folded on the
//     client with the same reducer (JSON merge patch unless the caller gives its own).
//     Reads include every append acknowledged before them (the server's read-your-writes).
//   - Subscribe follows GET /v1/tail and reconnects by itself after a dropped connection,
//     sending the last SSE id it received as Last-Event-ID, so the callback sees every
//     event once, with no loss and no repeat, in partition order.
package client
