"""The Python side of the replay format tests (pkg/replay/format_test.go).

  check.py parquet FILE        open FILE with pyarrow; print {"rows", "columns": {name: type},
                               "distinct_ids", "offsets": [min, max]} as JSON
  check.py jsonl IN OUT        read every line of IN with the CloudEvents Python SDK's JSON
                               format and write it back with it, one event per line, to OUT
"""
import json
import sys

from cloudevents.core.formats.json import JSONFormat


def parquet(path):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    out = {
        "rows": table.num_rows,
        "columns": {f.name: str(f.type) for f in table.schema},
        "distinct_ids": len(pc.unique(table.column("id"))),
        "offsets": [pc.min(table.column("offset")).as_py(), pc.max(table.column("offset")).as_py()],
    }
    print(json.dumps(out))


def jsonl(src, dst):
    fmt = JSONFormat()
    n = 0
    with open(src, "rb") as f, open(dst, "wb") as out:
        for line in f:
            if not line.strip():
                continue
            event = fmt.read(None, line)
            out.write(fmt.write(event) + b"\n")
            n += 1
    print(json.dumps({"events": n}))


if __name__ == "__main__":
    if sys.argv[1] == "parquet":
        parquet(sys.argv[2])
    elif sys.argv[1] == "jsonl":
        jsonl(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: check.py parquet FILE | jsonl IN OUT")
