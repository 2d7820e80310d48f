"""A small threaded HTTP/1.1 server on the loopback interface, for tests with real clients.

    from tests.httpserver import LocalServer

    with LocalServer() as server:
        server.route("/gzip", body=b"hello", headers={"X-Kind": "demo"}, encoding="gzip")
        requests.get(server.url("/gzip"))            # served from the route
        requests.post(server.url("/echo?a=1"), data=b"x")  # no route: echoed as JSON
        assert server.hits == 2
        assert server.requests[-1].body == b"x"

As fixtures (in a conftest.py or a test module), one server per module, fresh for each test:

    @pytest.fixture(scope="module")
    def module_server() -> Iterator[LocalServer]:
        with LocalServer() as server:
            yield server

    @pytest.fixture
    def server(module_server: LocalServer) -> LocalServer:
        module_server.reset()
        return module_server

A path without a route answers 200 with a JSON echo of the request:
``{"method", "path", "headers", "body"}`` (``path`` with its query string, ``body`` decoded as
UTF-8 with replacement). Routes match on the path without the query string, for every method.
``LocalServer("::1")`` serves on IPv6. Keep-alive works: every response has a Content-Length
(or is chunked), but a 204's or a 304's, which has no body.
"""

from __future__ import annotations

import gzip
import json
import socket
import socketserver
import sys
import threading
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

__all__ = ["LocalServer", "RecordedRequest", "Route"]

ENCODERS = {"gzip": gzip.compress, "deflate": zlib.compress, "identity": bytes}


@dataclass(frozen=True)
class Route:
    """A canned response. ``encoding`` ("gzip" or "deflate") compresses ``body`` on the wire;
    ``chunk`` > 0 sends it chunked, in chunks of that many bytes, without a Content-Length;
    ``reason``: the status line's reason phrase (default: the status code's)."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    encoding: str | None = None
    chunk: int = 0
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.encoding is not None and self.encoding not in ENCODERS:
            raise ValueError(f"unknown encoding {self.encoding!r}; use one of {list(ENCODERS)}")


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server received it (body de-chunked)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


class LocalServer:
    """A ThreadingHTTPServer on ``host`` (port 0: a free one) in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.routes: dict[str, Route] = {}
        # The Date header of every answer, when set: answers alike across a second's boundary.
        self.fixed_date: str | None = None
        self.requests: list[RecordedRequest] = []
        # What a request's handling raised (a client gone mid-response, a malformed request):
        # kept here, never printed (see _Server.handle_error).
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def hits(self) -> int:
        """How many requests the server has received."""
        with self._lock:
            return len(self.requests)

    @property
    def base_url(self) -> str:
        """``http://host:port``, with IPv6 hosts in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url(self, path: str = "/") -> str:
        """The full URL of ``path`` on this server."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def route(
        self,
        path: str,
        *,
        status: int = 200,
        body: bytes | str = b"",
        headers: Mapping[str, str | Sequence[str]] | None = None,
        encoding: str | None = None,
        chunk: int = 0,
        reason: str | None = None,
    ) -> Route:
        """Serve this response at ``path`` (any method); a str body is sent as UTF-8."""
        data = body.encode() if isinstance(body, str) else body
        route = Route(status, data, dict(headers or {}), encoding, chunk, reason)
        self.routes[path] = route
        return route

    def reset(self) -> None:
        """Forget the requests received and the routes: as good as a new server."""
        with self._lock:
            self.requests.clear()
            self.errors.clear()
        self.routes.clear()
        self.fixed_date = None

    def start(self) -> LocalServer:
        """Bind and serve in a background thread; returns self."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        server_class = type("_Server", (_Server,), {"address_family": family, "owner": self})
        self._server = server_class((self.host, 0), _handler_for(self))
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long stop() may wait
            name=f"LocalServer:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _record(self, request: RecordedRequest) -> Route:
        with self._lock:
            self.requests.append(request)
        route = self.routes.get(urlsplit(request.path).path)
        if route is not None:
            return route
        echo = {
            "method": request.method,
            "path": request.path,
            "headers": dict(request.headers),
            "body": request.body.decode("utf-8", "replace"),
        }
        return Route(body=json.dumps(echo).encode(), headers={"Content-Type": "application/json"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Tests open many connections at once (thread pools, asyncio.gather): with the default
    # backlog of 5 the kernel drops SYNs and clients stall a second before retrying.
    request_queue_size = 128

    owner: LocalServer

    def handle_error(self, request: object, client_address: object) -> None:
        # socketserver prints the traceback; on Python 3.11 formatting one parses source with
        # `ast` (the carets), and CPython 3.11.7's AST validation keeps its recursion depth per
        # interpreter, not per thread (python/cpython#106905): done here while pytest formats a
        # failing test's traceback in the main thread, one of them raises "SystemError: AST
        # constructor recursion depth mismatch". Keep the error, print nothing.
        error = sys.exc_info()[1]
        if error is not None:
            with self.owner._lock:
                self.owner.errors.append(error)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, a reverse DNS query for ::1.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]


def _handler_for(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            request = RecordedRequest(
                method=self.command,
                path=self.path,
                headers={name: value for name, value in self.headers.items()},
                body=self._read_body(),
            )
            route = server._record(request)
            body = ENCODERS[route.encoding](route.body) if route.encoding else route.body
            self.send_response(route.status, route.reason)
            for name, value in route.headers.items():
                for each in [value] if isinstance(value, str) else value:  # Set-Cookie, twice
                    self.send_header(name, each)
            if route.encoding:
                self.send_header("Content-Encoding", route.encoding)
            # 204 and 304 have no body and, as servers send them, no Content-Length.
            bodiless = route.status in (204, 304)
            if route.chunk and not bodiless:
                self.send_header("Transfer-Encoding", "chunked")
            elif not bodiless and not any(k.lower() == "content-length" for k in route.headers):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command == "HEAD" or bodiless:
                return
            if route.chunk:
                for start in range(0, len(body), route.chunk):
                    part = body[start : start + route.chunk]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.wfile.write(body)

        def _read_body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline().strip():  # trailers
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def date_time_string(self, timestamp: float | None = None) -> str:
            return server.fixed_date or super().date_time_string(timestamp)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

    return Handler
