"""How long scrubbing an AWS event stream of raw rows takes (S3 Select's `Records`), against
the same rows scrubbed as a body. A script, not a test: run it on two checkouts to compare.

    .venv/bin/python benchmarks/bench_eventstream.py [--mib 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import random
import string
import struct
import time
from typing import Callable

from pytest_cassettes import eventstream
from pytest_cassettes.scrub import Scrubber, ScrubRules

EVENTSTREAM = "application/vnd.amazon.eventstream"


def message(headers: dict[str, str], payload: bytes) -> bytes:
    """A message of string headers, as AWS writes it."""
    written = b"".join(
        bytes([len(name)])
        + name.encode()
        + b"\x07"
        + struct.pack(">H", len(value))
        + value.encode()
        for name, value in headers.items()
    )
    return eventstream.encode(written, payload)


def select_answer(rows: bytes, size: int = 65536) -> bytes:
    """S3 Select's answer: the rows in Records messages of `size` bytes, then Stats and End."""
    records = {":event-type": "Records", ":content-type": "application/octet-stream"}
    stats = {":event-type": "Stats", ":content-type": "text/xml", ":message-type": "event"}
    parts = [
        message({**records, ":message-type": "event"}, rows[i : i + size])
        for i in range(0, len(rows), size)
    ]
    parts.append(message(stats, b"<Stats><BytesScanned>1</BytesScanned></Stats>"))
    parts.append(message({":event-type": "End", ":message-type": "event"}, b""))
    return b"".join(parts)


def rows(kind: str, size: int) -> bytes:
    """About `size` bytes of rows: CSV (LF or CRLF), JSON lines, or CSV with a key a row."""
    rng = random.Random(1)
    lines: list[str] = []
    length, i = 0, 0
    while length < size:
        if kind == "csv-keys":
            key = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(40))
            line = f"{i},user{i},sk-proj-{key}"
        elif kind == "jsonl":
            line = json.dumps({"id": i, "name": f"user{i}", "email": f"u{i}@example.com"})
        else:
            line = f"{i},user{i},u{i}@example.com,Springfield,some notes about row {i}"
        lines.append(line)
        length += len(line) + 2
        i += 1
    end = "\r\n" if kind == "csv-crlf" else "\n"
    return (end.join(lines) + end).encode()


def best(run: Callable[[bytes, str], object], rounds: int, body: bytes, kind: str) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run(body, kind)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    scrubber = Scrubber(ScrubRules(), environ={})

    def scrub(body: bytes, content_type: str) -> bytes:
        response = {
            "status": {"code": 200, "message": "OK"},
            "headers": {"Content-Type": [content_type]},
            "body": {"string": body},
        }
        new, _ = scrubber.scrub_response(response)
        assert new is not None
        result: bytes = new["body"]["string"]
        return result

    print(f"{'rows':10} {'MB':>5} {'as a body':>10} {'S3 Select':>10}  changed")
    for kind in ("csv", "csv-crlf", "jsonl", "csv-keys"):
        data = rows(kind, int(args.mib * 1024 * 1024))
        body = select_answer(data)
        plain = best(scrub, args.rounds, data, "application/octet-stream")
        streamed = best(scrub, args.rounds, body, EVENTSTREAM)
        changed = scrub(body, EVENTSTREAM) != body
        print(f"{kind:10} {len(data) / 1e6:5.1f} {plain:9.2f}s {streamed:9.2f}s  {changed}")


if __name__ == "__main__":
    main()
