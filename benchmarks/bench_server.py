"""A threaded HTTP server on 127.0.0.1 that the benchmark's tests talk to.

Responses are deterministic (fixed ``Server`` and ``Date`` headers), so a cassette that
the incumbent records from it is the same, byte for byte, as one written by
``bench_gen.write_cassette``.

Routes:  /t/<i>  and  /item/<i>  small text bodies;  /big/text  and  /big/bin  the large
bodies (size given to ``start``); any path in ``BODIES``, its body and content type (the
scrub section's responses).
"""

from __future__ import annotations

import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

SERVER = "bench-server"
DATE = "Mon, 01 Jan 2024 00:00:00 GMT"
# path -> (body, content type): served as they are, whichever server was started.
BODIES: dict[str, tuple[bytes, str]] = {}


def small_body(path: str) -> bytes:
    """Body of /t/<i> and /item/<i>: short and unique per path."""
    return f"ok {path}\n".encode()


def big_text(size: int) -> bytes:
    line = b"The quick brown fox jumps over the lazy dog 0123456789.\n"
    return (line * (size // len(line) + 1))[:size]


def big_binary(size: int) -> bytes:
    return random.Random(0).randbytes(size)


def response_headers(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """Headers the server sends, in order (the cassette writer uses the same list)."""
    return [
        ("Server", SERVER),
        ("Date", DATE),
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
    ]


def route(path: str, big: dict[str, bytes]) -> tuple[int, bytes, str]:
    if path in BODIES:
        return 200, *BODIES[path]
    if path.startswith(("/t/", "/item/")):
        return 200, small_body(path), "text/plain"
    if path == "/big/text":
        return 200, big["text"], "text/plain; charset=utf-8"
    if path == "/big/bin":
        return 200, big["bin"], "application/octet-stream"
    return 404, b"not found\n", "text/plain"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a requests.Session reuses its connection
    # Set per server by start(): the big bodies, and the count of requests served.
    big: ClassVar[dict[str, bytes]] = {}
    hits: ClassVar[list[int]] = [0]
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            self.hits[0] += 1
        status, body, ctype = route(self.path, self.big)
        # send_response_only: no automatic Server/Date headers, ours are fixed.
        self.send_response_only(status)
        for name, value in response_headers(body, ctype):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def start(big_size: int) -> tuple[str, list[int]]:
    """Start the server in a daemon thread; return its base URL and its hit counter."""
    handler = type("Handler", (_Handler,), {"big": {}, "hits": [0]})
    if big_size:
        handler.big = {"text": big_text(big_size), "bin": big_binary(big_size)}
    srv = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, name="bench-server", daemon=True).start()
    host, port = srv.server_address[:2]
    return f"http://{host}:{port}", handler.hits
