"""The Python side of pkg/eventkafka's TestKafka_PythonInterop.

Reads or writes CloudEvents on a real Kafka topic with the CloudEvents Python SDK's Kafka
binding (cloudevents.core.bindings.kafka, binary content mode) and confluent-kafka:

  interop.py read  --bootstrap HOST:PORT --topic T --count N [--timeout SECONDS]
      consume T from the beginning, read_committed, until N records are read; decode each
      with from_binary and print it.
  interop.py write --bootstrap HOST:PORT --topic T --count N --seed S
      build N varied events with the SDK, turn each into a record with to_binary, produce
      them (idempotent, acks=all, Kafka's murmur2 partitioner) and print each event written.

Every event is printed as one JSON object per line on stdout:
  {"attributes": {name: value}, "data_type": "<python type of the SDK's data>",
   "data_base64": "<base64>" or null, "key": "<record key>" or null}
Attribute values keep the SDK's Python type (str, int, bool), except time, printed in RFC 3339
as datetime.isoformat() renders it with "+00:00" written "Z". data_base64 holds the bytes for
bytes, the UTF-8 bytes for str, and compact JSON for anything the SDK parsed as JSON.
"""

import argparse
import base64
import json
import random
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

from cloudevents.core.bindings import kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition


def rfc3339(t):
    s = t.isoformat()
    return s[:-6] + "Z" if s.endswith("+00:00") else s


def describe(event, key):
    attrs = {}
    for name, value in event.get_attributes().items():
        if isinstance(value, datetime):
            attrs[name] = rfc3339(value)
        elif isinstance(value, (str, int, bool)):
            attrs[name] = value
        else:
            attrs[name] = str(value)
    data = event.get_data()
    if data is None:
        raw = None
    elif isinstance(data, (bytes, bytearray)):
        raw = bytes(data)
    elif isinstance(data, str):
        raw = data.encode("utf-8")
    else:
        raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if isinstance(key, bytes):
        key = key.decode("utf-8")
    return {
        "attributes": attrs,
        "data_type": type(data).__name__,
        "data_base64": None if raw is None else base64.b64encode(raw).decode("ascii"),
        "key": key,
    }


def read(args):
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": "strata-interop-" + uuid.uuid4().hex,
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    })
    meta = consumer.list_topics(args.topic, timeout=30)
    partitions = sorted(meta.topics[args.topic].partitions)
    consumer.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in partitions])
    deadline = time.monotonic() + args.timeout
    seen = 0
    while seen < args.count:
        if time.monotonic() > deadline:
            sys.exit(f"read {seen} of {args.count} records before the timeout")
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            sys.exit(f"consume: {msg.error()}")
        headers = {}
        for name, value in msg.headers() or []:
            if name in headers:
                sys.exit(f"record {msg.partition()}@{msg.offset()}: duplicate header {name}")
            headers[name] = value or b""
        message = kafka.KafkaMessage(headers=headers, key=msg.key(), value=msg.value() or b"")
        event = kafka.from_binary(message, JSONFormat())
        print(json.dumps(describe(event, msg.key())))
        seen += 1
    consumer.close()


def build(rng, i, versions):
    agg_type = rng.choice(["order", "customer"])
    agg_id = f"py-{agg_type[0]}{rng.randrange(40)}"
    versions[agg_id] = versions.get(agg_id, 0) + 1
    base = datetime(2025, 6, 1, 12, 0, 0, tzinfo=timezone.utc) + timedelta(seconds=i)
    when = rng.choice([
        base,
        base + timedelta(microseconds=rng.randrange(1, 1_000_000)),
        (base + timedelta(microseconds=rng.randrange(1_000_000))).astimezone(timezone(timedelta(hours=2))),
    ])
    attrs = {
        "id": f"py-{i}-{rng.getrandbits(32):08x}",
        "source": rng.choice(["/python/" + agg_type, "urn:example:python", "https://py.example.com/x?y=1"]),
        "type": f"com.example.{agg_type}.{rng.choice(['created', 'updated'])}",
        "time": when,
        "aggregatetype": agg_type,
        "aggregateid": agg_id,
        "aggregateversion": versions[agg_id],
        "partitionkey": agg_id,
    }
    if rng.random() < 0.5:
        attrs["subject"] = rng.choice(["line/7", "zürich/☃", "a b"])
    if rng.random() < 0.3:
        attrs["dataschema"] = f"https://schemas.example.com/{agg_type}/v1.json"
    if rng.random() < 0.4:
        attrs["tenant"] = f"t-{rng.randrange(5)}"
    if rng.random() < 0.2:
        attrs["replayed"] = rng.random() < 0.5
    if rng.random() < 0.2:
        attrs["priority"] = rng.randrange(10)
    return CloudEvent(attrs, data_for(rng, i, attrs))


def data_for(rng, i, attrs):
    kind = rng.randrange(6)
    if kind == 0:
        attrs["datacontenttype"] = "application/json"
        return {"n": i, "note": "x" * rng.randrange(2000), "items": [1, 2.5, None, True], "ü": "☃"}
    if kind == 1:  # JSON without a datacontenttype
        return {"n": i, "nested": {"k": "v"}}
    if kind == 2:
        attrs["datacontenttype"] = "application/octet-stream"
        return bytes(rng.getrandbits(8) for _ in range(1 + rng.randrange(4096)))
    if kind == 3:
        attrs["datacontenttype"] = "text/plain; charset=utf-8"
        return "grüße ☃ " * (1 + rng.randrange(50))
    if kind == 4:
        attrs["datacontenttype"] = "application/json"
    return None


def write(args):
    producer = Producer({
        "bootstrap.servers": args.bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        # Strata routes an aggregate with Kafka's own key hash; librdkafka's default
        # (consistent_random, CRC32) would put the same key on another partition.
        "partitioner": "murmur2_random",
    })
    failures = []

    def delivered(err, msg):
        if err is not None:
            failures.append(str(err))

    rng = random.Random(args.seed)
    versions = {}
    lines = []
    for i in range(args.count):
        event = build(rng, i, versions)
        message = kafka.to_binary(event, JSONFormat())
        producer.produce(args.topic, key=message.key, value=message.value,
                         headers=list(message.headers.items()), on_delivery=delivered)
        producer.poll(0)
        lines.append(json.dumps(describe(event, message.key)))
    if producer.flush(60) != 0 or failures:
        sys.exit(f"produce: {producer.flush(0)} records undelivered; errors: {failures[:3]}")
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["read", "write"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    read(args) if args.mode == "read" else write(args)


if __name__ == "__main__":
    main()
