"""The network guard for pycurl, whose libcurl resolves names and connects in C, past the
socket module.

While a guard is installed, ``pycurl.Curl`` is a subclass of the real class whose handles let
libcurl connect only with sockets they hand it (libcurl's OPENSOCKETFUNCTION), each made once
the address it is for is allowed, as ``socket.connect`` checks it; a name the URL or proxy
option gives is allowed with the addresses it resolves to. ``perform`` refuses a URL, proxy or
DNS-over-HTTPS server (which libcurl connects to past the socket callback) whose host is not
allowed before libcurl looks its name up, and raises the guard's error in place of the "could
not connect" libcurl makes of a refused socket. A handle made before the guard began is not
guarded (as a socket connected before it is not).
"""

from __future__ import annotations

import contextlib
import socket
import sys
from typing import Any
from urllib.parse import urlsplit

from pytest_cassettes import network

_SUBCLASSES: dict[type, type] = {}


def guarded_curl(curl: type) -> type:
    """The guarded subclass of pycurl's `curl` class (one per class)."""
    made = _SUBCLASSES.get(curl)
    if made is None:
        made = _SUBCLASSES[curl] = _subclass(curl)
    return made


def _subclass(curl: Any) -> type:
    pycurl = sys.modules["pycurl"]  # where curl comes from

    hosts_of = {pycurl.URL: "url", pycurl.PROXY: "proxy", pycurl.UNIX_SOCKET_PATH: "unix"}
    if hasattr(pycurl, "DOH_URL"):  # libcurl's look-ups over HTTPS: past our socket callback
        hosts_of[pycurl.DOH_URL] = "doh"

    class Curl(curl):  # type: ignore[misc]
        __doc__ = curl.__doc__

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._guard = _Handle(pycurl.SOCKET_BAD)
            curl.setopt(self, pycurl.OPENSOCKETFUNCTION, self._guard.open_socket)

        def setopt(self, option: int, value: Any) -> None:
            if option == pycurl.OPENSOCKETFUNCTION:  # the user's: called once ours allows
                self._guard.own = value
                return
            curl.setopt(self, option, value)
            if option in hosts_of:
                self._guard.targets[hosts_of[option]] = value

        def unsetopt(self, option: int) -> None:
            if option == pycurl.OPENSOCKETFUNCTION:
                self._guard.own = None
                return
            curl.unsetopt(self, option)
            self._guard.targets.pop(hosts_of.get(option, ""), None)

        def reset(self) -> None:
            curl.reset(self)
            self._guard = _Handle(pycurl.SOCKET_BAD)
            curl.setopt(self, pycurl.OPENSOCKETFUNCTION, self._guard.open_socket)

        def perform(self) -> None:
            self._guard.perform(lambda: curl.perform(self), pycurl.error)

        def perform_rb(self) -> bytes:
            return self._guard.perform(lambda: curl.perform_rb(self), pycurl.error)  # type: ignore[no-any-return]

        def perform_rs(self) -> str:
            return self._guard.perform(lambda: curl.perform_rs(self), pycurl.error)  # type: ignore[no-any-return]

    Curl.__name__ = Curl.__qualname__ = curl.__name__
    Curl.__module__ = curl.__module__
    return Curl


class _Handle:
    """What a guarded handle knows: the hosts its options name, the user's socket callback,
    and the refusal its socket callback met."""

    def __init__(self, bad_socket: int) -> None:
        self.bad_socket = bad_socket
        self.own: Any = None
        self.targets: dict[str, Any] = {}
        self.refused: BaseException | None = None

    def perform(self, run: Any, curl_error: type[BaseException]) -> Any:
        """`run` the transfer once the hosts named are allowed; libcurl's error for a socket
        refused is replaced by the guard's."""
        self.refused = None
        for host, port in self._hosts():
            network.check_remote(host, port, "tcp")  # a blocked name is not looked up by libcurl
        try:
            return run()
        except curl_error:
            refused, self.refused = self.refused, None
            if refused is not None:
                raise refused from None
            raise

    def open_socket(self, purpose: int, address: Any) -> Any:
        """libcurl's OPENSOCKETFUNCTION: a socket for an allowed address, else a bad one (an
        exception raised here would only be printed)."""
        family, socktype, protocol, where = address
        try:
            self._check(family, where)
        except BaseException as exc:
            self.refused = exc
            return self.bad_socket
        if self.own is not None:
            return self.own(purpose, address)
        return socket.socket(family, socktype, protocol)

    def _check(self, family: int, where: object) -> None:
        # An allowed name's addresses, resolved by libcurl, are not known to the guard (which
        # may be another test's than when the handle last connected): they are looked up
        # first through the guarded socket module, which remembers them.
        for host, port in self._hosts():
            if network.needs_lookup(host) and network.allowed(host, port):
                with contextlib.suppress(OSError, UnicodeError):
                    socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        network.check_address(family, where)

    def _hosts(self) -> list[tuple[str, int | None]]:
        """(host, port) of the URL, and of the proxy if one is set (libcurl's defaults: http
        for a URL without a scheme, port 1080 for a proxy without one, 443 for https); none
        through a Unix socket (libcurl connects to its file, not to them)."""
        if self.targets.get("unix"):
            return []
        found = []
        for kind, value in self.targets.items():
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            if "://" not in text:
                text = "http://" + text
            try:
                parts = urlsplit(text)
                host, port = parts.hostname, parts.port
            except ValueError:
                continue  # libcurl says what is wrong with it
            if host:
                found.append((host, port or _default_port(kind, parts.scheme)))
        return found


def _default_port(kind: str, scheme: str) -> int | None:
    if kind == "proxy" and scheme != "https":
        return 1080
    try:
        return socket.getservbyname(scheme, "tcp")
    except OSError:
        return None
