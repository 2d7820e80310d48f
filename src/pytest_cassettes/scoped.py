"""`use_cassette`: a named cassette for a fixture wider than the test (a session's login), or
for a part of a test, opened and saved around a `with` block."""

from __future__ import annotations

import contextlib
import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cassettes import paths, runmarks
from pytest_cassettes.errors import CassetteError

if TYPE_CHECKING:
    from pytest_cassettes.cassette import Cassette


def use_cassette(
    request: pytest.FixtureRequest, *names: str, **options: Any
) -> contextlib.AbstractContextManager[Cassette | None]:
    """Record into and replay from the named cassette(s) what the `with` block sends.

    `request` is the fixture's (or the test's) own. The first name is the cassette recorded
    into, the others are replayed read-only, as in the marker; with no name, a fixture's
    cassette is named after the fixture. Relative names are relative to the ini option
    `cassette_dir`, or to `cassettes/` beside the file that calls `use_cassette`. `options`
    are the marker's; the record mode is resolved as for a test (flag, environment, CI, the
    options, the ini). The block yields the cassette (None under --cassette-disable)."""
    caller = Path(sys._getframe(1).f_code.co_filename)
    return _using(request, names, options, caller)


@contextlib.contextmanager
def _using(
    request: pytest.FixtureRequest, names: tuple[str, ...], options: dict[str, Any], caller: Path
) -> Iterator[Cassette | None]:
    __tracebackhide__ = True
    from pytest_cassettes.plugin import _SETTING_UP, FAILED, PROBLEMS, SESSION

    fixture = request.fixturename
    if not names:
        if fixture is None:
            raise TypeError("use_cassette(request) in a test needs a cassette name")
        names = (fixture + _param_label(request),)
    where = f"use_cassette({', '.join(map(repr, names))})"
    if fixture is not None:
        where += f" in fixture {fixture!r}"
    session = request.config.stash[SESSION]
    if session.disabled:
        yield None  # --cassette-disable: the block runs live
        return
    item: pytest.Item | None = getattr(request, "_pyfuncitem", None)
    if item is None and _SETTING_UP:
        item = _SETTING_UP[-1]
    if item is None:
        raise RuntimeError(f"{where}: no test is running")
    configured = request.config.getini("cassette_dir")
    cassette_dir = (
        Path(request.config.rootpath, configured) if configured else caller.parent / "cassettes"
    )
    settings = session.settings_named(names, options, cassette_dir, where)
    # Problems are raised in the phase they arise in, by the plugin's hooks (as the test's own
    # cassette's): the test's, or those of the test whose teardown tears a wider fixture down;
    # here at the end of a block in a fixture's set-up.
    problems: list[CassetteError] = (
        item.stash.setdefault(PROBLEMS, [])
        if session.tearing_down is None
        else session.tearing_down
    )
    before = len(problems)
    opened = session.open_or_fail(item, settings, problems, block=True)
    was_on, setups, calls = session.patches.on, session.setups, session.calls
    block = contextlib.ExitStack()
    failed = True
    try:
        guard = session.guard(item, settings, problems, recording=opened.can_record)
        block.enter_context(session.active(opened, guard))
        session.blocks.append((item, block))
        yield opened
        failed = False
    finally:
        abandoned = (item, block) not in session.blocks  # another test began: closed then
        if not abandoned:
            session.blocks.remove((item, block))
            block.close()
        if not was_on and session.router.active is None:
            session.switch_off()  # as the test had them: a test without a cassette
        new = problems[before:]
        # A block spanning its test (a function-scoped fixture yielding inside it) does not
        # save what a failed test recorded, as the test's own cassette does not.
        failed = failed or bool(new) or (session.calls != calls and item.stash.get(FAILED, False))
        strict = None if failed else session.strict_failure(opened, where)
        failed = failed or strict is not None  # as a test failing strict saves nothing
        session.close(opened, settings, failed=failed, strict_failed=strict is not None)
        if opened.recorded and not failed and not settings.replay_only:
            runmarks.mark_written(settings.path, session.run_id)  # see Session.open
    if abandoned or session.setups != setups:
        raise RuntimeError(
            f"{where} stayed open while other tests ran (the fixture yielded inside the block): "
            "their requests went to their own cassettes or to the real HTTP libraries, not to "
            "this one. Leave the block before the fixture yields."
        )
    if new and _SETTING_UP and _SETTING_UP[-1] is item:
        raise new[0]  # the client may have wrapped or swallowed it
    if strict is not None:
        raise strict


def _param_label(request: pytest.FixtureRequest) -> str:
    """`[id]` for an instance of a parametrized fixture (each has its own cassette): a plain
    value's text, stable whatever the other parameters (one unsafe in a file name, long, or a
    string with upper-case letters, with a short hash of it); another value's position, marked
    `#`.

    The hash keeps labels that differ only in case apart on case-insensitive file systems
    (macOS, Windows: `token[Ann].yaml` is `token[ann].yaml` there)."""
    if not hasattr(request, "param"):
        return ""
    param = request.param
    if param is None or isinstance(param, (str, int, float, bool)):
        text = str(param)
        safe = paths.UNSAFE.sub("-", text)
        # True, False and None keep their names: only a string is told apart by its case.
        plain = safe == text and (not isinstance(param, str) or text == text.lower())
        if plain and 0 < len(text.encode("utf-8", "replace")) <= 80:
            return f"[{text}]"
        digest = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:8]
        short = safe.encode("utf-8", "replace")[:80].decode("utf-8", "ignore")  # 80 bytes
        return f"[{short}-{digest}]"
    return f"[#{getattr(request, 'param_index', 0)}]"
