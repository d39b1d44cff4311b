// Package schema checks event data against JSON Schemas at the door, before an append is
// accepted.
//
// Schemas live in the repository's schemas/ folder, one folder per aggregate type and one
// file per event type and version: schemas/<aggregatetype>/<event type>.v<N>.json, e.g.
// schemas/order/com.example.order.placed.v1.json (see schemas/README.md). An event's
// CloudEvents type selects the schema; its dataschema, when set, selects the version.
//
// Guarantees:
//   - Load compiles every schema before it returns. A Registry never holds a file that broke
//     the layout rule or failed to compile: either is a start-up error naming the file, and
//     Load reports all of them at once. A $ref never leaves its file: no network, no disk.
//     Schemas without $schema are draft 2020-12; "format" is asserted (a "date-time" must be
//     one), content keywords are annotations only.
//   - Version selection: without dataschema, the highest version of the type. With one, the
//     version whose $id equals it exactly, else the N of a ".v<N>.json" ending of its path.
//     A dataschema that selects nothing is refused (CodeUnknownDataSchema), whatever
//     Config.Require says. A schema's $id is absolute, unique in the folder, and agrees with
//     the file's version when it ends in ".v<N>.json".
//   - An event whose type has a schema is accepted only if its data is UTF-8 JSON, with no
//     object repeating a member name and no number beyond 100 digits or an exponent beyond
//     ±400 (exact arithmetic on such numbers would let one event stall the validator), that
//     satisfies the selected schema. An event without
//     data is checked as JSON null: a schema that allows no data says so with
//     "type": ["object", "null"] or similar. Data whose datacontenttype is not JSON
//     (absent, application/json, text/json or a "+json" suffix) is refused.
//   - An event whose type has no schema is accepted when Config.Require is off, and refused
//     with CodeUnknownType when it is on; the error names the file to add.
//   - Every refusal is a *ViolationError (CodeSchemaViolation, listing every failure with
//     the JSON pointer of the value at fault, sorted) or a *MissingSchemaError; both match
//     ErrRejected with errors.Is, and CodeOf returns their code. Codes never change meaning.
//   - A Registry is immutable after Load and safe for concurrent use; Check's answer depends
//     only on the registry and the event. Schemas are compiled once, at Load. Check finds
//     the schema with one map lookup and decodes the data once; beyond that it allocates
//     only what the validator needs, and the error when it refuses.
package schema
