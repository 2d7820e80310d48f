"""HTTP libraries patched once per process, each request routed to the running test's cassette.

vcrpy's stubs talk to "a cassette" through a handful of methods. The Router is that cassette
for the whole session: vcrpy's patchers are built once, bound to the router, and switched on
while cassette tests run; the router hands every call to the cassette of the running test.

Two of vcrpy's per-cassette habits change with patches that stay on all session: the
connections its removers hold are closed when each test ends (kept to the session's end, a
recording run held a socket per recorded request), and its process-wide `force_reset` is
replaced by a narrow, counted one (NarrowReset) so other threads' requests stay recorded.
"""

from __future__ import annotations

import contextlib
import http.client
import queue
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from pytest_cassettes import (
    already_decoded,
    libraries,
    mocking,
    response,
    shortcut,
    urllib3_response,
)
from pytest_cassettes.bodies import normalize_response
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

    def append(self, request: Any, response: dict[str, Any], decoded: bool | None = None) -> None:
        """Record a live response; `decoded`: whether the client library decoded its body
        already (aiohttp's stub says; vcrpy's connection stub is asked: already_decoded.py)."""
        if decoded is None:
            decoded = already_decoded.take(response)
        # Decoded once, for the cassette and for the client (a `before_record_response` hook
        # is still handed the response as the library gave it: Cassette.record).
        stored = normalize_response(response, decoded)
        if self.active is not None:
            self.active.record(request, response, decoded, stored)
        # vcrpy's http.client stub hands the client a response built from this very dict: it
        # gets the body and headers as they will replay (decoded, no Content-Encoding). Under
        # urllib3 2 the body is decoded already and the live headers still said gzip: a client
        # decompressing what Content-Encoding names failed recording, and passed replaying.
        if stored is not response:  # headers of its own: the stubs may edit the client's
            response["headers"], response["body"] = dict(stored["headers"]), stored["body"]

    def find_requests_with_most_matches(
        self, request: Any
    ) -> list[tuple[Any, list[Any], list[Any]]]:
        # aiohttp's stub follows recorded redirects by asking for the closest stored requests
        # and playing the first one that can play (see Cassette.redirect_hops).
        active = self.active
        if active is None:
            return []
        prepared = active.prepared(request)
        if prepared is None:
            return []
        return [(hop, [], []) for hop in active.redirect_hops(prepared)]

    @property
    def record_mode(self) -> str:
        return self.active.record_mode if self.active is not None else "none"

    @property
    def allow_playback_repeats(self) -> bool:
        return self.active is not None and self.active.allow_playback_repeats


class NarrowReset:
    """A thread-safe stand-in for vcrpy's `force_reset`, installed while our patches are on.

    vcrpy's stubs build the real connection, and send recorded-to-be requests, inside
    `force_reset()`, which puts back the real class of every patched library, process-wide,
    for the whole network round trip. Any other thread that opens a connection meanwhile gets
    the real class and its request is neither recorded nor replayed (vcrpy#295, #849): a
    ThreadPoolExecutor recording 16 requests saved 2 of them. The reset is only needed where
    the real class names itself by its module-level name, which the patch replaced:
    `http.client.HTTPSConnection.__init__` (`super(HTTPSConnection, self)`) and urllib3 1.x's
    connection classes (`HTTPConnection.__init__(self, ...)`). Only those names are put back,
    counted, so overlapping windows of several threads end with the patches in place.
    Connection pools (requests, urllib3, botocore), httpx and aiohttp never read those names.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._patched: list[tuple[Any, str, Any]] = []

    @staticmethod
    def _originals() -> list[tuple[Any, str, Any]]:
        vcr_patch = libraries.patch_module()
        names = [(http.client, "HTTPSConnection", getattr(vcr_patch, "_HTTPSConnection", None))]
        try:
            import urllib3
            import urllib3.connection as conn
        except ImportError:  # pragma: no cover - urllib3 is optional
            pass
        else:
            if str(getattr(urllib3, "__version__", "")).startswith("1."):
                for name, saved in (
                    ("HTTPConnection", "_connHTTPConnection"),
                    ("HTTPSConnection", "_connHTTPSConnection"),
                    ("VerifiedHTTPSConnection", "_VerifiedHTTPSConnection"),
                ):
                    names.append((conn, name, getattr(vcr_patch, saved, None)))
        return [(module, name, real) for module, name, real in names if real is not None]

    def __call__(self) -> NarrowReset:
        return self

    def __enter__(self) -> None:
        with self._lock:
            self._depth += 1
            if self._depth == 1:
                originals = self._originals()
                self._patched = [(m, name, getattr(m, name)) for m, name, _ in originals]
                for module, name, real in originals:
                    setattr(module, name, real)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                for module, name, patched in self._patched:
                    setattr(module, name, patched)
                self._patched = []


def _ipv6_host(connection: Any) -> str | None:
    """The stub's host when it is an IPv6 address vcrpy would spell without brackets."""
    real_host = getattr(connection, "_real_host", None)  # vcrpy 8+; 7 used the host itself
    host = real_host() if real_host is not None else connection.real_connection.host
    return host if isinstance(host, str) and ":" in host and not host.startswith("[") else None


@contextlib.contextmanager
def bracketed_ipv6_uris() -> Iterator[None]:
    """vcrpy's stubs spell a request's URI from the connection's host as is: `http://::1:8/x`,
    which no URL parser reads, and whose port cannot be told from the address. While our
    patches are on, the URI they build has the host in brackets, and the selector they take
    back out of it to send the request is unchanged."""
    from unittest import mock

    from vcr import stubs

    connection_class = stubs.VCRConnection
    original_uri, original_url = connection_class._uri, connection_class._url

    def _uri(self: Any, url: str) -> str:
        uri: str = original_uri(self, url)
        host = _ipv6_host(self)
        if host is not None:
            bare = f"{self._protocol}://{host}"
            if uri.startswith(bare):
                uri = f"{self._protocol}://[{host}]{uri[len(bare) :]}"
        return uri

    def _url(self: Any, uri: str) -> str:
        host = _ipv6_host(self)
        if host is not None:
            bracketed = f"{self._protocol}://[{host}]"
            if uri.startswith(bracketed):
                uri = f"{self._protocol}://{host}{uri[len(bracketed) :]}"
        url: str = original_url(self, uri)
        return url

    with (
        mock.patch.object(connection_class, "_uri", _uri),
        mock.patch.object(connection_class, "_url", _url),
    ):
        yield


@contextlib.contextmanager
def connecting_requests() -> Iterator[None]:
    """vcrpy's stubs connect a request they record only when its response is asked for, where
    http.client connects in `request()`: a refused or unresolvable host then failed outside
    the handling its caller has for it (urllib raised a bare ConnectionRefusedError, not
    `URLError`). While our patches are on, a request the cassette is to record connects in
    `request()`; the stub's `getresponse` then sends it on that connection."""
    from unittest import mock

    from vcr import stubs

    connection_class = stubs.VCRConnection
    original = connection_class.request

    def request(
        self: Any,
        method: str,
        url: str,
        body: Any = None,
        headers: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        original(self, method, url, body, headers, *args, **kwargs)
        active = getattr(self.cassette, "active", None)
        if active is None or not active.will_send(self._vcr_request):
            return
        real = self.real_connection
        deferred = self.__dict__.get("_deferred_connect")
        with libraries.patch_module().force_reset():
            try:
                if deferred:
                    self._deferred_connect = None
                    real.connect(*deferred[0], **deferred[1])
                elif getattr(real, "sock", None) is None:
                    real.connect()
            except Exception:  # refused, unresolvable, timed out: sent, and no response
                active.connect_failed(self._vcr_request)
                raise

    with mock.patch.object(connection_class, "request", request):
        yield


def _release(remover: Any) -> None:
    """Close the connections a vcrpy ConnectionRemover registered, and forget them.

    Not its `__exit__`: vcrpy 7 and 8 drop the pool slot of each idle connection they close
    (vcrpy does it once per cassette; once per test, a pool with `block=True` runs out of
    slots and waits for ever), and it iterates the registry that another thread's new
    connection may be added to meanwhile."""
    registry = remover._connection_pool_to_connections
    remover._connection_pool_to_connections = {}  # new connections are registered there
    for pool, registered in list(registry.items()):
        connections = set(registered)
        idle = getattr(pool, "pool", None)
        # An open pool: close its idle ones, keeping their slots. Not urllib3-future's pool
        # (niquests installs it as urllib3), a TrafficPolice: its connections are closed below.
        if isinstance(idle, queue.Queue):
            # Each idle one of ours replaced by an empty slot in place, under the queue's own
            # lock: taking every slot out and putting it back cost ~15 us a test.
            idle_ours = []
            with idle.mutex:
                slots = idle.queue
                for index, connection in enumerate(list(slots)):
                    if connection is not None and connection in connections:
                        connections.discard(connection)
                        idle_ours.append(connection)
                        slots[index] = None
            for connection in idle_ours:
                connection.close()
        for connection in connections:  # still in use: closed; vcrpy 9 returns only its slot
            connection._vcr_cassette_exited = True
            connection.close()


class Patches:
    """vcrpy's patchers, built once and bound to the router; switched on for cassette tests.

    They are rebuilt when an HTTP library is imported after they were built (see libraries.py).
    """

    def __init__(self, router: Router) -> None:
        self.router = router
        self._patchers: list[Any] | None = None
        self._stack: contextlib.ExitStack | None = None
        self._was_on = False
        # switch_on under way, and whether an import asked for a rebuild meanwhile (the reload
        # of vcr.patch it needs may be run by switch_on's own thread: see libraries.py).
        self._switching = False
        self._stale = False
        self._stop_watching = libraries.watch(self)

    @property
    def on(self) -> bool:
        return self._stack is not None

    def switch_on(self) -> None:
        """Patch every imported HTTP library (a no-op when already on)."""
        if self._stack is not None:
            return
        self._switching = True
        try:
            self._switch_on()
        finally:
            self._switching = False
        if self._stale:  # a library was imported meanwhile: patch it too
            self._stale = False
            self._off()
            self._patchers = None
            self.switch_on()

    def _switch_on(self) -> None:
        if self._patchers is None:
            self._patchers = mocking.step_aside(libraries.build_patchers(self.router))
        from unittest import mock

        stack = contextlib.ExitStack()
        try:
            for patcher in self._patchers:
                stack.enter_context(patcher)
            stack.enter_context(
                mock.patch.object(libraries.patch_module(), "force_reset", NarrowReset())
            )
            stack.enter_context(response.installed())
            stack.enter_context(already_decoded.installed())
            stack.enter_context(urllib3_response.installed())
            stack.enter_context(bracketed_ipv6_uris())
            stack.enter_context(connecting_requests())
            requests_shortcut = shortcut.patched(self.router)
            if requests_shortcut is not None:
                stack.enter_context(requests_shortcut)
        except BaseException:
            stack.close()
            raise
        self._stack = stack

    def switch_off(self) -> None:
        """Put the real HTTP libraries back (a no-op when already off), until switch_on: an
        import under way does not switch them on again when it ends."""
        self._was_on = False
        self._off()

    def _off(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()

    def release_connections(self) -> None:
        """Close the connections the test's clients opened through urllib3's pools, as vcrpy
        does when a cassette ends. vcrpy's ConnectionRemovers keep every such pool and
        connection until they exit: with the patches on for the whole session, a recording run
        would hold one socket per recorded request until its end (and run out of descriptors)."""
        for patcher in self._patchers or ():
            if getattr(patcher, "_connection_pool_to_connections", None):
                _release(patcher)

    def close(self) -> None:
        """Switch off for good: the end of the session."""
        self.switch_off()
        self._stop_watching()

    def before_import(self) -> None:
        # An HTTP library imported while a test runs: built on the real classes, then patched.
        self._was_on = self._was_on or self.on  # several imports may precede one after_import
        self._off()

    def after_import(self) -> None:
        self._patchers = None
        if self._switching:  # told from inside switch_on: it rebuilds once done
            self._stale = True
            self._was_on = False
            return
        if self.on:  # switched on since the import began (the next test): patch it too
            self._off()
            self._was_on = True
        if self._was_on:
            self._was_on = False
            self.switch_on()
