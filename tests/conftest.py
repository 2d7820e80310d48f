"""Shared fixtures: a real HTTP server on 127.0.0.1 and generated test suites run by pytester."""

from __future__ import annotations

import concurrent.futures.thread  # noqa: F401 (see below)
import importlib.metadata
import importlib.util
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests  # noqa: F401 (see below)
import yaml

from tests.httpserver import LocalServer

# Tests that run pytest-xdist workers skip where it is not installed (tox env py312-noxdist).
needs_xdist = pytest.mark.skipif(
    importlib.util.find_spec("xdist") is None, reason="pytest-xdist is not installed"
)

# Generated modules import requests inside pytester's in-process runs, which forget the modules
# each run imported; requests imported there first breaks in the next run (its `from http import
# cookiejar` finds the forgotten module). The plugin no longer imports requests in this process
# (vcrpy is imported with the first cassette test), so the suite imports it here.
# Likewise concurrent.futures.thread: the `concurrent.futures` package (imported here) binds
# `ThreadPoolExecutor` from it at its first use (PEP 562 `__getattr__`) and keeps it. First used
# in an in-process run (asyncio's default executor, under uvloop), the module was forgotten after
# it while the package kept its class: in the next run, the executors (and asyncio's) were of a
# module sys.modules no longer held, which the guard looks ThreadPoolExecutor up in. Their
# `submit` went unpatched (a guarded test's queued work was not kept behind its guard) and their
# workers were not recognised as pool workers (kept behind a guard gone, a plain test reusing
# them was refused). A real run never drops the module while its class is in use.
HEADER = """\
import os

import pytest
import requests

URL = os.environ["TEST_SERVER"]
"""


# The plugins the generated runs are written for; they pass `-p no:NAME` where they don't want
# one (Suite.run: recording, asyncio).
OURS = {"cassettes", "asyncio", "recording", "rerunfailures", "xdist", "xdist.looponfail"}


def other_plugins() -> list[str]:
    """Every other pytest plugin installed here (pytest-socket, pytest-httpx, hypothesis's,
    pytest-timeout, respx's ...), by its entry point's name."""
    found = importlib.metadata.entry_points()
    group = found.select(group="pytest11") if hasattr(found, "select") else found["pytest11"]
    return sorted({point.name for point in group} - OURS)


# Installed plugins load themselves into every run pytester starts (in-process, subprocess, and
# `python -m pytest` children alike), and some patch globally: pytest-socket its socket class,
# pytest-httpx imports httpx. A generated run loads only what its test asks for: the ones above,
# and another with `-p NAME` (after PYTEST_ADDOPTS's options, which unblocks it), as the tests of
# the plugins beside ours do.
NOT_ASKED_FOR = " ".join(f"-p no:{name}" for name in other_plugins())


@pytest.fixture(autouse=True)
def _no_inherited_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    # The suite itself may run with CI=true; each test decides the environment it needs.
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("PYTEST_CASSETTES_RECORD_MODE", raising=False)


@pytest.fixture(autouse=True)
def _only_plugins_asked_for(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if NOT_ASKED_FOR and "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")  # which unsets PYTEST_ADDOPTS: set it after
        inherited = os.environ.get("PYTEST_ADDOPTS", "")
        monkeypatch.setenv("PYTEST_ADDOPTS", f"{inherited} {NOT_ASKED_FOR}".strip())


def shared_pages(count: int, options: str = "") -> str:
    """A test module whose `count` tests each get their own page into one shared cassette
    (`options`: the marker's, as written in it)."""
    return f"""
@pytest.mark.cassette("shared/pages.yaml"{", " + options if options else ""})
@pytest.mark.parametrize("page", range({count}))
def test_page(page):
    requests.get(URL + f"/{{page}}")
"""


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running


class Suite:
    """A generated test project: write test files, run pytest on them, read their cassettes."""

    def __init__(self, pytester: pytest.Pytester, server: LocalServer) -> None:
        self.pytester = pytester
        self.server = server

    @property
    def path(self) -> Path:
        return self.pytester.path

    def write(self, source: str, name: str = "test_suite") -> Path:
        """A test module, with `URL` (the server), `requests`, `pytest` and `os` imported."""
        target = self.path / f"{name}.py"
        before = target.stat().st_mtime if target.exists() else None
        path = self.pytester.makepyfile(**{name: HEADER + textwrap.dedent(source)})
        if before is not None:
            # Bytecode caches (Python's and pytest's assertion rewriting) compare the source's
            # size and mtime in whole seconds: a same-size rewrite within the second would run
            # the old module.
            os.utime(path, (before + 2, before + 2))
        return path

    def run(self, *args: str) -> pytest.RunResult:
        # pytest-recording, when installed, would act on --block-network too: tests that check
        # the coexistence of both plugins load it explicitly with `-p recording`.
        plugins = [] if "recording" in args else ["-p", "no:recording"]
        if "asyncio" not in args:  # pytest-asyncio warns in projects that don't configure it
            plugins += ["-p", "no:asyncio"]
        if "randomly" not in args:  # a generated suite is a scenario, its tests run in order
            plugins += ["-p", "no:randomly"]
        return self.pytester.runpytest("-p", "no:cacheprovider", *plugins, *args)

    def cassette_path(self, test: str, module: str = "test_suite") -> Path:
        return self.path / "cassettes" / module / f"{test}.yaml"

    def cassette(self, test: str, module: str = "test_suite") -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load(self.cassette_path(test, module).read_text())
        return data

    def uris(self, test: str, module: str = "test_suite") -> list[str]:
        return [i["request"]["uri"] for i in self.cassette(test, module)["interactions"]]


@pytest.fixture
def suite(pytester: pytest.Pytester, server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> Suite:
    monkeypatch.setenv("TEST_SERVER", server.base_url)
    return Suite(pytester, server)
