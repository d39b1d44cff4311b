// Package command is Strata's command API over HTTP: appending events to streams and
// reading stream heads, on whichever engine the appender runs on.
//
// Guarantees:
//   - POST /v1/streams/{type}/{id}/events accepts the CloudEvents HTTP binding in binary,
//     structured and batch modes; an append is all its events or nothing. 201 means the
//     events are committed durably (the appender's guarantee); the body gives the stream's
//     new version and each event's position.
//   - Every refusal is RFC 9457 problem+json with a stable "code": 400 bad input, 409
//     conflict (with "current_version"), 413 too large, 415 wrong media type, 422 schema,
//     503 unavailable (with Retry-After; nothing was committed, or the outcome is unknown and
//     a retry with the same event ids is safe). Bad input writes nothing.
//   - /healthz answers while the process runs; /readyz only while the appender is open and
//     owns its partitions; /metrics serves Prometheus metrics from the registry passed in.
package command
