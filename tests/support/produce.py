#!/usr/bin/env python3
"""The outside client for end-to-end tests: publishes messages with kafka-python.

  produce.py --brokers HOST:PORT --topic T --dir DIR    each .txt/.html file, keyed by its name
  produce.py --brokers HOST:PORT --topic T < msgs.jsonl  lines of {"key": str|null, "value_b64": str}
"""
import argparse
import base64
import json
import os
import sys

from kafka import KafkaProducer


def messages(args):
    if args.dir:
        for name in sorted(os.listdir(args.dir)):
            stem, ext = os.path.splitext(name)
            if ext in (".txt", ".html"):
                with open(os.path.join(args.dir, name), "rb") as f:
                    yield stem.encode(), f.read()
    else:
        for line in sys.stdin:
            if line.strip():
                record = json.loads(line)
                key = record.get("key")
                yield (key.encode() if key is not None else None), base64.b64decode(record["value_b64"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--dir")
    args = parser.parse_args()
    # batch_size=1: every record is a batch of its own. Tansu 0.6's storage serves a fetch only from
    # batches whose base offset is at or after the requested offset (dynostore.rs, `split_off`), so
    # a consumer resuming inside a multi-record batch would skip the rest of it, or stall when it is
    # the last. Kafka returns the containing batch. One record per batch keeps every resume point a
    # batch boundary, so the tests measure the worker, not that broker limitation.
    producer = KafkaProducer(bootstrap_servers=args.brokers, acks="all", linger_ms=5, batch_size=1,
                             max_request_size=16 * 1024 * 1024, request_timeout_ms=30000)
    count = 0
    for key, value in messages(args):
        producer.send(args.topic, key=key, value=value)
        count += 1
    producer.flush(timeout=120)
    producer.close()
    print(f"produced {count}", file=sys.stderr)


if __name__ == "__main__":
    main()
