"""The network guard: refuses real connections to hosts that are not allowed.

While a :class:`NetworkGuard` is installed (process-wide, every thread), these are patched:

- ``socket.socket.connect``, ``connect_ex``, ``sendto`` and ``sendmsg`` (IPv4 and IPv6 only:
  Unix sockets and ``socket.socketpair`` are never checked, asyncio's self-pipe needs them);
  ``socket.create_connection`` and ``ssl`` sockets go through these;
- the sends of a connected socket (``send``, ``sendall``, ``sendfile``, ``sendmsg``; an ``ssl``
  socket's ``send``, ``write`` and handshake): a socket connected before the guards (a keep-alive
  connection of a module or a session fixture) has its peer checked at its first send, as a
  connect is (an address an allowed name resolves to is let through); a socket connected under
  them, or accepted (a server's side), is not looked at again; ``os.write`` and ``os.writev``
  on a socket's file descriptor (its own or a duplicate) are checked as its sends are;
- ``threading.Thread.start``: a thread started by one that a guard gone keeps
  (``keep_threads``) is kept behind that guard too; and ``ThreadPoolExecutor.submit``, where
  imported: the work submitted under such a guard is kept behind it, not the worker running it;
- ``socket.getaddrinfo``, ``gethostbyname`` and ``gethostbyname_ex``: a name that is not allowed
  is refused *before* the look-up, so no DNS query is sent for it. asyncio (``loop.getaddrinfo``,
  ``loop.create_connection``, ``loop.sock_connect``) resolves through ``socket.getaddrinfo`` and
  connects through ``socket.socket.connect``, so it is covered by the patches above;
- on Windows, ``asyncio.proactor_events.BaseProactorEventLoop.sock_connect``, whose connect does
  not go through ``socket.socket.connect``.

A guard compares the name the program asked for: when ``db.internal`` is allowed, its look-up
goes ahead and the addresses it resolves to are remembered, so the connect that follows (to an
IP address) is allowed on the ports the entry allows. An IP address is otherwise checked
against the IP and CIDR entries. The name ``localhost`` stands for this machine: allowing it
also allows every loopback address (``127.0.0.0/8``, ``::1``) on the same ports; the converse
does not hold (allowing ``127.0.0.1`` does not allow the name ``localhost``).

When no guard is installed, the originals are back in place: nothing of ours is on the call path
(a run that guards test after test may keep the patches, doing nothing, between two guards: see
`linger`).
"""

from __future__ import annotations

import _socket
import contextlib
import functools
import importlib
import ipaddress
import os
import re
import socket
import stat
import sys
import threading
import weakref
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any, Callable, Union

from pytest_cassettes import children
from pytest_cassettes.importhooks import Exec, WrappingFinder
from pytest_cassettes.values import Value

__all__ = ["AllowList", "NetworkGuard", "is_this_machine"]

_Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
_Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

_ACCEPTED_FORMS = (
    "Accepted forms: a host name (localhost, db.internal), an IP address (127.0.0.1, ::1) "
    "or a CIDR range (10.0.0.0/8, fd00::/8), each optionally with a port "
    "(db.internal:5432, 127.0.0.1:8080, [::1]:8080, 10.0.0.0/8:5432, [fd00::/8]:5432); "
    r"or, as pytest-recording takes them, a regular expression (.*\.internal$, 10\.0\..*)."
)
# An entry holding one of these is a regular expression, as pytest-recording's allowed hosts
# are; a dot alone is not one (every host name has dots: they stay exact names), nor is an
# entry that starts with "[" (an IPv6 address with a port: [::1]:8080).
_REGEX_CHARS = frozenset("*+?()[]{}|^$\\")
# Commas and spaces separate entries, but not the comma of a regular expression's {m,n}.
_SEPARATORS = re.compile(r"[,\s]+(?![^{}]*\})")
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)\Z")
_LOCALHOST = "localhost"
_INET_FAMILIES = frozenset(
    family for family in (socket.AF_INET, getattr(socket, "AF_INET6", None)) if family is not None
)


def _normalize_name(name: str | bytes) -> str:
    """Lower-case ASCII (IDNA) form of a host name, without a trailing dot."""
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    name = name.strip().rstrip(".").lower()
    if not name.isascii():
        # A name the codec refuses is compared as given: it cannot match a valid entry.
        with contextlib.suppress(UnicodeError):
            name = name.encode("idna").decode("ascii")
    return name


def _parse_ip(host: str) -> _Address | None:
    """The IP address written in ``host`` (brackets and IPv6 zone allowed), or None."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.split("%", 1)[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _port_number(port: object) -> int | None:
    """A port given to getaddrinfo as int, digits or service name; None when not a number."""
    if isinstance(port, bytes):
        port = port.decode("ascii", "replace")
    if isinstance(port, str) and port.isdigit():
        return int(port)
    if isinstance(port, int) and not isinstance(port, bool):
        return port
    return None


def _is_loopback(address: _Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def is_this_machine(host: str | None) -> bool:
    """Whether a URL's host is this machine: the name `localhost` (or a name under it) or a
    loopback address."""
    if not host:
        return False
    name = _normalize_name(host)
    if name == _LOCALHOST or name.endswith("." + _LOCALHOST):
        return True
    address = _parse_ip(name)
    return address is not None and _is_loopback(address)


class AllowList(Value):
    """Hosts a guard lets through: names, IP addresses and CIDR ranges, each on a port or all;
    and pytest-recording's regular expressions, matched from the start of the host, any port."""

    __slots__ = ("entries", "names", "networks", "patterns")
    _compared = ("names", "networks", "patterns")

    def __init__(
        self,
        names: frozenset[tuple[str, int | None]] = frozenset(),
        networks: tuple[tuple[_Network, int | None], ...] = (),
        patterns: tuple[re.Pattern[str], ...] = (),
        entries: tuple[str, ...] = (),  # as given: for children
    ) -> None:
        self.names = names
        self.networks = networks
        self.patterns = patterns
        self.entries = entries

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        """Build from entries such as ``localhost``, ``10.0.0.0/8`` or ``db.internal:5432``.

        An entry may hold several, separated by commas or white space; empty ones are skipped.
        A malformed entry raises ValueError naming it and the accepted forms.
        """
        names: set[tuple[str, int | None]] = set()
        networks: list[tuple[_Network, int | None]] = []
        patterns: list[re.Pattern[str]] = []
        entries = tuple(entries)
        for entry in entries:
            for item in split_entries(entry):
                if not item:
                    continue
                if not item.startswith("[") and _REGEX_CHARS.intersection(item):
                    pattern = _parse_pattern(item, entry.strip())
                    if pattern not in patterns:
                        patterns.append(pattern)
                    continue
                host, port, network = _parse_entry(item, entry.strip())
                if network is not None:
                    if (network, port) not in networks:
                        networks.append((network, port))
                else:
                    names.add((host, port))
        return cls(frozenset(names), tuple(networks), tuple(patterns), tuple(entries))

    def allows(self, host: str, port: int | None) -> bool:
        """Whether ``host`` (a name or an IP address) may be reached on ``port``.

        ``port=None`` means "on some port": true when any entry for the host allows a port.
        """
        if self.patterns and any(
            p.match(host) or p.match(_normalize_name(host)) for p in self.patterns
        ):
            return True
        address = _parse_ip(host)
        if address is None:
            name = _normalize_name(host)
            return any(
                entry_name == name and _port_matches(entry_port, port)
                for entry_name, entry_port in self.names
            )
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        for network, entry_port in self.networks:
            if _port_matches(entry_port, port) and any(c in network for c in candidates):
                return True
        return _is_loopback(address) and self.allows(_LOCALHOST, port)

    def bypass_entries(self) -> list[str]:
        """The entries allowed on every port, as a ``NO_PROXY`` variable lists them (names,
        addresses, CIDR ranges; ``localhost`` with the loopback addresses it stands for)."""
        found = sorted(name for name, port in self.names if port is None)
        if _LOCALHOST in found:
            found += ["127.0.0.0/8", "::1"]
        for network, port in self.networks:
            if port is None:
                single = network.num_addresses == 1
                found.append(str(network.network_address) if single else str(network))
        return found

    def __bool__(self) -> bool:
        return bool(self.names or self.networks or self.patterns)


def split_entries(text: str) -> list[str]:
    """The allowed-host entries of a comma- or space-separated string (the comma of a regular
    expression's `{m,n}` does not separate)."""
    return [item for item in _SEPARATORS.split(text.strip()) if item]


def _port_matches(entry_port: int | None, port: int | None) -> bool:
    return entry_port is None or port is None or entry_port == port


def _bad_entry(entry: str, given: str, problem: str) -> ValueError:
    where = f" (in {given!r})" if given != entry else ""
    return ValueError(f"Invalid allowed host {entry!r}{where}: {problem}. {_ACCEPTED_FORMS}")


def _parse_pattern(entry: str, given: str) -> re.Pattern[str]:
    try:
        return re.compile(entry)
    except re.error as error:
        raise _bad_entry(entry, given, f"not a valid regular expression ({error})") from None


def _parse_entry(entry: str, given: str) -> tuple[str, int | None, _Network | None]:
    """Split one entry into (host name, port, network); the network is None for a name."""

    def bad(problem: str) -> ValueError:
        return _bad_entry(entry, given, problem)

    host, port_text = entry, None
    if entry.startswith("["):
        closing = entry.find("]")
        if closing < 0:
            raise bad("unclosed '['")
        host, rest = entry[1:closing], entry[closing + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise bad("expected ':port' after ']'")
            port_text = rest[1:]
    elif entry.count(":") == 1:
        host, port_text = entry.split(":")
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise bad(f"port {port_text!r} is not a number from 1 to 65535")
        port = int(port_text)
    if "/" in host:
        try:
            return host, port, ipaddress.ip_network(host, strict=False)
        except ValueError as error:
            raise bad(f"not a CIDR range ({error})") from None
    address = _parse_ip(host)
    if address is not None:
        return host, port, ipaddress.ip_network(address)
    if ":" in host or entry.startswith("["):
        raise bad("not an IP address (write [address]:port to give a port)")
    name = _normalize_name(host)
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise bad("not a valid host name")
    if labels[-1].isdigit():
        raise bad("not a valid IP address or host name")
    return name, port, None


# --- the guard -------------------------------------------------------------------------------

_install_lock = threading.RLock()
_active: list[NetworkGuard] = []
# What the installed patches replaced: (owner, attribute, owner had it itself, original value,
# the replacement).
_saved: list[tuple[object, str, bool, Any, Any]] = []


class NetworkGuard:
    """Refuses connections and look-ups of hosts the allow list does not name.

    Use as a context manager. ``make_error(host, port, child)`` builds the exception raised
    for a refused attempt (``child`` names the child process that made it, if another process
    did); refused attempts are appended to ``blocked`` in order. Guards may be nested or
    entered again; the patches stay while any guard is active, every active guard must allow
    an attempt, and the originals come back when the last one exits. A guard that
    ``keep_threads`` goes on checking the threads started under it that outlive it (a test's
    background thread), keeping the patches until they end (or :func:`forget_outliving`). A
    guard with a ``child`` spec is carried into the Python child processes started while it is
    on (children.py).
    """

    def __init__(
        self,
        allow: AllowList,
        make_error: Callable[[str, int | None, str | None], BaseException],
        child: children.ChildSpec | None = None,
        keep_threads: bool = False,
    ) -> None:
        self.allow = allow
        self.keep_threads = keep_threads
        self.make_error = make_error
        self.child = child
        self.blocked: list[tuple[str, int | None]] = []
        self._depth = 0
        self._lock = threading.Lock()
        # Resolved address -> the allowed names that resolved to it.
        self._resolved: dict[_Address, set[str]] = {}
        self._threads_before: set[threading.Thread] = set()  # alive when it began

    def __enter__(self) -> NetworkGuard:
        with _install_lock:
            self._depth += 1
            if self._depth == 1:
                if self.keep_threads:
                    self._threads_before = set(threading.enumerate())
                _active.append(self)
                if len(_active) == 1:
                    try:
                        # Patches still in place: left for the next guard (`linger`), or
                        # kept for the threads of a guard gone (`keep_threads`).
                        if not _resume() and not _saved:
                            _install()
                    except BaseException:
                        _active.remove(self)
                        self._depth = 0
                        raise
                _checked.clear()
                _checked_descriptors.clear()
                children.publish(_active)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with _install_lock:
            if self._depth == 0:
                return
            self._depth -= 1
            if self._depth == 0:
                _active.remove(self)
                if self.keep_threads:
                    with _outliving_lock:
                        self._keep_threads()
                    self._threads_before = set()
                if not _active:
                    if _lingering[0] or _outliving_alive():
                        _idle[0] = True  # the patches stay (see `linger`, `release`)
                    else:
                        _forget_threads()
                        _uninstall()
                _checked.clear()
                _checked_descriptors.clear()
                children.publish(_active, linger=_idle[0])

    def _keep_threads(self) -> None:
        """The threads started under this guard, still alive: kept behind it (`_outliving`)."""
        for thread in threading.enumerate():
            if (
                thread not in self._threads_before
                and thread is not current_thread()
                and not _is_pool_worker(thread)  # its work is kept, not itself (`_run_behind`)
            ):
                _outliving.setdefault(thread, self)  # else started by one kept already

    @property
    def active(self) -> bool:
        """Whether this guard is installed."""
        return self._depth > 0

    def _refuse(self, host: str, port: int | None, child: str | None = None) -> BaseException:
        with self._lock:
            self.blocked.append((host, port))
        return self.make_error(host, port, child)

    def refuse_for_child(self, host: str, port: int | None, child: str) -> None:
        """A child process this guard was carried into was refused ``host``: tell it here."""
        self._refuse(host, port, child)

    def _check_lookup(self, host: str, port: int | None) -> None:
        # pytest leaves the guard out of a failure's traceback (here and below): it shows
        # the call that was refused, and rendering our frames cost a failed test ~40 ms.
        __tracebackhide__ = True
        if not self.allow.allows(host, port):
            raise self._refuse(host, port)

    def _remember(self, name: str, addresses: Iterable[str]) -> None:
        normalized = _normalize_name(name)
        with self._lock:
            for text in addresses:
                address = _parse_ip(text)
                if address is not None:
                    self._resolved.setdefault(address, set()).add(normalized)

    def _check_connect(self, host: str, port: int | None) -> None:
        __tracebackhide__ = True
        address = _parse_ip(host)
        if address is None:  # the C connect will resolve the name itself
            self._check_lookup(host, port)
            return
        if self.allow.allows(host, port):
            return
        with self._lock:
            names = sorted(self._resolved.get(address, ()))
        if any(self.allow.allows(name, port) for name in names):
            return
        raise self._refuse(names[0] if names else host, port)

    def _check_peer(self, host: str, port: int) -> None:
        """A socket connected before this guard, to ``host`` (an address): as a connect, and
        let through when an allowed name resolves to it (looked up once in the run, and only
        for an address the entries do not allow as they are)."""
        __tracebackhide__ = True
        if self.allow.allows(host, port):
            return
        address = _parse_ip(host)
        if any(
            known == address and _port_matches(entry_port, port)
            for known, entry_port in _allowed_names_addresses(self.allow.names)
        ):
            return
        self._check_connect(host, port)


# The addresses the allowed names resolve to, with their ports, by the names: the same allow list
# guards test after test of a run, and its sockets connected before the guards are checked anew
# at each (a DNS query per name and test, where a name is not in /etc/hosts).
_NAME_ADDRESSES: dict[frozenset[tuple[str, int | None]], list[tuple[_Address, int | None]]] = {}


def _allowed_names_addresses(
    names: frozenset[tuple[str, int | None]],
) -> list[tuple[_Address, int | None]]:
    found = _NAME_ADDRESSES.get(names)
    if found is None:
        found = []
        for name, entry_port in names:
            with contextlib.suppress(OSError, UnicodeError):
                for *_, sockaddr in _socket.getaddrinfo(name, None):
                    address = _parse_ip(str(sockaddr[0]))
                    if address is not None:
                        found.append((address, entry_port))
        if len(_NAME_ADDRESSES) > 8:
            _NAME_ADDRESSES.clear()
        _NAME_ADDRESSES[names] = found
    return found


# Threads started under a guard that outlived it (a test's background thread), with that
# guard: what they do later is checked by it too, while the patches stay for them.
_outliving: weakref.WeakKeyDictionary[threading.Thread, NetworkGuard] = weakref.WeakKeyDictionary()
# Taken to change or go through `_outliving`, never while waiting on another thread (the guard's
# own lock is, while a guard going stops children's trap): those threads change it themselves.
_outliving_lock = threading.RLock()
current_thread = threading.current_thread


def forget_outliving() -> None:
    """The threads that outlived their guards are checked no more (the run's end): the
    originals are back if no guard is on."""
    _forget_threads()
    release()


def _outliving_alive() -> bool:
    with _outliving_lock:
        return bool(_outliving) and any(thread.is_alive() for thread in list(_outliving))


def _forget_threads() -> None:
    with _outliving_lock:
        _outliving.clear()


# A replay-only run guards one test after another: between two guards the patches may stay in
# place, doing nothing (they check the guards active: none), rather than go and come back at
# every test. The runs asking for it (`linger`), and whether the patches are in place for no
# guard now; `release` puts the originals back then (a test the run does not guard starts, the
# run ends).
_lingering = [0]
_idle = [False]


def linger(on: bool) -> None:
    """A run that guards test after test begins (``on``) or ends: the patches in place for no
    guard go at its end."""
    with _install_lock:
        _lingering[0] = max(0, _lingering[0] + (1 if on else -1))
    if not on:
        release()


def release() -> None:
    """The originals back, and ``os``'s and ``subprocess``'s own functions, where the patches
    stayed after the last guard went (`linger`): nothing of ours on the call path (socket's
    patches stay while a thread of a guard gone lives, `keep_threads`)."""
    with _install_lock:
        if _left and not _active:
            _sweep_left()
        if _active or not _idle[0]:
            return  # on for a guard
        # os's and subprocess's own back even for the threads of a guard gone: a child they
        # start after its test is not guarded (the test's variables are gone).
        children.release()
        if _outliving_alive():
            return  # socket's patches stay for those threads (`keep_threads`)
        _idle[0] = False
        _forget_threads()
        _uninstall()


def _resume() -> bool:
    """Whether the patches in place for no guard (`linger`) are still ours, all of them and
    where they were (no optional module came or went since), and so serve the guard now on;
    else they go, to be put in place afresh."""
    if not _idle[0]:
        return False
    _idle[0] = False
    points = _points[0][1] if _points else None
    if (
        points is not None
        and _points[0][0] == tuple(map(sys.modules.get, _OPTIONAL))
        and len(_saved) == len(points)
        and all(getattr(owner, attribute) is placed for owner, attribute, *_, placed in _saved)
    ):
        return True
    _uninstall()
    return False


def _is_pool_worker(thread: threading.Thread) -> bool:
    """Whether ``thread`` is a ThreadPoolExecutor's worker, which runs the work of whoever
    submits it (a later test's, a plain test's): what it runs is kept behind a guard gone, not
    itself (`_run_behind`)."""
    module = sys.modules.get("concurrent.futures.thread")
    worker = getattr(module, "_worker", None)
    return worker is not None and getattr(thread, "_target", None) is worker


def _submitters_guard() -> NetworkGuard | None:
    """The guard that keeps what this thread submits to an executor after it is gone: the
    thread's own (kept behind a guard gone), or the innermost guard on that keeps threads."""
    guard = _outliving.get(current_thread()) if _outliving else None
    if guard is None:
        for active in reversed(_active):
            if active.keep_threads:
                return active
    return guard


def _run_behind(guard: NetworkGuard, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Work a test submitted to an executor, run in its worker behind that test's guard, also
    after the test (as a thread the test started is: `keep_threads`), and after the run (work
    still queued then, run as the interpreter exits): the patches are put back for it, and go
    again after it."""
    thread = current_thread()
    with _outliving_lock:
        kept = _outliving.get(thread)
        _outliving[thread] = guard
    after_the_run = False
    if not _saved:
        with _install_lock:
            if not _saved:  # the patches went (a plain test, the run's end) while it waited
                _install()
                _idle[0] = True
                after_the_run = not _lingering[0]
    try:
        return fn(*args, **kwargs)
    finally:
        with _outliving_lock:
            if kept is None:
                _outliving.pop(thread, None)
            else:
                _outliving[thread] = kept
        if after_the_run:
            release()  # the originals back, unless other work still runs behind a guard


def _guards() -> tuple[NetworkGuard, ...]:
    if _outliving:
        guard = _outliving.get(current_thread())
        if guard is not None and guard not in _active:
            return (*_active, guard)
    return tuple(_active)


def check_address(family: int, address: object) -> None:
    """Refuse an IPv4/IPv6 socket address that some active guard does not allow."""
    __tracebackhide__ = True
    if family not in _INET_FAMILIES or not isinstance(address, tuple) or len(address) < 2:
        return  # Unix, netlink, ... sockets stay allowed; a bad address fails in the original
    host, port = address[0], address[1]
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return
    number = port if isinstance(port, int) else None
    for guard in _guards():
        guard._check_connect(host, number)


# Sockets whose sends need no look: connected or checked under the guards on. Forgotten when the
# guards on change.
_checked: weakref.WeakSet[socket.socket] = weakref.WeakSet()
# Sockets `accept` gave while the patches were in place: a server's side, which answers whoever
# connected (its peer is the client's address and passing port), never looked at; kept when the
# guards change, as a kept-alive connection outlives a test.
_accepted: weakref.WeakSet[socket.socket] = weakref.WeakSet()


def _check_peer(sock: socket.socket) -> None:
    """Refuse a send on an IPv4/IPv6 socket connected to a host some active guard does not
    allow: one connected before the guards (a module's keep-alive connection, a session
    fixture's), whose connect was never checked. Without a guard for this thread (between
    guarded tests, a plain test) nothing is looked at, nor marked: a thread kept behind a guard
    gone may send on the same socket."""
    __tracebackhide__ = True
    if sock in _checked:
        return
    guards = _guards()
    if not guards or sock in _accepted or sock.family not in _INET_FAMILIES:
        return
    if getattr(sock, "server_side", False) is True:
        return  # an ssl socket's server side: a new object around one accept gave
    try:
        peer = sock.getpeername()
    except OSError:
        return  # not connected: the original says so
    for guard in guards:
        guard._check_peer(str(peer[0]), int(peer[1]))
    _checked.add(sock)


# Sockets whose file descriptors `os.write` and `os.writev` were given and found allowed (or a
# server's side) under the guards on, by (device, inode): a descriptor's number is reused.
_checked_descriptors: set[tuple[int, int]] = set()
_fstat = os.fstat  # os's own: a fake file system's (pyfakefs) knows no socket


def _check_descriptor(descriptor: object) -> None:
    """Refuse ``os.write`` or ``os.writev`` on the file descriptor of an IPv4/IPv6 socket
    connected to a host some active guard does not allow (one connected before the guards, or a
    duplicate of its descriptor): as its socket's sends are (`_check_peer`). A file, a pipe, a
    Unix socket, a server's side are written to; one `fstat` a write under a guard."""
    __tracebackhide__ = True
    guards = _guards()
    if not guards:
        return
    try:
        status = _fstat(descriptor)  # type: ignore[arg-type]  # a bad one: the original says
    except (OSError, TypeError, ValueError, OverflowError):
        return
    if not stat.S_ISSOCK(status.st_mode):
        return
    key = (status.st_dev, status.st_ino)
    if key in _checked_descriptors or key in children.STREAM_SOCKETS:
        return
    if any(_descriptor_key(accepted.fileno()) == key for accepted in list(_accepted)):
        _checked_descriptors.add(key)  # a server's side, or a duplicate of its descriptor
        return
    # A socket object made on it under a default timeout (socket.setdefaulttimeout) makes the
    # descriptor non-blocking: the caller's blocking mode is put back.
    number = int(descriptor)  # type: ignore[call-overload]  # fstat took it
    blocking = _socket.getdefaulttimeout() is not None and os.get_blocking(number)
    try:
        sock = _socket.socket(fileno=number)
    except OSError:
        return
    try:
        peer = sock.getpeername() if sock.family in _INET_FAMILIES else None
    except OSError:
        peer = None  # not connected: the original says so
    finally:
        sock.detach()  # the descriptor stays the caller's
        if blocking:
            os.set_blocking(number, True)
    if peer is not None:
        for guard in guards:
            guard._check_peer(str(peer[0]), int(peer[1]))
    _checked_descriptors.add(key)


def _descriptor_key(descriptor: int) -> tuple[int, int] | None:
    try:
        status = _fstat(descriptor)
    except OSError:  # closed (-1)
        return None
    return status.st_dev, status.st_ino


def _check_connect(sock: socket.socket, address: object) -> None:
    """Refuse a connect, closing the socket: callers such as socket.create_connection close it
    only on OSError, and a leaked socket ends as a ResourceWarning far from the cause. Not
    marked checked without a guard for this thread (see _check_peer)."""
    __tracebackhide__ = True
    if not _guards():
        return
    try:
        check_address(sock.family, address)
    except BaseException:
        sock.close()
        raise
    _checked.add(sock)


def check_remote(host: object, port: object, protocol: str) -> None:
    """Refuse a connection to `host` (a name or an address; None: this machine) on `port` (a
    number or a service name of `protocol`) that some active guard does not allow: for an event
    loop that resolves the name and connects itself (uvloop)."""
    __tracebackhide__ = True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host is None or host == "":
        host = _LOCALHOST  # the loopback addresses, as getaddrinfo gives them
    if not isinstance(host, str):
        return  # the original says what is wrong
    if isinstance(port, bytes):
        port = port.decode("ascii", "replace")
    number = _port_number(port)
    if number is None and isinstance(port, str) and port:
        try:
            number = socket.getservbyname(port, protocol)
        except OSError:
            return  # an unknown service: the original fails to resolve it
    for guard in _guards():
        guard._check_connect(host, number)


def needs_lookup(host: object) -> bool:
    """Whether resolving ``host`` may query a name service (a literal address does not)."""
    if host is None:
        return False
    text = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)
    return text != "" and _parse_ip(text) is None


def allowed(host: str, port: int | None) -> bool:
    """Whether every active guard allows `host` on `port`."""
    return all(guard.allow.allows(host, port) for guard in _guards())


def _check_lookup(host: object, port: object = None) -> str | None:
    """Refuse a name look-up some active guard does not allow; return the name to remember."""
    __tracebackhide__ = True
    if not needs_lookup(host):
        return None
    name = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)
    number = _port_number(port)
    for guard in _guards():
        guard._check_lookup(name, number)
    return name


def _remember(name: str | None, addresses: Iterable[str]) -> None:
    if name is None:
        return
    addresses = list(addresses)
    for guard in _guards():
        guard._remember(name, addresses)


def _guarded(originals: dict[str, Any]) -> dict[str, Any]:
    """The replacements, each calling the original it replaces (bound now, not looked up later,
    so a call that is under way while another thread uninstalls still completes)."""
    connect: Any = originals.get("connect")
    connect_ex: Any = originals.get("connect_ex")
    sendto: Any = originals.get("sendto")
    sendmsg: Any = originals.get("sendmsg")
    send: Any = originals.get("send")
    sendall: Any = originals.get("sendall")
    sendfile: Any = originals.get("sendfile")
    accept: Any = originals.get("accept")
    os_write: Any = originals.get("os_write")
    os_writev: Any = originals.get("os_writev")
    thread_start: Any = originals.get("thread_start")
    executor_submit: Any = originals.get("executor_submit")
    ssl_send: Any = originals.get("ssl_send")
    ssl_write: Any = originals.get("ssl_write")
    ssl_do_handshake: Any = originals.get("ssl_do_handshake")
    getaddrinfo: Any = originals.get("getaddrinfo")
    gethostbyname: Any = originals.get("gethostbyname")
    gethostbyname_ex: Any = originals.get("gethostbyname_ex")
    proactor_sock_connect: Any = originals.get("proactor_sock_connect")
    uvloop_create_connection: Any = originals.get("uvloop_create_connection")
    uvloop_create_datagram_endpoint: Any = originals.get("uvloop_create_datagram_endpoint")
    uvloop_getaddrinfo: Any = originals.get("uvloop_getaddrinfo")
    pycares_getaddrinfo: Any = originals.get("pycares_getaddrinfo")
    pycares_gethostbyname: Any = originals.get("pycares_gethostbyname")
    pycares_query: Any = originals.get("pycares_query")
    pycares_search: Any = originals.get("pycares_search")

    def guarded_connect(self: socket.socket, address: Any, /) -> None:
        __tracebackhide__ = True
        _check_connect(self, address)
        connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any, /) -> int:
        __tracebackhide__ = True
        _check_connect(self, address)
        return int(connect_ex(self, address))

    def guarded_sendto(self: socket.socket, data: Any, *args: Any) -> int:
        __tracebackhide__ = True
        if args:  # sendto(data, address) or sendto(data, flags, address)
            check_address(self.family, args[-1])
        return int(sendto(self, data, *args))

    def guarded_sendmsg(self: socket.socket, *args: Any) -> int:
        __tracebackhide__ = True
        if len(args) >= 4 and args[3] is not None:  # sendmsg(buffers, ancdata, flags, address)
            check_address(self.family, args[3])
        else:
            _check_peer(self)
        return int(sendmsg(self, *args))

    # Sends on a connected socket: checked once per socket connected before the guards.
    def guarded_send(self: socket.socket, *args: Any) -> Any:
        __tracebackhide__ = True
        _check_peer(self)
        return send(self, *args)

    def guarded_sendall(self: socket.socket, *args: Any) -> Any:
        __tracebackhide__ = True
        _check_peer(self)
        return sendall(self, *args)

    def guarded_sendfile(self: socket.socket, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        _check_peer(self)
        return sendfile(self, *args, **kwargs)

    # os's writes: a socket's descriptor is checked as its sends are (one fstat a write).
    def guarded_os_write(descriptor: int, data: Any, /) -> int:
        __tracebackhide__ = True
        if _active or _outliving:
            _check_descriptor(descriptor)
        return int(os_write(descriptor, data))

    def guarded_os_writev(descriptor: int, buffers: Any, /) -> int:
        __tracebackhide__ = True
        if _active or _outliving:
            _check_descriptor(descriptor)
        return int(os_writev(descriptor, buffers))

    def guarded_accept(self: socket.socket) -> Any:
        accepted = accept(self)
        _accepted.add(accepted[0])
        return accepted

    def guarded_thread_start(self: threading.Thread) -> None:
        # A thread started by one kept behind a guard gone (`keep_threads`) is kept behind it
        # too: a worker its executor starts after the test, a timer.
        if _outliving:
            guard = _outliving.get(current_thread())
            if guard is not None and not _is_pool_worker(self):
                with _outliving_lock:
                    _outliving[self] = guard
        thread_start(self)

    def guarded_executor_submit(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        guard = _submitters_guard()
        if guard is not None:
            fn = functools.partial(_run_behind, guard, fn)
        return executor_submit(self, fn, *args, **kwargs)

    def guarded_ssl_send(self: Any, *args: Any) -> Any:
        __tracebackhide__ = True
        _check_peer(self)
        return ssl_send(self, *args)

    def guarded_ssl_write(self: Any, *args: Any) -> Any:
        __tracebackhide__ = True
        _check_peer(self)
        return ssl_write(self, *args)

    def guarded_ssl_do_handshake(self: Any, *args: Any) -> Any:
        __tracebackhide__ = True
        _check_peer(self)
        return ssl_do_handshake(self, *args)

    def guarded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        name = _check_lookup(host, port)
        results = getaddrinfo(host, port, *args, **kwargs)
        _remember(name, (str(sockaddr[0]) for *_, sockaddr in results))
        return results

    def guarded_gethostbyname(hostname: str, /) -> str:
        __tracebackhide__ = True
        name = _check_lookup(hostname)
        result = str(gethostbyname(hostname))
        _remember(name, [result])
        return result

    def guarded_gethostbyname_ex(hostname: str, /) -> tuple[str, list[str], list[str]]:
        __tracebackhide__ = True
        name = _check_lookup(hostname)
        result: tuple[str, list[str], list[str]] = gethostbyname_ex(hostname)
        _remember(name, result[2])
        return result

    async def guarded_proactor_sock_connect(self: Any, sock: socket.socket, address: Any) -> None:
        check_address(sock.family, address)
        await proactor_sock_connect(self, sock, address)

    # uvloop resolves names and connects in libuv, past the socket module: its loop's own
    # methods are checked instead, by the host and port they are given.
    async def guarded_uvloop_create_connection(
        self: Any, protocol_factory: Any, host: Any = None, port: Any = None, *args: Any, **kw: Any
    ) -> Any:
        if kw.get("sock") is None:
            check_remote(host, port, "tcp")
        elif isinstance(kw["sock"], socket.socket):  # its transport writes in libuv: a socket
            _check_peer(kw["sock"])  # connected before the guards is checked as at a send
        return await uvloop_create_connection(self, protocol_factory, host, port, *args, **kw)

    async def guarded_uvloop_create_datagram_endpoint(
        self: Any, protocol_factory: Any, local_addr: Any = None, remote_addr: Any = None, **kw: Any
    ) -> Any:
        if isinstance(remote_addr, (tuple, list)) and len(remote_addr) >= 2:
            check_remote(remote_addr[0], remote_addr[1], "udp")
        elif isinstance(kw.get("sock"), socket.socket):
            _check_peer(kw["sock"])  # a connected one: as above
        return await uvloop_create_datagram_endpoint(
            self, protocol_factory, local_addr, remote_addr, **kw
        )

    async def guarded_uvloop_getaddrinfo(
        self: Any, host: Any, port: Any, *args: Any, **kwargs: Any
    ) -> Any:
        name = _check_lookup(host, port)
        results = await uvloop_getaddrinfo(self, host, port, *args, **kwargs)
        _remember(name, (str(sockaddr[0]) for *_, sockaddr in results))
        return results

    return {
        "connect": guarded_connect,
        "connect_ex": guarded_connect_ex,
        "sendto": guarded_sendto,
        "sendmsg": guarded_sendmsg,
        "send": guarded_send,
        "sendall": guarded_sendall,
        "sendfile": guarded_sendfile,
        "accept": guarded_accept,
        "os_write": guarded_os_write,
        "os_writev": guarded_os_writev,
        "thread_start": guarded_thread_start,
        "executor_submit": guarded_executor_submit,
        "ssl_send": guarded_ssl_send,
        "ssl_write": guarded_ssl_write,
        "ssl_do_handshake": guarded_ssl_do_handshake,
        "getaddrinfo": guarded_getaddrinfo,
        "gethostbyname": guarded_gethostbyname,
        "gethostbyname_ex": guarded_gethostbyname_ex,
        "proactor_sock_connect": guarded_proactor_sock_connect,
        "uvloop_create_connection": guarded_uvloop_create_connection,
        "uvloop_create_datagram_endpoint": guarded_uvloop_create_datagram_endpoint,
        "uvloop_getaddrinfo": guarded_uvloop_getaddrinfo,
        "pycares_getaddrinfo": _guarded_lookup(pycares_getaddrinfo, takes_port=True),
        "pycares_gethostbyname": _guarded_lookup(pycares_gethostbyname),
        "pycares_query": _guarded_lookup(pycares_query),
        "pycares_search": _guarded_lookup(pycares_search),
        "pycurl_Curl": _guarded_by("network_pycurl.guarded_curl", originals.get("pycurl_Curl")),
        **{
            key: _guarded_by("network_grpc.guarded_channel_init", originals.get(key))
            for key in _GRPC_CHANNELS.values()
        },
    }


def _guarded_by(where: str, original: Any) -> Any:
    """`original` guarded by the function `where` names in one of our modules, imported only
    where the library it guards is (None: the library is not)."""
    if original is None:
        return None
    module, name = where.split(".")
    return getattr(importlib.import_module(f"pytest_cassettes.{module}"), name)(original)


def _guarded_lookup(original: Any, takes_port: bool = False) -> Any:
    """A pycares Channel look-up, guarded. pycares (c-ares: aiodns, so aiohttp's resolver when
    aiodns is installed) queries name servers past the socket module. The name is checked as
    socket.getaddrinfo's is; the addresses the answer holds are remembered before its callback
    runs (so before the caller resumes). The callback is a keyword (pycares 5) or the argument
    after the port, family or query type (pycares 4)."""

    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        # (name, [port | family | query type], callback, ...), each maybe a keyword
        name = args[0] if args else kwargs.get("host", kwargs.get("name"))
        port = None
        if takes_port:
            port = args[1] if len(args) > 1 else kwargs.get("port")
        checked = _check_lookup(name, port)
        if checked is not None:
            if callable(kwargs.get("callback")):
                kwargs["callback"] = _remembering(checked, kwargs["callback"])
            elif len(args) > 2 and callable(args[2]):
                args = (*args[:2], _remembering(checked, args[2]), *args[3:])
        return original(self, *args, **kwargs)

    return guarded


def _remembering(name: str, callback: Any) -> Any:
    """`callback` of a pycares look-up of `name`, remembering the addresses answered first."""

    def answered(result: Any, error: Any) -> Any:
        if error is None and result is not None:
            _remember(name, _answered_addresses(result))
        return callback(result, error)

    return answered


def _answered_addresses(result: Any) -> list[str]:
    """The addresses in a pycares answer: getaddrinfo's nodes, gethostbyname's addresses, the
    A/AAAA records of a query (pycares 5: records with `data.addr`; 4: `ares_query_a_result`s
    and `ares_query_aaaa_result`s, whose `host` is the address)."""
    found: list[str] = []
    for node in getattr(result, "nodes", None) or ():
        host = node.addr[0]
        found.append(host.decode("ascii", "replace") if isinstance(host, bytes) else str(host))
    found += [str(address) for address in getattr(result, "addresses", None) or ()]
    for record in getattr(result, "answer", None) or ():
        address = getattr(getattr(record, "data", None), "addr", None)
        if address is not None:
            found.append(str(address))
    if isinstance(result, list):  # pycares 4: only A and AAAA results hold addresses
        found += [
            str(item.host)
            for item in result
            if type(item).__name__.endswith(("_a_result", "_aaaa_result"))
        ]
    return found


# gRPC's modules holding a channel class -> the key of its guarded __init__.
_GRPC_CHANNELS = {"grpc._channel": "grpc_channel", "grpc.aio._channel": "grpc_aio_channel"}


def _patch_points() -> Iterator[tuple[object, str, str]]:
    """(owner, attribute, key) for everything the guard patches."""
    for name in ("connect", "connect_ex", "sendto", "sendmsg", "send", "sendall", "sendfile"):
        if hasattr(socket.socket, name):  # sendmsg is missing on Windows
            yield socket.socket, name, name
    yield socket.socket, "accept", "accept"
    for name in ("write", "writev"):
        if hasattr(os, name):  # writev is missing on Windows
            yield os, name, f"os_{name}"
    yield threading.Thread, "start", "thread_start"
    # And where imported (asyncio does), an executor's work, run by workers any test may reuse.
    executor = getattr(sys.modules.get("concurrent.futures.thread"), "ThreadPoolExecutor", None)
    if isinstance(executor, type):
        yield executor, "submit", "executor_submit"
    # ssl's sockets send through their SSL object, past socket.send: where ssl is imported.
    ssl_socket = getattr(sys.modules.get("ssl"), "SSLSocket", None)
    if isinstance(ssl_socket, type):
        for name in ("send", "write", "do_handshake"):
            yield ssl_socket, name, f"ssl_{name}"
    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex"):
        yield socket, name, name
    # Only where asyncio loaded it (Windows): importing it here would cost everybody else.
    proactor = sys.modules.get("asyncio.proactor_events")
    if proactor is not None:
        yield proactor.BaseProactorEventLoop, "sock_connect", "proactor_sock_connect"
    # Likewise uvloop, where imported (a project imports it where it sets its loop up: a
    # conftest, a test module, the code under test).
    uvloop_class = getattr(sys.modules.get("uvloop"), "Loop", None)
    if isinstance(uvloop_class, type):
        for name in ("create_connection", "create_datagram_endpoint", "getaddrinfo"):
            yield uvloop_class, name, f"uvloop_{name}"
    # And pycares, where imported (by aiodns, which aiohttp imports when it is installed).
    channel_class = getattr(sys.modules.get("pycares"), "Channel", None)
    if isinstance(channel_class, type):
        for name in ("getaddrinfo", "gethostbyname", "query", "search"):
            if hasattr(channel_class, name):  # pycares 5 has no gethostbyname
                yield channel_class, name, f"pycares_{name}"
    # And pycurl, where imported: its handles connect in libcurl (see network_pycurl.py).
    pycurl = sys.modules.get("pycurl")
    if isinstance(getattr(pycurl, "Curl", None), type):
        yield pycurl, "Curl", "pycurl_Curl"
    # And gRPC's channels, where imported: its C core connects (see network_grpc.py).
    for module, key in _GRPC_CHANNELS.items():
        channel_class = getattr(sys.modules.get(module), "Channel", None)
        if isinstance(channel_class, type) and "__init__" in vars(channel_class):
            yield channel_class, "__init__", key


# The modules whose presence changes what _patch_points finds.
_OPTIONAL = (
    "ssl",
    "concurrent.futures.thread",
    "asyncio.proactor_events",
    "uvloop",
    "pycares",
    "pycurl",
    *_GRPC_CHANNELS,
)
# What _patch_points found last, and with which of those modules (the same at nearly every
# guard of a run: it is not looked for again then).
_points: list[tuple[tuple[Any, ...], list[tuple[object, str, str]]]] = []


def _install(points: list[tuple[object, str, str]] | None = None) -> None:
    """Put the guarded functions in place, remembering exactly what was there."""
    if _left:
        _sweep_left()  # else ours left over would be taken for an original
    if points is None:
        modules = tuple(map(sys.modules.get, _OPTIONAL))
        if _points and _points[0][0] == modules:
            points = _points[0][1]
        else:
            points = list(_patch_points())
            _points[:] = [(modules, points)]
        if _LATE_IMPORTS not in sys.meta_path:  # once: never removed (see _LateImports)
            sys.meta_path.insert(0, _LATE_IMPORTS)
    originals = {key: getattr(owner, attribute) for owner, attribute, key in points}
    replacements = _replacements(originals)
    try:
        for owner, attribute, key in points:
            replacement = replacements[key]
            _saved.append((owner, attribute, attribute in vars(owner), originals[key], replacement))
            setattr(owner, attribute, replacement)
    except BaseException:
        _uninstall()
        raise


# The last originals installed over and their replacements: a guard comes and goes at every
# replay-only test, over the same originals, and building the replacements is ~20 closures.
_made: list[tuple[dict[str, Any], dict[str, Any]]] = []


def _replacements(originals: dict[str, Any]) -> dict[str, Any]:
    """`_guarded(originals)`, the same functions again for the same originals."""
    if _made:
        before, made = _made[0]
        if before.keys() == originals.keys() and all(
            before[key] is original for key, original in originals.items()
        ):
            return made
    made = _guarded(originals)
    _made[:] = [(originals, made)]
    return made


class _LateImports(WrappingFinder):
    """uvloop, pycares, pycurl or gRPC's channels imported while a guard is installed (by a
    test's body, or the code under test setting its loop up lazily; gRPC imports its channels
    when the first is made): their methods are guarded as soon as the module has run, like
    those of a module imported before the guard was installed."""

    NAMES = frozenset(
        {"uvloop", "pycares", "pycurl", "ssl", "concurrent.futures.thread", *_GRPC_CHANNELS}
    )

    def wants(self, fullname: str) -> bool:
        return fullname in self.NAMES and bool(_active)

    def wrap(self, exec_module: Exec) -> Exec:
        def exec_and_guard(module: ModuleType) -> None:
            exec_module(module)
            with _install_lock:
                if _active:
                    patched = {(id(owner), attribute) for owner, attribute, *_ in _saved}
                    _install([p for p in _patch_points() if (id(p[0]), p[1]) not in patched])

        return exec_and_guard


_LATE_IMPORTS = _LateImports()


def _uninstall() -> None:
    """Restore every original, even if an exception (KeyboardInterrupt) hits half-way. A
    replacement someone put over ours since (a fixture's monkeypatch, a library's wrapper,
    holding ours) is left in place: ours goes once they give it back (`_left`)."""
    try:
        while _saved:
            owner, attribute, had_own, original, replacement = _saved.pop()
            current = getattr(owner, attribute, None)
            if current is not replacement and current is not original:
                _left.append((owner, attribute, had_own, original, replacement, current))
            else:
                _put_back(owner, attribute, had_own, original)
    except BaseException:
        _uninstall()  # the rest
        raise


# Replacements of ours that another's was over when the patches went: (as `_saved`, and the
# other's). Ours goes when found in place again, or is forgotten once neither is.
_left: list[tuple[object, str, bool, Any, Any, Any]] = []


def _put_back(owner: object, attribute: str, had_own: bool, original: Any) -> None:
    if had_own:
        setattr(owner, attribute, original)
    elif attribute in vars(owner):
        delattr(owner, attribute)


def _sweep_left() -> None:
    """The originals back where a replacement left over ours was taken away (its fixture's
    teardown gave ours back): nothing of ours stays on the call path. Kept while the other's is
    in place, or ours anew over it (a guard since: the other's comes back when it goes)."""
    kept = []
    placed = {id(entry[4]) for entry in _saved}
    for entry in reversed(_left):
        owner, attribute, had_own, original, replacement, other = entry
        current = getattr(owner, attribute, None)
        if current is replacement:
            _put_back(owner, attribute, had_own, original)
        elif current is other or id(current) in placed:
            kept.append(entry)
    _left[:] = kept[::-1]
