"""`pytest-cassettes migrate`: the tests as pytest collects them.

migrate runs pytest's collection of the paths it was given (`python -m pytest --collect-only`,
this module as a plugin) in a process of its own, and reads what pytest collected: the tests a
conftest hook gave a marker, each subclass's copy of an inherited test, parameter ids as pytest
wrote them (a `/` included), and the names pytest-vcr's `vcr_cassette_name` overrides give. A
module pytest could not collect is read from its source (migrate.cassette_tests).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

# A module, not its functions: a plugin's names starting with pytest_ are taken for hooks.
from pytest_cassettes import paths

OUTPUT = "PYTEST_CASSETTES_MIGRATE_OUTPUT"  # where the collecting process writes its findings
VCR_NAME_FIXTURE = "vcr_cassette_name"  # pytest-vcr's
CASSETTE_FIXTURES = frozenset({"vcr_cassette", "cassette"})  # pytest-vcr's and ours
SUFFIX = ".yaml"  # pytest-vcr's path_transformer: VCR.ensure_suffix(".yaml")
# Seconds pytest's collection may take (a large suite's takes tens): past them it is stopped.
COLLECT_TIMEOUT = 120.0


@dataclass(frozen=True)
class CollectedTest:
    """One collected test and its cassette's names."""

    parts: tuple[str, ...]  # its classes and name in its node id
    cassette: bool  # a `vcr` or `cassette` marker, or it asks for `vcr_cassette` or `cassette`
    named: bool  # its marker names or places its cassette
    vcr: bool  # its closest cassette marker is `vcr`
    pytest_vcr: str  # pytest-vcr's file, relative to `cassettes/` beside the module
    ours: str  # the file our `cassette` marker reads, relative to `<cassette_dir>/<module>/`
    # What `vcr` reads there once migrate renamed `vcr_cassette_name` to
    # `default_cassette_name`: its name, else pytest-recording's (the innermost class).
    recording: str
    # A `vcr_cassette_name` override that names its cassette: where it is, and why it could
    # not be called (then `pytest_vcr` and `recording` are the defaults').
    name_override: str = ""
    name_problem: str = ""


@dataclass
class Collection:
    """What pytest collected, by module file (resolved); modules it could not collect."""

    tests: dict[Path, list[CollectedTest]] = field(default_factory=dict)
    errors: dict[Path, str] = field(default_factory=dict)
    failure: str = ""  # why nothing was collected
    timed_out: bool = False  # the collection was stopped: it took longer than allowed


def collect(paths: Sequence[str], timeout: float = COLLECT_TIMEOUT) -> Collection:
    """Collect the tests under `paths` as `pytest` run here would; with the ini's `addopts`
    and `required_plugins` left out when they stop pytest (pytest-vcr's `--vcr-record` once
    pytest-vcr is uninstalled). Given up after `timeout` seconds (0: never), the process and
    those it started killed: a conftest or an import may wait forever (on a network)."""
    deadline = time.monotonic() + timeout if 0 < timeout < math.inf else None
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder, "collected.json")
        command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
        command += ["-p", __name__]
        # No bytecode of the modules it imports left beside them (a dry run writes nothing).
        env = {**os.environ, OUTPUT: str(output), "PYTHONDONTWRITEBYTECODE": "1"}
        for retry in ([], ["-o", "addopts=", "-o", "required_plugins="]):
            done = _run([*command, *retry, "--", *paths], env, deadline)
            if done is None:
                return Collection(failure=f"stopped after {timeout:g} s", timed_out=True)
            if output.is_file():
                return _read(json.loads(output.read_text(encoding="utf-8")))
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()
            failure = f"exit {done.returncode}: {said[-1] if said else 'no output'}"
            if done.returncode != pytest.ExitCode.USAGE_ERROR:
                break
    return Collection(failure=failure)


def _run(
    command: list[str], env: dict[str, str], deadline: float | None
) -> subprocess.CompletedProcess[str] | None:
    """The finished process, or None when it ran past `deadline` (then it and the processes
    it started are killed: they would hold its output open)."""
    posix = os.name == "posix"
    with subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=posix,  # a group of its own, killed as one
    ) as process:
        try:
            left = None if deadline is None else max(deadline - time.monotonic(), 0)
            stdout, stderr = process.communicate(timeout=left)
        except subprocess.TimeoutExpired:
            if posix:
                with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                    os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
            process.communicate()
            return None
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _read(found: dict[str, Any]) -> Collection:
    tests = {
        Path(path): [CollectedTest(**{**t, "parts": tuple(t["parts"])}) for t in module]
        for path, module in found["tests"].items()
    }
    return Collection(tests, {Path(path): why for path, why in found["errors"].items()})


class _Recorder:
    """The plugin in the collecting process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.errors: dict[str, str] = {}

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        path = report.nodeid.split("::")[0]  # relative to the rootdir
        if report.failed and path.endswith(".py"):
            lines = str(report.longrepr).strip().splitlines()
            self.errors[str((self.root / path).resolve())] = lines[-1] if lines else "failed"

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        tests: dict[str, list[dict[str, Any]]] = {}
        for item in session.items:
            if isinstance(item, pytest.Function):
                tests.setdefault(str(item.path.resolve()), []).append(asdict(_test(item)))
        found = {"tests": tests, "errors": self.errors}
        Path(os.environ[OUTPUT]).write_text(json.dumps(found), encoding="utf-8")


def pytest_configure(config: pytest.Config) -> None:
    if OUTPUT in os.environ:
        config.pluginmanager.register(_Recorder(config.rootpath), "cassettes-migrate-collect")


def _test(item: pytest.Function) -> CollectedTest:
    from pytest_cassettes.compat import LIBRARY_DIR, default_cassette_name

    marks = {name: item.get_closest_marker(name) for name in ("vcr", "cassette")}
    closest = next((m for m in item.iter_markers() if m.name in marks), None)
    named = (
        item.get_closest_marker("default_cassette") is not None
        or any(LIBRARY_DIR in m.kwargs for m in item.iter_markers("vcr"))
        or bool(marks["cassette"] and marks["cassette"].args)
    )
    cls = item.cls.__name__ if item.cls is not None else None
    pytest_vcr = paths.pytest_vcr_name((cls,) if cls else (), item.name)
    recording = _recording_name(default_cassette_name(item))
    where, problem = "", ""
    override = _override(item)
    if override is not None:
        where = _where(override)
        try:
            pytest_vcr = _call(override, item)
            recording = _recording_name(pytest_vcr)
        except Exception as exc:  # the user's code: anything it raises is told
            problem = f"{type(exc).__name__}: {exc}"
    return CollectedTest(
        parts=tuple(paths.name_parts(item.nodeid)),
        cassette=any(marks.values()) or bool(CASSETTE_FIXTURES & set(item.fixturenames)),
        named=named,
        vcr=closest is not None and closest.name == "vcr",
        pytest_vcr=_with_suffix(pytest_vcr),
        ours=paths.safe_file_name(paths.test_name(item)),
        recording=recording,
        name_override=where,
        name_problem=problem,
    )


def _override(item: pytest.Function) -> Any:
    """The test's `vcr_cassette_name` fixture when a conftest, module or class overrides
    pytest-vcr's (or defines it, pytest-vcr uninstalled), else None."""
    from pytest_cassettes.session import fixture_definitions

    found = fixture_definitions(item, VCR_NAME_FIXTURE)
    if not found or getattr(found[-1].func, "__module__", None) == "pytest_vcr":
        return None
    return found[-1]


def _where(fixturedef: Any) -> str:
    func = inspect.unwrap(fixturedef.func)
    try:
        line = inspect.getsourcelines(func)[1]
        return f"{VCR_NAME_FIXTURE} fixture of {inspect.getsourcefile(func)}:{line}"
    except (OSError, TypeError):
        return f"{VCR_NAME_FIXTURE} fixture {func.__qualname__}"


def _call(fixturedef: Any, item: pytest.Function) -> str:
    """What the override returns for this test: called as pytest calls it, when it takes
    nothing but `request`."""
    others = [name for name in fixturedef.argnames if name != "request"]
    if others:
        raise TypeError(f"it asks for other fixtures ({', '.join(others)})")
    func = fixturedef.func
    if "." in getattr(func, "__qualname__", "") and item.instance is not None:
        func = getattr(func, "__func__", func).__get__(item.instance)  # a method of the class
    if inspect.isgeneratorfunction(func) or inspect.iscoroutinefunction(func):
        raise TypeError("it is a generator or a coroutine")
    request = item._request  # the test's FixtureRequest (private, but there since pytest 3)
    value = func(request=request) if "request" in fixturedef.argnames else func()
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"it returned {value!r}, not a name")
    return os.fspath(value)


def _recording_name(name: str) -> str:
    """pytest-recording's file for a name (a long one cut as it cuts it), as `vcr` tests read
    it: relative to `vcr_cassette_dir`."""
    from pytest_cassettes.compat import LegacyCassettes

    return str(LegacyCassettes([], Path(), name, ()).paths(None)[0])


def _with_suffix(name: str) -> str:
    return name if name.endswith(SUFFIX) else name + SUFFIX
