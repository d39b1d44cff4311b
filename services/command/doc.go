// Package command is Strata's command API over HTTP: appending events to streams, reading
// stream heads, and (read.go, over a query.Reader) reading streams, states, topic slices
// and live tails, on whichever engine the appender runs on.
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
//   - GET .../events, .../state and /v1/types/{type}/events answer what pkg/query
//     guarantees (read your writes, or 503 unavailable, never a stale list); bad
//     parameters are 400 invalid_parameter, a state past the head 404 version_not_found.
//     GET /v1/tail is Server-Sent Events whose ids are tail cursors: reconnecting with
//     Last-Event-ID loses and repeats nothing. Tails end when the server shuts down
//     (EndTails).
//   - /healthz answers while the process runs; /readyz only while the appender is open and
//     owns its partitions; /metrics serves Prometheus metrics from the registry passed in.
package command
