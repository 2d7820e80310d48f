"""The network guard, carried into the Python child processes a guarded test starts.

While a guard that carries a :class:`ChildSpec` is on (a cassette test of a replay-only run,
a test under --block-network), the environment holds two variables every child inherits:
``PYTHONPATH`` begins with the folder of our ``sitecustomize.py`` (``child_site``), which
Python imports at start-up, and ``PYTEST_CASSETTES_CHILD_GUARD`` says what to guard. A Python
child (``subprocess.run([sys.executable, ...])``, a console script, a ``multiprocessing``
spawn or forkserver worker) then installs the same guard before its own code runs: a blocked
connection raises :class:`NetworkBlockedError` in the child, and is written, one JSON line,
to a file of this process, which the parent reads when the test's call ends and when the
guard goes (:func:`collect`): the test fails with it even if it never looks at the child's
exit status or output. A Python started with ``-I`` or ``-E`` ignores PYTHONPATH: a ``.pth``
file this process writes into its site-packages when it starts one runs our sitecustomize
there (:func:`isolated_hook`).

The variables go when the last such guard does, unless the test changed them meanwhile
(then they are the test's); meanwhile ``subprocess`` puts our folder back first on a
PYTHONPATH the test set (:func:`_carry_into_popen`). Children that are not Python, Python
older than 3.9 or started with ``-S`` (no site, no .pth), and children given an environment of
their own making (``env={"PATH": ...}``) are not guarded at the socket: ``subprocess`` (and
``os.system``, ``os.spawn*``, ``os.posix_spawn``, ``os.exec*``: children_os.py) gives every child
proxy variables naming a trap that refuses what the guards do not allow
(children_proxy.py), and a preload Node children run (children_node.py), which a child guarded
at the socket puts back at its start.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import stat
import sys
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any

from pytest_cassettes.importhooks import Exec, WrappingFinder

if TYPE_CHECKING:
    from types import ModuleType

    from pytest_cassettes.network import NetworkGuard

ENV = "PYTEST_CASSETTES_CHILD_GUARD"
# The variables children_proxy set for a child (the proxies, children_node's): [[name, its
# value, the value before or null], ...]; a child guarded at the socket puts them back
# (restore_proxies).
SAVED = "PYTEST_CASSETTES_PROXY_SAVED"
# os.path, not pathlib: every guarded child imports this module at start-up (pathlib: 3 ms).
SITE_DIR = os.path.join(os.path.dirname(__file__), "child_site")
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(__file__))


def _stream_sockets() -> frozenset[tuple[int, int]]:
    found = set()
    for descriptor in (0, 1, 2):
        with contextlib.suppress(OSError):
            status = os.fstat(descriptor)
            if stat.S_ISSOCK(status.st_mode):
                found.add((status.st_dev, status.st_ino))
    return frozenset(found)


# This process's standard streams that are sockets (a runner reading pytest's output over TCP),
# by (device, inode), as it started: noted as the plugin is imported, before pytest's capture
# stands in for them. os.write to them (or a duplicate, as capfd writes back) is output, not a
# connection for the guard to check (network._check_descriptor).
STREAM_SOCKETS = _stream_sockets()
_PACKAGE_PARENT_JSON = json.dumps(_PACKAGE_PARENT)


class ChildSpec:
    """What a child needs to guard itself as its parent's guard does: the allowed hosts as
    given, and what its NetworkBlockedError says (the test, the record mode and why,
    pytest-recording's wording or not).

    Written by hand, not as a dataclass (see values.py)."""

    __slots__ = ("allow", "encoded", "key", "legacy", "mode", "reason", "test")

    def __init__(
        self, allow: Sequence[str], test: str, mode: str | None, reason: str, legacy: bool = False
    ) -> None:
        self.allow = allow
        self.test = test
        self.mode = mode
        self.reason = reason
        self.legacy = legacy
        self.key = ""  # names the guard in the report: set by publish
        self.encoded = ""  # as the variable carries it: made with key

    def wire(self) -> dict[str, Any]:
        """As ``PYTEST_CASSETTES_CHILD_GUARD`` carries it (JSON), for guard_this_process."""
        return {
            "allow": list(self.allow),
            "test": self.test,
            "mode": self.mode,
            "reason": self.reason,
            "legacy": self.legacy,
            "key": self.key,
        }


class _Parent:
    """This process's side: the guards it described, what the variables held before, the report
    file its children write to."""

    def __init__(self) -> None:
        self.guards: dict[str, NetworkGuard] = {}
        self.published: tuple[str, str] | None = None  # what we set ENV and PYTHONPATH to
        self.before: tuple[str | None, str | None] = (None, None)  # what they held
        self.inherited: list[str] = []  # the guards ENV held before, as JSON
        self.report: str | None = None
        self.offset = 0
        self.counter = 0
        # subprocess.Popen and its own __init__, while ours wraps it; our wrapper, once made
        self.popen: tuple[Any, Any] | None = None
        self.wrapper: Any = None
        self.proxy: Any = None  # children_proxy, once a child was started under a guard
        self.carrying = False  # os's and subprocess's functions ours (_carry_into_popen)
        self.counted: set[tuple[str, str]] = set()  # marked blocks counted: guard key, mark

    def report_path(self) -> str:
        """The file children write their blocks to, made when first needed; "" if it cannot be
        (no usable temporary folder): a child's block is then told in its own output only."""
        if self.report is None:
            import atexit
            import tempfile

            try:
                handle, name = tempfile.mkstemp(".jsonl", "pytest-cassettes-children-")
            except OSError:
                return ""
            os.close(handle)
            self.report = name
            atexit.register(_remove, name)
        return self.report


_PARENT = _Parent()


def publish(active: Sequence[NetworkGuard], linger: bool = False) -> None:
    """The guards now on: describe those carrying a spec to children, or put the variables back
    as they were when none does (``linger``: leaving ``os``'s and ``subprocess``'s functions
    ours, doing nothing without the variables, until :func:`release`). Called by the network
    guard, under its lock, when the guards on change."""
    parent = _PARENT
    carried = [guard for guard in active if guard.child is not None]
    if not carried and parent.published is None:
        return
    for guard in carried:
        spec = guard.child
        assert spec is not None
        if not spec.key:
            parent.counter += 1
            spec.key = f"{os.getpid()}-{parent.counter}"
            spec.encoded = _encoded(spec, parent.report_path())
        parent.guards[spec.key] = guard
    if len(parent.guards) > len(carried):  # a guard went: what its children told, first
        collect()
        keep = {guard.child.key for guard in carried if guard.child is not None}
        for key in [key for key in parent.guards if key not in keep]:
            del parent.guards[key]
    environ = os.environ
    if parent.published is None:
        parent.before = (environ.get(ENV), environ.get("PYTHONPATH"))
        parent.inherited = [json.dumps(wire) for wire in _inherited_guards(parent.before[0])]
    if not carried:
        assert parent.published is not None
        for name, ours, before in zip((ENV, "PYTHONPATH"), parent.published, parent.before):
            if environ.get(name) == ours:  # else the test set its own: leave it
                if before is None:
                    del environ[name]
                else:
                    environ[name] = before
        if not linger:
            _carry_into_popen(False)
        parent.published = None
        parent.counted.clear()
        if parent.proxy is not None:  # the trap, if a child was started
            parent.proxy.stop()
        return
    # Written at every guarded test: its parts are made once (a dumps of it all cost 20 us).
    guards = parent.inherited + [guard.child.encoded for guard in carried if guard.child]
    value = f'{{"path": {_PACKAGE_PARENT_JSON}, "guards": [{", ".join(guards)}]}}'
    path = _our_folder_first(parent.before[1])
    environ[ENV] = value
    environ["PYTHONPATH"] = path
    if parent.published is None:
        _carry_into_popen(True)
    parent.published = (value, path)


# json.dumps of a ChildSpec's wire with its report, around its test and key: the same for every
# guard of a run (a dumps of it all cost 30,000 instructions, a tenth of a guard's).
_FRAMES: dict[tuple[Any, ...], tuple[str, str, str]] = {}


def _encoded(spec: ChildSpec, report: str) -> str:
    """``json.dumps(dict(spec.wire(), report=report))``, made from parts kept."""
    shape = (tuple(spec.allow), spec.mode, spec.reason, spec.legacy, report)
    frame = _FRAMES.get(shape)
    if frame is None:
        if len(_FRAMES) > 8:
            _FRAMES.clear()
        head = json.dumps({"allow": list(spec.allow)})[:-1] + ', "test": '
        middle = json.dumps({"mode": spec.mode, "reason": spec.reason, "legacy": spec.legacy})
        tail = json.dumps({"report": report})[1:]
        frame = _FRAMES[shape] = (head, ", " + middle[1:-1] + ', "key": ', ", " + tail)
    head, middle, tail = frame
    return (
        head
        + encode_basestring_ascii(spec.test)
        + middle
        + encode_basestring_ascii(spec.key)
        + tail
    )


def release() -> None:
    """``os``'s and ``subprocess``'s own functions back, where a guard that went left ours
    (``publish(..., linger=True)``)."""
    if _PARENT.published is None and _PARENT.carrying:
        _carry_into_popen(False)


def _our_folder_first(path: str | None) -> str:
    if not path:
        return SITE_DIR
    if path.split(os.pathsep)[0] == SITE_DIR:
        return path
    return os.pathsep.join([SITE_DIR, path])


def _carry_into_popen(on: bool) -> None:
    """While a guard is carried, a child started by ``subprocess`` (asyncio's and os.popen's
    too) whose environment carries ours gets our folder first on its PYTHONPATH again: a test
    that sets its own (``env={**os.environ, "PYTHONPATH": "src"}``, monkeypatch.setenv) would
    otherwise start it unguarded. And ``os.system``, ``os.spawn*`` and ``os.posix_spawn``
    give their child the environment a ``subprocess`` child gets (children_os.py)."""
    import subprocess

    import pytest_cassettes.children_os as children_os  # not `from`: its fromlist costs 2 us

    if on and _PARENT.carrying:  # ours stayed since the guard before (publish's linger)
        if (
            _PARENT.popen is not None
            and _PARENT.popen[0].__init__ is _PARENT.wrapper
            and children_os.unchanged()
        ):
            return  # all as that guard left them
        _carry_into_popen(False)
    _PARENT.carrying = on
    children_os.carry(on)
    _carry_into_workers(on)
    if on:
        popen = _real_popen(subprocess.Popen)
        if popen is None:
            return  # a fake in its place (pytest-subprocess's), seen first: left alone
        init = popen.__init__
        if getattr(init, "_carries_guard", False):
            return  # ours still (another patch went over it and back): not wrapped twice
        if _PARENT.wrapper is None or _PARENT.wrapper.__wrapped__ is not init:
            _PARENT.wrapper = _carrying(init)  # made once: a test's guard comes and goes
        popen.__init__ = _PARENT.wrapper
        _PARENT.popen = (popen, init)
    elif _PARENT.popen is not None:
        popen, init = _PARENT.popen
        if getattr(popen.__init__, "__wrapped__", None) is init:  # else patched since
            popen.__init__ = init
        _PARENT.popen = None


# multiprocessing's modules whose Popen pickles the process for a worker to run
_WORKER_POPENS = ("multiprocessing.popen_forkserver", "multiprocessing.popen_spawn_posix")
_LAUNCHES: list[tuple[Any, Any]] = []  # (Popen class, its own _launch) while ours is in place


def _carry_into_workers(on: bool) -> None:
    """While a guard is carried, a multiprocessing worker started by a forkserver or spawned
    gets the guard when it unpickles its process, before the process runs: a forkserver an
    unguarded test started forks its workers unguarded, and a spawned one whose PYTHONPATH
    the test replaced skips our sitecustomize. Those modules imported later (multiprocessing
    imports one at its first such start) are wrapped as they are (_WorkersLater)."""
    _WORKERS_CARRIED[0] = on
    if not on:
        for popen, launch in _LAUNCHES:
            if getattr(popen._launch, "__wrapped__", None) is launch:
                popen._launch = launch
        _LAUNCHES.clear()
        return
    if _WORKERS_LATER not in sys.meta_path:  # once: never removed
        sys.meta_path.insert(0, _WORKERS_LATER)
    for name in _WORKER_POPENS:
        popen = getattr(sys.modules.get(name), "Popen", None)
        launch = getattr(popen, "_launch", None)
        if launch is None or getattr(launch, "_carries_guard", False):
            continue
        popen._launch = _launching(launch)  # type: ignore[union-attr]
        _LAUNCHES.append((popen, launch))


class _WorkersLater(WrappingFinder):
    """A module of _WORKER_POPENS imported while a guard is carried: wrapped once it ran."""

    def wants(self, fullname: str) -> bool:
        return _WORKERS_CARRIED[0] and fullname in _WORKER_POPENS

    def wrap(self, exec_module: Exec) -> Exec:
        def exec_and_carry(module: ModuleType) -> None:
            exec_module(module)
            if _WORKERS_CARRIED[0]:
                _carry_into_workers(True)

        return exec_and_carry


_WORKERS_CARRIED = [False]
_WORKERS_LATER = _WorkersLater()


def _launching(launch: Any) -> Any:
    @functools.wraps(launch)
    def launch_guarded(self: Any, process: Any) -> Any:
        value = os.environ.get(ENV)
        if isinstance(value, str):
            process._pytest_cassettes_guard = _GuardWhenUnpickled(value)
        try:
            return launch(self, process)
        finally:
            vars(process).pop("_pytest_cassettes_guard", None)

    setattr(launch_guarded, "_carries_guard", True)  # noqa: B010 (a function's attribute)
    return launch_guarded


class _GuardWhenUnpickled:
    """Pickled with a worker's process: unpickled in the worker, it guards it."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return _guard_worker, (self.value,)


def _guard_worker(value: str) -> None:
    """In a multiprocessing worker, as it unpickles its process: the guards its parent
    carried that the worker has not installed yet (from our sitecustomize, or its
    forkserver's); and the variables, for the worker's own children."""
    data = json.loads(value)
    missing = [wire for wire in data["guards"] if wire.get("key") not in _GUARDED]
    os.environ[ENV] = value
    os.environ["PYTHONPATH"] = _our_folder_first(os.environ.get("PYTHONPATH"))
    if missing:
        guard_this_process({**data, "guards": missing})


def _carrying(init: Any) -> Any:
    """Popen's ``__init__``, its child's environment carrying our folder (see _carried)."""

    @functools.wraps(init)
    def carrying(self: Any, args: Any, *rest: Any, **kwargs: Any) -> None:
        if not isinstance(args, (str, bytes, list, tuple, os.PathLike)):
            args = list(args)  # an iterator (POSIX takes one): named below, then started
        if len(rest) > 9:  # env given in its place (after bufsize, ..., cwd)
            env, token = _carried(rest[9], args)
            rest = (*rest[:9], env, *rest[10:])
        else:
            kwargs["env"], token = _carried(kwargs.get("env"), args)
        init(self, args, *rest, **kwargs)
        if token and _PARENT.proxy is not None:
            _PARENT.proxy.started(token, self.pid)

    setattr(carrying, "_carries_guard", True)  # noqa: B010 (a function's attribute)
    return carrying


_REAL_POPEN: list[Any] = []


def _real_popen(current: Any) -> Any:
    """subprocess's own Popen, which starts every child: the class in place, or the one it
    derives from; a fake a test put in its place (pytest-subprocess's) is not wrapped, nor is
    the real one hidden behind it once seen."""
    if not _REAL_POPEN:
        for cls in getattr(current, "__mro__", ()):
            if cls.__module__ == "subprocess" and cls.__name__ == "Popen":
                _REAL_POPEN.append(cls)
                break
    return _REAL_POPEN[0] if _REAL_POPEN else None


def _carried(
    env: Mapping[Any, Any] | None, args: Any, replacing: bool = False
) -> tuple[Mapping[Any, Any] | None, str]:
    """The environment of a child started while a guard is carried (``env``, None for
    os.environ's): our folder first on its PYTHONPATH if it carries the guard's variable
    without it; the proxy variables of children_proxy's trap, whatever the child is. And
    the trap's token for the child ("" without a guard). ``replacing``: for a program this
    process is replaced by (os.exec*), served by a trap of its own. Nothing for an environment
    that carries the guard already (given by Popen or os.spawn* to the os function they call)."""
    given = os.environ if env is None else env
    value = given.get(ENV)
    if isinstance(value, str):
        path = given.get("PYTHONPATH")
        if not (path and path.split(os.pathsep)[0] == SITE_DIR):
            given = {**given, "PYTHONPATH": _our_folder_first(path)}
    else:
        value = os.environ.get(ENV)  # an environment of the test's own making
        if not isinstance(value, str):
            return env, ""
    if _isolates(args):
        isolated_hook()
    if SAVED in given:
        # Carried already: subprocess's child, which Popen starts by os.posix_spawn where it
        # can (Python 3.13 mostly), or a program os.spawn*'s forked child execs.
        return env, ""
    from pytest_cassettes import children_proxy

    if replacing:
        return children_proxy.environment_for_exec(given, _wires(value), _describe(args))
    _PARENT.proxy = children_proxy
    return children_proxy.environment(given, _wires(value), _describe(args))


# A Python started with -I or -E ignores PYTHONPATH, so our sitecustomize: a .pth file in this
# Python's site-packages runs it there (-S skips site, .pth files too: caught at the proxy only).
_HOOK_PREFIX = "pytest-cassettes-isolated-"
_HOOK = [""]  # the .pth this process wrote: made when first needed, removed at its exit
_PYTHON = re.compile(r"(python|pypy)[\d.]*(\.exe)?\Z", re.IGNORECASE)


def _isolates(args: Any) -> bool:
    """Whether a command starts a Python with -I or -E (before its script, -c or -m)."""
    if isinstance(args, (str, bytes)):
        import shlex  # not at every guarded child's start-up

        try:
            words = shlex.split(os.fsdecode(args))  # a shell's command, or a program alone
        except ValueError:
            return False
    elif isinstance(args, os.PathLike):
        return False
    else:
        words = [os.fsdecode(w) if isinstance(w, (bytes, os.PathLike)) else str(w) for w in args]
    if not words or not _PYTHON.match(os.path.basename(words[0])):
        return False
    words = words[1:]
    while words and words[0].startswith("-") and words[0] not in ("-", "--"):
        word = words.pop(0)
        if word.startswith("--"):
            continue  # --check-hash-based-pycs's value follows: not a flag of ours either
        for at, letter in enumerate(word[1:]):
            if letter in "IE":
                return True
            if letter in "cm":
                return False  # the code or module: the child's own arguments follow
            if letter in "WX":
                if at == len(word) - 2 and words:
                    words.pop(0)  # -W default, -X dev
                break
    return False


def isolated_hook() -> None:
    """A .pth file in this Python's site-packages, once a process, that guards a child that
    ignores the environment as our sitecustomize does the others (it does nothing in any other
    Python start: one flag and one look-up in os.environ). Removed when this process exits;
    those of processes gone (killed) are removed as it is written. Nothing where site-packages
    cannot be written to: such children are caught at the proxy only."""
    if _HOOK[0]:
        return
    import site

    script = os.path.join(SITE_DIR, "sitecustomize.py")
    # The file read is closed before the code runs: an unclosed one is a ResourceWarning on
    # the child's stderr where warnings show (-X dev).
    read = f"(lambda f: (f.read(), f.close())[0])(open({script!r}, 'rb'))"
    line = (
        f"import os, sys; sys.flags.ignore_environment and {ENV!r} in os.environ and exec("
        f"compile({read}, {script!r}, 'exec'), {{'__name__': 'pytest_cassettes_isolated'}})\n"
    )
    for folder in site.getsitepackages():
        path = os.path.join(folder, f"{_HOOK_PREFIX}{os.getpid()}.pth")
        try:  # written afresh over one a killed process of this pid left (another install's)
            with open(path, "w") as stream:
                stream.write(line)
        except OSError:
            continue
        _HOOK[0] = path
        import atexit

        atexit.register(_remove_hook, path, os.getpid())
        _remove_stale_hooks(folder)
        return
    _HOOK[0] = os.devnull  # not looked for again


def _remove_hook(path: str, pid: int) -> None:
    if os.getpid() == pid:  # not a forked child's exit
        _remove(path)


def _remove_stale_hooks(folder: str) -> None:
    """The .pth files of our processes that are gone (killed before their exit)."""
    if os.name != "posix":
        return  # os.kill(pid, 0) would end a process there
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            pid = name[len(_HOOK_PREFIX) : -len(".pth")]
            if name.startswith(_HOOK_PREFIX) and name.endswith(".pth") and pid.isdigit():
                try:
                    os.kill(int(pid), 0)
                except ProcessLookupError:
                    _remove(os.path.join(folder, name))
                except OSError:
                    pass  # alive (another user's)


_WIRES: dict[str, list[dict[str, Any]]] = {}


def _wires(value: str) -> list[dict[str, Any]]:
    """The guards a value of the variable describes (the last few remembered)."""
    if value not in _WIRES:
        if len(_WIRES) > 8:
            _WIRES.clear()
        _WIRES[value] = _inherited_guards(value)
    return _WIRES[value]


def _describe(args: Any) -> str:
    """A child's command, as a block names it: one line, at most 100 characters."""
    if isinstance(args, (str, bytes, os.PathLike)):
        words = [os.fsdecode(args)]
    else:
        words = [
            os.fsdecode(word) if isinstance(word, (bytes, os.PathLike)) else str(word)
            for word in args
        ]
        words[:1] = [os.path.basename(word) for word in words[:1]]
    command = " ".join(" ".join(words).split())
    return command if len(command) <= 90 else command[:87] + "..."


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def _inherited_guards(value: str | None) -> list[dict[str, Any]]:
    """The guards this process's own parent carried into it (a pytest run started by a guarded
    test): its children stay under them too."""
    if not value:
        return []
    try:
        guards = json.loads(value)["guards"]
    except (ValueError, KeyError, TypeError):
        return []
    return [wire for wire in guards if isinstance(wire, dict)] if isinstance(guards, list) else []


def collect() -> None:
    """Fail the tests whose children were blocked since the last look: each blocked attempt a
    child wrote is refused again here, by the guard it was under (its error names the child)."""
    parent = _PARENT
    if parent.report is None:
        return
    try:
        if os.stat(parent.report).st_size <= parent.offset:
            return  # the usual case: nothing told
        with open(parent.report, "rb") as stream:
            stream.seek(parent.offset)
            data = stream.read()
    except OSError:
        return
    end = data.rfind(b"\n") + 1  # a line still being written waits for the next look
    parent.offset += end
    lines = []
    for line in data[:end].splitlines():
        with contextlib.suppress(ValueError):
            told = json.loads(line)
            if isinstance(told, dict):
                lines.append(told)
    # Blocks told before their child was known, taken back once it was (children_proxy.py),
    # and told again: a block taken back after it was counted (at an earlier look: its child
    # was asked as its test's call ended) is not counted again.
    withdrawn = {str(told["withdrawn"]) for told in lines if "withdrawn" in told}
    for told in lines:
        if "withdrawn" in told or str(told.get("mark")) in withdrawn:
            continue
        try:
            guard = parent.guards.get(told["key"])
            host, port, child = str(told["host"]), told["port"], str(told["child"])
        except (KeyError, TypeError):
            continue
        first = (str(told["key"]), str(told.get("mark") or told.get("replaces")))
        if "replaces" in told and first in parent.counted:
            parent.counted.discard(first)
        elif guard is not None:
            guard.refuse_for_child(host, port if isinstance(port, int) else None, child)
            if "mark" in told:
                parent.counted.add(first)


# The child's side -------------------------------------------------------------------------


def restore_proxies(environ: Any) -> None:
    """The proxy variables and NODE_OPTIONS as they were before children_proxy's, where they
    are still its: this process is guarded at the socket, its own clients need no trap (and
    its children get them again, from its own subprocess)."""
    text = environ.pop(SAVED, None)
    if not text:
        return
    with contextlib.suppress(ValueError, TypeError):
        for name, ours, before in json.loads(text):
            if environ.get(name) == ours:
                if before is None:
                    del environ[name]
                else:
                    environ[name] = before


def guard_this_process(data: dict[str, Any]) -> None:
    """In a child, at start-up (our sitecustomize): install the guards its parent described,
    for the rest of the process's life."""
    from pytest_cassettes.errors import NetworkBlockedError
    from pytest_cassettes.network import AllowList, NetworkGuard

    wires = [wire for wire in data["guards"] if str(wire.get("key")) not in _GUARDED]
    if not wires:
        return  # guarded already (several processes' .pth files: isolated_hook)
    for wire in wires:
        _GUARDED.add(str(wire.get("key")))

        def make_error(
            host: str, port: int | None, _child: str | None, wire: Any = wire
        ) -> BaseException:
            child = _this_child()
            tell(wire, host, port, child)  # the parent's run may be over: the error still stops us
            return NetworkBlockedError(
                host=host,
                port=port,
                test=str(wire["test"]),
                mode=wire["mode"],
                reason=str(wire["reason"]),
                legacy=bool(wire["legacy"]),
                child=child,
            )

        NetworkGuard(AllowList.parse(wire["allow"]), make_error).__enter__()
    restore_proxies(os.environ)
    from pytest_cassettes import children_os

    children_os.carry(True)
    # This process's own children are guarded as a test's are (subprocess imported later is
    # wrapped then: importing it at every child's start-up costs 2 ms).
    if "subprocess" in sys.modules:
        _carry_into_popen(True)
    else:
        sys.meta_path.insert(0, _SubprocessLater())


_GUARDED: set[str] = set()  # the keys of the guards installed in this (child) process


def tell(
    wire: Mapping[str, Any],
    host: str,
    port: int | None,
    child: str,
    mark: str = "",
    replaces: str = "",
) -> None:
    """A child's block, one JSON line in the report file of the guard ``wire`` describes: the
    parent reads it (:func:`collect`). Nothing is written once that file is gone. A block told
    with a ``mark`` is not counted if a line withdrawing the mark follows it (:func:`withdraw`);
    the block that ``replaces`` it then is, unless the marked one was counted already.
    """
    told: dict[str, Any] = {"key": wire.get("key"), "host": host, "port": port, "child": child}
    if mark:
        told["mark"] = mark
    if replaces:
        told["replaces"] = replaces
    _append(wire, told)


def withdraw(wire: Mapping[str, Any], mark: str) -> None:
    """Take back the block told with ``mark`` (its child was named wrongly: told again)."""
    _append(wire, {"withdrawn": mark})


def _append(wire: Mapping[str, Any], told: Mapping[str, Any]) -> None:
    line = json.dumps(told)
    with contextlib.suppress(OSError, KeyError, TypeError):
        descriptor = os.open(str(wire["report"]), os.O_WRONLY | os.O_APPEND)
        try:
            os.write(descriptor, line.encode() + b"\n")
        finally:
            os.close(descriptor)


class _SubprocessLater(WrappingFinder):
    """subprocess, imported after start-up by a guarded child: its Popen carries the guard."""

    def wants(self, fullname: str) -> bool:
        return fullname == "subprocess"

    def wrap(self, exec_module: Exec) -> Exec:
        def exec_and_carry(module: ModuleType) -> None:
            exec_module(module)
            _carry_into_popen(True)

        return exec_and_carry


def _this_child() -> str:
    """This process, as a block names it: its pid (now: a forked worker's own) and command."""
    argv = sys.orig_argv[1:] if hasattr(sys, "orig_argv") else sys.argv  # 3.10+: as given
    command = " ".join([os.path.basename(sys.executable), *argv]).split()  # one line
    child = f"pid {os.getpid()}: {' '.join(command)}"
    return child if len(child) <= 100 else child[:97] + "..."
