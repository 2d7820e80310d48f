"""Response bodies as we store them: decoded, with headers that tell the truth about them."""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from typing import Any

Decoder = Callable[[bytes], bytes]


class NotEncoded(ValueError):
    """The body does not decode, completely, as the coding claims."""


def _members(data: bytes, wbits: int) -> bytes:
    """Undo a zlib-family coding, strictly: every byte must belong to a complete stream.

    zlib.decompress stops after the first stream and ignores what follows: a gzip body of
    several members would lose all but the first, and text that merely starts like a stream
    would "decode". Both are refused here.
    """
    out = []
    while True:
        stream = zlib.decompressobj(wbits)
        out.append(stream.decompress(data))
        out.append(stream.flush())
        if not stream.eof:
            raise NotEncoded("truncated stream")
        data = stream.unused_data
        if not data:
            return b"".join(out)
        if wbits != 16 + zlib.MAX_WBITS:  # only gzip has members; trailing bytes are an error
            raise NotEncoded("trailing data after the stream")


def _gunzip(data: bytes) -> bytes:
    return _members(data, 16 + zlib.MAX_WBITS)


def _inflate(data: bytes) -> bytes:
    try:
        return _members(data, zlib.MAX_WBITS)
    except (zlib.error, NotEncoded):  # raw deflate, as some servers send it
        return _members(data, -zlib.MAX_WBITS)


def _brotli() -> Decoder | None:
    for module in ("brotli", "brotlicffi"):  # the two packages urllib3 accepts
        try:
            imported = __import__(module)
        except ImportError:
            continue
        decompress: Decoder = imported.decompress
        return decompress
    return None


def _zstd() -> Decoder | None:
    try:
        import zstandard
    except ImportError:
        try:  # Python 3.14+
            from compression import zstd  # type: ignore[import-not-found]
        except ImportError:
            return None
        stdlib_decompress: Decoder = zstd.decompress
        return stdlib_decompress

    def decompress(data: bytes) -> bytes:
        out = []
        while data:  # a body may hold several frames
            frame = zstandard.ZstdDecompressor().decompressobj()
            out.append(frame.decompress(data))
            if not getattr(frame, "eof", True):
                raise NotEncoded("truncated zstd frame")
            data = getattr(frame, "unused_data", b"")
        return b"".join(out)

    return decompress


def _optional_decoders() -> dict[str, Decoder]:
    decoders: dict[str, Decoder] = {}
    brotli = _brotli()
    if brotli is not None:
        decoders["br"] = brotli
    zstd = _zstd()
    if zstd is not None:
        decoders["zstd"] = zstd
    return decoders


DECODERS: dict[str, Decoder] = {"gzip": _gunzip, "x-gzip": _gunzip, "deflate": _inflate}
DECODERS.update(_optional_decoders())
DROPPED_HEADERS = ("content-encoding", "transfer-encoding")


def header_values(headers: dict[str, Any], name: str) -> list[str]:
    """All values of a header in vcrpy's response header dict, by case-insensitive name."""
    values: list[str] = []
    for key, value in headers.items():
        if key.lower() == name:
            values.extend(value if isinstance(value, list) else [value])
    return values


def _set_header(headers: dict[str, Any], name: str, value: str) -> None:
    for key in [k for k in headers if k.lower() == name]:
        del headers[key]
    headers[name.title()] = [value]


def codings(encodings: list[str]) -> list[str]:
    """The content codings named by Content-Encoding values, in the order they were applied."""
    named = [c.strip().lower() for e in encodings for c in str(e).split(",")]
    return [c for c in named if c not in ("", "identity")]


def decode(body: bytes, encodings: list[str]) -> bytes | None:
    """The body with its content codings undone, or None when it is not encoded as claimed."""
    for coding in reversed(codings(encodings)):
        decoder = DECODERS.get(coding)
        if decoder is None:
            return None
        try:
            body = decoder(body)
        except Exception:
            return None
    return body


def _body_bytes(response: dict[str, Any]) -> bytes:
    body = (response.get("body") or {}).get("string")
    if isinstance(body, str):
        return body.encode("utf-8")
    return body or b""


def normalize_response(response: dict[str, Any], decoded: bool = False) -> dict[str, Any]:
    """Store a response decoded: drop Content-Encoding and Transfer-Encoding, fix Content-Length.

    `decoded`: the client library decoded the body already (see already_decoded.py); it is kept as
    it is, even when it decodes again (a `.gz` file sent with Content-Encoding: gzip).
    Otherwise a body that does not decode as its headers claim was already decoded (a cassette
    vcrpy recorded under urllib3 2): it is kept as it is and the headers are corrected.
    Unknown codings (br without brotli installed) are left untouched. An empty body keeps its
    Content-Length and Content-Encoding (a HEAD response's are those of the body it did not
    send: dropping one alone would leave them disagreeing).
    """
    headers = response.get("headers") or {}
    encodings = header_values(headers, "content-encoding")
    chunked = header_values(headers, "transfer-encoding")
    if not encodings and not chunked:
        return response
    body = sent = _body_bytes(response)
    if encodings and not decoded:
        if not set(codings(encodings)) <= set(DECODERS):
            return response
        undone = decode(body, encodings)
        body = undone if undone is not None else body
    dropped = DROPPED_HEADERS if sent else ("transfer-encoding",)
    headers = {k: v for k, v in headers.items() if k.lower() not in dropped}
    length = header_values(headers, "content-length")
    # No body but a length (a HEAD response, a 304): the length is that of the body not sent,
    # which clients read as such; there was nothing to decode.
    if sent and (length or encodings):
        _set_header(headers, "content-length", str(len(body)))
    stored_body = response.get("body") or {}
    return {**response, "headers": headers, "body": {**stored_body, "string": body}}


def encoding_mismatch(response: dict[str, Any]) -> str | None:
    """Describe a body stored decoded under headers that still claim an encoding, if so (a
    response without a body has nothing to decode: see normalize_response)."""
    encodings = header_values(response.get("headers") or {}, "content-encoding")
    named = codings(encodings)
    if not named or not set(named) <= set(DECODERS) or not _body_bytes(response):
        return None
    if decode(_body_bytes(response), encodings) is None:
        return f"body is stored decoded but headers say Content-Encoding: {', '.join(encodings)}"
    return None


# --- charsets --------------------------------------------------------------------------------

UTF8_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)


def charset(content_type: str) -> str | None:
    """The charset a Content-Type names, lower-cased, or None."""
    match = _CHARSET.search(content_type)
    return match.group(1).lower() if match else None
