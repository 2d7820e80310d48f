"""AWS's binary event stream (`application/vnd.amazon.eventstream`): how Bedrock streams an
answer (InvokeModelWithResponseStream, ConverseStream). A body is messages one after another,
each a prelude (its total length, its headers' length, the CRC32 of those eight bytes), its
headers (a name, a type, a value each), its payload, and the CRC32 of all of it before.

:func:`messages` reads them, checked as botocore checks them; :func:`encode` writes one again
around a new payload, with its lengths and CRCs. Linear in the body. Other AWS streams use it
too: S3 Select's answer (`Records` of the rows, raw bytes), Lambda's InvokeWithResponseStream
(`PayloadChunk`s of what the function writes).
"""

from __future__ import annotations

import struct
import zlib
from typing import NamedTuple

__all__ = ["Message", "encode", "framed", "messages"]

_PRELUDE = struct.Struct(">II")
_UINT32 = struct.Struct(">I")
_UINT16 = struct.Struct(">H")
_PRELUDE_LENGTH = 12
# A header value's length by its type (0 to 9): fixed, or None: a 2-byte length first (a byte
# array, a string).
_VALUE_SIZES = (0, 0, 1, 2, 4, 8, None, None, 8, 16)
_STRING = 7


class Message(NamedTuple):
    """One message: where it is in the body, its headers as they are written, their string
    values by name, its payload."""

    start: int
    end: int
    headers: bytes
    strings: dict[str, str]
    payload: bytes


def messages(body: bytes) -> tuple[list[Message], int]:
    """The messages at the start of the body, each whole and its CRCs right, and where the
    first that is not one starts (the body's length when all are)."""
    read: list[Message] = []
    position = 0
    while position < len(body):
        message = _message(body, position)
        if message is None:
            break
        read.append(message)
        position = message.end
    return read, position


def framed(body: bytes) -> bool:
    """Whether the body starts as an event stream does: a prelude and its CRC (S3 Select's
    answer has no Content-Type, Lambda's streamed one the function's own). Checks 8 bytes."""
    return (
        len(body) >= _PRELUDE_LENGTH + 4 and zlib.crc32(body[:8]) == _UINT32.unpack_from(body, 8)[0]
    )


def encode(headers: bytes, payload: bytes) -> bytes:
    """A message of these headers (as they are written) and payload."""
    total = _PRELUDE_LENGTH + len(headers) + len(payload) + 4
    prelude = _PRELUDE.pack(total, len(headers))
    head = prelude + _UINT32.pack(zlib.crc32(prelude))
    crc = zlib.crc32(payload, zlib.crc32(headers, zlib.crc32(head)))
    return b"".join((head, headers, payload, _UINT32.pack(crc)))


def _message(body: bytes, start: int) -> Message | None:
    if len(body) - start < _PRELUDE_LENGTH + 4:
        return None
    total, length = _PRELUDE.unpack_from(body, start)
    (prelude_crc,) = _UINT32.unpack_from(body, start + 8)
    end = start + total
    headers_end = start + _PRELUDE_LENGTH + length
    if (
        zlib.crc32(body[start : start + 8]) != prelude_crc
        or end > len(body)
        or headers_end > end - 4
        or zlib.crc32(body[start : end - 4]) != _UINT32.unpack_from(body, end - 4)[0]
    ):
        return None
    headers = body[start + _PRELUDE_LENGTH : headers_end]
    strings = _strings(headers)
    if strings is None:
        return None
    return Message(start, end, headers, strings, body[headers_end : end - 4])


def _strings(headers: bytes) -> dict[str, str] | None:
    """The string values of the headers by name; None when they are not well formed."""
    strings: dict[str, str] = {}
    position = 0
    try:
        while position < len(headers):
            size = headers[position]
            name = headers[position + 1 : position + 1 + size].decode("utf-8")
            position += 1 + size
            kind = headers[position]
            position += 1
            if kind >= len(_VALUE_SIZES):
                return None
            fixed = _VALUE_SIZES[kind]
            if fixed is None:
                (fixed,) = _UINT16.unpack_from(headers, position)
                position += 2
                if kind == _STRING:
                    strings[name] = headers[position : position + fixed].decode("utf-8")
            position += fixed
    except (IndexError, struct.error, UnicodeDecodeError):
        return None
    return strings if position == len(headers) else None
