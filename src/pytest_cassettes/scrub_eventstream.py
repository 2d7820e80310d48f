"""Scrubbing AWS's binary event stream (read by eventstream.py), message by message.

Bedrock's streamed answers hold JSON (InvokeModelWithResponseStream's `chunk`s, the model's own
JSON in their base64 `bytes`; ConverseStream's events): each message's JSON is read as a
server-sent event's data (see scrub_streams.py), the text they carry joined. S3 Select's rows
(`Records`) and Lambda's streamed chunks (`PayloadChunk`) are raw bytes cut anywhere, a line or
a character over two messages: the payloads of one event type are joined and scrubbed as one
text, or, not UTF-8, as binary (the environment's values only). A message something was
replaced in is written again with its lengths and CRCs; the others, and what follows the last
message that reads whole (a body cut short), as they were.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from typing import TYPE_CHECKING

from pytest_cassettes import eventstream
from pytest_cassettes.scrub_shared import lazy_regex, splice
from pytest_cassettes.scrub_streams import text_edits
from pytest_cassettes.streams import BEDROCK_CHUNKS, event_data

if TYPE_CHECKING:
    from pytest_cassettes.scrub import Scrubber

__all__ = ["scrub_aws_event_stream"]

_EVENT_NAME = lazy_regex(r"[\w.:-]+")
_LINE_BREAK = lazy_regex(r"\r\n|\r|\n")
_SSE = "text/event-stream"


def scrub_aws_event_stream(scrubber: Scrubber, body: bytes, found: list[str]) -> bytes | None:
    """The body with each message's payload scrubbed (see the module's docstring). None when
    its first message does not read whole: not an event stream."""
    read, _ = eventstream.messages(body)
    if not read:
        return None
    carried: list[tuple[int, str, dict[str, object] | None]] = []  # JSON: its text, its chunk
    raw: dict[str, list[int]] = {}  # the other messages by their event type
    for index, message in enumerate(read):
        if not message.payload:
            continue
        text, chunk = _json_text(message)
        if text is None:
            raw.setdefault(_event_name(message), []).append(index)
        else:
            carried.append((index, text, chunk))
    payloads = _json_payloads(scrubber, read, carried, found)
    for indexes in raw.values():
        payloads.update(_raw_payloads(scrubber, [read[i].payload for i in indexes], indexes, found))
    if not payloads:
        return body
    pieces: list[bytes] = []
    position = 0
    for index in sorted(payloads):
        message = read[index]
        pieces += [
            body[position : message.start],
            eventstream.encode(message.headers, payloads[index]),
        ]
        position = message.end
    pieces.append(body[position:])
    return b"".join(pieces)


def _event_name(message: eventstream.Message) -> str:
    name = message.strings.get(":event-type") or message.strings.get(":exception-type", "")
    return name if _EVENT_NAME.fullmatch(name) else "message"


def _json_text(message: eventstream.Message) -> tuple[str | None, dict[str, object] | None]:
    """A JSON message's payload as text (by its `:content-type`), and for a `chunk`
    (Bedrock's InvokeModel stream: `{"bytes": <base64>, "p": ...}`) the model's own JSON its
    bytes hold, and the chunk around it; None: a raw payload (or bytes that do not decode)."""
    chunk = message.strings.get(":event-type") == "chunk"
    if not chunk and "json" not in message.strings.get(":content-type", ""):
        return None, None
    try:
        text = message.payload.decode("utf-8")
    except UnicodeDecodeError:
        return None, None
    if not chunk or '"bytes"' not in text:
        return text, None
    try:
        wrapper = json.loads(text)
        inner = base64.b64decode(wrapper["bytes"], validate=True).decode("utf-8")
    except (ValueError, TypeError, KeyError, binascii.Error, RecursionError):
        return None, None  # its bytes are not a model's text
    return (inner, wrapper) if isinstance(wrapper, dict) else (None, None)


def _json_payloads(
    scrubber: Scrubber,
    read: list[eventstream.Message],
    carried: list[tuple[int, str, dict[str, object] | None]],
    found: list[str],
) -> dict[int, bytes]:
    """The JSON messages' new payloads, by index, of those something was replaced in."""
    texts = [text for _, text, _ in carried]
    names = [_event_name(read[index]) for index, _, _ in carried]
    bedrock = BEDROCK_CHUNKS.set(True)  # (its chunks are read in their models' shapes)
    try:
        new_texts = _scrubbed_events(scrubber, names, texts, found)
    finally:
        BEDROCK_CHUNKS.reset(bedrock)
    payloads: dict[int, bytes] = {}
    for (index, text, chunk), new in zip(carried, new_texts):
        if new == text:
            continue
        payload = _with_line_breaks(text, new).encode("utf-8")
        if chunk is not None:
            chunk = {**chunk, "bytes": base64.b64encode(payload).decode("ascii")}
            payload = json.dumps(chunk, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        payloads[index] = payload
    return payloads


def _scrubbed_events(
    scrubber: Scrubber, names: list[str], texts: list[str], found: list[str]
) -> list[str]:
    """The texts scrubbed as the data of a stream of server-sent events (named `names`), each
    as it reads after (its line breaks `\\n`). Should a rule's match span events (a user's
    pattern over a blank line), each text is scrubbed alone."""
    if not texts:
        return texts
    events = _as_events(names, texts)
    joined: list[str] = []
    new = scrubber._scrub_typed_text(events, _SSE, joined)
    if new == events:
        return texts
    datas = event_data(new)
    if len(datas) == len(texts):
        found.extend(joined)
        return datas
    alone = []
    for name, text in zip(names, texts):
        datas = event_data(scrubber._scrub_typed_text(_as_events([name], [text]), _SSE, found))
        alone.append(datas[0] if len(datas) == 1 else text)
    return alone


def _as_events(names: list[str], texts: list[str]) -> str:
    """Each text an event's data, a data line for each of its lines (CRLF, CR or LF: an
    event's data line ends at any)."""
    return "".join(
        f"event: {name}\n" + "".join(f"data: {line}\n" for line in _LINE_BREAK.split(text)) + "\n"
        for name, text in zip(names, texts)
    )


def _with_line_breaks(text: str, new: str) -> str:
    """The scrubbed text (its lines joined by `\\n`, see _scrubbed_events) with the line breaks
    `text` had (JSON's white space may be CRLF), when it has as many lines."""
    breaks = _LINE_BREAK.findall(text)
    lines = new.split("\n")
    if all(line_break == "\n" for line_break in breaks) or len(lines) != len(breaks) + 1:
        return new
    return "".join(line + line_break for line, line_break in zip(lines, breaks)) + lines[-1]


def _raw_payloads(
    scrubber: Scrubber, payloads: list[bytes], indexes: list[int], found: list[str]
) -> dict[int, bytes]:
    """Raw payloads of one event type, joined (a row or a character may span two), scrubbed
    as text, or as binary when they are not UTF-8: the new payloads, by index (`indexes`),
    of those something was replaced in, its replacement where it starts, the rest of what
    it replaced removed from the payloads after."""
    joined = b"".join(payloads)
    try:
        text = joined.decode("utf-8")
    except UnicodeDecodeError:
        edits = scrubber._binary_edits(joined, found)
    else:
        edits = _in_bytes(text, text_edits(scrubber, text, found))
    if not edits:
        return {}
    starts: list[int] = []
    position = 0
    for payload in payloads:
        starts.append(position)
        position += len(payload)
    changes: dict[int, list[tuple[int, int, bytes]]] = {}
    for start, end, new in edits:
        k = bisect.bisect_right(starts, start) - 1
        while k < len(payloads) and starts[k] < end:
            low = max(start, starts[k]) - starts[k]
            high = min(end, starts[k] + len(payloads[k])) - starts[k]
            changes.setdefault(k, []).append((low, high, new if start >= starts[k] else b""))
            k += 1
    return {indexes[k]: splice(payloads[k], edits) for k, edits in changes.items()}


def _in_bytes(text: str, edits: list[tuple[int, int, str]]) -> list[tuple[int, int, bytes]]:
    """Edits of a text in the offsets of its UTF-8 bytes."""
    moved: list[tuple[int, int, bytes]] = []
    character = offset = 0
    for start, end, new in edits:
        offset += len(text[character:start].encode("utf-8"))
        first = offset
        offset += len(text[start:end].encode("utf-8"))
        character = end
        moved.append((first, offset, new.encode("utf-8")))
    return moved
