"""Mocking libraries that answer below vcrpy's stubs: their answers are theirs, not the cassette's.

respx mocks httpx by default one layer under the transport vcrpy patches (httpcore's connection
pools, `respx.mock(using="httpcore")`). vcrpy's stub runs first: recording, it sent the request
on, respx answered it, and the mocked answer was written into the cassette; replaying, the
cassette answered and respx was never asked (its routes not called, `assert_all_called`
failing, a changed mock never seen). A request respx answers (a route that is not a
pass-through, or none: respx's auto-answer or its "not mocked" error) now skips the cassette
and goes to respx, in every run; a pass-through route's request goes through the cassette (it
is what reaches the network). respx's `using="httpx"` hands the client a MockTransport, which
is never patched (see libraries.IN_PROCESS_TRANSPORTS).
"""

from __future__ import annotations

import functools
import sys
from types import ModuleType
from typing import Any

from pytest_cassettes import libraries


class _PassThrough:
    """The respx route a request passes through, and its router (which counts the call)."""

    def __init__(self, router: Any, route: Any) -> None:
        self.router, self.route = router, route
        self.calls = len(route.calls)

    def replayed(self, request: Any) -> None:
        """The cassette answered (respx never saw the request): count the call as respx does
        for a pass-through, so `route.called` and `assert_all_called` hold on replay too."""
        if len(self.route.calls) == self.calls:
            self.router.record(request, response=None, route=self.route)


def respx_route(request: Any) -> bool | _PassThrough | None:
    """What respx's httpcore mock, when started, does with the httpx `request`: True when it
    answers it itself, its pass-through route when it sends it on, None when it is not on."""
    mocks = sys.modules.get("respx.mocks")
    mocker = getattr(mocks, "HTTPCoreMocker", None)
    if mocker is None or not getattr(mocker, "_patches", None):
        return None
    routers = list(getattr(mocker, "routers", ()))
    for router in routers:
        for route in list(getattr(router, "routes", ())):
            pattern = getattr(route, "pattern", None)
            try:
                matched = pattern is None or bool(pattern.match(request))
            except Exception:  # a pattern respx itself would fail on: let respx say so
                return True
            if matched:
                passes = getattr(route, "is_pass_through", False)
                return _PassThrough(router, route) if passes else True
        if not getattr(router, "_assert_all_mocked", True):
            return True  # respx answers an unmatched request itself (200, empty)
    return bool(routers) or None  # every router refuses it: respx raises its "not mocked"


def respx_aware(new: Any, real: Any, asynchronous: bool) -> Any:
    """vcrpy's replacement of an httpx transport's method, stepping aside for respx."""
    if asynchronous:

        @functools.wraps(new)
        async def handle_async_request(self: Any, request: Any) -> Any:
            route = respx_route(request)
            if route is True:
                return await real(self, request)
            response = await new(self, request)
            if isinstance(route, _PassThrough):
                route.replayed(request)
            return response

        return handle_async_request

    @functools.wraps(new)
    def handle_request(self: Any, request: Any) -> Any:
        route = respx_route(request)
        if route is True:
            return real(self, request)
        response = new(self, request)
        if isinstance(route, _PassThrough):
            route.replayed(request)
        return response

    return handle_request


# httpx's network transports, the method vcrpy patches, and where vcr.patch keeps the real one.
_HTTPX_NETWORK_TRANSPORTS = {
    ("HTTPTransport", "handle_request"): "_HttpxHttpTransport_handle_request",
    ("AsyncHTTPTransport", "handle_async_request"): "_HttpxAsyncHttpTransport_handle_async_request",
}


def step_aside(vcr_patch: ModuleType, patchers: list[Any]) -> list[Any]:
    """vcrpy's patchers, those of httpx's network transports letting respx answer first."""
    for patcher in patchers:
        target = libraries.patched_class(patcher)
        if target is None or target.__module__.partition(".")[0] != "httpx":
            continue
        attribute = str(getattr(patcher, "attribute", ""))
        name = _HTTPX_NETWORK_TRANSPORTS.get((target.__name__, attribute), "")
        real = getattr(vcr_patch, name, None) if name else None
        if real is not None:
            patcher.new = respx_aware(patcher.new, real, attribute == "handle_async_request")
    return patchers
