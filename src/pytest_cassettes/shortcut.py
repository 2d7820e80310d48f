"""requests' replayed responses without urllib3's connection pool.

Through vcrpy's stubs, a replayed `requests` call still builds a urllib3 pool manager, a pool
and a stub connection, and goes through `urlopen`: about 0.3 ms a request here, more than
requests' own work and more than the lookup and the response. While our patches are on,
`HTTPAdapter.send` first asks the running test's cassette for a recorded response to the very
request vcrpy's stub would have built (same URI, method, headers and body); when it has one,
the adapter builds its Response from urllib3's response around our stub response, as urlopen
would have handed it over (urllib3_response.py).
Anything else goes the usual way, down to vcrpy's stubs, unchanged: a miss, a request to
record (every request in `all` mode), a proxy, a streamed (iterator or file) body, an adapter
that overrides how requests are sent or how its pool is chosen (`add_headers`, `request_url`,
`cert_verify`, `get_connection_with_tls_context`, ...), a pool manager or pool class other than
urllib3's own, a recorded status the adapter's `Retry` would retry (urlopen then replays the
next one), another tool wrapping `send`, urllib3 1.x or urllib3-future. `cert=` and `timeout=`
are checked first, as `send` checks them, so a refused request plays nothing.

The shortcut is taken only when the adapter's pool class for the scheme uses vcrpy's stub
connection bound to our router, so a request it replays is one the stub path would have
replayed from the same cassette; tests replay the same requests both ways and compare. On a
miss, the cassette keeps the request it filtered and scrubbed for the stubs' path, which asks
for the same request next on the same thread (`Cassette.take`, `Cassette.prepared`), and
forgets it once that send returns or raises.
"""

from __future__ import annotations

import contextlib
import sys
import types
from typing import Any

from pytest_cassettes import response, urllib3_response

ENABLED = True  # tests turn it off to compare with the stubs' path


def patched(router: Any) -> contextlib.AbstractContextManager[Any] | None:
    """`HTTPAdapter.send` taking the shortcut while `router` has a cassette, or None when
    requests (or urllib3 2) is not imported."""
    adapters = sys.modules.get("requests.adapters")
    urllib3 = sys.modules.get("urllib3")
    if adapters is None or urllib3 is None:
        return None
    if urllib3_response.supported() is None:
        return None  # urllib3 1.x wraps the stub response in urlopen: not reproduced here
    from unittest import mock

    import urllib3.connectionpool as cpool
    from requests.utils import select_proxy
    from vcr.request import Request

    try:
        from urllib3.util.url import _encode_target
    except ImportError:  # pragma: no cover - private; then no shortcut
        return None
    from urllib3 import PoolManager
    from urllib3.util.retry import Retry

    adapter_class = adapters.HTTPAdapter
    original = adapter_class.send
    code = getattr(original, "__code__", None)
    if code is None or code.co_filename != getattr(adapters, "__file__", None):
        return None  # another tool (responses, a user's wrapper) sees requests there first
    default_port = {"http": 80, "https": 443}
    # What send calls to pick the pool (whose host and port the stub spells the URI from),
    # check the arguments and build the request: a subclass overriding one takes the stubs'.
    own = {
        name: getattr(adapter_class, name)
        for name in (
            "cert_verify",
            "request_url",
            "add_headers",
            "get_connection",
            "get_connection_with_tls_context",
            "build_connection_pool_key_attributes",
        )
        if hasattr(adapter_class, name)
    }
    pool_classes = {"http": cpool.HTTPConnectionPool, "https": cpool.HTTPSConnectionPool}

    def replay(
        adapter: Any,
        request: Any,
        timeout: Any,
        verify: Any,
        cert: Any,
        proxies: Any,
    ) -> Any | None:
        active = router.active
        if active is None or not active.entries or not ENABLED:
            return None
        body = request.body
        if body is not None and not isinstance(body, (bytes, str)):
            return None  # a stream: the stub reads it as it is sent
        if any(getattr(type(adapter), name) is not func for name, func in own.items()):
            return None
        url = request.url
        if proxies and select_proxy(url, proxies):
            return None
        parsed = request_url_parts(url)
        if parsed is None:
            return None
        scheme, host, port = parsed
        manager = getattr(adapter, "poolmanager", None)
        if type(manager) is not PoolManager:
            return None  # a ProxyManager, or one choosing its pools its own way
        pool_class = manager.pool_classes_by_scheme.get(scheme)
        if pool_class is not pool_classes[scheme]:
            return None  # a pool of its own may send (and spell the request) differently
        connection_class = getattr(pool_class, "ConnectionCls", None)
        if getattr(connection_class, "cassette", None) is not router:
            return None  # the stub path would not reach this cassette either
        retries = adapter.max_retries
        if not isinstance(retries, Retry):
            return None  # urlopen makes one of it
        # send's checks, in its order, before the cassette is asked: a request they refuse
        # plays nothing.
        adapter.cert_verify(types.SimpleNamespace(), url, verify, cert)
        _check_timeout(adapters, timeout)
        port = port or default_port[scheme]
        host = cpool._normalize_host(host.lower(), scheme).rstrip(".")
        if ":" in host:
            host = f"[{host}]"  # as our patch of the stubs spells it (patching.py)
        postfix = "" if port == default_port[scheme] else f":{port}"
        target = _encode_target(request.path_url)
        uri = f"{scheme}://{host}{postfix}{target}"
        method = request.method

        def final(recorded: dict[str, Any]) -> bool:
            # urlopen replays another response when the adapter's Retry retries this one.
            headers = recorded.get("headers") or {}
            after = any(str(name).lower() == "retry-after" for name in headers)
            return not retries.is_retry(method, recorded["status"]["code"], after)

        played = active.take(
            Request(method=method, uri=uri, body=body, headers=request.headers), final
        )
        if played is None:
            return None
        # What urlopen would have handed requests: urllib3's response around the stub.
        options = urllib3_response.Options(method, target, False, False)
        raw = urllib3_response.wrap(response.CassetteResponse(played, uri), options)
        raw.retries = retries  # as urlopen leaves it on a response it did not retry
        return adapter.build_response(request, raw)

    def send(
        self: Any,
        request: Any,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> Any:
        replayed = replay(self, request, timeout, verify, cert, proxies)
        if replayed is not None:
            return replayed
        try:
            return original(
                self,
                request,
                stream=stream,
                timeout=timeout,
                verify=verify,
                cert=cert,
                proxies=proxies,
            )
        finally:
            active = router.active
            if active is not None:
                active.drop_carried()  # what take prepared serves this send only

    send.__wrapped__ = original  # type: ignore[attr-defined]
    return mock.patch.object(adapter_class, "send", send)


def request_url_parts(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) as requests hands them to urllib3's pool manager, or None."""
    from urllib.parse import urlparse

    try:
        parsed = urlparse(url)
        port = parsed.port
    except ValueError:
        return None
    scheme = parsed.scheme.lower()
    host = parsed.hostname
    if scheme not in ("http", "https") or not host:
        return None
    return scheme, host, port


def _check_timeout(adapters: types.ModuleType, timeout: Any) -> None:
    """requests' check of `timeout`, raising its errors (urllib3's Timeout refuses 0 too)."""
    sauce = adapters.TimeoutSauce
    if isinstance(timeout, tuple):
        try:
            connect, read = timeout
            sauce(connect=connect, read=read)
        except ValueError:
            raise ValueError(
                f"Invalid timeout {timeout}. Pass a (connect, read) timeout tuple, "
                f"or a single float to set both timeouts to the same value."
            ) from None
    elif not isinstance(timeout, sauce):
        sauce(connect=timeout, read=timeout)
