"""The plugin's state for one process: settings, the router, open and close of each cassette."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from glob import glob
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cassettes import children, compat, network, paths, runmarks
from pytest_cassettes.errors import (
    CassetteError,
    CassetteLoadError,
    LockFolderError,
    NetworkBlockedError,
    UnusedInteractionsError,
    pytest_argument,
)
from pytest_cassettes.network import AllowList, NetworkGuard, forget_outliving
from pytest_cassettes.report import Report, Stats, TestRecord, describe, used_key
from pytest_cassettes.settings import (
    INI_FLAGS,
    INI_LISTS,
    RunMode,
    Settings,
    as_list,
    check_record_mode,
    resolve,
    validate_options,
)
from pytest_cassettes.values import Value

# vcrpy (which imports requests and urllib3), and our modules built on it, are imported when
# the first cassette test starts: a run without one does not pay for them (some 60-100 ms).
if TYPE_CHECKING:
    from pytest_cassettes.cassette import Cassette
    from pytest_cassettes.compat import LegacyCassettes
    from pytest_cassettes.patching import Patches, Router
    from pytest_cassettes.scrub import Scrubber, ScrubRules

MARKER = "cassette"
# vcrpy options that change what is stored or matched: only then is vcrpy's (deep-copying)
# request filter chain worth running.
REQUEST_FILTERS = frozenset(
    {
        "filter_headers",
        "filter_query_parameters",
        "filter_post_data_parameters",
        "ignore_hosts",
        "ignore_localhost",
        "before_record_request",
        "before_record",
    }
)
RESPONSE_FILTERS = frozenset({"before_record_response", "decode_compressed_response"})


def marker_layers(item: pytest.Item) -> list[dict[str, Any]]:
    """The cassette markers' options, broadest (module) first, validated."""
    markers = list(item.iter_markers(MARKER))
    return [
        validate_options(m.kwargs, f"{item.nodeid}: @pytest.mark.{MARKER}")
        for m in reversed(markers)
    ]


def marker_names(item: pytest.Item) -> tuple[str, ...]:
    """Cassette names from the closest marker that names any."""
    for marker in item.iter_markers(MARKER):
        if marker.args:
            for name in marker.args:
                if not isinstance(name, str):
                    raise pytest.UsageError(
                        f"{item.nodeid}: cassette names must be strings, got {name!r}"
                    )
            return tuple(marker.args)
    return ()


CURRENT_TEST = "PYTEST_CURRENT_TEST"
RUN_ID = "pytest_cassettes_run"  # the controller's run id in an xdist worker's workerinput
# Left out of the environment's key: pytest's PYTEST_CURRENT_TEST changes at every test phase,
# and the guard carried into child processes sets these two for every guarded test
# (children.py). None of them holds a secret.
_NOT_KEYED = (CURRENT_TEST, children.ENV, "PYTHONPATH")


class EnvironmentKey:
    """The environment as a hashable key, rebuilt only when a variable changed.

    Asked at every request (a fixture may set a secret after the cassette was opened): a C-level
    copy and comparison of `os.environ`'s own mapping takes a few microseconds, where building
    the key took about 20 with 40 variables. The variables of `_NOT_KEYED`, which change at
    every test, are left out: a scrubber built for a test serves the next.
    """

    def __init__(self) -> None:
        self._state: tuple[dict[Any, Any], frozenset[tuple[str, str]]] | None = None
        encodekey = getattr(os.environ, "encodekey", None)
        self._not_keyed = [encodekey(name) if encodekey else name for name in _NOT_KEYED]

    def key(self) -> frozenset[tuple[str, str]]:
        raw = getattr(os.environ, "_data", os.environ)  # CPython's mapping behind os.environ
        snapshot = dict(raw)
        for name in self._not_keyed:
            snapshot.pop(name, None)
        state = self._state
        if state is not None and state[0] == snapshot:
            return state[1]
        key = frozenset(i for i in os.environ.items() if i[0] not in _NOT_KEYED)
        self._state = (snapshot, key)
        return key


class Attempt:
    """One run of a test (the first, or a rerun's): its number, its entries in the report
    and what each added to the counts.

    This module's classes are written by hand, not as dataclasses (see values.py)."""

    __slots__ = ("done", "nodeid", "number")

    def __init__(self, nodeid: str, number: int = 1) -> None:
        self.nodeid = nodeid
        self.number = number
        self.done: list[tuple[TestRecord, Stats]] = []


class Session:
    """Everything pytest-cassettes keeps for one pytest process."""

    def __init__(
        self,
        config: pytest.Config,
        run: RunMode,
        strict: bool = False,
    ) -> None:
        self.config = config
        self.run = run
        self._patches: tuple[Router, Patches] | None = None
        self._cache_folder: Path | None = None
        self._cache_checked = False
        self.report = Report()
        # Connections this process blocked (not the xdist workers' its report merges), and
        # how many of them when a test phase was last reported.
        self._blocked_here = self._blocked_told = 0
        # The test running and its attempt (a test run again: pytest-rerunfailures).
        self._attempt = Attempt("")
        # --cassette-disable: cassette tests run as plain ones (run.source names the flag).
        self.disabled = run.source in ("--cassette-disable", "--disable-recording")
        if self.disabled:
            self.report.complete = False  # no cassette is opened: none can be told an orphan
        self._root = os.path.normpath(config.rootpath)
        self._scrubbers: dict[
            tuple[ScrubRules, frozenset[tuple[str, str]], frozenset[str]], Scrubber
        ] = {}
        self._guarded: list[pytest.Item] = []  # tests under their replay-only guard
        # id(fixturedef) -> the guards its teardowns are under (see fixture_set_up)
        self._teardown_guards: dict[int, list[NetworkGuard]] = {}
        self._guards_ended = False  # the run's end: no guard any more (see leave_test_guards)
        self._lingering = False  # the guard's patches stay between tests (see test_guard)
        # The problems of the test being torn down: a guarded fixture torn down then reports
        # to it (set by the plugin's pytest_runtest_teardown).
        self.tearing_down: list[CassetteError] | None = None
        self.tearing_down_test = ""  # the test whose teardown runs, when tearing_down is set
        self._fixtures_tearing_down: list[str] = []  # guarded fixtures' names, innermost last
        self._environment = EnvironmentKey()
        self.setups = 0  # tests whose set-up began (a `use_cassette` block must not span one)
        self.calls = 0  # tests whose call phase began
        # Open `use_cassette` blocks: the test each was opened in, and what closes it.
        self.blocks: list[tuple[pytest.Item, contextlib.ExitStack]] = []
        self._routed: list[Cassette] = []  # the open cassettes, innermost last
        self.handed_out = [False]  # see Cassette.handed_out
        self.clean: dict[Any, set[str]] = {}  # scrubbing rules -> see Cassette.clean
        # One id for the whole run, shared by xdist workers (rewrite mode needs it). The
        # controller's own, handed to the workers (plugin.pytest_configure_node): the run's
        # marks (runmarks.end_run) are removed by the controller, when the workers are done.
        # Not --testrunuid, which a user may give every run (addopts), several at once.
        workerinput = getattr(config, "workerinput", None)
        self.worker = workerinput is not None
        self.run_id: str = (workerinput or {}).get(RUN_ID) or uuid.uuid4().hex
        # The collected tests (deselected ones too) naming a cassette first, by shared_key,
        # where several do: they record into it together.
        self.shared_own: dict[str, list[str]] = {}
        self.named_own: dict[str, list[str]] = {}  # all of them, one a cassette too
        # Those several tests name whose markers all say record_mode="rewrite" (see open).
        self.markers_rewrite: set[str] = set()
        self.left_out: list[pytest.Item] = []  # deselected (-k, -m, --lf)
        # The cassettes (by shared_key) that tests deselected or skipped by a marker name
        # first: a rewrite replaces them in part, as in a narrowed run (see open).
        self.left_out_own: set[str] = set()
        # The files the collected tests' markers name first, without their suffix: path -> those
        # tests; and those that the tests left out (deselected, skipped by a marker) name first.
        self.named_paths: dict[str, list[str]] = {}
        self.left_out_paths: set[str] = set()
        # Those naming one through a cassette_dir fixture of their own, known by the name until
        # they run: the name's last part -> (the name without its suffix, those tests).
        self.named_by_name: dict[str, list[tuple[str, list[str]]]] = {}
        self.ignored_modules = False  # see ignored
        self.report_unwritten = ""  # why --cassette-report's file could not be written
        self._vcr: Any = None
        ini_mode = config.getini("cassette_record_mode") or None
        self.ini_mode = (
            check_record_mode(ini_mode, "ini cassette_record_mode") if ini_mode else None
        )
        self.ini_options = self._ini_options(strict)
        parse_allow_hosts(self.ini_options.get("allow_hosts", []), "allowed hosts")  # fail early

    def _ini_options(self, strict: bool) -> dict[str, Any]:
        """The ini file's options, with the command line's hosts and flags added."""
        from pytest_cassettes import compat

        options: dict[str, Any] = {}
        for name in INI_LISTS:
            values = self.config.getini(f"cassette_{name}")
            if values:
                options[name] = list(values)
        for name in INI_FLAGS:
            if self.config.getini(f"cassette_{name}"):
                options[name] = True
        # The run's allowed hosts and blocking, from the ini and the flags: as for tests
        # without a cassette (compat.network_options).
        block_network, allow_hosts = compat.run_network(self.config)
        if allow_hosts:
            options["allow_hosts"] = list(allow_hosts)
        if block_network:
            options["block_network"] = True
        if strict:
            options["strict"] = True
        return options

    @property
    def patches(self) -> Patches:
        """vcrpy's patchers bound to our router: built on first use (see the imports above)."""
        return self._patching()[1]

    @property
    def router(self) -> Router:
        return self._patching()[0]

    def _patching(self) -> tuple[Router, Patches]:
        if self._patches is None:
            from pytest_cassettes.patching import Patches, Router

            router = Router()
            self._patches = (router, Patches(router))
        return self._patches

    def end_blocks(self, item: pytest.Item) -> None:
        """A test begins: `use_cassette` blocks opened in other tests (a wider fixture that
        yielded inside one) are closed now, so that they neither route nor guard this test;
        each fails its fixture's teardown, saying why (see scoped.py)."""
        for opened_in, block in [b for b in self.blocks if b[0] is not item][::-1]:
            self.blocks.remove((opened_in, block))
            block.close()

    def switch_off(self) -> None:
        """Put the real HTTP libraries back for a test without a cassette."""
        if self._patches is not None:
            self._patches[1].switch_off()

    def end(self) -> None:
        """The end of the run: the patches go for good."""
        if self._patches is not None:
            self._patches[1].close()
        storage = sys.modules.get("pytest_cassettes.storage")
        if storage is not None:
            storage.parsed_cache.folder = None  # a later in-process run may have no cache
        if not self.worker:
            runmarks.end_run(self.run_id)

    def _use_storage(self) -> None:
        """Point the parsed-cassette cache at pytest's cache directory (none without one)."""
        from pytest_cassettes import storage

        if not self._cache_checked:
            self._cache_checked = True
            cache = getattr(self.config, "cache", None)  # None under -p no:cacheprovider
            if cache is not None:
                self._cache_folder = Path(cache.mkdir("pytest-cassettes-parsed"))
        storage.parsed_cache.folder = self._cache_folder

    @property
    def mode_line(self) -> str:
        """The record mode in force for the run, and why."""
        if self.disabled:
            return (
                f"disabled ({self.run.source}): cassette tests run live; nothing is replayed "
                "or recorded"
            )
        if self.run.mode is not None:
            return f"record mode {self.run.mode} ({self.run.source})"
        if self.ini_mode is not None:
            return f"record mode {self.ini_mode} (ini cassette_record_mode; markers may override)"
        return "record mode once (default; markers may override)"

    @property
    def vcr(self) -> Any:
        """The vcrpy configuration object, built once and offered to pytest_cassettes_configure
        (and pytest_recording_configure)."""
        if self._vcr is None:
            import vcr

            from pytest_cassettes import matching

            self._vcr = vcr.VCR()
            self._vcr.register_matcher("body", matching.body)  # before the hooks: theirs win
            self.config.hook.pytest_cassettes_configure(config=self.config, vcr=self._vcr)
            # pytest-recording's hook: conftests written for it register matchers there. (With
            # pytest-recording loaded too, its `vcr` tests get them from it as well.)
            recording_hook = getattr(self.config.hook, "pytest_recording_configure", None)
            if recording_hook is not None:
                recording_hook(config=self.config, vcr=self._vcr)
        return self._vcr

    # --- one test ------------------------------------------------------------------------

    def settings_for(
        self,
        item: pytest.Item,
        config_options: Mapping[str, Any],
        cassette_dir: Path,
        legacy: LegacyCassettes | None = None,
        config_source: str = "cassette_config",
    ) -> Settings:
        """Resolve the test's settings (the one place where record mode is decided).

        `legacy`: a pytest-recording `vcr` test's markers and cassette layout (see compat.py).
        `config_source`: what messages call `config_options`' record mode.
        """
        config_options = validate_options(config_options, "cassette_config")
        layers = marker_layers(item) if legacy is None else legacy.layers
        serializer = _merged(config_options, layers, "serializer")
        suffix = ".json" if serializer == "json" else ".yaml"
        names = marker_names(item)
        if legacy is not None:
            own, shared = legacy.paths(serializer)
        elif names:
            own = paths.named_cassette(names[0], cassette_dir, suffix)
            shared = [paths.named_cassette(n, cassette_dir, suffix) for n in names[1:]]
        else:
            own, shared = paths.default_cassette(item, cassette_dir, suffix), []
        return self._resolved(
            own,
            shared,
            suffix,
            config_options,
            layers,
            cassette_dir,
            item.nodeid,
            config_source,
            named=legacy is None and bool(names),
        )

    def settings_named(
        self, names: Sequence[str], options: Mapping[str, Any], cassette_dir: Path, where: str
    ) -> Settings:
        """The settings of cassettes opened by `use_cassette`: its options over the ini's (no
        marker, no `cassette_config`: a fixture wider than the test cannot have them). A name
        without a cassette's suffix gets one (`token[1.5]`, `api.example.com` would pass for
        one)."""
        options = validate_options(options, where)
        suffix = ".json" if options.get("serializer") == "json" else ".yaml"
        names = [n if n.endswith(paths.CASSETTE_SUFFIXES) else n + suffix for n in names]
        own = paths.named_cassette(names[0], cassette_dir, suffix)
        shared = [paths.named_cassette(n, cassette_dir, suffix) for n in names[1:]]
        return self._resolved(own, shared, suffix, options, [], cassette_dir, where)

    def _resolved(
        self,
        own: Path,
        shared: list[Path],
        suffix: str,
        config_options: Mapping[str, Any],
        layers: list[dict[str, Any]],
        cassette_dir: Path,
        where: str,
        config_source: str | None = None,
        named: bool = False,
    ) -> Settings:
        """Settings with the `shared=[...]` cassettes of every layer added (`where` names the
        test or call in messages, and `config_options`' source unless `config_source` does)."""
        for name in shared_option(config_options, layers, where):
            path = paths.named_cassette(name, cassette_dir, suffix)
            if path != own and path not in shared:
                shared.append(path)
        return resolve(
            run=self.run,
            ini_options=self.ini_options,
            ini_mode=self.ini_mode,
            config_options=config_options,
            marker_layers=layers,
            path=own,
            shared_paths=shared,
            config_source=config_source or where,
            named=named,
        )

    def open_or_fail(
        self,
        item: pytest.Item,
        settings: Settings,
        problems: list[CassetteError],
        block: bool = False,
    ) -> Cassette:
        """`open`, a cassette that cannot be read failing the test (not as the context of
        pytest's own exception: told once)."""
        __tracebackhide__ = True
        try:
            return self.open(item, settings, problems, block)
        except CassetteLoadError as exc:
            failure = f"CassetteLoadError: {exc}"
        pytest.fail(failure, pytrace=False)

    def open(
        self,
        item: pytest.Item,
        settings: Settings,
        problems: list[CassetteError],
        block: bool = False,
    ) -> Cassette:
        """Build the test's cassette, or a `use_cassette` block's, and load what it may
        replay. A block's own file written in this run by another process (an xdist worker
        that set the same session fixture up) is recorded anew, as a missing one is: replayed,
        its scrubbed login would hand this worker's tests a placeholder to record with."""
        from pytest_cassettes import storage
        from pytest_cassettes.cassette import Cassette, Context

        self._use_storage()
        options = settings.vcr_options
        try:
            merged = self.vcr.get_merged_config(**options)
        except (KeyError, ValueError) as exc:
            raise pytest.UsageError(f"{item.nodeid}: {exc.args[0] if exc.args else exc}") from None
        codec = storage.codec_for(options.get("serializer", "yaml"), merged["serializer"])
        vcr_any = self.vcr
        filters = options
        if options.get("ignore_localhost"):  # vcrpy before 9 leaves ::1 out of local hosts
            filters = {**options, "ignore_hosts": [*options.get("ignore_hosts", ()), "::1"]}
        dropped: set[str] = set()  # hosts a before_record_request function returned None for
        filters = noting_drops(filters, dropped)
        prepare_request = (
            vcr_any._build_before_record_request(filters)
            if REQUEST_FILTERS & options.keys()
            else (lambda request: request)
        )
        prepare_response = (
            vcr_any._build_before_record_response(options)
            if RESPONSE_FILTERS & options.keys()
            else None
        )
        rules = self.scrub_rules(item, settings)
        scrubber = self.scrubber(rules, item.nodeid)  # bad rules fail the test here
        scrub_request, scrub_response = self._learning_scrubbers(rules, item.nodeid)
        cassette = Cassette(
            path=settings.path,
            shared_paths=settings.shared_paths,
            record_mode=settings.record_mode,
            context=Context(
                nodeid=item.nodeid,
                mode=settings.record_mode,
                reason=settings.mode_source,
                named=settings.named,
                argument=self.argument,
            ),
            matchers=merged["match_on"],
            prepare_request=prepare_request,
            prepare_response=prepare_response,
            scrub_request=scrub_request,
            scrub_response=scrub_response,
            allow_playback_repeats=bool(merged["allow_playback_repeats"]),
            replay_only=settings.replay_only,
            codec=codec,
            errors=problems,
            strict=settings.flag("strict"),
            handed_out=self.handed_out,
            clean=self.clean.setdefault(rules, set()),
            count_secrets=self._secret_counter(rules, item.nodeid),
            hands_out=block,
            dropped_hosts=dropped,
        )
        # A persister registered in pytest_cassettes_configure loads and saves the cassettes.
        from vcr.persisters.filesystem import FilesystemPersister

        if merged["persister"] is not FilesystemPersister:
            cassette.persisted = storage.Persisted(merged["persister"], merged["serializer"])

        def read(path: Path) -> storage.Snapshot | None:
            if cassette.persisted is not None:
                return cassette.persisted.read(path)
            return storage.read(path, codec)

        own = read(settings.path)
        if (
            block
            and settings.record_mode == "once"
            and runmarks.written_in(settings.path, self.run_id)
        ):
            own = None  # recorded meanwhile by another worker of this run (see above)
        cassette.own_exists = own is not None
        rewrite = settings.record_mode == "rewrite"
        key = self.shared_key(item) if settings.named and not block else None
        # A cassette a marker names, in a run of the whole suite: the other tests naming it,
        # and a use_cassette block of it (which nothing tells before it runs), may stop before
        # their requests (a failure, -x, ^C), and what they recorded before must not go with
        # the recording of the others. Replaced in part; what is left of the old recording
        # goes at the run's end if they all passed (finish_rewrites), where they all rewrite
        # (the run, or each one's marker; not where only some markers say rewrite: the others
        # replay what they recorded).
        whole = (
            rewrite
            and key is not None
            and not self.report.narrowed
            and key not in self.left_out_own
            and (
                self.tests_rewrite
                or len(self.named_own.get(key, ())) == 1
                or key in self.markers_rewrite
            )
        )
        # A cassette a marker names, in a run of part of the suite, or one a test deselected
        # (-k, -m, --deselect, --sw) or skipped by its marker names too: the tests the run
        # leaves out may have recorded into it; or one other tests name that do not rewrite.
        # What this run's tests send again replaces its old recording ("all"); the rest stays.
        in_part = (rewrite and key is not None) or (
            # A use_cassette block: tests naming its cassette, and blocks of it in other tests
            # (which nothing tells before they run), may have recorded into it; its save, a
            # whole rewrite, removed what they may need.
            rewrite and block
        )
        # `all` replaces what each test sends again too, in a cassette several tests name.
        if in_part or (settings.record_mode == "all" and key in self.shared_own):
            cassette.replaces = True
            # Only what the file held when the run first opened it is old: what the run's
            # other tests recorded meanwhile is theirs, neither replaced nor written twice.
            store = storage.store_name(codec, cassette.persisted is not None)
            cassette.old = storage.run_old(settings.path, self.run_id, store, own)
            cassette.replace_run = self.run_id if cassette.old is not None else None
        if in_part:
            if whole and key is not None:
                self._rewriting(settings.path, self.named_own[key])
            elif own is not None and key is not None:
                if self.report.narrowed or key in self.left_out_own:
                    self.report.rewritten_in_part.add(self.shown(settings.path))
                else:
                    self.report.own_mode_in_part.add(self.shown(settings.path))
            elif block:
                self._block_rewrites(settings.path, own is not None)
        if rewrite and not in_part:
            # The old recording goes when the new one is written (a test that fails keeps the
            # old file); only the run's first write of this cassette removes anything, so
            # tests and xdist workers sharing it keep each other's fresh recordings.
            if own is not None:
                cassette.preset_drop = [storage.identity(i) for i in own.interactions]
            cassette.rewrite_run = self.run_id
        else:
            cassette.load(own, settings.path, own=True, scrub=scrubber.scrub_request)
            old = cassette.old
            if old is not None and own is not None and cassette.own_requests:
                cassette.own_requests = [
                    raw.get("request") for raw in own.interactions if storage.identity(raw) in old
                ]
        if rewrite:
            cassette.own_exists = False
        if (
            cassette.own_exists
            and settings.named
            and settings.record_mode == "once"
            and runmarks.written_in(settings.path, self.run_id)
        ):
            # First recorded in this run, by another test naming it (an xdist worker's too):
            # 'once' records the cassette, and the tests sharing it record it together.
            cassette.own_exists = False
        for path in settings.shared_paths:
            cassette.load(read(path), path, own=False, scrub=scrubber.scrub_request)
        if key is not None:
            tests = self.shared_own.get(key)
            cassette.sharing = len(tests) if tests else 1
            if self.report.narrowed:
                # Tests of the modules the run did not collect may name it first too: what
                # they recorded is neither dropped (drop_unused_requests) nor judged (strict).
                cassette.sharing += 1
            if cassette.sharing > 1:
                self.report.sharing[self.shown(settings.path)] = cassette.sharing
        return cassette

    def _block_rewrites(self, path: Path, exists: bool) -> None:
        """A use_cassette block saying rewrite replaces its cassette in part (see open): what is
        left of the old recording goes at the run's end if all that record into it passed
        (finish_rewrites), but where tests naming it do not rewrite (the block cannot tell
        their recordings from its old ones) or the run leaves some out: the summary says so."""
        name = used_key(os.path.normpath(path))
        shown = self.shown(path)
        if self.naming(path) and not self.tests_rewrite:
            if exists:
                self.report.own_mode_in_part.add(shown)
        elif self.report.narrowed or name in self.left_out_paths:
            if exists:
                self.report.rewritten_in_part.add(shown)
        else:
            self._rewriting(path)

    def _rewriting(self, path: Path, tests: Sequence[str] = ()) -> None:
        """The cassette at `path` is rewritten in part until the run's end, which removes what
        is left of its old recording if `tests`, every test naming it and every block of it
        passed (finish_rewrites)."""
        known = self.report.rewriting.setdefault(self.shown(path), [])
        known += [test for test in dict.fromkeys((*tests, *self.naming(path))) if test not in known]

    def naming(self, path: Path) -> list[str]:
        """The collected tests whose markers name the cassette at `path` first: by its path, or
        by a name it may have through a cassette_dir fixture of their own (whose folder is
        known only as they run: a test's setup failing before its cassette opened leaves it
        unknown; those that recorded elsewhere are told apart at the run's end, _not_passed)."""
        stem = used_key(os.path.normpath(path))
        tests = list(self.named_paths.get(stem, ()))
        for named, by_name in self.named_by_name.get(os.path.basename(stem), ()):
            if stem == named or stem.endswith(os.sep + named):
                tests += [test for test in by_name if test not in tests]
        return tests

    @property
    def tests_rewrite(self) -> bool:
        """Whether the run rewrites every test's cassette (the flag, the environment, the
        ini): not where markers decide."""
        return self.run.mode == "rewrite" or (self.run.mode is None and self.ini_mode == "rewrite")

    def shared_key(self, item: pytest.Item) -> str:
        """What tells the tests naming one cassette first: its path (without its suffix), or
        its name where the test's own `cassette_dir` chooses the directory, which is known
        only as the test runs (a `cassette_config` of its own leaves the path as it is)."""
        name = marker_names(item)[0]
        if not own_fixtures(item, ("cassette_dir",)):
            return "name:" + used_key(name)
        return used_key(str(paths.named_cassette(name, self.default_dir(Path(item.path)))))

    def blocks_network(self, settings: Settings) -> bool:
        """--block-network or the ini option, which no marker turns off; or the marker's."""
        return bool(self.ini_options.get("block_network")) or settings.flag("block_network")

    def strict_failure(
        self, cassette: Cassette, where: str | None = None
    ) -> UnusedInteractionsError | None:
        """The failure of a strict test that left recorded interactions unplayed (`where`: the
        `use_cassette` call that opened the cassette, if one did)."""
        if not cassette.strict:
            return None
        if where is None and cassette.sharing > 1:
            return None  # each test leaves the others' unplayed: the run judges (report.py)
        unused = unused_requests(cassette)
        if not unused:
            return None
        hint = {} if where is None else {"strict_off": "use_cassette(..., strict=False)"}
        nodeid = cassette.context.nodeid
        return UnusedInteractionsError(
            test=nodeid,
            path=str(cassette.path),
            unused=unused,
            argument=self.argument(nodeid),
            **hint,
        )

    def argument(self, nodeid: str) -> str:
        """A node id (or its file) as an argument of the pytest commands messages print."""
        config = self.config
        return pytest_argument(nodeid, config.rootpath, config.invocation_params.dir, config.args)

    def scrub_rules(self, item: pytest.Item, settings: Settings) -> ScrubRules:
        """The test's rules: built-in ones, the user's, then the scrub hooks."""
        from pytest_cassettes.scrub import ScrubRules

        ihook = item.ihook  # looked up by the test's file at each use
        request_hook = HookScrub.of(ihook.pytest_cassettes_scrub_request, "request")
        response_hook = HookScrub.of(ihook.pytest_cassettes_scrub_response, "response")
        return ScrubRules(
            headers=settings.strings("scrub_headers"),
            params=settings.strings("scrub_params"),
            json_paths=settings.strings("scrub_json_paths"),
            patterns=settings.strings("scrub_patterns"),
            env=settings.strings("scrub_env"),
            disable=settings.strings("scrub_disable"),
            request_hooks=(*as_list(settings.options.get("scrub_request")), *request_hook),
            response_hooks=(*as_list(settings.options.get("scrub_response")), *response_hook),
        )

    def _learning_scrubbers(
        self, rules: ScrubRules, where: str
    ) -> tuple[
        Callable[[Any], tuple[Any | None, int]],
        Callable[[dict[str, Any], Any], tuple[dict[str, Any] | None, int]],
    ]:
        """A cassette's scrub functions: each value they replace by name (that looks
        generated) is replaced wherever it occurs after, in the same interaction too (a second
        pass, without the hooks, when a value was learned)."""
        from pytest_cassettes.scrub import LearnedSecrets, learning_scrub

        learned = LearnedSecrets()

        def scrubber_for(rules: ScrubRules, values: frozenset[str]) -> Scrubber:
            return self.scrubber(rules, where, values)

        def learning(method: str) -> Callable[..., tuple[Any | None, int]]:
            def scrub(interaction: Any, *answered: Any) -> tuple[Any | None, int]:
                return learning_scrub(scrubber_for, rules, learned, method, interaction, answered)

            return scrub

        return learning("scrub_request"), learning("scrub_response")

    def _secret_counter(
        self, rules: ScrubRules, where: str
    ) -> Callable[[Any, dict[str, Any]], int]:
        """How many values these rules scrub in a stored interaction (neither learning values
        nor running the scrub hooks: the same answer in every process)."""

        def count(request: Any, response: dict[str, Any]) -> int:  # built when a save asks
            scrubber = self.scrubber(rules.without_hooks(), where)
            answer = scrubber.scrub_response(response, request=request)
            return scrubber.scrub_request(request)[1] + answer[1]

        return count

    def scrubber(
        self, rules: ScrubRules, where: str, learned: frozenset[str] = frozenset()
    ) -> Scrubber:
        """A scrubber for these rules, the environment as it is now and a cassette's learned
        values (see LearnedSecrets).

        Building one reads the environment's secrets, so one is reused while neither the rules
        nor the environment changed; asked for at every request, it sees a key that a fixture
        set with monkeypatch.setenv after the cassette was opened.
        """
        key = (rules, self._environment.key(), learned)
        scrubber = self._scrubbers.get(key)
        if scrubber is None:
            from pytest_cassettes.scrub import Scrubber

            try:
                scrubber = Scrubber(rules, learned=learned)
            except (ValueError, re.error) as exc:
                raise pytest.UsageError(f"{where}: scrubbing rules: {exc}") from None
            if len(self._scrubbers) > 64:
                self._scrubbers.clear()
            self._scrubbers[key] = scrubber
        return scrubber

    def guard(
        self,
        item: pytest.Item,
        settings: Settings | None,
        problems: list[CassetteError],
        block: tuple[bool, Sequence[str]] = (False, ()),
        recording: bool = False,
    ) -> NetworkGuard | None:
        """The guard of a replay-only test, or of a test without a cassette whose `block` says
        (--block-network, ini cassette_block_network, pytest-recording's block_network marker)
        to block, with its allowed hosts. --block-network also guards cassette tests that may
        not record, but not those that may: recording needs the network (as in
        pytest-recording)."""
        mode: str | None
        early = item.stash.get(TEST_GUARD, None)
        if early is not None and settings is not None and settings.replay_only:
            return early  # the run's guard, on since the test's setup began
        if settings is None:
            if not block[0]:
                return None
            allow, mode = parse_allow_hosts(block[1], item.nodeid), None
            reason = "--block-network blocks real connections in every test"
        elif settings.replay_only or (self.blocks_network(settings) and not recording):
            # A replay-only run (CI, --record-mode=none) lets through only the hosts the run
            # allows (ini, flags), whatever a marker or cassette_config says.
            hosts = (
                self.ini_options.get("allow_hosts", [])
                if self.run.replay_only
                else settings.strings("allow_hosts")
            )
            allow = parse_allow_hosts(hosts, item.nodeid)
            mode = settings.record_mode
            reason = settings.mode_source
            if not settings.replay_only:
                mode, reason = None, "block_network blocks real connections in this test"
        else:
            return None
        return self._guard(item, allow, mode, reason, problems, settings is None)

    def test_guard(self, item: pytest.Item, problems: list[CassetteError]) -> NetworkGuard:
        """The guard of a cassette test in a replay-only run, entered before the test's first
        fixture and left when its cassette closes: a fixture wider than the test that pytest
        sets up for it (module-scoped) may not reach the network either, and its cassette is
        not open yet. Each fixture set up meanwhile is guarded again while it is torn down,
        whenever that is (see `fixture_set_up`)."""
        allow = parse_allow_hosts(self.ini_options.get("allow_hosts", []), item.nodeid)
        guard = self._guard(item, allow, self.run.mode, self.run.source, problems, False)
        item.stash[TEST_GUARD] = guard
        self._guarded.append(item)
        if not self._lingering and not self._guards_ended:
            # Test after test: the guard's patches stay in place from one test's guard to the
            # next, doing nothing between them, until a test without one starts (`unguarded`)
            # or the run ends.
            self._lingering = True
            network.linger(True)
        return guard

    def unguarded(self) -> None:
        """A test without the run's guard starts: the originals back (see test_guard)."""
        if self._lingering:
            network.release()

    def fixture_set_up(self, fixturedef: Any) -> None:
        """A fixture was set up: if under a test's replay-only guard (for the test, or for a
        wider scope on its behalf), its teardown will be too, whichever test is then running
        (a module fixture's goes with the module's last test). A finalizer added now runs
        before the fixture's own; `fixture_torn_down` leaves the guard after them."""
        if not self._guarded:
            return
        guard = self._guarded[-1].stash.get(TEST_GUARD, None)
        if guard is None or not guard.active:
            return

        def enter() -> None:
            if self._guards_ended:
                return  # torn down after the run ended (pytest.exit, ^C): as the README says
            guard.__enter__()
            self._teardown_guards.setdefault(id(fixturedef), []).append(guard)
            self._fixtures_tearing_down.append(fixturedef.argname)

        fixturedef.addfinalizer(enter)

    def fixture_torn_down(self, fixturedef: Any) -> None:
        guards = self._teardown_guards.get(id(fixturedef))
        if guards:
            guards.pop().__exit__(None, None, None)
            self._fixtures_tearing_down.pop()
            if not guards:
                del self._teardown_guards[id(fixturedef)]

    def leave_test_guard(self, item: pytest.Item) -> None:
        """The test's replay-only guard goes: its cassette closed, or its teardown ended."""
        guard = item.stash.get(TEST_GUARD, None)
        if guard is not None:
            del item.stash[TEST_GUARD]
            self._guarded.remove(item)
            guard.__exit__(None, None, None)

    def leave_test_guards(self) -> None:
        """The end of the run: a test cut short (pytest.exit, ^C) skips its teardown, and the
        fixtures still set up are torn down after this, unguarded."""
        self._guards_ended = True
        for item in list(self._guarded):
            self.leave_test_guard(item)
        for guards in self._teardown_guards.values():
            for guard in guards:
                guard.__exit__(None, None, None)
        self._teardown_guards.clear()
        self._fixtures_tearing_down.clear()
        forget_outliving()
        if self._lingering:
            self._lingering = False
            network.linger(False)

    def _guard(
        self,
        item: pytest.Item,
        allow: AllowList,
        mode: str | None,
        reason: str,
        problems: list[CassetteError],
        without_cassette: bool,
    ) -> NetworkGuard:
        marked = compat.is_active(item.config) and item.get_closest_marker("block_network")
        legacy = compat.is_active(item.config) and bool(
            marked or compat.uses_vcr(item) or item.config.getoption("block_network", None)
        )
        # A test that asks for the block itself (pytest-recording's marker, outside a
        # replay-only run) may expect it: the error is raised, not also forced on the test.
        forced = not (without_cassette and marked)

        made: list[NetworkGuard] = []

        def make_error(host: str, port: int | None, child: str | None) -> BaseException:
            test = item.nodeid
            # A thread the test started, still running after its guard went: it fails no
            # test (the one running now has nothing to do with it); the run's count says it.
            after = child is None and bool(made) and not made[0].active
            if after:
                test = f"a thread {item.nodeid} started, after its end"
            # A child's block is told when the guard goes or the call ends, not when it
            # happened: which fixture was being torn down then is not known.
            elif self._fixtures_tearing_down and child is None:
                # A fixture set up under this guard, torn down now, maybe in a later test's
                # teardown (a module fixture's goes with the module's last test).
                test = f"the teardown of fixture {self._fixtures_tearing_down[-1]!r}"
                if self.tearing_down is not None and self.tearing_down_test != item.nodeid:
                    test += f" (set up for {item.nodeid}) in {self.tearing_down_test}"
                else:
                    test += f" of {item.nodeid}"
            active = self.router.active
            error = NetworkBlockedError(
                host=host,
                port=port,
                test=test,
                mode=mode,
                reason=reason,
                legacy=legacy,
                outside_cassette=not without_cassette and active is None,
                past_cassette=not without_cassette and active is not None,
                dropped_by_scrub=active is not None
                and host.strip("[]").lower() in active.dropped_hosts,
                child=child,
            )
            if forced and not after:
                (problems if self.tearing_down is None else self.tearing_down).append(error)
            self.report.stats.network_blocked += 1
            self._blocked_here += 1
            return error

        # Carried into the Python child processes started under it (children.py).
        child = children.ChildSpec(allow.entries, item.nodeid, mode, reason, legacy)
        # A replay-only run's test: its threads still running after it stay guarded by it.
        made.append(NetworkGuard(allow, make_error, child, keep_threads=self.run.replay_only))
        return made[0]

    @contextlib.contextmanager
    def active(self, cassette: Cassette, guard: NetworkGuard | None) -> Iterator[Cassette]:
        """Route HTTP to this cassette while the test runs, behind the network guard if any;
        then to the innermost one still open (a test's, around a `use_cassette` block), if
        any: one closed meanwhile is never routed to again."""
        self.patches.switch_on()
        self._routed.append(cassette)
        self.router.active = cassette
        try:
            with guard if guard is not None else contextlib.nullcontext():
                yield cassette
        finally:
            routed = self._routed
            del routed[len(routed) - 1 - routed[::-1].index(cassette)]
            self.router.active = routed[-1] if routed else None
            if not routed:
                self.patches.release_connections()

    def close(
        self, cassette: Cassette, settings: Settings, failed: bool, strict_failed: bool = False
    ) -> None:
        """Save what the test recorded (unless it failed) and report what happened.

        A failed test's unused interactions are not counted (it may have stopped before its
        requests), unless it failed for them (--cassette-strict)."""
        stats = self.report.stats
        done = Stats()  # what the attempt did (undone if the test runs again), but its writes
        played = done.interactions_played = cassette.play_count
        done.cassettes_replayed = int(played > 0)
        unused = [] if failed and not strict_failed else unused_requests(cassette)
        done.interactions_unused = len(unused)
        unanswered = [] if failed else describe(cassette.unanswered)
        done.requests_unanswered = len(unanswered)
        written = 0
        stopped: BaseException | None = None
        if settings.replay_only:
            pass  # a replay-only run writes nothing (not even drop_unused_requests' removals)
        elif failed and not settings.flag("record_on_exception"):
            done.not_saved = len(cassette.recorded)
        else:
            drop_unused = settings.flag("drop_unused_requests")
            if drop_unused and cassette.sharing > 1:
                # Other tests' recordings are unplayed here too: dropping them lost them. Told
                # where it keeps something older than the run (not where the cassette was
                # first recorded in this run, nor rewritten afresh, nor rewritten by a run of
                # the whole suite, whose end drops what is left of the old: finish_rewrites).
                drop_unused = False
                shown = self.shown(cassette.path)
                if (
                    (cassette.own_exists or cassette.replaces)
                    and shown not in self.report.rewriting
                    and cassette.drops_unused()
                ):
                    self.report.drop_skipped.add(shown)
            named_once = settings.named and settings.record_mode == "once"
            if named_once and cassette.recorded and not cassette.own_exists:
                # The tests naming it record it together (see open): marked before the file
                # is written, so that a test (another worker) finding the file finds the mark.
                runmarks.mark_written(cassette.path, self.run_id)
            try:
                written = cassette.save(drop_unused=drop_unused)
            except BaseException as error:  # a full disk, pytest-timeout's signal: reported,
                stopped, failed = error, True  # then raised (the test errors at teardown)
                done.not_saved = len(cassette.recorded)
        stats.add(done)
        if written:
            stats.cassettes_recorded += 1
            stats.interactions_recorded += written
            stats.values_scrubbed += cassette.scrubbed
        shown = self.shown(cassette.path)
        if cassette.secrets_kept:
            self.report.old_secrets[shown] = cassette.secrets_kept
        if written and not cassette.own_exists:
            flat = paths.pytest_vcr_cassette(cassette.path, cassette.context.nodeid)
            if flat is not None:  # a suite moved from pytest-vcr without its layout
                self.report.beside_pytest_vcr[shown] = self.shown(flat)
        shared = [self.shown(p) for p in cassette.shared_paths]
        self.report.used.update(used_key(p) for p in (shown, *shared))
        nodeid = cassette.context.nodeid
        attempt = self._attempt if nodeid == self._attempt.nodeid else None
        record = TestRecord(
            nodeid=nodeid,
            cassette=shown,
            shared=shared,
            mode=cassette.record_mode,
            played=played,
            recorded=written,
            unused=unused,
            saved=bool(written),
            strict=cassette.strict,
            unanswered=unanswered,
            failed=failed,
            attempts=attempt.number if attempt else 1,
        )
        self.report.tests.append(record)
        if attempt:
            attempt.done.append((record, done))
        if stopped is not None:
            raise stopped

    # --- the whole collection: orphans ---------------------------------------------------

    def shown(self, path: Path) -> str:
        """A path as the report shows it: relative to the rootdir when inside it."""
        text, root = os.path.normpath(path), self._root
        return text[len(root) + 1 :] if text.startswith(root + os.sep) else text

    def default_dir(self, test_file: Path) -> Path:
        """The cassette dir of a test file: ini `cassette_dir`, or `cassettes/` beside it."""
        configured = self.config.getini("cassette_dir")
        if configured:
            return Path(self.config.rootpath, configured)
        return test_file.parent / "cassettes"

    def collected(self, items: list[pytest.Item]) -> None:
        """Note the cassette files the collected tests use and those their modules' dirs hold.

        Uses are recorded without the file's suffix (a `serializer="json"` test uses a .json
        file) and for pytest-recording's `vcr` tests in its layout, so that no cassette of a
        collected test can be taken for an orphan, even one the run never reaches."""
        from pytest_cassettes import compat

        modules: set[Path] = set()
        for item in items:
            module = Path(item.path)
            modules.add(module)
            # A `vcr` test is ours (compat) or, when it is loaded, pytest-recording's: its
            # cassettes are in use either way.
            vcr_test = item.get_closest_marker(compat.VCR_MARKER) is not None
            ours = compat.is_active(self.config)
            if not vcr_test and (
                item.get_closest_marker(MARKER) is None
                and "cassette" not in getattr(item, "fixturenames", ())
            ):
                continue  # no cassette
            fixtures = (LEGACY_FIXTURES if ours else RECORDING_FIXTURES) if vcr_test else FIXTURES
            if not own_fixtures(item, fixtures):
                # Its paths are known once it opens its cassettes (see Report.unknown); those
                # of pytest-recording's tests, never.
                self.report.unknown.add(item.nodeid)
            cassette_dir = self.default_dir(module)
            used: list[Path] = []
            if vcr_test:
                module_dir = (cassette_dir if ours else module.parent / "cassettes") / module.stem
                legacy = compat.LegacyCassettes(
                    layers=[],
                    # A marker's cassette_library_dir is known now (vcr_config's: see above).
                    directory=compat.library_dir(item, {}) or module_dir,
                    extra_directory=module_dir,
                    default_name=compat.default_cassette_name(item),
                    extra=tuple(
                        str(n)
                        for m in compat.vcr_markers(item)
                        for n in m.args
                        if isinstance(n, str)
                    ),
                )
                own, extra = legacy.paths(None)
                used += [own, *extra]
            else:
                own_names = marker_names(item)
                names = [*own_names, *shared_option({}, marker_layers(item), item.nodeid)]
                used += [paths.named_cassette(n, cassette_dir) for n in names]
                if not own_names:
                    used.append(paths.default_cassette(item, cassette_dir))
            self.report.used.update(used_key(self.shown(p)) for p in used)
        # The tests -k or -m leave out name them too: they share the file all the same. (Those
        # of modules the run does not collect, or of a module's tests a node id leaves out, are
        # not known: the run is narrowed, see open.)
        every = {id(item): item for item in [*self.left_out, *items]}
        named = {key: self.shared_key(item) for key, item in every.items() if names_own(item)}
        skipped = (item for item in items if id(item) in named and skipped_by_marker(item))
        not_run = [*self.left_out, *skipped]
        self.left_out_own = {named[id(item)] for item in not_run if id(item) in named}
        self.left_out = []
        recording_into: dict[str, list[str]] = {}
        for key, shared in named.items():
            recording_into.setdefault(shared, []).append(every[key].nodeid)
        self.named_own = recording_into
        self.shared_own = {key: tests for key, tests in recording_into.items() if len(tests) > 1}
        modes: dict[str, set[object]] = {}
        for key, shared in named.items():
            if shared in self.shared_own and not self.tests_rewrite:
                layers = marker_layers(every[key])
                mode = next(
                    (m["record_mode"] for m in reversed(layers) if "record_mode" in m), None
                )
                modes.setdefault(shared, set()).add(mode)
        self.markers_rewrite = {key for key, found in modes.items() if found == {"rewrite"}}
        # Those of the modules a narrower run does not collect may name its cassettes too.
        self.report.narrowed = self.ignored_modules or not whole_tree(self.config)
        first_names = {  # without their suffix: a serializer's chooses it (`flow` is flow.json)
            key: used_key(
                os.path.normpath(
                    paths.named_cassette(marker_names(item)[0], self.default_dir(item.path))
                )
            )
            for key, item in every.items()
            if key in named
            and not named[key].startswith("name:")  # in a folder the test's fixture chooses
        }
        self.named_paths = {}
        for key, name in first_names.items():
            self.named_paths.setdefault(name, []).append(every[key].nodeid)
        self.named_by_name = {}
        for shared, tests in recording_into.items():
            if shared.startswith("name:"):
                stem = os.path.normpath(shared[len("name:") :])
                self.named_by_name.setdefault(os.path.basename(stem), []).append((stem, tests))
        self.left_out_paths = {first_names[id(i)] for i in not_run if id(i) in first_names}
        if self.config.getini("cassette_dir") and self.report.narrowed:
            # One cassette dir for the project: a module of the same name elsewhere, not
            # collected, shares `<cassette_dir>/<stem>/`.
            self.report.complete = False
        for module in modules:
            folder = self.default_dir(module) / module.stem
            if folder.is_dir():
                files = [
                    p
                    for p in folder.iterdir()
                    if p.suffix in (".yaml", ".yml", ".json") and p.is_file()  # no folder
                ]
                self.report.candidates.update(self.shown(p) for p in files)

    def ignored(self, path: Path) -> None:
        """pytest ignores this path (a conftest's `collect_ignore`, `--ignore`): if it is a
        test module, or a folder holding one, its tests are not known, in a run of the whole
        suite too (a conftest may ignore a module on some Python versions only). A folder
        pytest never goes into (`norecursedirs`, a virtualenv) is no part of the suite."""
        if self.ignored_modules or path.name == "__pycache__":  # known, or pytest's own skip
            return
        modules = self.config.getini("python_files")
        skipped = self.config.getini("norecursedirs")
        if path.suffix == ".py" and paths.matches_any(modules, path):
            self.ignored_modules = True
        elif (
            path.is_dir() and not paths.matches_any(skipped, path) and not paths.is_virtualenv(path)
        ):
            for top, folders, files in os.walk(path):
                folders[:] = [
                    name
                    for name in folders
                    if name != "__pycache__"
                    and not paths.matches_any(skipped, Path(top, name))
                    and not paths.is_virtualenv(Path(top, name))
                ]
                if any(paths.matches_any(modules, Path(top, name)) for name in files):
                    self.ignored_modules = True
                    return

    def note_blocked(self, failed: bool) -> None:
        """The connections blocked since the last test phase's report belong to this one (a
        test's setup, call or teardown): counted apart if it failed, where allowing a host
        may be the fix. Where it passed, the block was caught (pytest-recording's
        `block_network` marker with `pytest.raises(RuntimeError)`, or a library)."""
        if failed:
            self.report.stats.network_blocked_in_failed_tests += (
                self._blocked_here - self._blocked_told
            )
        self._blocked_told = self._blocked_here

    def attempt_starts(self, nodeid: str) -> None:
        """A test's attempt begins. The same test again (pytest-rerunfailures runs a failed one
        again): the attempt before is superseded, its entries and counts dropped (what it did
        not save is no loss, this attempt records anew; what it wrote stays counted)."""
        attempt = self._attempt
        if nodeid != attempt.nodeid:
            self._attempt = Attempt(nodeid)
            return
        superseded = {id(record) for record, _ in attempt.done}
        if superseded:
            self.report.tests[:] = [t for t in self.report.tests if id(t) not in superseded]
        for _, done in attempt.done:
            self.report.stats.add(done, -1)
        attempt.done.clear()
        attempt.number += 1

    def note_vcrpy_cassettes(self) -> None:
        """The files vcrpy's own use_cassette opened in this run are in use (a fixture calling
        it: nothing else tells they belong to a test). Those it wrote in this run are scanned:
        vcrpy scrubs nothing, and a pytest-recording project's login fixture calls it."""
        from pytest_cassettes import libraries

        self.report.used.update(
            used_key(self.shown(Path(path))) for path in libraries.vcrpy_cassettes
        )
        for path, opened in sorted(libraries.vcrpy_cassettes.items()):
            found = _secrets_written(path, opened)
            if found:
                self.report.unscrubbed[self.shown(Path(path))] = found
        libraries.vcrpy_cassettes.clear()  # a later in-process run starts afresh

    def finish_rewrites(self) -> None:
        """The end of a rewrite of the whole suite (its controller under xdist): each cassette
        several tests name, replaced in part (see open), loses what is left of its old
        recording if every test naming it passed (its recording was saved), no use_cassette
        block of it failed, and every collected test ran (a test the run left out or stopped
        before may have a block of it, which nothing names before it runs); it keeps it
        otherwise, and the summary says why."""
        if not self.report.rewriting:
            return
        from pytest_cassettes import storage

        # The run's records by the base name of their cassettes: one pass over them, not one
        # a cassette (300 named cassettes: 90,000 records looked at, 0.15 s).
        by_name: dict[str, list[TestRecord]] = {}
        for record in self.report.tests:
            by_name.setdefault(os.path.basename(record.cassette), []).append(record)
        for path, tests in sorted(self.report.rewriting.items()):
            target = Path(self.config.rootpath, path)
            not_passed = self._not_passed(path, tests, by_name.get(os.path.basename(path), []))
            try:
                if not not_passed and self.report.complete:
                    storage.drop_old(target, self.run_id, self.vcr)
                    continue
                if not storage.old_left(target, self.run_id):
                    continue  # first recorded in the run, or all of it sent again: none kept
            except LookupError as exc:  # see storage.drop_old
                not_passed = [f"{exc} (register it in the rootdir's conftest.py)"]
            except Exception as exc:  # ours (a lock, the disk) or a persister's own error
                not_passed = [f"{type(exc).__name__}: {exc}"]
            self.report.rewrite_kept_old[path] = not_passed

    def _not_passed(self, path: str, tests: list[str], records: list[TestRecord]) -> list[str]:
        """Those of the tests naming the cassette first that did not save what they recorded
        into it: they failed, or their report never came (not run, a worker that crashed), or
        they replayed it in another mode (a marker's, where the ini says rewrite); and the
        tests whose use_cassette block of it failed or replayed. One whose own `cassette_dir`
        put the name in another folder (tests naming it count by the name, see collected)
        records there: not into this one. `records`: the run's records of cassettes of the
        path's base name."""
        failed: dict[str, bool] = {}
        elsewhere = set()
        for test in records:
            if test.cassette == path:
                kept = test.failed or test.mode != "rewrite"
                failed[test.nodeid] = failed.get(test.nodeid, False) or kept
            else:
                elsewhere.add(test.nodeid)
        blocks = [test for test, failing in failed.items() if failing and test not in tests]
        return [test for test in tests if failed.get(test, test not in elsewhere)] + blocks

    def prune(self) -> None:
        """Delete the orphan cassettes (complete runs only)."""
        from pytest_cassettes import storage

        if not self.report.orphans_known:
            self.report.prune_refused = True
            return
        self._use_storage()
        for orphan in self.report.orphans:
            try:
                storage.delete(Path(self.config.rootpath, orphan))
            except LockFolderError as exc:  # no temp directory: none can be deleted
                self.report.prune_failed = str(exc)
                return
            except OSError as exc:  # a read-only folder, ...: told, and the run ends cleanly
                why = exc.strerror or type(exc).__name__
                self.report.prune_failed = f"cannot delete {orphan} ({why})"
                return
            self.report.pruned.append(orphan)


def noting_drops(options: dict[str, Any], dropped: set[str]) -> dict[str, Any]:
    """`options` with each before_record_request function wrapped to add to `dropped` the host
    of a request it returns None for (vcrpy then sends it unrecorded)."""

    def noting(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def wrapper(request: Any) -> Any:
            kept = function(request)
            if kept is None:
                dropped.add(request.host.strip("[]").lower())
            return kept

        return wrapper

    names = [name for name in ("before_record_request", "before_record") if options.get(name)]
    if not names:
        return options
    wrapped = dict(options)
    for name in names:
        functions = options[name]
        many = isinstance(functions, Iterable)
        wrapped[name] = [noting(f) for f in functions] if many else noting(functions)
    return wrapped


def _secrets_written(path: str, opened: tuple[int, int, int] | None) -> int:
    """How many secrets `pytest-cassettes scan` finds in a cassette vcrpy wrote since it was
    opened with that stamp."""
    from pytest_cassettes.paths import file_stamp

    if file_stamp(path, strict=False) in (None, opened):
        return 0  # replayed: vcrpy wrote nothing (`scan` tells what old files hold)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return 0
    from pytest_cassettes.cli import scan_text
    from pytest_cassettes.scrub import Scrubber

    try:
        return len(scan_text(text, Scrubber()))
    except Exception:  # not a cassette we can read: vcrpy's or a persister's own format
        return 0


class HookScrub(Value):
    """The pytest_cassettes_scrub_* hooks as a scrub rule, equal for equal implementations."""

    __slots__ = ("argument", "caller", "impls")
    _compared = ("impls", "argument")

    def __init__(self, impls: tuple[Any, ...], argument: str, caller: Any) -> None:
        self.impls = impls
        self.argument = argument
        self.caller = caller

    @classmethod
    def of(cls, caller: Any, argument: str) -> tuple[HookScrub, ...]:
        """The rule for a hook caller, or none when no plugin implements the hook."""
        impls = tuple(caller.get_hookimpls())
        return (cls(impls, argument, caller),) if impls else ()

    def __call__(self, value: Any) -> Any:
        # Implementations mutate the object or return a new one; None means "as it is now".
        results = self.caller(**{self.argument: value})
        return results[-1] if results else value


# The fixtures that choose a test's cassettes (`shared` in cassette_config), and the modules
# whose definitions keep the default layout: ours, and pytest-recording's for its `vcr` tests.
FIXTURES = ("cassette_dir", "cassette_config")
LEGACY_FIXTURES = (*FIXTURES, "vcr_cassette_dir", "default_cassette_name", "vcr_config")
# Those choosing a `vcr` test's cassettes when pytest-recording runs it (its own layout).
RECORDING_FIXTURES = ("vcr_cassette_dir", "default_cassette_name")
OWN_FIXTURE_MODULES = frozenset(
    {"pytest_cassettes.plugin", "pytest_cassettes.recording_fixtures", "pytest_recording.plugin"}
)
_NODE_ARG = pytest.version_tuple >= (8, 1)  # getfixturedefs takes a node, not a node id
# The guard a cassette test of a replay-only run is under from its setup until its cassette
# closes (or its teardown ends, when it never opened).
TEST_GUARD: pytest.StashKey[NetworkGuard] = pytest.StashKey()


_OWN: pytest.StashKey[dict[tuple[str, ...], bool]] = pytest.StashKey()


def own_fixtures(item: pytest.Item, names: tuple[str, ...]) -> bool:
    """Whether these fixtures keep their plugin's definition for the test (OWN_FIXTURE_MODULES):
    not overridden in a conftest, module or class, nor parametrized. Asked at collection and
    again as the test starts: told once."""
    known = item.stash.setdefault(_OWN, {})
    own = known.get(names)
    if own is None:
        own = known[names] = _own_fixtures(item, names)
    return own


def _own_fixtures(item: pytest.Item, names: tuple[str, ...]) -> bool:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and any(name in callspec.params for name in names):
        return False
    try:
        for name in names:
            found = fixture_definitions(item, name)
            if not found or getattr(found[-1].func, "__module__", None) not in OWN_FIXTURE_MODULES:
                return False
    except Exception:  # a pytest without this API: assume they are not
        return False
    return True


def fixture_definitions(item: pytest.Item, name: str) -> Sequence[Any]:
    """The definitions of a fixture visible to the test, the one it gets last (pytest's
    FixtureDef objects: `func`, `argnames`); empty when there is none."""
    manager: Any = item.session._fixturemanager  # private, but there since pytest 3
    return manager.getfixturedefs(name, item if _NODE_ARG else item.nodeid) or ()


def names_own(item: pytest.Item) -> bool:
    """Whether the test's markers name the cassette it records into (not a `vcr` test's)."""
    return (
        item.get_closest_marker(MARKER) is not None
        and item.get_closest_marker(compat.VCR_MARKER) is None
        and bool(marker_names(item))
    )


def skipped_by_marker(item: pytest.Item) -> bool:
    """Whether a marker keeps the test from running: `skip`, `skipif` or `xfail(run=False)`
    without a condition or with one that holds (see _holds)."""
    runs_xfail = item.config.getoption("runxfail", False)
    for mark in item.iter_markers():
        if mark.name == "skip":
            return True
        not_run = mark.name == "xfail" and not mark.kwargs.get("run", True) and not runs_xfail
        if mark.name == "skipif" or not_run:
            conditions = mark.args or mark.kwargs.get("condition", ())
            conditions = conditions if isinstance(conditions, tuple) else (conditions,)
            if not conditions or any(_holds(item, c) for c in conditions):
                return True
    return False


def _holds(item: pytest.Item, condition: object) -> bool:
    """A marker's condition as pytest evaluates it when the test starts (a string in the
    test module's globals, with `os`, `sys`, `platform` and `config`); one that raises counts
    as true: the test errors, it does not run."""
    try:
        if not isinstance(condition, str):
            return bool(condition)
        import platform

        namespace = {"os": os, "sys": sys, "platform": platform, "config": item.config}
        for extra in item.ihook.pytest_markeval_namespace(config=item.config):
            namespace.update(extra)
        namespace.update(getattr(getattr(item, "obj", None), "__globals__", {}))
        return bool(eval(compile(condition, "<condition>", "eval"), namespace))
    except (Exception, pytest.skip.Exception, pytest.fail.Exception):  # pytest.skip() in it
        return True


def whole_tree(config: pytest.Config) -> bool:
    """Whether the run collects every module a bare `pytest` in the rootdir would (its
    `testpaths`, or the rootdir): not when the paths it was given (a file, a folder, a node id)
    or the folder it started in leave some out, nor with `--ignore` on the command line, nor
    with `--lf` (which collects only the files that failed, see last_failed_narrows)."""
    if last_failed_narrows(config):
        return False
    ignoring = ("--ignore", "--ignore-glob")  # not another plugin's --ignore-something
    if any(str(arg).partition("=")[0] in ignoring for arg in config.invocation_params.args):
        return False
    root = config.rootpath
    defaults = [
        Path(os.path.abspath(found))
        for name in config.getini("testpaths")
        for found in glob(str(root / name), recursive=True)
    ]
    start = config.invocation_params.dir
    # What the run collects: the paths given, else pytest's defaults (testpaths or the folder
    # it started in).
    given = [Path(os.path.abspath(os.path.join(start, arg))) for arg in config.args]
    return all(
        any(path == arg or arg in path.parents for arg in given) for path in defaults or [root]
    )


def last_failed_narrows(config: pytest.Config) -> bool:
    """Whether `--lf` leaves tests out: not where pytest knows no failure and `--lfnf` is
    `all` (the default), which runs every test. (`--ff` runs them all, reordered.)"""
    if not config.getoption("lf", False):
        return False
    cache = getattr(config, "cache", None)
    known = cache.get("cache/lastfailed", {}) if cache is not None else {}
    return bool(known) or config.getoption("last_failed_no_failures", "all") != "all"


def unused_requests(cassette: Cassette) -> list[str]:
    """Own interactions a replaying test never played ("METHOD URI")."""
    if cassette.record_mode not in ("none", "once", "new_episodes"):
        return []
    return describe(cassette.unused)


def parse_allow_hosts(entries: Sequence[str], where: str) -> AllowList:
    """An allow list, or a usage error naming the bad entry."""
    try:
        return AllowList.parse(entries)
    except ValueError as exc:
        raise pytest.UsageError(f"{where}: {exc}") from None


def shared_option(
    config_options: Mapping[str, Any], layers: list[dict[str, Any]], where: str
) -> list[str]:
    """The `shared=[...]` cassettes of every layer, broadest first."""
    names = [n for layer in [config_options, *layers] for n in as_list(layer.get("shared"))]
    for name in names:
        if not isinstance(name, str):
            raise pytest.UsageError(f"{where}: shared cassette names must be strings, got {name!r}")
    return names


def _merged(config_options: Mapping[str, Any], layers: list[dict[str, Any]], name: str) -> Any:
    value = config_options.get(name)
    for layer in layers:
        value = layer.get(name, value)
    return value
