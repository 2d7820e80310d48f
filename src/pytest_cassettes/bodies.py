"""Response bodies as we store them: decoded, with headers that tell the truth about them."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

Decoder = Callable[[bytes], bytes]


def _gunzip(data: bytes) -> bytes:
    return zlib.decompress(data, 16 + zlib.MAX_WBITS)


def _inflate(data: bytes) -> bytes:
    try:
        return zlib.decompress(data)
    except zlib.error:  # raw deflate, as some servers send it
        return zlib.decompress(data, -zlib.MAX_WBITS)


def _optional_decoders() -> dict[str, Decoder]:
    decoders: dict[str, Decoder] = {}
    try:
        import brotli

        decoders["br"] = brotli.decompress
    except ImportError:
        pass
    try:
        import zstandard

        decoders["zstd"] = lambda data: (
            zstandard.ZstdDecompressor().decompressobj().decompress(data)
        )
    except ImportError:
        pass
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


def decode(body: bytes, encodings: list[str]) -> bytes | None:
    """The body with its content codings undone, or None when it is not encoded as claimed."""
    for coding in reversed([c.strip().lower() for e in encodings for c in e.split(",")]):
        if coding in ("", "identity"):
            continue
        decoder = DECODERS.get(coding)
        if decoder is None:
            return None
        try:
            body = decoder(body)
        except Exception:
            return None
    return body


def normalize_response(response: dict[str, Any]) -> dict[str, Any]:
    """Store a response decoded: drop Content-Encoding and Transfer-Encoding, fix Content-Length.

    A body that does not decode as its headers claim was already decoded (vcrpy under
    urllib3 2 stores it so): it is kept as it is and the headers are corrected.
    Unknown codings (br without brotli installed) are left untouched.
    """
    headers = response.get("headers") or {}
    encodings = header_values(headers, "content-encoding")
    chunked = header_values(headers, "transfer-encoding")
    if not encodings and not chunked:
        return response
    body = response.get("body", {}).get("string")
    if isinstance(body, str):
        body = body.encode("utf-8")
    body = body or b""
    if encodings:
        codings = {c.strip().lower() for e in encodings for c in e.split(",")} - {"", "identity"}
        if not codings <= set(DECODERS):
            return response
        decoded = decode(body, encodings)
        body = decoded if decoded is not None else body
    headers = {k: v for k, v in headers.items() if k.lower() not in DROPPED_HEADERS}
    if header_values(headers, "content-length") or encodings:
        _set_header(headers, "content-length", str(len(body)))
    return {**response, "headers": headers, "body": {**response.get("body", {}), "string": body}}


def encoding_mismatch(response: dict[str, Any]) -> str | None:
    """Describe a body stored decoded under headers that still claim an encoding, if so."""
    encodings = header_values(response.get("headers") or {}, "content-encoding")
    if not encodings or not set(encodings) <= set(DECODERS):
        return None
    body = response.get("body", {}).get("string") or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    if decode(body, encodings) is None:
        return f"body is stored decoded but headers say Content-Encoding: {', '.join(encodings)}"
    return None
