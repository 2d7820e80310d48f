"""Whether the body a stub records was decoded already by the client library, as it knows.

A recorded body is stored decoded (bodies.normalize_response). Some are handed to us decoded
already, under headers that still name the coding: urllib3 2's response, which vcrpy's
http.client stub reads through `.data`, and aiohttp's, which decompresses as it reads. Others
are the bytes as sent: http.client's (urllib3 1.x), httpx's transport. Trying to decode a body
cannot tell the two apart when the body is itself compressed data (a `.gz` file sent with
Content-Encoding: gzip): decoded again, the client got the inner data recording and replaying,
where live it got the file. So the stubs' paths say what they know, per response:

- vcrpy's connection stub builds the recorded headers with our `serialize_headers` from the
  live response, then appends: `mark` keeps that header dict and whether the live response had
  decoded its body (a urllib3 response with a decoder), and `take` answers for the response
  appended with those very headers.
- aiohttp's stub records the body `read()` gives: decoded when the request was made with
  `auto_decompress` (the session's, or the request's own) and aiohttp decodes the coding named.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import sys
from collections.abc import Iterator
from typing import Any

# The header dict serialize_headers made last in this context, and whether its response's body
# was decoded: vcrpy's stub appends the response holding it next.
_marked: contextvars.ContextVar[tuple[dict[str, Any], bool] | None] = contextvars.ContextVar(
    "pytest_cassettes_marked", default=None
)
# The `auto_decompress` of the aiohttp request under way in this context.
_auto_decompress: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "pytest_cassettes_auto_decompress", default=True
)
# The codings aiohttp's parser decodes (a single one, named alone).
_AIOHTTP_CODINGS = frozenset({"gzip", "deflate", "br", "zstd"})


def mark(headers: dict[str, Any], live: Any) -> None:
    """`headers` recorded from the live response `live` (http.client's or urllib3's)."""
    # urllib3 2's response has decoded `.data` when it found a decoder for the coding named;
    # http.client's has no `.data`: the stub read() the bytes as sent.
    _marked.set((headers, getattr(live, "_decoder", None) is not None))


def take(response: dict[str, Any]) -> bool:
    """Whether the body of `response`, which a stub is recording, was decoded already."""
    marked = _marked.get()
    if marked is None:
        return False
    _marked.set(None)
    headers, decoded = marked
    return decoded and headers is response.get("headers")


class _Decoding:
    """The router, for aiohttp's stub: what it appends was decoded as the request asked."""

    def __init__(self, router: Any, auto_decompress: bool) -> None:
        self._router = router
        self._auto_decompress = auto_decompress

    def __getattr__(self, name: str) -> Any:
        return getattr(self._router, name)

    def append(self, request: Any, response: dict[str, Any]) -> None:
        coding = ",".join(
            value
            for name, values in (response.get("headers") or {}).items()
            if name.lower() == "content-encoding"
            for value in values
        )
        decoded = self._auto_decompress and coding.strip().lower() in _AIOHTTP_CODINGS
        self._router.append(request, response, decoded=decoded)


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """aiohttp's requests keeping their `auto_decompress` where its stub records them (a no-op
    when aiohttp's stub is not loaded)."""
    from unittest import mock

    stubs = sys.modules.get("vcr.stubs.aiohttp_stubs")
    aiohttp = sys.modules.get("aiohttp")
    if stubs is None or aiohttp is None:
        yield
        return
    session = aiohttp.ClientSession
    request = session._request
    record = stubs.record_response

    @functools.wraps(request)
    async def _request(self: Any, *args: Any, **kwargs: Any) -> Any:
        auto = kwargs.get("auto_decompress")
        token = _auto_decompress.set(
            getattr(self, "_auto_decompress", True) if auto is None else auto
        )
        try:
            return await request(self, *args, **kwargs)
        finally:
            _auto_decompress.reset(token)

    async def record_response(cassette: Any, vcr_request: Any, response: Any) -> None:
        await record(_Decoding(cassette, _auto_decompress.get()), vcr_request, response)
        body = getattr(response, "_body", None)
        if body and not isinstance(response.content, stubs.MockStream):
            # vcrpy before 8 read the body for the cassette and left the live stream drained:
            # `content.iter_chunked()`, `async for line in content` gave nothing recording.
            stream = stubs.MockStream()
            stream.feed_data(body)
            stream.feed_eof()
            response.content = stream
        if body and isinstance(response.content, stubs.MockStream):
            # read() reads that stream, as live: the body left after what `content` gave
            # (vcrpy's read body returned whole, and `content.at_eof()` was False after it).
            response._body = None

    with (
        mock.patch.object(session, "_request", _request),
        mock.patch.object(stubs, "record_response", record_response),
    ):
        yield
