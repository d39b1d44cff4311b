// Package event defines Strata's event envelope: a CloudEvent 1.0 (sdk-go's event.Event) that
// carries Strata's extension attributes aggregatetype, aggregateid, aggregateversion and
// partitionkey.
//
// Guarantees:
//   - Validate accepts an event only if it is a well-formed CloudEvent 1.0 (id, source, type,
//     specversion present and well-formed; optional attributes well-formed when present),
//     its extension names follow the CloudEvents naming rule (lower-case ASCII letters and
//     digits, at most 20 characters), its sizes are within the configured Limits, and, for
//     ValidateStrata, its Strata extensions are present, typed and mutually consistent.
//   - Validate also refuses what would make an event read differently depending on the
//     binding it travelled through: attribute strings that are not UTF-8 or hold control
//     characters or noncharacters (the CloudEvents String rule), white space at the edges
//     of id, type, subject and datacontenttype (sdk-go trims those when it sets them), a
//     source or dataschema that does not print back as itself, a time outside years
//     0-9999, and extensions named like a context attribute or "data".
//   - aggregateversion is read strictly: an Integer, or the string form of one ("7", not
//     "7.0", "7e0" or "+7"), never truncated; Stamp never wraps a version into int32.
//   - Every refusal is a *ValidationError with a stable Code (see errors.go) naming the
//     attribute at fault; callers branch on the code with errors.As, never on text.
//   - Stamp sets the Strata extensions in their canonical types (strings, and an Integer
//     for aggregateversion), so an event reads the same whether it came from JSON, HTTP
//     headers or Kafka headers (where every value is a string).
//
// Stream naming rules (aggregate type and id) live here too, since they are part of what
// makes an envelope valid and they decide topic names.
package event
