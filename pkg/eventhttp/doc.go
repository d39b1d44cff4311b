// Package eventhttp is Strata's CloudEvents HTTP protocol binding: it decodes the events in
// an append request and encodes events into requests and responses, in the three modes of
// the binding. It is built on sdk-go's binding and protocol/http packages, with checks
// around them where sdk-go would otherwise lose information silently.
//
// Decode picks the mode from Content-Type alone: application/cloudevents+json is one event
// in structured mode, application/cloudevents-batch+json is a batch (a JSON array of 1 to
// Limits.MaxEvents events), and any other request that has a ce-specversion header is one
// event in binary mode (ce-* headers, Content-Type as datacontenttype, the body as data).
// Other application/cloudevents formats, and requests that are none of these, are refused
// with 415. Decode reads at most Limits.MaxBodyBytes of the body, counting as
// http.MaxBytesReader does; a server that wants the connection closed after an oversized
// body should also wrap r.Body with http.MaxBytesReader itself.
//
// Guarantees:
//   - Every event Decode returns passes event.Validate with Limits.Event. Decode does not
//     check Strata's extensions: the server stamps them after deciding the version.
//   - Every refusal is a *DecodeError with an HTTP status and a stable code (errors.go).
//     Problems with one event's envelope wrap the *event.ValidationError, which errors.As
//     finds, carry its code, and name the event's index in the request; the size codes map
//     to 413, the others to 400.
//   - Decode does not depend on the order of JSON members, treats a JSON null as an absent
//     attribute, and refuses what sdk-go would accept by changing it: duplicate members,
//     upper-case extension names (sdk-go folds them), extension numbers that are not
//     Integers (sdk-go truncates them), attributes it would trim or drop, and a body that is
//     not UTF-8. Binary-mode header values are percent-decoded, as the binding requires.
//   - Data keeps its bytes: JSON data (no datacontenttype, or */json, */*+json) is the JSON
//     value's own bytes, other data is the string's contents, data_base64 and a binary-mode
//     body are the bytes themselves.
//   - The encoders refuse an event that event.Validate refuses (sizes aside) and write
//     nothing then. Whatever they write, Decode reads back as the same event: the same
//     attributes and data bytes, with extension values in their canonical string form in
//     binary mode. Data goes inline in the JSON modes only where it reads back as the same
//     bytes; otherwise it goes as data_base64. Binary-mode header values are
//     percent-encoded.
//   - NewStructuredRequest, NewBatchRequest and NewBinaryRequest build the requests Decode
//     reads, so that tests and Go clients can produce each mode.
package eventhttp
