"""HTTP libraries patched once per process, each request routed to the running test's cassette.

vcrpy's stubs talk to "a cassette" through a handful of methods. The Router is that cassette
for the whole session: vcrpy's patchers are built once, bound to the router, and switched on
while cassette tests run; the router hands every call to the cassette of the running test.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from unittest import mock

from pytest_cassettes.cassette import Cassette


class Router:
    """Stands in for vcrpy's Cassette inside its stubs."""

    _path = "pytest-cassettes"  # vcrpy names its stub subclasses after the cassette's path
    custom_patches: tuple[Any, ...] = ()
    skip_patchers: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.active: Cassette | None = None

    def can_play_response_for(self, request: Any) -> bool:
        __tracebackhide__ = True
        active = self.active
        return active is not None and active.can_play(request)

    def play_response(self, request: Any) -> dict[str, Any]:
        __tracebackhide__ = True
        if self.active is None:
            raise RuntimeError("pytest-cassettes: a response was asked for outside a cassette test")
        return self.active.play(request)

    @property
    def write_protected(self) -> bool:
        active = self.active
        return active is not None and not active.can_record

    def filter_request(self, request: Any) -> Any:
        active = self.active
        return request if active is None else active.prepared(request)

    def append(self, request: Any, response: dict[str, Any]) -> None:
        if self.active is not None:
            self.active.record(request, response)

    def find_requests_with_most_matches(
        self, request: Any
    ) -> list[tuple[Any, list[Any], list[Any]]]:
        # aiohttp's stub follows recorded redirects by asking for the closest stored requests.
        active = self.active
        if active is None:
            return []
        prepared = active.prepared(request)
        if prepared is None:
            return []
        return [
            (entry.request, [], [])
            for entry in active.entries
            if entry.request.method == prepared.method and entry.request.uri == prepared.uri
        ]

    @property
    def record_mode(self) -> str:
        return self.active.record_mode if self.active is not None else "none"

    @property
    def allow_playback_repeats(self) -> bool:
        return self.active is not None and self.active.allow_playback_repeats


class FastReset:
    """vcrpy's `force_reset()`, without rebuilding its mock patchers on every connection.

    vcrpy's stubs put the real HTTP classes back while they open a real connection, and do so
    in every stub connection's `__init__`, replayed or not, by building and entering some
    twenty `mock.patch` objects: about 1 ms a connection, the largest cost of a replayed test.
    The swaps are the same every time, so they are read once from vcrpy's own
    `reset_patchers()` and applied with plain attribute assignments.
    """

    def __init__(self) -> None:
        from vcr.patch import reset_patchers

        self.swaps = [(p.getter(), p.attribute, p.new) for p in reset_patchers()]

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        saved = [(t, a, a in vars(t), getattr(t, a, None)) for t, a, _ in self.swaps]
        for target, attribute, original in self.swaps:
            setattr(target, attribute, original)
        try:
            yield
        finally:
            for target, attribute, owned, value in reversed(saved):
                if owned:
                    setattr(target, attribute, value)
                else:
                    with contextlib.suppress(AttributeError):
                        delattr(target, attribute)


class Patches:
    """vcrpy's patchers, built once and bound to the router; switched on for cassette tests."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._patchers: list[Any] | None = None
        self._stack: contextlib.ExitStack | None = None
        self._fast_reset: FastReset | None = None

    @property
    def on(self) -> bool:
        return self._stack is not None

    def switch_on(self) -> None:
        """Patch every installed HTTP library (a no-op when already on)."""
        if self._stack is not None:
            return
        import vcr.patch

        if self._patchers is None:
            self._fast_reset = FastReset()
            self._patchers = list(vcr.patch.CassettePatcherBuilder(self.router).build())
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(mock.patch.object(vcr.patch, "force_reset", self._fast_reset))
            for patcher in self._patchers:
                stack.enter_context(patcher)
        except BaseException:
            stack.close()
            raise
        self._stack = stack

    def switch_off(self) -> None:
        """Put the real HTTP libraries back (a no-op when already off)."""
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()
