"""The network guard, carried by proxy variables into children that are not guarded Python.

While a guard is carried into child processes (children.py), each child ``subprocess``
starts also gets ``HTTP_PROXY``, ``HTTPS_PROXY`` and ``ALL_PROXY`` (and their lower-case
forms) naming a trap: an HTTP proxy on 127.0.0.1, served by a thread of the process that
started the child. curl, wget, git, Go, Ruby and Rust programs (and Node 24+, through
``NODE_USE_ENV_PROXY``) send their HTTP and HTTPS requests through it. The trap refuses a host
the guards do not allow (``403``) and tells the block to the test as a Python child's block is
told (the guard's report file, read by :func:`children.collect`); it passes an allowed host
through. Each child's proxy URL carries a token naming it, as credentials; a client that sends
them only when asked (libcurl choosing how to authenticate: git, ``curl --proxy-anyauth``) is
asked (``407``) before it is refused. Hosts allowed by name, address or range without a port
are also put in ``NO_PROXY``, so they are reached directly; a proxy the test's environment
names on an allowed host (a local stand-in for a service) is kept.

A Python child that our ``sitecustomize`` guards at the socket gets its variables back as they
were at its start-up (:func:`children.restore_proxies`). One that is not guarded (started with
``-I``, ``-E`` or ``-S``, on Python older than 3.9, or given an environment of its own making)
keeps them, and urllib, requests and httpx honour them.

Node children are guarded at the socket by a preload (children_node.py). Children started by
``os`` get the same variables (children_os.py); a program an ``os.exec*`` replaces its process
by has a trap of its own, served by a process forked for it (:func:`environment_for_exec`).
Other programs that ignore proxy variables (raw TCP clients: database shells, ssh; Java) are
not caught.
"""

from __future__ import annotations

import _socket
import base64
import binascii
import contextlib
import itertools
import json
import os
import selectors
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from pytest_cassettes import children_node
from pytest_cassettes.children import SAVED, tell, withdraw

PROXIES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
BYPASS = ("no_proxy", "NO_PROXY")
NODE = "NODE_USE_ENV_PROXY"
_HEAD_LIMIT = 65536
_HOP_BY_HOP = (b"proxy-authorization", b"proxy-connection", b"connection", b"keep-alive")


class _Trap:
    """The proxy: a listening socket on 127.0.0.1 and a thread accepting on it, made when
    the first child is started under a guard and stopped when no guard is carried any more;
    each child's token names its guards."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.port = 0
        self.listener: socket.socket | None = None
        self.thread: threading.Thread | None = None
        self.wake: socket.socket | None = None  # written to stop the thread
        # token -> [the guards' wires (children.ChildSpec.wire, with their report file), child]
        self.children: dict[str, list[Any]] = {}
        self.last = ""
        self.marks = itertools.count(1)  # a block told before its child is known: see _serve
        # a request's target -> the wires and mark of its block told before its client was
        # asked for credentials, and when, oldest first: it may answer on a new connection
        # (see _serve), as may other clients asked for the same target meanwhile
        self.asked: dict[str, list[tuple[list[Mapping[str, Any]], str, float]]] = {}

    def register(self, wires: Sequence[Mapping[str, Any]], child: str, serve: bool = True) -> str:
        """A token naming ``child``; the trap made first if needed, and served by a thread of
        this process unless ``serve`` is False (see _serve_after_exec)."""
        with self.lock:
            if self.listener is None:
                self._listen()
            if serve and self.thread is None:
                self._serve_in_thread()
            token = f"c{len(self.children) + 1}"
            self.children[token] = [list(wires), child]
            self.last = token
        return token

    def started(self, token: str, pid: int) -> None:
        with self.lock:
            entry = self.children.get(token)
            if entry is not None:
                entry[1] = f"pid {pid}: {entry[1]}"

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self.listener = listener

    def _serve_in_thread(self) -> None:
        woken, self.wake = socket.socketpair()  # a Unix socket pair: never guarded
        self.thread = threading.Thread(
            target=self._accept,
            args=(self.listener, woken),
            name="pytest-cassettes-trap",
            daemon=True,
        )
        self.thread.start()

    def _accept(self, listener: socket.socket, woken: socket.socket) -> None:
        # A selector, not select(): select refuses a descriptor past 1023 (a test that opened
        # many files), and the thread died with the children's connections left waiting.
        with woken, selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            selector.register(woken, selectors.EVENT_READ)
            while True:
                if any(key.fileobj is woken for key, _ in selector.select()):
                    return
                try:
                    connection, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def stop(self) -> None:
        """No guard is carried any more: the socket and the thread go (a process left with a
        thread warns at every fork on Python 3.12+). A child still running is refused by the
        closed port; its tunnels already open stay until they close."""
        with self.lock:
            listener, thread, wake = self.listener, self.thread, self.wake
            self.listener = self.thread = self.wake = None
            self.children.clear()
            self.asked.clear()
            self.last = ""
        if wake is None or listener is None or thread is None:
            return
        with contextlib.suppress(OSError):
            wake.send(b"x")
        thread.join(5)
        wake.close()
        listener.close()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(30)
            try:
                head, rest = _read_head(connection)
            except OSError:
                return
            request = _Request.parse(head)
            if request is None or not request.host:  # not a proxy request (GET /): no host
                with contextlib.suppress(OSError):
                    connection.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                return
            wires, child = self._child(request.token)
            told: list[Mapping[str, Any]] = []
            mark = ""
            if wires and not (request.token or request.bodied or _allowed(wires, request)):
                # libcurl (git's, curl --proxy-anyauth) sends the credentials naming its child
                # only when asked: asked on this connection, since a client that never answers
                # must still fail its test, the block is told first, after the last child
                # started, and withdrawn when the answer names the child.
                told, mark = wires, f"{os.getpid()}-{next(self.marks)}"
                self._tell(wires, request, child, mark)
                with self.lock:
                    self.asked.setdefault(request.target, []).append((told, mark, time.monotonic()))
                try:
                    connection.sendall(_ASK)
                    head, rest = _read_head(connection, rest)
                except OSError:
                    return
                retry = _Request.parse(head)
                if retry is None or retry.target != request.target or not retry.token:
                    return  # the block told stands
                request = retry
                wires, child = self._child(request.token)
            for wire in told:
                withdraw(wire, mark)
            earlier = None
            with self.lock:
                waiting = self.asked.pop(request.target, [])
                if mark:  # answered here
                    waiting = [asked for asked in waiting if asked[1] != mark]
                elif request.token:  # the oldest asked, unless it gave up (another child asks)
                    now = time.monotonic()
                    waiting = [asked for asked in waiting if now - asked[2] <= _ANSWERED_WITHIN]
                    earlier = waiting.pop(0) if waiting else None
                if waiting:
                    self.asked[request.target] = waiting
            if _allowed(wires, request):
                _tunnel(connection, request, rest)
                return
            # Refused: a host a guard does not allow, or a child the trap no longer knows (the
            # guard went as it connected), which no guard's allowed hosts vouch for. A client
            # asked on another connection may answer on a new one (one that keeps no
            # connection): the block told then is taken to be this one (kept if this one is let
            # through: it may be another child's).
            if earlier is not None:
                told, mark, _ = earlier
                for wire in told:
                    withdraw(wire, mark)
            self._tell(wires, request, child, replaces=mark)
            test = str(wires[0]["test"]) if wires else "a guarded test"
            body = (
                f"pytest-cassettes: network access to {request.host}:{request.port} blocked "
                f"in a child process of {test}: a replay-only run makes no real connections.\n"
            ).encode()
            with contextlib.suppress(OSError):
                connection.sendall(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
                    + f"Content-Length: {len(body)}\r\n".encode()
                    + b"Connection: close\r\n\r\n"
                    + body
                )

    def _child(self, token: str) -> tuple[list[Mapping[str, Any]], str]:
        """The guards and the name of the child of ``token``; the last child started's for a
        request without one (or one the trap does not know), named as maybe another."""
        with self.lock:
            entry = self.children.get(token)
            if entry is None:
                entry = self.children.get(self.last)
                if entry is not None:
                    return entry[0], f"{entry[1]}, or another child"
        return (entry[0], entry[1]) if entry else ([], "")

    @staticmethod
    def _tell(
        wires: Sequence[Mapping[str, Any]],
        request: _Request,
        child: str,
        mark: str = "",
        replaces: str = "",
    ) -> None:
        for wire in wires:
            if not _allow_list(wire).allows(request.host, request.port):
                tell(wire, request.host, request.port, child, mark, replaces)


_ANSWERED_WITHIN = 5.0  # seconds: a client asked answers at once
_ASK = (
    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
    b'Proxy-Authenticate: Basic realm="pytest-cassettes"\r\nContent-Length: 0\r\n\r\n'
)


def _allowed(wires: Sequence[Mapping[str, Any]], request: _Request) -> bool:
    return bool(wires) and all(_allow_list(w).allows(request.host, request.port) for w in wires)


_TRAP = _Trap()


def _forked() -> None:
    """In a forked process: the trap's thread and its children's tokens stay the parent's
    (which named its own last child for this one's); this process makes its own trap when it
    starts a child. Its copy of the lock may have been held."""
    global _TRAP
    for copy in (_TRAP.listener, _TRAP.wake):
        if copy is not None:
            copy.close()  # our copies only: the parent's still listens
    _TRAP = _Trap()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_forked)


class _Request:
    """What the trap needs of a proxy request: CONNECT host:port, or an absolute URL."""

    def __init__(self, method: str, target: str, version: str, headers: list[bytes]) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.token = ""
        self.bodied = False  # a body follows the head: the connection cannot take another
        for header in headers:
            name, _, value = header.partition(b":")
            name = name.strip().lower()
            if name in (b"content-length", b"transfer-encoding"):
                self.bodied = self.bodied or value.strip() != b"0"
            elif name == b"proxy-authorization":
                scheme, _, credentials = value.strip().partition(b" ")
                if scheme.lower() == b"basic":
                    with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                        self.token = base64.b64decode(credentials).decode().partition(":")[0]
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            self.host, self.port = host.strip("[]"), int(port) if port.isdigit() else 443
            self.path = ""
        else:
            url = urlsplit(target)
            default = 443 if url.scheme == "https" else 80
            self.host, self.port = url.hostname or "", url.port or default
            self.path = (url.path or "/") + (f"?{url.query}" if url.query else "")

    @classmethod
    def parse(cls, head: bytes) -> _Request | None:
        lines = head.split(b"\r\n")
        parts = lines[0].decode("latin-1").split()
        if len(parts) != 3:
            return None
        try:
            return cls(parts[0], parts[1], parts[2], lines[1:])
        except ValueError:  # a malformed port
            return None


def _read_head(connection: socket.socket, data: bytes = b"") -> tuple[bytes, bytes]:
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(_HEAD_LIMIT)
        if not chunk or len(data) > _HEAD_LIMIT:
            raise OSError("no proxy request")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _tunnel(connection: socket.socket, request: _Request, rest: bytes) -> None:
    """An allowed host: CONNECT's tunnel, or the request sent on in origin form."""
    try:
        upstream = _connect(request.host, request.port)
    except OSError:  # refused, unresolved
        with contextlib.suppress(OSError):
            connection.sendall(b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n")
        return
    # A child that goes meanwhile (killed by a timeout) resets its end: an error raised in our
    # thread would be reported by pytest in whichever test runs then.
    with upstream, contextlib.suppress(OSError):
        if request.method == "CONNECT":
            connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            kept = [
                header
                for header in request.headers
                if header.split(b":")[0].strip().lower() not in _HOP_BY_HOP
            ]
            line = f"{request.method} {request.path} {request.version}".encode("latin-1")
            # One request a connection: the next may be for another host.
            rest = b"\r\n".join([line, *kept, b"Connection: close", b"", rest])
        upstream.sendall(rest)
        connection.settimeout(None)
        upstream.settimeout(None)
        back = threading.Thread(target=_pipe, args=(upstream, connection), daemon=True)
        back.start()
        _pipe(connection, upstream)
        back.join()


def _connect(host: str, port: int) -> socket.socket:
    """A connection the guards of the child's test allow, made past this process's guards
    (with the C socket module, which they do not patch): a child still running when a later
    test's guard allows less is not refused by that test's, nor counted against it."""
    failed: OSError = OSError(f"no address for {host}")
    for family, kind, protocol, _, address in _socket.getaddrinfo(
        host, port, 0, _socket.SOCK_STREAM
    ):
        raw = _socket.socket(family, kind, protocol)
        try:
            raw.settimeout(30)
            raw.connect(address)
        except OSError as error:
            raw.close()
            failed = error
            continue
        return socket.socket(family, kind, protocol, fileno=raw.detach())
    raise failed


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


_ALLOW_LISTS: dict[tuple[str, ...], Any] = {}


def _allow_list(wire: Mapping[str, Any]) -> Any:
    from pytest_cassettes.network import AllowList

    entries = tuple(str(entry) for entry in wire.get("allow", ()))
    if entries not in _ALLOW_LISTS:
        _ALLOW_LISTS[entries] = AllowList.parse(entries)
    return _ALLOW_LISTS[entries]


def environment(
    env: Mapping[str, str], wires: Sequence[Mapping[str, Any]], child: str
) -> tuple[dict[str, str], str]:
    """``env`` with the trap's proxy variables (and children_node's), for a child described as
    ``child`` started under ``wires``' guards; and the token naming it (see :func:`started`)."""
    token = _TRAP.register(wires, child)
    return _with_trap(env, wires, token, _TRAP.port), token


def environment_for_exec(
    env: Mapping[str, str], wires: Sequence[Mapping[str, Any]], child: str
) -> tuple[dict[str, str], str]:
    """As :func:`environment`, for the program this process is about to be replaced by
    (os.exec*: a forked child's, pty.spawn's): its trap is served by a process forked for it,
    since this one's threads go with the exec, until the program ends (or :func:`exec_failed`
    says it did not start). The token names it with this process's pid, which it keeps."""
    trap = _Trap()
    token = trap.register(wires, child, serve=False)
    trap.started(token, os.getpid())
    _serve_after_exec(trap)
    return _with_trap(env, wires, token, trap.port), token


def _with_trap(
    env: Mapping[str, str], wires: Sequence[Mapping[str, Any]], token: str, port: int
) -> dict[str, str]:
    url = f"http://{token}:x@127.0.0.1:{port}"
    bypass = ",".join(_bypassed(wires))
    ours = {**dict.fromkeys(PROXIES, url), **dict.fromkeys(BYPASS, bypass), NODE: "1"}
    for lower, upper in zip(PROXIES[::2], PROXIES[1::2]):
        given = env.get(lower) or env.get(upper)  # as curl and urllib read them
        if given and _allowed_proxy(given, wires):  # a local stand-in the test set: reached
            ours[lower] = ours[upper] = given  # alone, it is all the child connects to
    ours.update(children_node.variables(env, wires, port))
    saved = [[name, value, env.get(name)] for name, value in ours.items()]
    return {**env, **ours, SAVED: json.dumps(saved)}


# The pipe's end telling the trap served for this process's exec that the exec failed.
_EXEC_PENDING: list[int] = []


def _serve_after_exec(trap: _Trap) -> None:
    """Fork the process serving ``trap`` (forked twice: it is no child of the program, which
    might wait for all of its children). It holds no descriptor of ours but the trap's socket
    and a pipe's end: the other end closes at the exec (or is written to by exec_failed)."""
    import warnings

    assert trap.listener is not None
    program = os.getpid()
    ended, pending = os.pipe()  # neither inherited by the program
    try:
        with warnings.catch_warnings():  # a test's threads: forked for a moment, to serve alone
            warnings.simplefilter("ignore", DeprecationWarning)
            first = os.fork()
    except OSError:  # no process to spare: the program is refused by a closed port, untold
        for descriptor in (ended, pending):
            os.close(descriptor)
        trap.listener.close()
        return
    if first == 0:
        try:
            if os.fork() == 0:
                _serve_until_ended(trap, program, ended)
        finally:
            os._exit(0)
    os.close(ended)
    trap.listener.close()  # our copy: the server's listens
    os.waitpid(first, 0)
    _EXEC_PENDING.append(pending)


def exec_failed() -> None:
    """The exec :func:`environment_for_exec` prepared for failed: its trap goes."""
    while _EXEC_PENDING:
        pending = _EXEC_PENDING.pop()
        with contextlib.suppress(OSError):
            os.write(pending, b"x")  # its server gone already: nothing to tell
        os.close(pending)


def _serve_until_ended(trap: _Trap, program: int, ended: int) -> None:
    """The forked server of a trap for a program ``program`` is replaced by."""
    try:
        import gc
        import time

        gc.disable()  # no object of the forked process's closed now by a collection
        devnull = os.open(os.devnull, os.O_RDWR)
        for descriptor in (0, 1, 2):  # a pty's end (pty.spawn waits until all are closed)
            os.dup2(devnull, descriptor)
        assert trap.listener is not None
        kept = sorted((trap.listener.fileno(), ended))
        os.closerange(3, kept[0])
        os.closerange(kept[0] + 1, kept[1])
        os.closerange(kept[1] + 1, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 65536)
        trap._serve_in_thread()
        if os.read(ended, 1) == b"":  # closed by the exec: the program runs
            while True:
                try:
                    os.kill(program, 0)
                except ProcessLookupError:
                    break
                except OSError:
                    pass
                time.sleep(0.2)
    finally:
        os._exit(0)


def _allowed_proxy(value: str, wires: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a proxy variable names a host every guard allows (on its port, if given)."""
    url = urlsplit(value if "://" in value else f"http://{value}")
    try:
        host, port = url.hostname, url.port
    except ValueError:  # a malformed port
        return False
    return host is not None and all(_allow_list(wire).allows(host, port) for wire in wires)


def stop() -> None:
    """No guard is carried any more (children.publish): the trap goes."""
    _TRAP.stop()


def started(token: str, pid: int) -> None:
    """The child of ``token`` was started as ``pid``: its blocks name it."""
    _TRAP.started(token, pid)


def _bypassed(wires: Sequence[Mapping[str, Any]]) -> list[str]:
    """NO_PROXY's entries: what every guard allows on any port, in the forms clients read."""
    if not wires:
        return []
    lists = [_allow_list(wire) for wire in wires]
    found: list[str] = []
    for candidate in lists[0].bypass_entries():
        if all(other.allows(candidate.strip("[]").split("/")[0], None) for other in lists[1:]):
            found.append(candidate)
    return found
