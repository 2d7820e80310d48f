"""The network guard for gRPC, whose C core resolves names and connects past the socket module.

While a guard is installed, the channels of ``grpc`` and ``grpc.aio`` (``insecure_channel``,
``secure_channel``, and what Google's client libraries build on them) check their target when
they are made: a channel to a host that is not allowed is refused there, with the guard's
error, before gRPC looks its name up. A channel made before the guard began is not checked
(as a socket connected before it is not).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from pytest_cassettes import network

DEFAULT_PORT = 443  # gRPC's, for a target without one
_LOCAL_SCHEMES = frozenset({"unix", "unix-abstract", "vsock"})
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(.*)\Z", re.DOTALL)


def guarded_channel_init(init: Any) -> Any:
    """A channel class's `__init__`, checking the target (its first argument) first."""
    if init is None:
        return None

    def guarded_init(self: Any, target: Any, *args: Any, **kwargs: Any) -> None:
        for host, port in target_addresses(target):
            network.check_remote(host, port, "tcp")
        init(self, target, *args, **kwargs)

    return guarded_init


def target_addresses(target: object) -> list[tuple[str, int | str]]:
    """The hosts and ports a gRPC target names (its naming: `host:port`, `dns:[//authority/]
    host[:port]`, `ipv4:` and `ipv6:` address lists, `unix:` paths, which connect nowhere
    else; another resolver's scheme, `xds:///name`: its name)."""
    if isinstance(target, bytes):
        target = target.decode("utf-8", "replace")
    if not isinstance(target, str):
        return []  # gRPC says what is wrong with it
    scheme_match = _SCHEME.match(target)
    scheme, rest = scheme_match.groups() if scheme_match else ("", target)
    scheme = scheme.lower()
    if scheme in _LOCAL_SCHEMES:
        return []
    if scheme in ("ipv4", "ipv6"):
        return [_host_port(unquote(part)) for part in rest.split(",") if part]
    if scheme_match is not None and not rest.startswith("//") and scheme != "dns":
        return [_host_port(target)]  # `localhost:50051`: a host and port, not a scheme
    if rest.startswith("//"):  # //authority/host:port: the authority is a name server
        authority, _, rest = rest[2:].partition("/")
        found = [_host_port(authority, 53)] if authority else []
        return [*found, _host_port(unquote(rest))]
    return [_host_port(unquote(rest))]


def _host_port(text: str, default: int = DEFAULT_PORT) -> tuple[str, int | str]:
    """`host`, `host:port`, `[v6]:port` or a bare IPv6 address. The port as gRPC reads it: a
    number with a sign or spaces around (`+50051`), else a service's name (`http`)."""
    if text.startswith("["):
        host, _, after = text[1:].partition("]")
        port = after[1:] if after.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""  # a name, or an IPv6 address without brackets
    try:
        return host, int(port)
    except ValueError:
        return host, port.strip() or default
