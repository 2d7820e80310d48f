"""Our exception types. Each message says what happened and what to do about it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any


class CassetteError(Exception):
    """Base of every pytest-cassettes error: a test failure, never an internal error."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Our errors take keyword arguments, which pickle's default (the class called with
        # `args`) cannot give: a forked multiprocessing Pool worker's blocked request could
        # not be unpickled, and `pool.apply` waited for ever. Rebuilt from message and state.
        return (_rebuilt, (type(self), self.args, self.__dict__))


def _rebuilt(cls: type[CassetteError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


def quoted(text: str, windows: bool = os.name == "nt") -> str:
    """`text` as one shell word, always quoted: in single quotes for POSIX shells (a quote in
    a test id included); on Windows in double quotes, which cmd.exe and PowerShell both take
    (cmd.exe passes single quotes on as part of the argument), a `"` in it as `\\"`."""
    if windows:
        return '"' + text.replace('"', '\\"') + '"'
    return "'" + text.replace("'", "'\"'\"'") + "'"


def pytest_argument(
    nodeid: str,
    rootpath: os.PathLike[str],
    start_dir: os.PathLike[str],
    args: Sequence[str] = (),
) -> str:
    """A node id (or its file) as a quoted argument of a pytest command typed in the directory
    pytest was started in: node ids are relative to the rootdir, arguments to that directory.
    A test outside the rootdir (`-c` naming another folder's file) has a node id relative to
    the run's argument (`args`, from that directory) holding it: `::test_x` for a file named."""
    path, separator, rest = nodeid.partition("::")
    where = os.path.join(rootpath, path)
    if not path or not os.path.exists(where):
        for arg in args:
            base = os.path.join(start_dir, arg.partition("::")[0])
            candidate = os.path.join(base, path) if path else base
            if os.path.exists(candidate):
                where = candidate
                break
    if where != os.path.join(rootpath, path) or os.fspath(start_dir) != os.fspath(rootpath):
        try:
            path = os.path.relpath(where, start_dir)
        except ValueError:  # Windows: another drive than the one pytest was started on
            path = os.path.abspath(where)
    return quoted(path + separator + rest)


class CassetteMissingError(CassetteError):
    """A replay-only run needs a cassette that does not exist."""

    def __init__(self, *, test: str, path: str, mode: str, reason: str, record_command: str):
        self.path = path
        super().__init__(
            f"Cassette missing for {test}\n"
            f"  expected at: {path}\n"
            f"{_flat_cassette(path, test)}"
            f"  record mode: {mode} ({reason}), so nothing may be recorded.\n"
            f"  To record it, run locally with network access:\n"
            f"    {record_command}"
        )


def _flat_cassette(path: str, test: str) -> str:
    """A line naming pytest-vcr's file for the test when it is there instead."""
    from pathlib import Path  # here: a guarded child process imports this module (children.py)

    from pytest_cassettes.paths import pytest_vcr_cassette

    flat = pytest_vcr_cassette(Path(path), test)
    if flat is None:
        return ""
    return (
        f"  found instead: {flat}, pytest-vcr's layout (no module folder): move it to the\n"
        f"  path expected with `pytest-cassettes migrate --write {flat.parent.parent}`, or\n"
        "  keep it with a `vcr_cassette_dir` override and @pytest.mark.vcr\n"
        '  (README: "From pytest-vcr")\n'
    )


class UnmatchedRequestError(CassetteError):
    """A request that the cassette does not hold, in a mode that may not record it."""

    def __init__(
        self,
        *,
        request: str,
        test: str,
        cassettes: Sequence[str],
        mode: str,
        reason: str,
        closest: Sequence[str],
        hint: str,
    ):
        lines = [
            f"Request not found in the cassette of {test}:",
            f"  {request}",
            "  cassette(s): " + ", ".join(cassettes),
            f"  record mode: {mode} ({reason})",
        ]
        if closest:
            lines.append("  closest recorded requests:")
            # An entry's lines after the first: how each matcher differs.
            lines.extend(f"    {line}" for entry in closest for line in entry.splitlines())
        else:
            lines.append("  the cassette holds no request to the same method and host")
        lines.append(hint)
        super().__init__("\n".join(lines))


class PlaceholderSentError(CassetteError):
    """A request about to be recorded carries a placeholder a replayed response gave it."""

    def __init__(self, *, request: str, test: str, where: str, argument: str):
        super().__init__(
            f"A request to record carries a scrubbed placeholder, in {test}:\n"
            f"  {request}\n"
            f"  <SCRUBBED> in its {where} came from a replayed response (a token or cookie "
            "scrubbed when it was recorded): a live server would refuse it, and its refusal "
            "would be recorded.\n"
            f"  To record this request, record the whole test again: "
            f"pytest --record-mode=rewrite {argument}"
        )


class CassetteLoadError(CassetteError):
    """A cassette file that exists but cannot be read; it is never treated as empty."""

    def __init__(self, path: str, problem: str, line: int | None = None):
        self.path = path
        self.line = line
        where = f"{path}:{line}" if line is not None else path
        super().__init__(
            f"Cannot read cassette {where}: {problem}\n"
            "  The file was left untouched: a cassette that cannot be read is never written "
            "over, not even by --record-mode=rewrite. Fix it, or delete it and record the "
            "test again."
        )


class LockFolderError(CassetteError):
    """No folder for the cassettes' write locks: the temp directory is not usable."""

    def __init__(self, *, reason: str):
        super().__init__(
            "pytest-cassettes cannot take a cassette's write lock: it keeps its locks in the "
            f"temp directory ({reason}).\n"
            "  Set TMPDIR to a folder you may write to: TMPDIR=$HOME/tmp pytest ..."
        )


class NetworkBlockedError(CassetteError, RuntimeError):
    """A real network connection attempted where the run forbids it. A RuntimeError too, as
    pytest-recording's was: tests written for it catch that."""

    def __init__(
        self,
        *,
        host: str,
        port: int | None,
        test: str,
        mode: str | None,
        reason: str,
        legacy: bool = False,
        outside_cassette: bool = False,
        past_cassette: bool = False,
        dropped_by_scrub: bool = False,
        child: str | None = None,
    ):
        self.host = host
        self.port = port
        self.child = child
        target = f"{host}:{port}" if port is not None else host
        why = (
            f"record mode: {mode} ({reason}): replay-only runs make no real connections."
            if mode is not None
            else f"{reason}."
        )
        outside = (
            "  No cassette was open: a fixture wider than the test (module-, class- or "
            "session-scoped), or one set up before the test's cassette opened, made this "
            "request while it was set up or torn down; such requests are neither recorded "
            "nor replayed. A function-scoped fixture the test asks for sends its requests "
            "to the test's cassette.\n"
            if outside_cassette
            else ""
        )
        past = (
            "  A cassette was open and this connection went past it: the host is in "
            "`ignore_hosts`, or the client is one cassettes do not record (pycurl, niquests "
            "where urllib3-future is not installed as urllib3, a raw socket, a driver written "
            "in C): what it sends is never recorded, and allowing the host sends it to the "
            "network in every run.\n"
            if past_cassette and not dropped_by_scrub
            else ""
        )
        if past_cassette and dropped_by_scrub:
            past = (
                "  A cassette was open and a scrub function of yours (`scrub_request`, "
                "`before_record_request`) returned None for a request to this host: vcrpy's "
                "way to ignore it, so it is sent to the network in every run and never "
                "recorded. Return the request (edited as you need) to record and replay it.\n"
            )
        # Blocked in a child process the test started, guarded as the test is (children.py).
        where = test
        if child:
            where = f"a child process ({child}) of {test}"
            outside = (
                "  What a child process sends is neither recorded nor replayed: to record it, "
                "call the code in the test's own process (a command's main function, with its "
                "arguments).\n"
            )
            past = ""
        super().__init__(
            f"Network access to {target} blocked in {where}\n"
            f"  {why}\n"
            f"{outside}{past}"
            f"  To allow this host, pass --cassette-allow-hosts={host} "
            f"or set `cassette_allow_hosts = {host}` in your pytest ini file."
            # `legacy`: blocked under pytest-recording's names, whose tests may match its words.
            + (
                f"\n  (pytest-recording's words: Network is disabled for host {host!r})"
                if legacy
                else ""
            )
        )

    def caught(self, without_cassette: bool) -> None:
        """Say, in the message of a test that passed over this error, that the error was
        caught and fails the test all the same: the traceback shows the very line that
        caught it (`pytest.raises(RuntimeError)`), which read as if the test had not."""
        note = (
            "  The test passed over this error (it, or a library it calls, caught it): a "
            "blocked connection fails the test all the same, since a library that swallows it "
            "would hide the request."
        )
        if without_cassette:
            note += (
                "\n  A test without a cassette that expects the block: mark it "
                "@pytest.mark.block_network, under which `pytest.raises(RuntimeError)` "
                "catches it and the test passes."
            )
        if note not in self.args[0]:  # told once, however often the test is run again
            self.args = (f"{self.args[0]}\n{note}", *self.args[1:])


class UnusedInteractionsError(CassetteError):
    """A strict test whose cassette holds interactions it never played."""

    def __init__(
        self,
        *,
        test: str,
        path: str,
        unused: Sequence[str],
        argument: str,
        strict_off: str = "@pytest.mark.cassette(strict=False)",
    ):
        listed = "\n".join(f"    {request}" for request in unused)
        super().__init__(
            f"{len(unused)} recorded interaction(s) of {path} never played by {test}:\n{listed}\n"
            f"  Drop them by re-recording: pytest --record-mode=rewrite {argument}\n"
            f"  or turn strict mode off for this cassette: {strict_off}."
        )


class ScrubError(CassetteError):
    """Scrubbing a live request or response raised: the interaction can be neither recorded
    nor matched."""

    def __init__(self, *, request: str, test: str, what: str, problem: str):
        super().__init__(
            f"Scrubbing the {what} of a request raised, in {test}:\n"
            f"  {request}\n"
            f"  {problem}\n"
            "  Nothing of it was recorded (or matched): a scrub hook of yours (`scrub_request`, "
            "`scrub_response`, the pytest_cassettes_scrub_* hooks) returns the interaction, an "
            "edited copy or None; if the traceback above ends in pytest-cassettes' scrubbing, "
            "it is a bug there: please report it with the shape of the body (not its secrets)."
        )
