"""What the cassettes did in a run: counters, per-test records, orphans; terminal lines and JSON.

Workers of pytest-xdist send `Report.to_wire()` through `config.workeroutput`; the controller
merges them with `Report.merge()` and reports once.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pytest_cassettes.errors import quoted


# Written by hand, not as dataclasses (see values.py). Never compared.
class Stats:
    """Counts of what one process (or, merged, the whole run) did with cassettes."""

    __slots__ = _STATS = (
        "cassettes_replayed",
        "cassettes_recorded",
        "interactions_played",
        "interactions_recorded",
        "interactions_unused",
        "values_scrubbed",
        "network_blocked",
        "network_blocked_in_failed_tests",  # the others were in tests that passed
        "not_saved",  # recordings of failed tests, discarded
        "requests_unanswered",  # sent to record by tests that passed, no response recorded
    )

    cassettes_replayed: int
    cassettes_recorded: int
    interactions_played: int
    interactions_recorded: int
    interactions_unused: int
    values_scrubbed: int
    network_blocked: int
    network_blocked_in_failed_tests: int
    not_saved: int
    requests_unanswered: int

    def __init__(self, **counts: int) -> None:
        for name in self._STATS:
            setattr(self, name, counts.pop(name, 0))
        if counts:
            raise TypeError(f"Stats has no count {sorted(counts)[0]!r}")

    def add(self, other: Stats, sign: int = 1) -> None:
        """Add another process's counts (or take them away: sign -1)."""
        for name in self._STATS:
            setattr(self, name, getattr(self, name) + sign * getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self._STATS}


class TestRecord:
    """One cassette test: where its cassettes are and what it did with them."""

    __slots__ = _FIELDS = (
        "nodeid",
        "cassette",
        "shared",
        "mode",
        "played",
        "recorded",
        "unused",  # "METHOD URI" of own interactions never played
        "saved",
        "strict",  # unused interactions fail it (--cassette-strict, the marker's)
        "unanswered",  # "METHOD URI" sent, no response
        "failed",  # the test failed (its setup or call)
        "attempts",  # runs of the test (pytest-rerunfailures): this entry is the last one's
    )

    def __init__(
        self,
        nodeid: str,
        cassette: str,
        shared: list[str],
        mode: str,
        played: int,
        recorded: int,
        unused: list[str],
        saved: bool,
        strict: bool = False,
        unanswered: list[str] | None = None,
        failed: bool = False,
        attempts: int = 1,
    ) -> None:
        self.nodeid = nodeid
        self.cassette = cassette
        self.shared = shared
        self.mode = mode
        self.played = played
        self.recorded = recorded
        self.unused = unused
        self.saved = saved
        self.strict = strict
        self.unanswered = [] if unanswered is None else unanswered
        self.failed = failed
        self.attempts = attempts

    def as_dict(self) -> dict[str, Any]:
        """Plain data (lists copied) for the wire and the JSON report."""
        data = {name: getattr(self, name) for name in self._FIELDS}
        for name in ("shared", "unused", "unanswered"):
            data[name] = list(data[name])
        return data


class Report:
    """The run's report, in one process or merged from all workers."""

    def __init__(self) -> None:
        self.stats: Stats = Stats()
        self.tests: list[TestRecord] = []
        self.used: set[str] = set()  # used_key() of files some collected test uses
        self.candidates: set[str] = set()  # files in the collected modules' dirs
        self.complete: bool = True  # every collected test was selected: orphans can be told
        # Collected tests whose cassette paths fixtures of their own decide (an overridden
        # cassette_dir or cassette_config): known only once the test opened its cassette.
        self.unknown: set[str] = set()
        self.pruned: list[str] = []
        self.prune_refused = False  # --cassette-prune asked when orphans could not be told
        # Why --cassette-prune could not delete (the lock folder, the file).
        self.prune_failed: str = ""
        # Files vcrpy's own use_cassette wrote in the run, unscrubbed: path -> secrets found.
        self.unscrubbed: dict[str, int] = {}
        # Cassettes a save wrote with secrets in interactions recorded before: path -> values.
        self.old_secrets: dict[str, int] = {}
        # Cassettes recorded anew beside pytest-vcr's file for the test: path -> that file.
        self.beside_pytest_vcr: dict[str, str] = {}
        # Cassettes several tests share whose drop_unused_requests was not applied.
        self.drop_skipped: set[str] = set()
        # The run collected fewer modules than the whole suite (whole_tree): the tests of the
        # others, which may name its cassettes too, are not known.
        self.narrowed: bool = False
        # Cassettes a rewrite replaced in part (Session.open): what its tests sent (a narrowed
        # run, or one that deselected or skipped tests naming them).
        self.rewritten_in_part: set[str] = set()
        # Cassettes markers name that a marker or a use_cassette block saying
        # record_mode="rewrite" replaced in part, in a run whose tests do not all rewrite
        # (Session.open).
        self.own_mode_in_part: set[str] = set()
        # Cassettes markers name that a rewrite of the whole suite replaced in part: path -> the
        # tests naming them; what is left of the old recording goes at the run's end if they all
        # passed (Session.finish_rewrites), else it stays: path -> the tests that did not pass.
        self.rewriting: dict[str, list[str]] = {}
        self.rewrite_kept_old: dict[str, list[str]] = {}
        # Cassettes the markers of several collected tests name first: path -> how many tests
        # (one more in a narrowed run).
        self.sharing: dict[str, int] = {}
        # Strict cassettes several tests share: path -> what none of them played (settle_shared).
        self.strict_unplayed: dict[str, list[str]] = {}

    @property
    def orphans_known(self) -> bool:
        """Whether every collected test's cassettes are known: the whole collection was
        selected and ran to the end, and each test whose own fixtures choose its cassettes
        opened them."""
        return self.complete and self.unknown <= {t.nodeid for t in self.tests}

    @property
    def prune_failure(self) -> str | None:
        """Why --cassette-prune deleted nothing (or no more), None where it did not fail."""
        if self.prune_refused:
            return (
                "orphans are told only in a run of the whole collection that reached its end, "
                "where every test that chooses its cassettes with fixtures of its own "
                "(cassette_dir, cassette_config) opened them."
            )
        return self.prune_failed or None

    @property
    def orphans(self) -> list[str]:
        """Cassette files of collected modules that no test uses (only when known)."""
        if not self.orphans_known:
            return []
        return sorted(c for c in self.candidates if used_key(c) not in self.used)

    def to_wire(self) -> dict[str, Any]:
        """Plain data for execnet (xdist's channel)."""
        return {
            "stats": self.stats.as_dict(),
            "tests": [t.as_dict() for t in self.tests],
            "used": sorted(self.used),
            "candidates": sorted(self.candidates),
            "complete": self.complete,
            "unknown": sorted(self.unknown),
            "unscrubbed": self.unscrubbed,
            "old_secrets": self.old_secrets,
            "beside_pytest_vcr": self.beside_pytest_vcr,
            "drop_skipped": sorted(self.drop_skipped),
            "narrowed": self.narrowed,
            "rewritten_in_part": sorted(self.rewritten_in_part),
            "own_mode_in_part": sorted(self.own_mode_in_part),
            "rewriting": self.rewriting,
            "sharing": self.sharing,
        }

    def merge(self, wire: dict[str, Any]) -> None:
        """Add a worker's report."""
        self.stats.add(Stats(**wire["stats"]))
        self.tests.extend(TestRecord(**t) for t in wire["tests"])
        self.used.update(wire["used"])
        self.candidates.update(wire["candidates"])
        self.complete = self.complete and wire["complete"]
        self.unknown.update(wire["unknown"])
        self.unscrubbed.update(wire.get("unscrubbed", {}))
        self.old_secrets.update(wire.get("old_secrets", {}))
        self.beside_pytest_vcr.update(wire.get("beside_pytest_vcr", {}))
        self.drop_skipped.update(wire.get("drop_skipped", ()))
        self.narrowed = self.narrowed or wire.get("narrowed", False)
        self.rewritten_in_part.update(wire.get("rewritten_in_part", ()))
        self.own_mode_in_part.update(wire.get("own_mode_in_part", ()))
        for path, tests in wire.get("rewriting", {}).items():  # a worker's blocks, its tests
            known = self.rewriting.setdefault(path, [])
            known += [test for test in tests if test not in known]
        self.sharing.update(wire.get("sharing", {}))

    def settle_shared(self) -> None:
        """Count a cassette several tests of the run used (a name their markers share) once:
        an interaction of it is unused only when none of them played it. Each such test's
        `unused` keeps those, and the total counts them once per cassette, not once a test
        (each test left the others' recordings unplayed, which no re-recording drops). One
        whose markers' tests did not all run (-k, --lf, a skip) has none: the others'
        interactions are not known to be unused (re-recording would drop them)."""
        by_cassette: dict[str, list[TestRecord]] = {}
        for test in self.tests:
            by_cassette.setdefault(test.cassette, []).append(test)
        total = 0
        for path, tests in by_cassette.items():
            common = Counter(tests[0].unused)
            for test in tests[1:]:
                common &= Counter(test.unused)
            sharing = self.sharing.get(path, 1)
            if sharing > len({test.nodeid for test in tests}):
                common.clear()
            if len(tests) > 1 or sharing > 1:
                for test in tests:
                    test.unused = list(common.elements())
                if common and sharing > 1 and any(test.strict for test in tests):
                    self.strict_unplayed[path] = sorted(common.elements())
            total += sum(common.values())
        self.stats.interactions_unused = total

    def to_json(self) -> str:
        """The report for CI: per test, totals, orphans."""
        document = {
            "version": 1,
            "totals": {**self.stats.as_dict(), "orphan_cassettes": len(self.orphans)},
            "tests": [t.as_dict() for t in sorted(self.tests, key=lambda t: t.nodeid)],
            "orphans": self.orphans,
            "orphans_known": self.orphans_known,
            "pruned": self.pruned,
            "prune_failed": self.prune_failure,
            "unscrubbed_vcrpy_cassettes": self.unscrubbed,
            "cassettes_with_old_secrets": self.old_secrets,
            "recorded_beside_pytest_vcr_cassettes": self.beside_pytest_vcr,
            "drop_unused_not_applied": sorted(self.drop_skipped),
            "rewritten_in_part": sorted(self.rewritten_in_part | self.own_mode_in_part),
            "rewrite_kept_old": self.rewrite_kept_old,
            "strict_shared_unplayed": self.strict_unplayed,
        }
        return json.dumps(document, indent=2, sort_keys=True) + "\n"


def used_key(path: str) -> str:
    """A cassette path without its suffix: a test uses `x.yaml` or `x.json` alike."""
    return os.path.splitext(path)[0]


def plural(count: int, word: str) -> str:
    """`1 cassette`, `2 cassettes`."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def lines(
    report: Report, verbose: bool = False, argument: Callable[[str], str] = quoted
) -> Iterator[str]:
    """The terminal summary: what happened, then what to do next. Nothing when nothing did.
    `argument`: a node id's file as the pytest commands it prints take it."""
    stats = report.stats
    orphans = [path for path in report.orphans if path not in report.pruned]
    if not (
        report.tests
        or stats.network_blocked
        or orphans
        or report.pruned
        or report.prune_refused
        or report.prune_failed
        or report.unscrubbed
        or report.old_secrets
        or report.drop_skipped
        or report.rewritten_in_part
        or report.own_mode_in_part
        or report.rewrite_kept_old
        or report.strict_unplayed
        or report.beside_pytest_vcr
    ):
        return
    yield (
        f"{plural(stats.cassettes_replayed, 'cassette')} replayed "
        f"({plural(stats.interactions_played, 'interaction')}), "
        f"{plural(stats.cassettes_recorded, 'cassette')} recorded "
        f"({plural(stats.interactions_recorded, 'new interaction')}), "
        f"{plural(stats.values_scrubbed, 'secret value')} scrubbed"
    )
    if stats.interactions_unused:
        unused_tests = [t for t in report.tests if t.unused]
        lenient = not all(t.strict for t in unused_tests)
        yield (
            f"{plural(stats.interactions_unused, 'recorded interaction')} never played, in "
            f"{plural(len(unused_tests), 'test')}: re-record them with --record-mode=rewrite "
            "to drop the unused ones"
            + (", or fail such tests with --cassette-strict." if lenient else ".")
        )
        if verbose:
            for test in sorted(unused_tests, key=lambda t: t.nodeid):
                yield f"  {test.nodeid}: {', '.join(test.unused)}"
    if stats.requests_unanswered:
        unanswered = sorted((t for t in report.tests if t.unanswered), key=lambda t: t.nodeid)
        yield (
            f"{plural(stats.requests_unanswered, 'request')} sent to record got no response "
            f"(a timeout, a connection error), in {plural(len(unanswered), 'test')}: a cassette "
            "holds responses only, so a replay cannot fail that way (the request is unmatched, "
            "or gets a later recording of it): test such errors without a cassette."
        )
        if verbose:
            for test in unanswered:
                yield f"  {test.nodeid}: {', '.join(test.unanswered)}"
    if orphans:
        yield (
            f"{plural(len(orphans), 'orphan cassette')} (no collected test uses them): "
            "delete them with --cassette-prune."
        )
        if verbose:
            yield from (f"  {path}" for path in orphans)
    if report.pruned:
        yield f"pruned {plural(len(report.pruned), 'orphan cassette')}:"
        yield from (f"  {path}" for path in report.pruned)
    failure = report.prune_failure
    if failure:
        first, *rest = failure.splitlines()
        yield f"--cassette-prune deleted {'no more' if report.pruned else 'nothing'}: {first}"
        yield from rest
    if report.unscrubbed:
        yield (
            f"{plural(len(report.unscrubbed), 'cassette')} written by vcrpy's own use_cassette "
            f"(not scrubbed) {'holds' if len(report.unscrubbed) == 1 else 'hold'} secrets: "
            "record with pytest_cassettes.use_cassette(request, ...) instead (see "
            "`pytest-cassettes scan`):"
        )
        for path, found in sorted(report.unscrubbed.items()):
            yield f"  {path}: {plural(found, 'secret')}"
    if report.old_secrets:
        yield (
            f"{plural(len(report.old_secrets), 'cassette')} written in this run "
            f"{'holds' if len(report.old_secrets) == 1 else 'hold'} secrets in interactions "
            "recorded before, unscrubbed (by vcrpy or pytest-recording): re-record "
            f"{'it' if len(report.old_secrets) == 1 else 'them'} with --record-mode=rewrite:"
        )
        for path, found in sorted(report.old_secrets.items()):
            yield f"  {path}: {plural(found, 'secret value')}"
    for path, unplayed in sorted(report.strict_unplayed.items()):
        modules = sorted({t.nodeid.split("::")[0] for t in report.tests if t.cassette == path})
        yield (
            f"UnusedInteractionsError: {plural(len(unplayed), 'recorded interaction')} of "
            f"{path}, which several strict tests share, never played by any of them (the run "
            "fails): re-record it to drop them: pytest --record-mode=rewrite "
            + " ".join(map(argument, modules))
        )
        yield from (f"  {request}" for request in unplayed)
    if report.drop_skipped:
        count = len(report.drop_skipped)
        it = "it" if count == 1 else "them"
        if report.narrowed:
            yield (
                f"drop_unused_requests not applied to {plural(count, 'cassette')} named in "
                "markers: this run left test modules out (the paths it was given, --ignore, "
                f"a conftest's collect_ignore, --lf), whose tests may have recorded into {it}:"
            )
        else:
            yield (
                f"drop_unused_requests not applied to {plural(count, 'cassette')} several "
                "tests share (a test cannot tell the others' interactions from stale ones): "
                f"re-record {it} with --record-mode=rewrite to keep only what the tests send:"
            )
        for path in sorted(report.drop_skipped):
            yield f"  {path}"
    if report.rewritten_in_part:
        count = len(report.rewritten_in_part)
        yield (
            f"--record-mode=rewrite replaced in part {plural(count, 'cassette')} named in "
            "markers or use_cassette blocks: this run left out tests that may have recorded into "
            f"{'it' if count == 1 else 'them'} (test modules it did not collect, tests "
            "-k, -m, --deselect or --sw deselected, tests their markers skipped); what its "
            "tests sent replaced their old recording, the rest is kept. Rewrite whole in a "
            "run of the whole suite that runs them all, from the rootdir: "
            "pytest --record-mode=rewrite"
        )
        yield from (f"  {path}" for path in sorted(report.rewritten_in_part))
    if report.own_mode_in_part:
        count = len(report.own_mode_in_part)
        yield (
            f'record_mode="rewrite" of a marker or use_cassette block replaced in part '
            f"{plural(count, 'cassette')} that other tests name too: what it sent replaced its "
            "old recording; the rest (what the tests naming "
            f"{'it' if count == 1 else 'them'} recorded, and what it no longer sends) is kept. "
            "Rewrite whole with those tests, from the rootdir: pytest --record-mode=rewrite"
        )
        yield from (f"  {path}" for path in sorted(report.own_mode_in_part))
    if report.rewrite_kept_old:
        count = len(report.rewrite_kept_old)
        yield (
            f"--record-mode=rewrite kept old interactions in {plural(count, 'cassette')} "
            "named in markers or use_cassette blocks: tests naming "
            f"{'it' if count == 1 else 'them'} (or a use_cassette block of "
            f"{'it' if count == 1 else 'them'}) did not pass (they failed or skipped as they "
            "ran, or -x, --maxfail, ^C or a crashed xdist worker stopped them, or a marker's "
            "record_mode had them replay it), or the run "
            "left tests out (-k, -m, --deselect, --sw, -x) whose blocks may record into "
            f"{'it' if count == 1 else 'them'}, and may still need them; what the others sent "
            "again was replaced. Once they all pass, rewrite again to drop what no test sends "
            "any more: pytest --record-mode=rewrite"
        )
        for path, tests in sorted(report.rewrite_kept_old.items()):
            why = f"not passed: {', '.join(tests)}" if tests else "the run left tests out"
            yield f"  {path} ({why})"
    if report.beside_pytest_vcr:
        count = len(report.beside_pytest_vcr)
        yield (
            f"{plural(count, 'cassette')} recorded anew where pytest-vcr's file for the test "
            f"{'is' if count == 1 else 'are'} (its layout has no module folder): keep that "
            "layout with a `vcr_cassette_dir` override and @pytest.mark.vcr, or delete the new "
            "files and move pytest-vcr's there with `pytest-cassettes migrate --write` "
            '(README: "From pytest-vcr"):'
        )
        for path, flat in sorted(report.beside_pytest_vcr.items()):
            yield f"  {path} (pytest-vcr's: {flat})"
    if stats.not_saved:
        yield (
            f"{plural(stats.not_saved, 'recorded interaction')} of failed tests not saved "
            "(record_on_exception=True keeps them)."
        )
    if stats.network_blocked:
        # Blocks in tests that passed were caught (`pytest.raises(RuntimeError)` under
        # `block_network`, or by a library): allowing the host may defeat them.
        blocked = f"{plural(stats.network_blocked, 'network connection')} blocked"
        failed = stats.network_blocked_in_failed_tests
        if not failed:
            yield (
                f"{blocked}, none in a failed test (caught by the tests or the libraries they use)."
            )
        else:
            if failed < stats.network_blocked:
                blocked += f", {failed} in {'a failed test' if failed == 1 else 'failed tests'}"
            yield f"{blocked}: allow a host with --cassette-allow-hosts=HOST."


def describe(requests: Iterable[Any]) -> list[str]:
    """`METHOD URI` of vcrpy requests."""
    return [f"{r.method} {r.uri}" for r in requests]
