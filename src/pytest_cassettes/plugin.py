"""pytest-cassettes' pytest plugin: options, markers, fixtures and hooks. The work is elsewhere.

A test without a cassette costs one autouse fixture taking no argument: it finds its test
through `pytest_runtest_setup` (a fixture taking `request` costs pytest 9 about 90 us a test).
A marked test whose `cassette_config` and `cassette_dir` are the plugin's own gets their values
without pytest's fixture machinery (`_own_fixtures_apply`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cassettes import children, compat, hooks, report
from pytest_cassettes.errors import CassetteError, NetworkBlockedError
from pytest_cassettes.settings import RECORD_MODES, RunMode, run_mode

# vcrpy is imported when the first cassette test starts, not here: pytest-recording registers
# vcrpy's matchers for assertion rewriting when it loads, which fails if vcrpy is imported
# already; and a run without cassette tests does not need it (see libraries.py).
if TYPE_CHECKING:
    from pytest_cassettes.cassette import Cassette
    from pytest_cassettes.session import Session

MARKER = "cassette"
SESSION: pytest.StashKey[Session] = pytest.StashKey()
ACTIVE: pytest.StashKey[Cassette] = pytest.StashKey()
FAILED: pytest.StashKey[bool] = pytest.StashKey()
STRICT_FAILED: pytest.StashKey[bool] = pytest.StashKey()  # failed for its unused interactions
PROBLEMS: pytest.StashKey[list[CassetteError]] = pytest.StashKey()
CALLING: pytest.StashKey[bool] = pytest.StashKey()  # the test function is running


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hooks)
    if not recording_plugin_loads(pluginmanager):
        pluginmanager.add_hookspecs(hooks.RecordingHooks)


def recording_plugin_loads(pluginmanager: pytest.PytestPluginManager) -> bool:
    """Whether pytest-recording is (or will be) loaded: it then owns the shared flags."""
    if pluginmanager.has_plugin("recording"):
        return True
    if pluginmanager.is_blocked("recording") or os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    from importlib.metadata import entry_points

    found: Any = entry_points()
    group = (
        found.select(group="pytest11") if hasattr(found, "select") else found.get("pytest11", [])
    )
    return any(ep.name == "recording" for ep in group)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_cassettes import libraries

    # When the plugin loads, before conftests may import vcrpy; and in each in-process run
    # (pytester), which may have forgotten libraries an earlier run imported (see there).
    libraries.new_session()
    group = parser.getgroup("cassettes", "record and replay HTTP (pytest-cassettes)")
    if not recording_plugin_loads(pluginmanager):
        # Both plugins know --record-mode; adding it twice would stop pytest from starting.
        # With pytest-recording loaded, its flag (same name, same modes) is read instead.
        group.addoption(
            "--record-mode",
            dest="record_mode",
            default=None,
            choices=RECORD_MODES,
            help="Cassette record mode for the whole run (beats markers, config and ini): "
            "none (replay only), once, new_episodes, all, rewrite. Also: "
            "PYTEST_CASSETTES_RECORD_MODE; a CI run (CI=true) forces none.",
        )
        group.addoption(
            "--block-network",
            dest="block_network",
            action="store_true",
            default=None,
            help="Block real network connections in every test but cassette tests that record "
            "(ini cassette_block_network; pytest-recording's flag too); allow hosts with "
            "--cassette-allow-hosts.",
        )
        compat.add_options(group)
    group.addoption(
        "--cassette-allow-hosts",
        dest="cassette_allow_hosts",
        default=None,
        help="Comma-separated hosts (names, IPs, CIDR, optional :port) that guarded tests may "
        "still reach (replay-only runs, --block-network).",
    )
    group.addoption(
        "--cassette-disable",
        dest="cassette_disable",
        action="store_true",
        default=False,
        help="Run cassette tests live, without their cassettes: nothing is replayed or recorded "
        "(guarded only under --block-network; a nightly run against the real service; beats CI).",
    )
    group.addoption(
        "--cassette-strict",
        dest="cassette_strict",
        action="store_true",
        default=None,
        help="Fail tests whose cassette holds interactions they never played "
        "(ini cassette_strict).",
    )
    group.addoption(
        "--cassette-prune",
        dest="cassette_prune",
        action="store_true",
        default=False,
        help="Delete orphan cassettes (files no collected test uses); only when every collected "
        "test was selected.",
    )
    group.addoption(
        "--cassette-report",
        dest="cassette_report",
        default=None,
        metavar="PATH",
        help="Write the cassette report as JSON to PATH (merged across xdist workers).",
    )
    parser.addini(
        "cassette_dir", "Directory of cassettes (default: cassettes/ beside each test file)"
    )
    parser.addini("cassette_record_mode", "Default record mode (default: once)")
    for name, help_text in (
        ("allow_hosts", "Hosts guarded tests may still reach"),
        ("scrub_headers", "Extra header names to scrub"),
        ("scrub_params", "Extra query/form/JSON parameter names to scrub"),
        ("scrub_json_paths", "JSON paths to scrub"),
        ("scrub_env", "Environment variables whose values are scrubbed"),
        ("scrub_disable", "Built-in scrubbing rules to turn off"),
    ):
        parser.addini(f"cassette_{name}", help_text, type="args")
    parser.addini("cassette_scrub_patterns", "Regexes whose matches are scrubbed", type="linelist")
    for name, help_text in (
        ("strict", "Fail tests whose cassette holds interactions they never played"),
        ("record_on_exception", "Save what failing tests recorded"),
        ("block_network", "Block real network access in every test"),
    ):
        parser.addini(f"cassette_{name}", help_text, type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*names, **options): record this test's HTTP once and replay it afterwards. "
        "Names: cassette files (the first is recorded into, the rest replayed read-only). "
        "Options: any vcrpy use_cassette option, record_mode, scrub_*, strict, allow_hosts.",
    )
    from pytest_cassettes.session import Session

    run = run_mode(config.getoption("record_mode", None), os.environ)
    disabled = compat.disabled(config)
    if disabled is not None:
        if config.getoption("cassette_prune", False):
            raise pytest.UsageError(
                f"--cassette-prune cannot be used with {disabled}: a run that opens no "
                "cassette cannot tell which are orphans."
            )
        run = RunMode(None, disabled)
    config.stash[SESSION] = Session(
        config, run, strict=bool(config.getoption("cassette_strict", False))
    )
    compat.install(config)
    if not compat.is_active(config):
        from pytest_cassettes import beside_recording

        config.pluginmanager.register(beside_recording, beside_recording.PLUGIN_NAME)
    if run.replay_only:  # only these runs guard fixtures' teardowns: no cost in the others
        config.pluginmanager.register(FixtureGuards(), "cassettes-fixture-guards")


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION, None)
    if session is not None:
        session.end()


def pytest_report_header(config: pytest.Config) -> str:
    return f"cassettes: {config.stash[SESSION].mode_line}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Bad marker options are usage errors before any test runs, not failures of some tests.
    from pytest_cassettes.session import marker_layers, marker_names

    for item in items:
        if item.get_closest_marker(MARKER) is not None:
            marker_layers(item)
            marker_names(item)


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        state = items[0].config.stash[SESSION]
        state.report.complete = False
        state.left_out += items


@pytest.hookimpl(hookwrapper=True)
def pytest_ignore_collect(
    collection_path: Path, config: pytest.Config
) -> Generator[None, Any, None]:
    outcome = yield
    if outcome.excinfo is None and outcome.get_result():
        config.stash[SESSION].ignored(collection_path)


def pytest_collection_finish(session: pytest.Session) -> None:
    from pytest_cassettes.hypothesis_local import load_all_where_counted
    from pytest_cassettes.session import last_failed_narrows

    load_all_where_counted()  # before any test draws an example

    config = session.config
    state = config.stash[SESSION]
    # Orphans can be told only when the whole collection is selected.
    if any("::" in arg for arg in config.args) or last_failed_narrows(config):
        state.report.complete = False
    state.collected(session.items)


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Generator[None, Any, None]:
    config = session.config
    state = config.stash[SESSION]
    state.leave_test_guards()  # before the session's fixtures are torn down
    if session.shouldfail or session.shouldstop or exitstatus == pytest.ExitCode.INTERRUPTED:
        state.report.complete = False  # a run cut short: be safe about orphans
    # The report is made once every pytest_sessionfinish ran: a run cut short (pytest.exit,
    # ^C) has its fixtures torn down there, by pytest's runner, and their cassettes count too.
    # The innermost wrapper: its end comes before xdist's worker sends its output and before
    # the terminal summary is written (both at their wrappers' ends).
    yield
    state.note_vcrpy_cassettes()
    # Blocked after the last test's report (a fixture torn down at the end of a run cut
    # short): no passing test caught them.
    state.note_blocked(failed=True)
    if hasattr(config, "workeroutput"):  # an xdist worker: the controller reports
        config.workeroutput["pytest_cassettes"] = state.report.to_wire()
        return
    state.report.settle_shared()  # the whole run's tests: the workers' merged
    state.finish_rewrites()
    if state.report.strict_unplayed and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # told in the summary
    if config.getoption("cassette_prune", False):
        state.prune()
    target = config.getoption("cassette_report", None)
    if target:
        from pytest_cassettes import storage

        try:
            storage.write_text(Path(target), state.report.to_json())
        except OSError as exc:  # a folder of its name's place is a file, read-only, ...
            why = exc.strerror or type(exc).__name__
            state.report_unwritten = (
                f"--cassette-report: cannot write {target} ({why}): nothing written"
            )
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.USAGE_ERROR  # told in the summary


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: a worker's run is the controller's (Session.run_id)."""
    from pytest_cassettes.session import RUN_ID

    node.workerinput[RUN_ID] = node.config.stash[SESSION].run_id


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist: merge a worker's report into the controller's, once: an interrupted worker
    (pytest.exit, ^C) is told of twice, finished and then down. A worker that crashed sent
    none: what its tests did is not known (a rewrite's end keeps old interactions)."""
    report = node.config.stash[SESSION].report
    wire = getattr(node, "workeroutput", {}).pop("pytest_cassettes", None)
    if wire is not None:
        report.merge(wire)
    elif error is not None:
        report.complete = False


@pytest.fixture
def cassette_config() -> dict[str, Any]:
    """Project-wide cassette options; override in conftest.py. Markers merge over it."""
    return {}


def _default_dir(request: pytest.FixtureRequest) -> Path:
    configured = request.config.getini("cassette_dir")
    if configured:
        return Path(request.config.rootpath, configured)
    return Path(request.node.path).parent / "cassettes"


@pytest.fixture
def cassette_dir(request: pytest.FixtureRequest) -> Path:
    """Where the test's cassettes live: ini `cassette_dir`, or `cassettes/` beside the test file."""
    return _default_dir(request)


@contextlib.contextmanager
def _activated(
    request: pytest.FixtureRequest, cassette_config: dict[str, Any], cassette_dir: Path
) -> Iterator[Cassette]:
    """Open the test's cassette, route its HTTP to it, and save it when the test ends."""
    session = request.config.stash[SESSION]
    item = request.node
    legacy = None
    config_source = "cassette_config"
    if compat.uses_vcr(item):
        legacy = compat.legacy_cassettes(request)
        cassette_config, config_source = compat.vcr_test_config(request, cassette_config)
    settings = session.settings_for(
        item, cassette_config, Path(cassette_dir), legacy, config_source
    )
    problems = item.stash.setdefault(PROBLEMS, [])
    opened = session.open_or_fail(item, settings, problems)
    item.stash[ACTIVE] = opened
    try:
        guard = session.guard(item, settings, problems, recording=opened.can_record)
        with session.active(opened, guard):
            yield opened
        session.close(
            opened,
            settings,
            failed=item.stash.get(FAILED, False),
            strict_failed=item.stash.get(STRICT_FAILED, False),
        )
    finally:
        # Items live all session: do not keep every cassette in memory, nor hand a finished
        # one to a rerun of the test (a failed save included).
        del item.stash[ACTIVE]
        session.leave_test_guard(item)  # the fixtures set up under it stay guarded


@pytest.fixture
def cassette(
    request: pytest.FixtureRequest, cassette_config: dict[str, Any], cassette_dir: Path
) -> Iterator[Cassette]:
    """The test's active cassette: its path, what it played and recorded, `all_played`."""
    opened = request.node.stash.get(ACTIVE, None)
    if opened is not None:  # opened by _cassette_autouse (asked for from the test body)
        yield opened
        return
    if request.config.stash[SESSION].disabled:
        yield None  # type: ignore[misc]  # --cassette-disable: no cassette (documented)
        return
    with _activated(request, cassette_config, cassette_dir) as opened:
        yield opened


_PYTEST_8 = int(pytest.__version__.split(".")[0]) >= 8


def _own_fixtures_apply(request: pytest.FixtureRequest) -> bool:
    """Whether `cassette_config` and `cassette_dir` are this plugin's own for the test (not
    overridden in a conftest, module or class, nor parametrized).

    The marked test then gets their values without pytest's fixture machinery: three fixtures
    each needing `request` cost more than the rest of opening a small cassette."""
    names = request.fixturenames
    if "cassette_config" in names or "cassette_dir" in names or compat.uses_vcr(request.node):
        return False
    from pytest_cassettes.session import FIXTURES, own_fixtures

    return own_fixtures(request.node, FIXTURES)


# The items whose fixtures are being set up, innermost last (a pytester run inside a test
# stacks its own). The autouse fixture finds its test here instead of taking `request`: a
# fixture taking `request` costs pytest 9 about 90 us a test, in every test of the project.
_SETTING_UP: list[pytest.Item] = []


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, Any, None]:
    session = item.config.stash[SESSION]
    session.setups += 1
    # A test run again (pytest-rerunfailures) starts afresh: a passing rerun saves its cassette.
    item.stash[FAILED] = item.stash[STRICT_FAILED] = False
    session.attempt_starts(item.nodeid)
    item.stash[PROBLEMS] = []
    if session.blocks:
        session.end_blocks(item)
    if session.disabled or not _may_use_cassette(item):
        # The real libraries back before any fixture runs: one that patches them itself
        # (pytest-recording's `vcr`, a fixture using vcrpy or responses) must not have its
        # patches undone by ours going off after it.
        session.switch_off()
        session.unguarded()
    elif session.run.replay_only:
        # Offline from the first fixture until the cassette closes (or the teardown ends), and
        # each fixture set up meanwhile again at its teardown (Session.test_guard).
        session.test_guard(item, item.stash.setdefault(PROBLEMS, [])).__enter__()
    _SETTING_UP.append(item)
    yield
    _SETTING_UP.pop()


def _may_use_cassette(item: pytest.Item) -> bool:
    return (
        item.get_closest_marker(MARKER) is not None
        or "cassette" in getattr(item, "fixturenames", ())
        or compat.uses_vcr(item)
    )


@pytest.fixture(autouse=True)
def _cassette_autouse() -> Iterator[None]:
    """Activate the cassette of marked tests; leave the HTTP libraries alone for the others."""
    item = _SETTING_UP[-1] if _SETTING_UP else None
    if item is None:  # set up outside pytest_runtest_setup: not a test
        yield
        return
    request: pytest.FixtureRequest | None = getattr(item, "_request", None)  # a Function's
    if request is None and not _PYTEST_8 and hasattr(item, "_fixtureinfo"):
        # pytest 7's doctest item makes its request only once its fixtures are set up.
        request_class: Any = pytest.FixtureRequest  # concrete in pytest 7
        request = request_class(item, _ispytest=True)
    session = item.config.stash[SESSION]
    if request is not None and "cassette" in request.fixturenames and not session.disabled:
        request.getfixturevalue("cassette")  # now, so it outlives the test's other fixtures
        yield
        return
    names = {mark.name for mark in item.iter_markers()}
    marked = MARKER in names or (compat.VCR_MARKER in names and compat.is_active(item.config))
    if marked and request is not None and not session.disabled:
        if _own_fixtures_apply(request):
            with _activated(request, {}, _default_dir(request)):
                yield
        else:
            request.getfixturevalue("cassette")
            yield
        return
    session.switch_off()
    if not compat.run_blocks_network(item.config) and "block_network" not in names:
        yield  # no cassette, no guard
        return
    if not compat.is_active(item.config) and (
        compat.VCR_MARKER in names or "block_network" in names
    ):
        yield  # pytest-recording's own test: its fixture guards it (see beside_recording.py)
        return
    network = compat.network_options(item, marker_names=names)
    problems = item.stash.setdefault(PROBLEMS, [])
    guard = session.guard(item, None, problems, (network.block_network, network.allow_hosts))
    with guard if guard is not None else contextlib.nullcontext():
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, None]:
    item.config.stash[SESSION].calls += 1
    item.stash[CALLING] = True
    try:
        outcome = yield
    finally:
        item.stash[CALLING] = False
    if outcome.excinfo is not None:
        # Also KeyboardInterrupt and pytest.exit(), after which no report is made: an
        # interrupted test saves nothing either.
        item.stash[FAILED] = True
    active = item.stash.get(ACTIVE, None)
    if active is not None and outcome.excinfo is None:
        strict_failure = item.config.stash[SESSION].strict_failure(active)
        if strict_failure is not None:
            item.stash[STRICT_FAILED] = True
            outcome.force_exception(strict_failure)
    children.collect()  # blocked in a child process the test started (its guard is still on)
    problems = item.stash.get(PROBLEMS, None)
    if problems:
        first = problems[0]
        if outcome.excinfo is None and isinstance(first, NetworkBlockedError) and not first.child:
            first.caught(without_cassette=active is None)
        _raise_in(outcome, problems[0])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, Any, None]:
    session = item.config.stash[SESSION]
    problems = item.stash.setdefault(PROBLEMS, [])
    before = len(problems)
    # A guarded fixture torn down now (set up for an earlier test) reports to this test.
    session.tearing_down, session.tearing_down_test = problems, item.nodeid
    try:
        outcome = yield
    finally:
        session.tearing_down = None
        session.leave_test_guard(item)
    if len(problems) > before:
        _raise_in(outcome, problems[before])  # a fixture's teardown met it (and swallowed it?)


class FixtureGuards:
    """In a replay-only run: each fixture set up under a test's guard is guarded again while it
    is torn down, whichever test is running then (see Session.fixture_set_up)."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: Any, request: pytest.FixtureRequest
    ) -> Generator[None, Any, None]:
        yield
        request.config.stash[SESSION].fixture_set_up(fixturedef)

    def pytest_fixture_post_finalizer(
        self, fixturedef: Any, request: pytest.FixtureRequest
    ) -> None:
        request.config.stash[SESSION].fixture_torn_down(fixturedef)


def _raise_in(outcome: Any, error: CassetteError) -> None:
    """The phase fails with our error: the client may have wrapped or swallowed it. A group of
    errors that holds ours beside others (hypothesis' distinct failures: the test's own, and
    ours met while shrinking) is left as it is: it shows them all."""
    excinfo = outcome.excinfo
    if excinfo is not None and _beside_others(excinfo[1]):
        return
    if excinfo is None or excinfo[1] is not error:
        if excinfo is not None:
            error.__context__ = excinfo[1]
        outcome.force_exception(error)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """`error`, its causes and contexts, and what groups of errors among them hold."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, current.__context__]
        inner = getattr(current, "exceptions", None)
        if isinstance(inner, tuple):
            pending.extend(inner)


def _beside_others(error: BaseException) -> bool:
    """Whether `error` is a group of errors (ExceptionGroup, its backport) holding one of ours
    and one that is not ours."""
    if not isinstance(getattr(error, "exceptions", None), tuple):
        return False
    leaves: list[BaseException] = []
    pending = [error]
    while pending:
        current = pending.pop()
        inner = getattr(current, "exceptions", None)
        if isinstance(inner, tuple):
            pending.extend(inner)
        else:
            leaves.append(current)
    ours = [isinstance(leaf, CassetteError) for leaf in leaves]
    return any(ours) and not all(ours)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    failed = outcome.get_result().failed
    if failed and call.when in ("setup", "call"):
        item.stash[FAILED] = True
    if call.excinfo is not None and item.stash.get(CALLING, False):
        # A report made while the test runs: a subtest's (pytest 9's `subtests`, the
        # pytest-subtests plugin). The errors of ours it shows are told: the test itself then
        # fails as pytest fails it ("contains 1 failed subtest"), not with the same error again.
        problems = item.stash.get(PROBLEMS, [])
        told = {id(error) for error in _chain(call.excinfo.value)}
        problems[:] = [error for error in problems if id(error) not in told]
    item.config.stash[SESSION].note_blocked(failed)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    verbose = (config.getoption("verbose", 0) or 0) > 0  # get_verbosity() needs pytest 8
    session = config.stash[SESSION]
    summary = list(report.lines(session.report, verbose=verbose, argument=session.argument))
    if session.report_unwritten:
        summary.append(session.report_unwritten)
    if summary:
        terminalreporter.write_sep("-", "cassettes")
        for line in summary:
            terminalreporter.write_line(line)
