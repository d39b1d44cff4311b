// Package eventkafka is the CloudEvents Kafka protocol binding for Strata's events over
// franz-go records (*kgo.Record). Encode writes binary content mode; Decode reads binary
// content mode and, for records other producers wrote, structured content mode in the JSON
// event format.
//
// # Record layout
//
// Encode writes an event as one record (docs/formats/kafka-record.md shows a sample byte
// for byte):
//
//	key      the partitionkey extension's value (= the aggregate id), as UTF-8 bytes;
//	         no key when the event has no partitionkey
//	headers  ce_specversion, ce_id, ce_source, ce_type, then one ce_<name> header for every
//	         other attribute that is set (subject, dataschema, time and every extension),
//	         sorted by name; then content-type = datacontenttype, when set
//	value    the data bytes as they are; no value (null) when the event has no data
//
// Header values are the attributes' canonical CloudEvents string forms, in UTF-8: a String
// as it is, an Integer in decimal, a Boolean as true or false, Binary in base64, a URI as
// written, and time in RFC 3339, in UTC, with as many fractional digits as the nanoseconds
// need (types.FormatTime). The record's partition and timestamp are left to the producer.
//
// # Guarantees
//
//   - Encode is deterministic: equal events give byte-identical records, whatever the order
//     of the event's extension map.
//   - Encode refuses an event event.Validate refuses, with that *event.ValidationError, and an
//     event a record cannot carry faithfully (a value that is not UTF-8, a datacontenttype
//     that names a CloudEvents event format, an extension named data) with an *Error.
//   - Decode(Encode(e)) is e: every attribute has the same canonical string form (time is the
//     same instant to the nanosecond, now in UTC) and data the same bytes. Extension values
//     come back as Strings, the only type a header carries; event.AggregateVersion reads
//     "7" as 7.
//   - Decode accepts a record only if it yields an event that event.Validate accepts, and
//     returns Validate's *event.ValidationError unchanged otherwise. Strata's own rules
//     (event.ValidateStrata) are the caller's to apply. Every other refusal is an *Error
//     with a stable Code (errors.go): a record without ce_specversion that is not a
//     structured-mode event is not_a_cloudevent; two headers for one attribute are
//     duplicate_header; names or values that are not UTF-8 are invalid_header; a value that
//     does not parse as its attribute's type is invalid_attribute_value.
//   - Decode reads header names case-insensitively (ASCII letters only), ignores headers that
//     are neither ce_ headers nor content-type, treats an empty value like no value, and,
//     when the record has a UTF-8 key and the event no partitionkey, sets partitionkey to the
//     key. A ce_partitionkey header wins over a key that differs from it.
//   - Every event Decode accepts, Encode accepts, and the record it writes decodes to the
//     same event (FuzzDecode checks this).
//   - Neither direction copies data: a record's value and the event's data share bytes, and
//     neither may be modified afterwards.
//   - A Decoder answers exactly as Decode for every record: the same event (reflect.DeepEqual)
//     or the same error (FuzzDecoder checks this). It reads Strata's own binary-mode records
//     about ten times faster, without the generic path, and hands every other record to
//     Decode. It keeps small caches, so each goroutine needs its own.
//   - Decoder.Fields accepts only records its fast path accepts, and for those returns the
//     Strata extensions and data of the event Decode would return (FuzzDecoder checks this),
//     without building the event.
package eventkafka
