"""The network guard, carried into children started by ``os`` rather than ``subprocess``.

While a guard is carried into child processes (children.py), ``os.system``, ``os.spawn*``,
``os.posix_spawn``/``os.posix_spawnp`` and ``os.exec*`` give their child the environment a
``subprocess`` child gets (our folder first on PYTHONPATH, children_proxy's trap, children_node's
preload), and the trap names the child. ``os.system`` runs its command after exporting the
variables that differ from ``os.environ`` (the C ``system()`` still runs it: its wait status
and its handling of SIGINT and SIGQUIT are the same; on POSIX only: cmd.exe has no
``export``); ``os.spawn*`` start it through their
form taking an environment; ``os.posix_spawn`` with the environment it was given, completed;
``os.exec*`` (a forked child's, ``pty.spawn``'s, the test's own) through their ``e`` form, the
program's trap served by a process forked for it (children_proxy.environment_for_exec). The
functions are ours only while a guard is carried: no guard, no cost. A module that imported
one by name (``from os import system``, before the guard) gets ours under that name too, while
the guard is carried: each module is looked through once, the first time a guard is carried
after it was imported (~3 ms for 700 modules, once).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import weakref
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Callable

# os's functions in place while a guard is carried, and our wrappers of them (made once)
_REAL: dict[str, Any] = {}
_MADE: dict[str, Any] = {}
# Names other modules bound to os's functions: (the module, weakly: a module forgotten, as an
# in-process pytester run forgets its tests', is not kept alive; the name, os's name); those
# ours replaced while a guard is carried, with the real one; the modules looked through (by
# id, under their name) and how many sys.modules held then.
_NAMES: list[tuple[weakref.ref[ModuleType], str, str]] = []
_BOUND: list[tuple[dict[str, Any], str, Any]] = []
_SEEN_IDS: dict[str, int] = {}
_SEEN = [0]
_SKIPPED = frozenset({"os", os.name, "pytest_cassettes.children_os"})
_NATIVE = sys.modules[os.name]  # posix (nt): those written in C; the others' globals are os's


def carry(on: bool) -> None:
    """Put our wrappers in place of os's functions (``on``; a fake in place of one is left
    alone, as subprocess's are), or the real ones back where ours still are (a test that
    patched one meanwhile keeps its own)."""
    namespace = vars(os)
    if not on:
        for name, real in _REAL.items():
            current = namespace.get(name)
            if current is _MADE[name] or getattr(current, "__wrapped__", None) is real:
                setattr(os, name, real)
        _REAL.clear()
        for bound, name, real in _BOUND:
            if getattr(bound.get(name), "__wrapped__", None) is real:
                bound[name] = real
        _BOUND.clear()
        _HELD.clear()
        return
    for name, wrap in _WRAPS.items():
        current = namespace.get(name)
        made = _MADE.get(name)
        if made is not None and made.__wrapped__ is current:  # as at the guard before: ours
            _REAL[name] = current
            setattr(os, name, made)
            continue
        if current is None or getattr(current, "_carries_guard", False):
            continue  # not on this system, or ours already
        if not _is_os_own(name, current):
            continue  # a test's fake (a conftest's, a session fixture's): left alone
        made = _MADE[name] = functools.wraps(current)(wrap(current))
        setattr(made, "_carries_guard", True)  # noqa: B010 (a function's attribute)
        _REAL[name] = current
        setattr(os, name, made)
    _carry_into_bound_names()
    _HELD[:] = [tuple(map(namespace.get, _WRAPS))]


def _is_os_own(name: str, function: Any) -> bool:
    """Whether ``function``, in os's place ``name``, is os's own (else a test's fake)."""
    return function is getattr(_NATIVE, name, None) or (
        getattr(function, "__globals__", None) is vars(os)
    )


def _carry_into_bound_names() -> None:
    """Our wrappers in place of the real functions a module imported by name (``from os import
    system``): the modules are looked through once each, when first seen here."""
    modules = sys.modules
    if len(modules) != _SEEN[0]:
        reals = {id(real): name for name, real in _REAL.items()}
        ids = reals.keys()
        for key, module in list(modules.items()):
            if key in _SKIPPED or id(module) == _SEEN_IDS.get(key):
                continue
            _SEEN_IDS[key] = id(module)
            namespace = getattr(module, "__dict__", None)
            # Most modules bind none: told in one pass in C (a process's ~1,000 modules hold
            # ~50,000 names, which a loop in Python took ~2 ms to look through).
            if not isinstance(namespace, dict) or ids.isdisjoint(map(id, list(namespace.values()))):
                continue
            for name, value in list(namespace.items()):
                if id(value) in reals and callable(value):
                    with contextlib.suppress(TypeError):  # a module that takes no weakref
                        _NAMES.append((weakref.ref(module), name, reals[id(value)]))
        _SEEN[0] = len(modules)
    gone = False
    for held, name, os_name in _NAMES:
        holder = held()
        if holder is None:
            gone = True
            continue
        namespace = vars(holder)
        real = _REAL.get(os_name)
        if real is not None and namespace.get(name) is real:
            namespace[name] = _MADE[os_name]
            _BOUND.append((namespace, name, real))
    if gone:
        _NAMES[:] = [entry for entry in _NAMES if entry[0]() is not None]


# What os held under the names of _WRAPS when they were last carried (ours, a fake, None).
_HELD: list[tuple[Any, ...]] = []


def unchanged() -> bool:
    """Whether os holds what it held when carried last (nothing put back or in since), and no
    module was imported since (one may have bound a function of os's by name)."""
    return (
        bool(_HELD)
        and len(sys.modules) == _SEEN[0]
        and tuple(map(vars(os).get, _WRAPS)) == _HELD[0]
    )


def _carried(env: Mapping[Any, Any] | None, args: Any, replacing: bool = False) -> tuple[Any, str]:
    from pytest_cassettes import children

    return children._carried(env, args, replacing)


def _started(token: str, pid: Any) -> None:
    if token and isinstance(pid, int) and pid > 0:
        from pytest_cassettes import children_proxy

        children_proxy.started(token, pid)


def _system(real: Callable[[Any], int]) -> Callable[[Any], int]:
    def system(command: Any) -> int:
        text = os.fspath(command)
        env, token = _carried(None, text)
        if not token:
            return real(command)
        import shlex

        exports = " ".join(
            f"{name}={shlex.quote(value)}"
            for name, value in env.items()
            if os.environ.get(name) != value
        )
        prefix = f"export {exports}\n" if exports else ""
        return real(os.fsencode(prefix) + text if isinstance(text, bytes) else prefix + text)

    return system


def _spawn(e_form: str) -> Callable[[Any], Any]:
    """A wrapper of an ``os.spawn*`` function taking ``args`` (the ``l`` forms call them): the
    child started by ``e_form``, the one taking an environment."""

    def wrap(real: Callable[..., int]) -> Callable[..., int]:
        def spawn(*given: Any, **named: Any) -> int:
            mode, file, args, *env = _positional(real, given, named)
            carried, token = _carried(env[0] if env else None, args)
            if not token:
                return real(*given, **named)
            result = int(_unwrapped(e_form)(mode, file, args, carried))
            if mode == os.P_NOWAIT and os.name == "posix":  # its pid (Windows: a handle)
                _started(token, result)
            return result

        return spawn

    return wrap


def _positional(
    real: Callable[..., Any], given: tuple[Any, ...], named: dict[str, Any]
) -> list[Any]:
    """The arguments of a call of ``real``, in its parameters' order: a caller may name them
    (``os.execve(path, argv, env=env)``); a call ``real`` refuses raises its TypeError."""
    import inspect

    return list(inspect.signature(real).bind(*given, **named).arguments.values())


def _unwrapped(name: str) -> Any:
    """os's function ``name`` (an ``e`` form) as the form without an environment reaches it:
    the real one under our wrapper; os's own in place of a test's fake, which the real
    ``os.spawnvp`` or ``os.execvp`` would never call."""
    function = getattr(os, name)
    if getattr(function, "_carries_guard", False):
        return function.__wrapped__
    if _is_os_own(name, function):
        return function
    own = _OWN.get(name)
    return function if own is None else own


def _own_execvpe(file: Any, args: Any, env: Any) -> None:
    os._execvpe(file, args, env)  # type: ignore[attr-defined]  # os.execvpe's own body


# os's own e forms, past a fake in their place (their private helpers, where they are)
_OWN: dict[str, Callable[..., Any]] = {}
if hasattr(os, "_spawnvef") and hasattr(os, "_execvpe") and hasattr(_NATIVE, "execve"):
    _OWN.update(
        execve=_NATIVE.execve,
        execvpe=_own_execvpe,
        spawnve=lambda mode, file, args, env: os._spawnvef(  # type: ignore[attr-defined]
            mode, file, args, env, _NATIVE.execve
        ),
        spawnvpe=lambda mode, file, args, env: os._spawnvef(  # type: ignore[attr-defined]
            mode, file, args, env, _own_execvpe
        ),
    )


def _exec(e_form: str) -> Callable[[Any], Any]:
    """A wrapper of an ``os.exec*`` function taking ``args`` (the ``l`` forms, pty.spawn and
    os.spawn*'s forked child call them): the program started by ``e_form``, the one taking an
    environment, with a trap served for it (children_proxy.environment_for_exec)."""

    def wrap(real: Callable[..., Any]) -> Callable[..., Any]:
        def execute(*given: Any, **named: Any) -> Any:
            path, args, *env = _positional(real, given, named)
            carried, token = _carried(env[0] if env else None, args, replacing=True)
            if not token:
                return real(*given, **named)
            from pytest_cassettes import children_proxy

            try:
                return _unwrapped(e_form)(path, args, carried)
            finally:  # reached only if no program replaced this process: its trap goes
                children_proxy.exec_failed()

        return execute

    return wrap


def _posix_spawn(real: Callable[..., int]) -> Callable[..., int]:
    def posix_spawn(path: Any, argv: Any, env: Any, /, **options: Any) -> int:
        carried, token = _carried(env, argv)
        pid = real(path, argv, carried, **options)
        _started(token, pid)
        return pid

    return posix_spawn


_WRAPS: dict[str, Callable[[Any], Any]] = {
    "posix_spawn": _posix_spawn,
    "posix_spawnp": _posix_spawn,
    "spawnv": _spawn("spawnve"),
    "spawnve": _spawn("spawnve"),
    "spawnvp": _spawn("spawnvpe"),
    "spawnvpe": _spawn("spawnvpe"),
}
if os.name == "posix":  # cmd.exe knows no `export`, and a newline ends its command there
    _WRAPS["system"] = _system
if hasattr(os, "fork"):  # where os.exec* replace the process (Windows starts another)
    _WRAPS.update(
        execv=_exec("execve"),
        execve=_exec("execve"),
        execvp=_exec("execvpe"),
        execvpe=_exec("execvpe"),
    )
