"""urllib3 2's own response around a replayed one, as urllib3's connection builds it.

urllib3 2's `HTTPConnection.getresponse` wraps http.client's response in urllib3's
`HTTPResponse`. vcrpy's stub connections override it and hand the pool the stub response
itself, so under urllib3 2 what urllib3 and requests (`r.raw`) got from a cassette was vcrpy's
stub: not a `urllib3.BaseHTTPResponse`, without `read_chunked`, `shutdown`, `connection`,
`chunked`, ..., with `tell()`, `closed`, `url` and `info()` answering otherwise, and
`preload_content`, `decode_content` and `enforce_content_length` ignored. While our patches
are on, the stub connections urllib3's and requests' pools use keep what `urlopen` asks of the
response in `request()`, and `getresponse` wraps the stub as urllib3's own does. urllib3 1.x
wraps it in `urlopen` already; urllib3-future (which niquests installs as `urllib3`) builds its
responses otherwise: both are left alone.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
from collections.abc import Iterator
from typing import Any, ClassVar, NamedTuple

from vcr.stubs import VCRConnection

_OPTIONS = "_cassette_response_options"
# Where vcrpy defines the stub connections of urllib3's and requests' pools.
_STUB_MODULES = ("vcr.stubs.urllib3_stubs", "vcr.stubs.requests_stubs")


class Options(NamedTuple):
    """What urlopen asks of a response, as urllib3's connection keeps it from `request()`."""

    method: str
    url: str
    preload_content: bool = True
    decode_content: bool = True
    enforce_content_length: bool = True


def supported() -> Any | None:
    """urllib3's HTTPResponse when urllib3 2 itself is imported, else None."""
    urllib3 = sys.modules.get("urllib3")
    if urllib3 is None or not str(getattr(urllib3, "__version__", "")).startswith("2."):
        return None
    if hasattr(getattr(urllib3, "util", None), "traffic_police"):
        return None  # urllib3-future
    return getattr(urllib3, "HTTPResponse", None)


@functools.cache
def _replayed_class(base: Any) -> Any:
    class ReplayedResponse(base):  # type: ignore[misc]
        """urllib3's HTTPResponse. A connection taken out of its pool when its cassette test
        ended gives back only its slot, as vcrpy's stub response gives it: put back, the
        next request on that pool would go through a stub whose test is over."""

        # Nothing to decode, whatever Content-Encoding says: a cassette's body is stored
        # decoded, and the one a recording hands on is the live response's `.data`, which
        # urllib3 has decoded already (under the headers it came with).
        CONTENT_DECODERS: ClassVar[list[str]] = []

        def release_conn(self) -> None:
            pool: Any = self._pool
            if pool is not None and getattr(self.connection, "_vcr_cassette_exited", False):
                pool._put_conn(None)
                self._connection = None
                return
            super().release_conn()

    return ReplayedResponse


@functools.cache
def _parameters(base: Any) -> frozenset[str]:
    return frozenset(inspect.signature(base).parameters)


def _shut_down(stub: Any, how: int) -> None:
    """A replayed response has no socket: what its shutdown stops reading is the stub."""
    stub._forget_body()


def wrap(stub: Any, options: Options, version_string: str = "HTTP/1.1") -> Any:
    """`stub` (our CassetteResponse) in urllib3's HTTPResponse, as urllib3 2's connection
    wraps http.client's response."""
    base = supported()
    if base is None:
        return stub
    from urllib3 import HTTPHeaderDict

    headers = stub.headers  # vcrpy 9's stub connections have made it urllib3's already
    if type(headers) is not HTTPHeaderDict:
        headers = HTTPHeaderDict(stub.getheaders())
    # What newer urllib3 versions take: the version string (2.?+), sock_shutdown (2.3+).
    newer = {"version_string": version_string, "sock_shutdown": functools.partial(_shut_down, stub)}
    taken = _parameters(base)
    extra = {name: value for name, value in newer.items() if name in taken}
    response = _replayed_class(base)(
        body=stub,
        headers=headers,
        status=stub.status,
        version=stub.version,
        reason=stub.reason,
        preload_content=False,
        decode_content=options.decode_content,
        original_response=stub,
        enforce_content_length=options.enforce_content_length,
        request_method=options.method,
        request_url=options.url,
        **extra,
    )
    remaining = response.length_remaining
    if remaining is not None and remaining != stub.length_remaining:
        # A body edited in the cassette under its old Content-Length: played whole, as vcrpy
        # played it, not cut short or failed with IncompleteRead.
        response.enforce_content_length = False
    if options.preload_content:  # as HTTPResponse.__init__ preloads
        response._body = response.read(decode_content=options.decode_content)
    return response


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """vcrpy's stub connections of urllib3's and requests' pools answering with urllib3's
    HTTPResponse (a no-op but under urllib3 2)."""
    from unittest import mock

    with contextlib.ExitStack() as stack:
        if supported() is not None:
            for stub_class in _stub_classes():
                for attribute, method in (("request", _request), ("getresponse", _get)):
                    patched = functools.partialmethod(method, stub_class)
                    stack.enter_context(mock.patch.object(stub_class, attribute, patched))
        yield


def _stub_classes() -> Iterator[type]:
    """vcrpy's stub connections defined in its modules for urllib3's and requests' pools,
    found through their base class: a pytester run may have dropped those modules from
    sys.modules, not the patches that use their classes."""
    pending: list[type] = [VCRConnection]
    while pending:
        stub_class = pending.pop()
        pending.extend(stub_class.__subclasses__())
        if stub_class.__module__ in _STUB_MODULES:
            yield stub_class


def _request(
    self: Any,
    stub_class: Any,
    method: str,
    url: str,
    body: Any = None,
    headers: Any = None,
    *args: Any,
    **kwargs: Any,
) -> Any:
    # Kept out of the stub's __setattr__, which sets every attribute on the real connection too.
    self.__dict__[_OPTIONS] = Options(
        method,
        url,
        kwargs.get("preload_content", True),
        kwargs.get("decode_content", True),
        kwargs.get("enforce_content_length", True),
    )
    return super(stub_class, self).request(method, url, body, headers, *args, **kwargs)


def _get(self: Any, stub_class: Any, *args: Any, **kwargs: Any) -> Any:
    options = self.__dict__.pop(_OPTIONS, None)  # this request's only, even if it raises
    stub = super(stub_class, self).getresponse(*args, **kwargs)
    if options is None:  # sent with putrequest() and the like: urllib3's would refuse
        return stub
    return wrap(stub, options, getattr(self, "_http_vsn_str", None) or "HTTP/1.1")
