"""The response object vcrpy's stubs hand to http.client, urllib3, requests and botocore (under
urllib3 2, urllib3 and requests get it inside urllib3's own response: urllib3_response.py).

vcrpy's `VCRHTTPResponse` keeps the recorded body (in the recorded dict and in a BytesIO over
it) for as long as the client keeps the response, which requests does for the life of its own
Response: a large body is then held once by the stub and once more by the client. Ours forgets
the body once it has been read to the end or the response is closed, as a real response does:
reading again gives b"". Until then it behaves as vcrpy's, which it extends.

vcrpy builds its header message by writing the headers out and parsing them back with the
`email` package (about 0.1 ms, twice a response); `parse_headers` builds the same message
directly when the headers are plain (printable latin-1, no more than http.client accepts), and
falls back to vcrpy's otherwise. A value outside ASCII is as http.client reads it (latin-1),
which vcrpy's write-out as UTF-8 and read-back as latin-1 garbled (`cafÃ©`).

Both are installed by `installed()` while our patches are on: vcrpy's connection stubs look the
class and the function up in `vcr.stubs` at each call.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import http.client
import io
import re
import sys
from collections.abc import Iterator, Mapping
from io import BytesIO
from typing import Any, TypeVar

from pytest_cassettes import already_decoded, libraries

libraries.import_vcr()  # without the HTTP libraries not imported yet (see libraries.py)
from vcr import stubs as vcr_stubs  # noqa: E402

_T = TypeVar("_T")

VCRHTTPResponse: Any = vcr_stubs.VCRHTTPResponse
vcr_parse_headers = vcr_stubs.parse_headers

# http.client reads at most 100 header lines (the end of the headers is one) of 64 KiB each.
_MAX_LINES = 100
_MAX_LINE = 65536
# A name `email` reads as a header name; a value http.client could have read (no line
# breaks; latin-1, as it decodes a header line).
_NAME = re.compile(r"[\041-\071\073-\176]+\Z")
_VALUE = re.compile(r"[\t\040-\176\200-\377]*\Z")


def parse_headers(headers: Mapping[str, Any]) -> http.client.HTTPMessage:
    """vcrpy's `parse_headers` (a recorded header dict to an HTTPMessage), without the parse."""
    message = http.client.HTTPMessage()
    lines = 0
    for name, values in headers.items():
        if not isinstance(name, str) or not _NAME.match(name):
            return vcr_parse_headers(headers)  # type: ignore[no-any-return]
        for value in values:
            lines += 1
            if (
                not isinstance(value, str)
                or not _VALUE.match(value)
                or len(name) + len(value) + 3 > _MAX_LINE
                or lines >= _MAX_LINES
            ):
                return vcr_parse_headers(headers)  # type: ignore[no-any-return]
            message.set_raw(name, value.lstrip(" \t"))
    if message.get_content_maintype() in ("multipart", "message"):
        return vcr_parse_headers(headers)  # type: ignore[no-any-return]  # parsed as a body
    message.set_payload("")
    return message


def serialize_headers(response: Any) -> dict[str, list[str]]:
    """A live response's headers as they are recorded: each value once, under its name as
    sent, in the order received. vcrpy's gave every spelling of a name (`X-Dup` and `x-dup`)
    all of its values, each spelling in a set's order: the replay read them twice over."""
    message = response.headers if response.msg is None else response.msg
    recorded: dict[str, list[str]] = {}
    for name, value in message.items():
        recorded.setdefault(name, []).append(value)
    already_decoded.mark(recorded, response)
    return recorded


class CassetteResponse(VCRHTTPResponse):  # type: ignore[misc]
    """vcrpy's stub response, forgetting its body once it is read to the end or closed."""

    recorded_response: dict[str, Any]
    # http.client's attributes for how the body comes: whole, as a cassette keeps it (vcrpy's
    # had no `chunked` nor `will_close`: AttributeError where live gave False).
    chunked = False
    will_close = False

    def __init__(self, recorded_response: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        body = recorded_response["body"]
        if body["string"] is None:  # `string: null`: vcrpy's read() of it raised TypeError
            recorded_response = {**recorded_response, "body": {**body, "string": b""}}
        super().__init__(recorded_response, *args, **kwargs)
        self._size = len(recorded_response["body"]["string"])
        # The headers' message, kept: urllib.request sets `msg` to the reason phrase, as on a
        # real response, and requests' adapters may replace `headers`.
        self._message = self.msg
        # urllib3's own response's name for its URL, which requests-cache reads to cache it
        # (vcrpy's stub has none: every response recorded or replayed under a CachedSession
        # failed with AttributeError, vcrpy issue #881).
        self._request_url: str | None = getattr(self, "url", None)
        # The HTTP version, which cassettes do not keep: HTTP/1.1, the only one http.client
        # speaks (vcrpy's stub: version None, and a `version_string` that urllib3 2's
        # connection pool reads for its log line only in newer vcrpy: vcrpy issue #928).
        self.version = 11
        self.version_string = "HTTP/1.1"

    def _forget_body(self) -> None:
        if self._size:
            self._content = BytesIO()
            self._content.seek(self._size)  # at the end: read() gives b"", tell() the size
            recorded = self.recorded_response
            self.recorded_response = {**recorded, "body": {**recorded["body"], "string": b""}}

    def _read_to_end(self) -> bool:
        return bool(self._content.tell() >= self._size)

    def _after_read(self, result: _T) -> _T:
        if self._read_to_end():
            self._forget_body()
        return result

    def fileno(self) -> int:
        # io's error for a file object without a descriptor (an OSError, as BytesIO and
        # urllib3's response without a socket raise; vcrpy's raised AttributeError, since
        # http.client's `fp` is None, which code written to io's contract did not catch).
        raise io.UnsupportedOperation(
            "a recorded or replayed response has no socket, so no file descriptor"
        )

    def getheaders(self) -> list[tuple[str, str]]:
        # vcrpy's parses the recorded headers again, then lists them in a set's order (which
        # changes with the hash seed), a header spelled two ways twice. Ours: the message
        # built once, in the recorded order.
        return list(self._message.items())

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        result: bytes = super().read(*args, **kwargs)
        return self._after_read(result)

    def read1(self, *args: Any, **kwargs: Any) -> bytes:
        result: bytes = super().read1(*args, **kwargs)
        return self._after_read(result)

    def readinto(self, *args: Any, **kwargs: Any) -> int:
        result: int = super().readinto(*args, **kwargs)
        return self._after_read(result)

    def readline(self, *args: Any, **kwargs: Any) -> bytes:
        result: bytes = super().readline(*args, **kwargs)
        return self._after_read(result)

    def readlines(self, *args: Any, **kwargs: Any) -> list[bytes]:
        result: list[bytes] = super().readlines(*args, **kwargs)
        return self._after_read(result)

    def stream(self, amt: int = 65536, decode_content: Any = None) -> Iterator[bytes]:
        while True:  # through read(), which vcrpy 7's stream bypasses
            data = self.read(amt)
            if not data:  # not yielded: a real response's stream ends without b""
                break
            yield data

    def isclosed(self) -> bool:
        # A real response reports itself closed once its body is read; urllib3 1.26's stream()
        # reads until it does, so iter_content(None) never ended with vcrpy 7's stub.
        return bool(self._closed or self._read_to_end())

    def close(self) -> None:
        # Not vcrpy's `return True`: IOBase.__exit__ returns what close returns, and a true
        # value swallowed every exception raised in a `with response:` block.
        self._forget_body()
        super().close()

    @property
    def data(self) -> bytes:
        # The body itself, not a copy of it (vcrpy's `getbuffer().tobytes()`).
        return self._content.getvalue()

    @property
    def length_remaining(self) -> int:
        return max(0, self._size - self._content.tell())

    @property
    def length(self) -> int | None:
        """http.client's: the bytes of the body left to read, None when no Content-Length
        gave them (vcrpy's was always None: it asked `getallmatchingheaders`, which finds
        nothing on Python 3)."""
        if "content-length" not in self._message and self.status not in (204, 304):
            return None
        return self.length_remaining

    @length.setter
    def length(self, ignored: Any) -> None:  # what vcrpy's __init__ sets
        pass


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """Our response class and header parser and writer in place of vcrpy's, for its connection
    stubs; and aiohttp's replayed responses read with their charset, as real ones are."""
    from unittest import mock

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(vcr_stubs, "VCRHTTPResponse", CassetteResponse))
        stack.enter_context(mock.patch.object(vcr_stubs, "parse_headers", parse_headers))
        stack.enter_context(mock.patch.object(vcr_stubs, "serialize_headers", serialize_headers))
        httpx_stubs = sys.modules.get("vcr.stubs.httpx_stubs")
        # Replayed headers (vcrpy 8+'s name, then 7's), and recorded ones (vcrpy 7 decodes
        # them as UTF-8, which a latin-1 value is not: recording it raised).
        for name, ours in (
            ("_deserialize_headers", _httpx_headers),
            ("_from_serialized_headers", _httpx_headers),
            ("_transform_headers", _httpx_recorded_headers),
        ):
            if httpx_stubs is not None and hasattr(httpx_stubs, name):
                stack.enter_context(mock.patch.object(httpx_stubs, name, ours))
        replay = getattr(httpx_stubs, "_deserialize_response", None)
        if replay is not None:
            stack.enter_context(
                mock.patch.object(httpx_stubs, "_deserialize_response", _with_http_version(replay))
            )
        replay = getattr(httpx_stubs, "_from_serialized_response", None)  # vcrpy 7's
        if replay is not None:
            ours = _with_http_version(_with_recorded_length(replay))
            stack.enter_context(mock.patch.object(httpx_stubs, "_from_serialized_response", ours))
        aiohttp_stubs = sys.modules.get("vcr.stubs.aiohttp_stubs")
        if aiohttp_stubs is not None:
            replayed = aiohttp_stubs.MockClientResponse
            stack.enter_context(mock.patch.object(replayed, "read", _aiohttp_read))
            stack.enter_context(mock.patch.object(replayed, "text", _aiohttp_text))
            stack.enter_context(mock.patch.object(replayed, "json", _aiohttp_json))
            stack.enter_context(_aiohttp_streams(aiohttp_stubs))
            build = aiohttp_stubs.build_response
            stack.enter_context(
                mock.patch.object(aiohttp_stubs, "build_response", _with_version(build))
            )
        yield


def _httpx_headers(headers: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """vcrpy's replayed httpx headers, with values outside ASCII as the bytes httpx decoded:
    httpx encodes a text value as ASCII (a recorded `filename="café"` raised
    UnicodeEncodeError), and decodes all of a response's values with one codec, ASCII, else
    UTF-8, else latin-1. So UTF-8, unless every value fits latin-1 and those bytes are not
    UTF-8 (then httpx read them as latin-1)."""
    pairs = [
        (name, value)
        for name, values in headers.items()
        for value in (values if isinstance(values, list) else [values])
    ]
    texts = [v for _, v in pairs if isinstance(v, str) and not v.isascii()]
    if not texts:
        return pairs
    codec = "utf-8"
    try:
        raw = [text.encode("latin-1") for text in texts]
    except UnicodeEncodeError:
        raw = []  # beyond latin-1: UTF-8
    if any(not _is_utf8(value) for value in raw):  # as httpx tries its codecs: value by value
        codec = "latin-1"
    return [
        (name, value.encode(codec) if isinstance(value, str) and not value.isascii() else value)
        for name, value in pairs
    ]


def _with_http_version(deserialize: Any) -> Any:
    def _deserialize_response(*args: Any, **kwargs: Any) -> Any:
        # The HTTP version httpx's transport reports in `extensions`, which a cassette does not
        # keep: HTTP/1.1 (`r.http_version` said so; `r.extensions["http_version"]` raised).
        replayed = deserialize(*args, **kwargs)
        replayed.extensions.setdefault("http_version", b"HTTP/1.1")
        try:
            _ = replayed.elapsed
        except RuntimeError:  # vcrpy 7's, never closed by a client: `r.elapsed` raised
            replayed.elapsed = datetime.timedelta(0)
        return replayed

    return _deserialize_response


def _with_recorded_length(replay: Any) -> Any:
    def _from_serialized_response(request: Any, recorded: Any, history: Any = None) -> Any:
        # vcrpy 7 builds it with `content=`, for which httpx adds a Content-Length: a chunked
        # response replayed with one it had not live.
        replayed = replay(request, recorded, history)
        if not any(name.lower() == "content-length" for name in recorded.get("headers") or {}):
            replayed.headers.pop("content-length", None)
        return replayed

    return _from_serialized_response


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _httpx_recorded_headers(httpx_response: Any) -> dict[str, list[str]]:
    """A response's headers as vcrpy 7 records them (names as sent), decoded as httpx decodes
    them (ASCII, else UTF-8, else latin-1), not as UTF-8 always."""
    headers = httpx_response.headers
    recorded: dict[str, list[str]] = {}
    for name, value in headers.raw:
        recorded.setdefault(name.decode(headers.encoding), []).append(
            value.decode(headers.encoding)
        )
    return recorded


# vcrpy's aiohttp response decodes as UTF-8 whatever the charset (`text()` of a replayed
# ISO-8859-1 page raised UnicodeDecodeError) and has no HTTP version; aiohttp's own reads the
# charset of the Content-Type. (Without one, a session's `fallback_charset_resolver` is not
# asked: vcrpy builds the response without the session; UTF-8 is assumed, as by default.)


async def _aiohttp_read(self: Any) -> bytes:
    # aiohttp's reads the body from `content` the first time, as live: what `content` has not
    # given yet, and `content.at_eof()` after it (vcrpy's returned the whole body every time).
    if not self.__dict__.get("_cassette_read"):
        self._cassette_read = True
        from aiohttp import streams

        if isinstance(self.content, streams.StreamReader):
            self._body = await self.content.read()
    body: bytes = self._body
    return body


async def _aiohttp_text(self: Any, encoding: str | None = None, errors: str = "strict") -> str:
    body: bytes = await self.read()
    return body.decode(encoding or self.get_encoding(), errors=errors)


async def _aiohttp_json(self: Any, **kwargs: Any) -> Any:
    # aiohttp's own: its Content-Type check too (vcrpy's parsed an HTML error page and gave
    # JSONDecodeError, or None for an empty body, where aiohttp raises ContentTypeError).
    from aiohttp import ClientResponse

    return await ClientResponse.json(self, **kwargs)


def _with_version(build: Any) -> Any:
    def build_response(*args: Any, **kwargs: Any) -> Any:
        built = build(*args, **kwargs)
        if built.version is None:
            from aiohttp import HttpVersion11

            built.version = HttpVersion11  # what vcrpy's recording does not keep
        return built

    return build_response


class _NoConnection:
    """The protocol aiohttp's StreamReader pauses and resumes: a body known up front has none."""

    _reading_paused = False
    connected = False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self, resume_parser: bool = True) -> None:
        pass


@contextlib.contextmanager
def _aiohttp_streams(stubs: Any) -> Iterator[None]:
    """vcrpy 7's (Python 3.9's) aiohttp `content`, recording and replaying, as vcrpy 8+'s:
    aiohttp's own StreamReader, not asyncio's (`content.total_bytes` raised AttributeError,
    and aiohttp's other stream API was missing), and one stream per replayed response, not a
    new one at each `r.content` (`content.read(10)`, then `read()` gave the whole body)."""
    from unittest import mock

    from aiohttp import streams

    if issubclass(stubs.MockStream, streams.StreamReader):  # vcrpy 8+
        yield
        return

    class MockStream(streams.StreamReader):
        def __init__(self) -> None:  # vcrpy 7 feeds it the body, then its end
            protocol: Any = _NoConnection()
            loop = asyncio.get_event_loop()
            super().__init__(protocol, 2**16, loop=loop)  # a live session's read_bufsize

    new_stream = stubs.MockClientResponse.content.fget

    def content(self: Any) -> Any:
        if "_cassette_content" not in self.__dict__:
            self._cassette_content = new_stream(self)
        return self._cassette_content

    build = stubs.build_response

    def build_response(*args: Any, **kwargs: Any) -> Any:
        built = build(*args, **kwargs)
        # vcrpy 7 closes what it builds, which ends its stream with "Connection closed": the
        # client gets a fresh one, as vcrpy 7's new stream per `r.content` did.
        built.__dict__.pop("_cassette_content", None)
        return built

    with (
        mock.patch.object(stubs, "MockStream", MockStream),
        mock.patch.object(stubs.MockClientResponse, "content", property(content)),
        mock.patch.object(stubs, "build_response", build_response),
    ):
        yield
