"""Mocking libraries that answer below vcrpy's stubs: their answers are theirs, not the cassette's.

respx mocks httpx by default one layer under the transport vcrpy patches (httpcore's connection
pools, `respx.mock(using="httpcore")`). vcrpy's stub runs first: recording, it sent the request
on, respx answered it, and the mocked answer was written into the cassette; replaying, the
cassette answered and respx was never asked (its routes not called, `assert_all_called`
failing, a changed mock never seen). So the patched transport asks respx first, as respx's
httpcore mock would (its routers, side effects and call counts): what respx answers (a mocked
route, its auto-answer, its "not mocked" error, a side effect's exception) is respx's, in every
run; what it passes through (a `pass_through()` route, a side effect returning the request) goes
through the cassette, and respx's httpcore mock, under it, sends it on without resolving it a
second time. respx's `using="httpx"` hands the client a MockTransport, never patched (see
libraries.IN_PROCESS_TRANSPORTS), which passes through to the client's transport: the cassette's.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import sys
import threading
from collections.abc import Iterator
from typing import Any

from pytest_cassettes import libraries

# The respx route whose request this context is sending through the cassette: respx resolved
# it already (the call is counted, its side effect ran), its httpcore mock lets it by.
_passing: contextvars.ContextVar[Any] = contextvars.ContextVar("respx_passing", default=None)
_gating = threading.Lock()


def _respx_mocks() -> Any:
    """respx's mocks module when its httpcore mock is on with routers; None otherwise (and
    without respx imported, a dict lookup)."""
    mocks = sys.modules.get("respx.mocks")
    mocker = getattr(mocks, "HTTPCoreMocker", None)
    if mocker is None or not getattr(mocker, "_patches", None) or not mocker.routers:
        return None
    return mocks


@contextlib.contextmanager
def _passing_through(mocks: Any, route: Any) -> Iterator[None]:
    """respx's httpcore mock sends this context's request on unresolved, as a pass-through
    of `route` (its handlers are gated once per process: inert outside this block)."""
    mocker = mocks.HTTPCoreMocker
    with _gating:
        if not getattr(mocker.handler, "_cassettes_gate", False):
            mocker.handler = staticmethod(_gate(mocks, mocker.handler, asynchronous=False))
            mocker.async_handler = staticmethod(
                _gate(mocks, mocker.async_handler, asynchronous=True)
            )
    token = _passing.set(route)
    try:
        yield
    finally:
        _passing.reset(token)


def _gate(mocks: Any, handler: Any, asynchronous: bool) -> Any:
    """respx's mocker `handler`, raising respx's PassThrough (respx then calls the real
    httpcore) for a request the transport above is passing through."""

    def passing(request: Any) -> None:
        route = _passing.get()
        if route is not None:
            raise mocks.PassThrough("passed through a cassette", request=request, origin=route)

    if asynchronous:

        async def gated_async(request: Any) -> Any:
            passing(request)
            return await handler(request)

        gated: Any = gated_async
    else:

        def gated(request: Any) -> Any:
            passing(request)
            return handler(request)

    gated._cassettes_gate = True
    return gated


def respx_aware(new: Any, asynchronous: bool) -> Any:
    """vcrpy's replacement of an httpx transport's method, asking respx's mock first."""
    if asynchronous:

        @functools.wraps(new)
        async def handle_async_request(self: Any, request: Any) -> Any:
            mocks = _respx_mocks()
            if mocks is None:
                return await new(self, request)
            await request.aread()  # respx's patterns may match the body
            try:
                return await mocks.HTTPCoreMocker.async_handler(request)
            except mocks.PassThrough as passing:
                route = passing.origin
            with _passing_through(mocks, route):
                return await new(self, request)

        return handle_async_request

    @functools.wraps(new)
    def handle_request(self: Any, request: Any) -> Any:
        mocks = _respx_mocks()
        if mocks is None:
            return new(self, request)
        request.read()
        try:
            return mocks.HTTPCoreMocker.handler(request)
        except mocks.PassThrough as passing:
            route = passing.origin
        with _passing_through(mocks, route):
            return new(self, request)

    return handle_request


# httpx's network transports and the method vcrpy patches on each.
_HTTPX_NETWORK_TRANSPORTS = {
    ("HTTPTransport", "handle_request"),
    ("AsyncHTTPTransport", "handle_async_request"),
}


def step_aside(patchers: list[Any]) -> list[Any]:
    """vcrpy's patchers, those of httpx's network transports letting respx answer first."""
    for patcher in patchers:
        target = libraries.patched_class(patcher)
        if target is None or target.__module__.partition(".")[0] != "httpx":
            continue
        attribute = str(getattr(patcher, "attribute", ""))
        if (target.__name__, attribute) in _HTTPX_NETWORK_TRANSPORTS:
            patcher.new = respx_aware(patcher.new, attribute == "handle_async_request")
    return patchers
