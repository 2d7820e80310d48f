"""The run's report: summary counts (equal with and without xdist), unused, strict, orphans, JSON."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import HEADER, Suite, needs_xdist, shared_pages

SUITE = """
@pytest.mark.cassette
def test_one():
    requests.get(URL + "/1")

@pytest.mark.cassette
def test_two():
    requests.get(URL + "/2a")
    requests.get(URL + "/2b")

@pytest.mark.cassette
@pytest.mark.skip(reason="flaky upstream")
def test_skipped():
    requests.get(URL + "/skipped")

def test_no_http():
    pass
"""

DROPPING = "drop_unused_requests=True"  # shared_pages' marker option
XDIST = [pytest.param([], id="no-xdist"), pytest.param(["-n", "2"], id="n2", marks=needs_xdist)]


def run(suite: Suite, *args: str) -> pytest.RunResult:
    if "-n" in args:  # xdist workers are processes: they need the server's URL in the env
        return suite.pytester.runpytest_subprocess("-p", "no:recording", *args)
    return suite.run(*args)


@pytest.mark.parametrize("xdist", XDIST)
def test_summary_counts_are_the_same_with_and_without_xdist(suite: Suite, xdist: list[str]) -> None:
    suite.write(SUITE)
    result = run(suite, *xdist)
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*- cassettes -*",
            "0 cassettes replayed (0 interactions), 2 cassettes recorded (3 new interactions), "
            "0 secret values scrubbed",
        ]
    )
    result = run(suite, "--record-mode=none", *xdist)
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(
        ["2 cassettes replayed (3 interactions), 0 cassettes recorded (0 new interactions)*"]
    )


@needs_xdist
def test_a_session_fixtures_cassette_counts_once_per_worker(suite: Suite) -> None:
    # As the README says: each worker sets the session fixture up and replays its cassette.
    suite.write(
        """
        from pytest_cassettes import use_cassette

        @pytest.fixture(scope="session")
        def login(request):
            with use_cassette(request, "login.yaml"):
                return requests.get(URL + "/login").status_code

        @pytest.mark.cassette
        @pytest.mark.parametrize("i", range(6))
        def test_it(login, i):
            requests.get(URL + f"/{i}")
        """
    )
    run(suite, "--record-mode=once").assert_outcomes(passed=6)
    result = run(suite, "--record-mode=none")
    result.stdout.fnmatch_lines(["7 cassettes replayed (7 interactions)*"])
    result = run(suite, "--record-mode=none", "-n", "2")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["8 cassettes replayed (8 interactions)*"])


def test_quiet_when_there_is_nothing_to_say(suite: Suite) -> None:
    suite.write("def test_plain():\n    pass\n")
    result = suite.run()
    result.assert_outcomes(passed=1)
    assert "cassettes -" not in result.stdout.str()


def test_unused_interactions_are_listed_and_strict_fails_the_test(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.write(SUITE)
    suite.run().assert_outcomes(passed=3, skipped=1)
    suite.write(SUITE.replace('    requests.get(URL + "/2b")\n', ""))
    result = suite.run("-v")
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "1 recorded interaction never played, in 1 test: *--record-mode=rewrite*--cassette-strict*",
            "  test_suite.py::test_two: GET http://127.0.0.1:*/2b",
        ]
    )
    result = suite.run("--cassette-strict", "--cassette-report=report.json")
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*UnusedInteractionsError: 1 recorded interaction(s) of *test_two.yaml never played*",
            "*GET http://127.0.0.1:*/2b",
            "*pytest --record-mode=rewrite 'test_suite.py::test_two'*",
            # The test that failed for its unused interaction counts it in the report too,
            # without advising the flag in force.
            "1 recorded interaction never played, in 1 test: re-record them with "
            "--record-mode=rewrite to drop the unused ones.",
        ]
    )
    report = json.loads((suite.path / "report.json").read_text())
    assert report["totals"]["interactions_unused"] == 1
    [two] = [t for t in report["tests"] if t["nodeid"].endswith("test_two")]
    assert two["unused"] == [f"GET {suite.server.base_url}/2b"]
    assert two["strict"] is True
    suite.pytester.makeini("[pytest]\ncassette_strict = true\n")
    suite.run().assert_outcomes(passed=2, failed=1, skipped=1)
    suite.run("--record-mode=rewrite").assert_outcomes(passed=3, skipped=1)
    suite.run().assert_outcomes(passed=3, skipped=1)


def test_strict_marker_option(suite: Suite) -> None:
    suite.write(
        """
        @pytest.mark.cassette(strict=True)
        def test_strict(cassette):
            requests.get(URL + "/a")
            if cassette.play_count:  # replaying: leave /b unplayed
                return
            requests.get(URL + "/b")
        """
    )
    suite.run().assert_outcomes(passed=1)
    suite.run().assert_outcomes(failed=1)


def orphan_setup(suite: Suite) -> None:
    suite.write(SUITE)
    suite.run().assert_outcomes(passed=3, skipped=1)
    folder = suite.path / "cassettes" / "test_suite"
    (folder / "test_removed_long_ago.yaml").write_text("interactions: []\nversion: 1\n")
    (folder / "test_skipped.yaml").write_text("interactions: []\nversion: 1\n")


@pytest.mark.parametrize("xdist", XDIST)
def test_orphans_are_reported_only_for_a_full_run(suite: Suite, xdist: list[str]) -> None:
    orphan_setup(suite)
    result = run(suite, "-v", *xdist)
    result.stdout.fnmatch_lines(
        [
            "1 orphan cassette (no collected test uses them): delete them with --cassette-prune.",
            "  cassettes/test_suite/test_removed_long_ago.yaml",
        ]
    )
    assert "test_skipped.yaml" not in result.stdout.str().split("orphan cassette")[1]
    for partial in (["-k", "one"], ["test_suite.py::test_one"]):
        result = run(suite, *partial, *xdist)
        assert "orphan cassette" not in result.stdout.str()


def test_prune_deletes_orphans_and_says_so(suite: Suite) -> None:
    orphan_setup(suite)
    orphan = suite.path / "cassettes" / "test_suite" / "test_removed_long_ago.yaml"
    suite.run("-k", "one", "--cassette-prune")
    assert orphan.exists()
    result = suite.run("--cassette-prune")
    result.stdout.fnmatch_lines(
        ["pruned 1 orphan cassette:", "  cassettes/test_suite/test_removed_long_ago.yaml"]
    )
    # The summary said "1 orphan cassette ...: delete them with --cassette-prune." above the
    # list of the files that very flag had just deleted.
    assert "delete them with --cassette-prune" not in result.stdout.str()
    assert not orphan.exists()
    assert (suite.path / "cassettes" / "test_suite" / "test_skipped.yaml").exists()
    assert (suite.path / "cassettes" / "test_suite" / "test_one.yaml").exists()


def test_prune_without_a_lock_folder_says_to_set_tmpdir_and_ends_the_run_cleanly(
    suite: Suite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No lock folder to be had (a file of its name in TMPDIR, as a read-only temp directory
    # would): --cassette-prune ended the run with a LockFolderError traceback (INTERNALERROR)
    # in place of its summary.
    orphan_setup(suite)
    orphan = suite.path / "cassettes" / "test_suite" / "test_removed_long_ago.yaml"
    (tmp_path / f"pytest-cassettes-locks-{os.getuid()}").touch()
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    result = suite.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:randomly", "--cassette-prune", "--record-mode=none"
    )
    result.assert_outcomes(passed=3, skipped=1)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(
        [
            "1 orphan cassette (no collected test uses them): delete them with --cassette-prune.",
            "--cassette-prune deleted nothing: pytest-cassettes cannot take a cassette's write "
            "lock: *Not a directory*",
            "  Set TMPDIR to a folder you may write to: *",
        ]
    )
    assert orphan.exists()


def test_a_folder_named_like_a_cassette_is_no_orphan_and_prune_leaves_it(suite: Suite) -> None:
    # A folder `data.json` in a module's cassette folder was told an orphan cassette, and
    # --cassette-prune ended the run with IsADirectoryError (INTERNALERROR).
    orphan_setup(suite)
    folder = suite.path / "cassettes" / "test_suite" / "data.json"
    folder.mkdir()
    (folder / "page.json").write_text("{}")
    result = suite.run("--cassette-prune", "-v")
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(
        ["pruned 1 orphan cassette:", "  cassettes/test_suite/test_removed_long_ago.yaml"]
    )
    assert "INTERNALERROR" not in result.stdout.str()
    assert (folder / "page.json").exists()


SKIPPABLE = """
import pytest
import yaml
from pathlib import Path
SKIP = pytest.mark.skipif(bool(os.environ.get("SKIP")), reason="temporarily off")

@pytest.mark.cassette
def test_other():
    pass
"""
OWN_FIXTURES = {
    # pytest-recording's layout, the module's folder included: a named cassette is in it.
    "cassette_dir": """
        @pytest.fixture
        def cassette_dir(request):
            return Path(request.path).parent / "cassettes" / Path(request.path).stem

        @SKIP
        @pytest.mark.cassette("login.yaml")
        def test_login():
            requests.get(URL + "/login")
        """,
    # A class whose tests replay a shared login cassette, named in its cassette_config.
    "cassette_config": """
        class TestAccount:
            @pytest.fixture
            def cassette_config(self):
                return {"shared": ["test_suite/login.yaml"]}

            @SKIP
            @pytest.mark.cassette
            def test_balance(self):
                requests.get(URL + "/balance")
        """,
}


@pytest.mark.parametrize("fixture", sorted(OWN_FIXTURES))
@pytest.mark.parametrize("xdist", XDIST)
def test_prune_keeps_what_a_skipped_test_chooses_with_fixtures_of_its_own(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, fixture: str, xdist: list[str]
) -> None:
    suite.write(SKIPPABLE + textwrap.dedent(OWN_FIXTURES[fixture]))
    folder = suite.path / "cassettes" / "test_suite"
    folder.mkdir(parents=True)
    login, stray = folder / "login.yaml", folder / "test_removed_long_ago.yaml"
    # The shared login cassette is read-only: it is there; the named one is recorded.
    shared = [login] if fixture == "cassette_config" else []
    for path in (folder / "test_other.yaml", stray, *shared):
        path.write_text("interactions: []\nversion: 1\n")
    run(suite, *xdist).assert_outcomes(passed=2)
    assert login.exists()

    monkeypatch.setenv("SKIP", "1")
    result = run(suite, "--cassette-prune", "--cassette-report=report.json", *xdist)
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["--cassette-prune deleted nothing: *fixtures of its own*"])
    assert login.exists() and stray.exists()
    report = json.loads((suite.path / "report.json").read_text())
    assert (report["orphans_known"], report["orphans"]) == (False, [])

    monkeypatch.delenv("SKIP")  # every test opens its cassettes: the orphans are known
    result = run(suite, "--cassette-prune", "--record-mode=none", *xdist)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["pruned 1 orphan cassette:", "  cassettes/test_suite/test_removed_long_ago.yaml"]
    )
    assert login.exists() and not stray.exists()


@pytest.mark.parametrize("xdist", XDIST)
def test_prune_keeps_a_cassette_a_fixture_opens_with_vcrpy_itself(
    suite: Suite, xdist: list[str]
) -> None:
    # pytest-recording's projects log in once per module with vcrpy's own use_cassette, the
    # file beside the tests' cassettes: it was taken for an orphan and pruned in the very run
    # that replayed it.
    suite.write(
        """
        from pathlib import Path

        import vcr

        @pytest.fixture(scope="module")
        def token():
            path = Path(__file__).parent / "cassettes" / "test_suite" / "login.yaml"
            with vcr.use_cassette(str(path)):
                return requests.get(URL + "/login").status_code

        @pytest.mark.cassette
        def test_one(token):
            assert token == 200
            requests.get(URL + "/one")

        @pytest.mark.cassette
        def test_two(token):
            requests.get(URL + "/two")
        """
    )
    run(suite).assert_outcomes(passed=2)
    folder = suite.path / "cassettes" / "test_suite"
    login, stray = folder / "login.yaml", folder / "test_removed_long_ago.yaml"
    assert login.exists()
    stray.write_text("interactions: []\nversion: 1\n")
    hits = len(suite.server.requests)
    result = run(suite, "--record-mode=none", "--cassette-prune", *xdist)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["pruned 1 orphan cassette:", "  cassettes/test_suite/test_removed_long_ago.yaml"]
    )
    assert login.exists() and not stray.exists()
    assert len(suite.server.requests) == hits


def test_a_json_report_that_cannot_be_written_is_told_and_the_run_still_reports(
    suite: Suite,
) -> None:
    # --cassette-report=PATH under a file (or a read-only folder): the run ended with a
    # traceback from pytest_sessionfinish, its summary and its outcome counts never written.
    orphan_setup(suite)
    (suite.path / "afile").write_text("")
    result = run(suite, "--cassette-report=afile/report.json")
    result.assert_outcomes(passed=3, skipped=1)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        ["--cassette-report: cannot write afile/report.json (Not a directory): nothing written"]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("xdist", XDIST)
def test_json_report(suite: Suite, xdist: list[str]) -> None:
    orphan_setup(suite)
    report_path = suite.path / "report.json"
    run(suite, f"--cassette-report={report_path}", *xdist).assert_outcomes(passed=3, skipped=1)
    report = json.loads(report_path.read_text())
    assert report["totals"]["cassettes_replayed"] == 2
    assert report["totals"]["interactions_played"] == 3
    assert report["totals"]["orphan_cassettes"] == 1
    assert report["orphans"] == ["cassettes/test_suite/test_removed_long_ago.yaml"]
    assert [t["nodeid"] for t in report["tests"]] == [
        "test_suite.py::test_one",
        "test_suite.py::test_two",
    ]
    two = report["tests"][1]
    assert two["cassette"] == "cassettes/test_suite/test_two.yaml"
    assert (two["mode"], two["played"], two["recorded"], two["unused"]) == ("once", 2, 0, [])
    assert not list(suite.path.glob("*.tmp"))


@needs_xdist
def test_a_worker_stopped_by_pytest_exit_is_counted_once(suite: Suite) -> None:
    # xdist tells of an interrupted worker twice (finished, then down): its report was merged
    # at each, so the summary and the JSON report counted its cassettes twice.
    suite.write(
        """
        @pytest.mark.cassette
        def test_one():
            requests.get(URL + "/1")


        def test_stop():
            pytest.exit("stopped by the test")
        """
    )
    report_path = suite.path / "report.json"
    result = run(suite, "-p", "no:randomly", "-n", "1", f"--cassette-report={report_path}")
    result.stdout.fnmatch_lines(
        ["*0 cassettes replayed*, 1 cassette recorded (1 new interaction)*"]
    )
    report = json.loads(report_path.read_text())
    assert [t["nodeid"] for t in report["tests"]] == ["test_suite.py::test_one"]
    assert report["totals"]["interactions_recorded"] == 1


@pytest.mark.parametrize("xdist", XDIST)
def test_json_report_counts_what_is_torn_down_after_pytest_exit(
    suite: Suite, xdist: list[str]
) -> None:
    # pytest.exit skips the test's teardown: the test's cassette and the session's fixtures
    # are closed by pytest's own pytest_sessionfinish, after the report was made.
    suite.server.route("/logout", body="{}")
    suite.write(
        """
        from pytest_cassettes import use_cassette


        @pytest.fixture(scope="session")
        def account(request):
            yield "ann"
            with use_cassette(request, "logout"):
                requests.post(URL + "/logout")


        @pytest.mark.cassette
        def test_stop(account):
            requests.get(URL + "/1")
            pytest.exit("stopped by the test")
        """
    )
    report_path = suite.path / "report.json"
    result = run(suite, f"--cassette-report={report_path}", *xdist)
    assert [r.path for r in suite.server.requests] == ["/1", "/logout"]
    assert (suite.path / "cassettes" / "logout.yaml").exists()
    assert not suite.cassette_path("test_stop").exists()  # stopped: not saved
    result.stdout.fnmatch_lines(
        [
            "0 cassettes replayed*, 1 cassette recorded (1 new interaction)*",
            "1 recorded interaction of failed tests not saved*",
        ]
    )
    report = json.loads(report_path.read_text())
    tests = {t["cassette"]: (t["recorded"], t["saved"]) for t in report["tests"]}
    assert tests == {
        "cassettes/logout.yaml": (1, True),
        "cassettes/test_suite/test_stop.yaml": (0, False),
    }
    totals = report["totals"]
    assert (totals["cassettes_recorded"], totals["not_saved"]) == (1, 1)
    assert report["orphans_known"] is False


@pytest.mark.parametrize("xdist", XDIST)
def test_a_cassette_vcrpy_itself_writes_with_secrets_is_reported(
    suite: Suite, xdist: list[str]
) -> None:
    """A pytest-recording project's session login through vcrpy's own use_cassette kept the
    password and tokens on disk (vcrpy scrubs nothing) while the summary counted the values
    our cassettes scrubbed, and nothing said so (an adopter's finding)."""
    suite.server.route(
        "/login", body=b'{"access_token": "at_7Hq2Lm9Xw4Rt8Yp3Kv6Bn1", "user": "ada"}'
    )
    suite.write(
        """
        from pathlib import Path

        import vcr

        @pytest.fixture(scope="session")
        def token():
            recorder = vcr.VCR(cassette_library_dir=str(Path(__file__).parent / "cassettes"))
            with recorder.use_cassette("session_login.yaml"):
                return requests.post(URL + "/login", json={"password": "hunter2!"}).json()

        @pytest.mark.cassette
        def test_one(token):
            assert token["user"] == "ada"
            requests.get(URL + "/one")
        """
    )
    report_path = suite.path / "report.json"
    result = run(suite, f"--cassette-report={report_path}", *xdist)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "1 cassette written by vcrpy's own use_cassette (not scrubbed) holds secrets:*",
            "  cassettes/session_login.yaml: * secrets",
        ]
    )
    report = json.loads(report_path.read_text())
    assert list(report["unscrubbed_vcrpy_cassettes"]) == ["cassettes/session_login.yaml"]
    # Replayed, vcrpy writes nothing: nothing new to tell (`scan` finds what old files hold).
    result = run(suite, "--record-mode=none", f"--cassette-report={report_path}", *xdist)
    result.assert_outcomes(passed=1)
    assert "use_cassette (not scrubbed)" not in result.stdout.str()
    assert json.loads(report_path.read_text())["unscrubbed_vcrpy_cassettes"] == {}


EXPECTED_BLOCK = """
@pytest.mark.block_network
def test_offline_mode_refuses():
    with pytest.raises(RuntimeError, match="Network is disabled"):
        requests.get(URL + "/x")
"""


@pytest.mark.parametrize("xdist", XDIST)
def test_blocked_connections_advise_allowing_a_host_only_for_failed_tests(
    suite: Suite, xdist: list[str]
) -> None:
    # A test that checks the network is blocked passes by the block: allowing the host would
    # defeat it. A block in a failed test (its setup's included) gets the advice.
    suite.write(EXPECTED_BLOCK)
    report_path = suite.path / "report.json"
    result = run(suite, f"--cassette-report={report_path}", *xdist)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["1 network connection blocked, none in a failed test (caught by the tests or the*"]
    )
    assert "--cassette-allow-hosts" not in result.stdout.str()
    totals = json.loads(report_path.read_text())["totals"]
    assert (totals["network_blocked"], totals["network_blocked_in_failed_tests"]) == (1, 0)

    suite.write(
        EXPECTED_BLOCK
        + textwrap.dedent(
            """
            @pytest.fixture
            def profile():
                return requests.get(URL + "/profile")

            @pytest.mark.block_network
            def test_profile(profile):
                pass
            """
        )
    )
    result = run(suite, f"--cassette-report={report_path}", *xdist)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "2 network connections blocked, 1 in a failed test: "
            "allow a host with --cassette-allow-hosts=HOST."
        ]
    )
    totals = json.loads(report_path.read_text())["totals"]
    assert (totals["network_blocked"], totals["network_blocked_in_failed_tests"]) == (2, 1)
    assert suite.server.hits == 0


UNANSWERED = """
import asyncio
import socket
import urllib.error
import urllib.request

import aiohttp
import httpx


@pytest.fixture
def silent():
    # A port that takes connections and never answers: a client's read times out there.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@pytest.fixture
def refused():
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    return f"http://127.0.0.1:{port}"


@pytest.mark.cassette
def test_timeout(silent, refused):
    requests.get(URL + "/before")
    with pytest.raises(requests.Timeout):
        requests.get(silent + "/slow", timeout=0.2)
    # httpx's or httpcore's ConnectError: pytester's in-process runs may import httpcore anew.
    with pytest.raises(Exception, match="refused"):
        httpx.post(refused + "/v1/chat/completions", json={"model": "m"})
    # requests and urllib connect in `request()` while recording (patching.py): refused there.
    with pytest.raises(requests.ConnectionError):
        requests.get(refused + "/down")
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(refused + "/gone")


@pytest.mark.cassette
def test_fine():
    # Redirects followed: aiohttp's stub records each hop as a request of its own.
    assert requests.get(URL + "/moved").url == URL + "/fine"

    async def follow():
        async with aiohttp.ClientSession() as session:
            async with session.get(URL + "/moved") as response:
                return str(response.url)

    assert asyncio.run(follow()) == URL + "/fine"
"""


@pytest.mark.parametrize("xdist", XDIST)
def test_requests_that_got_no_response_while_recording_are_reported(
    suite: Suite, xdist: list[str]
) -> None:
    # An SDK's timeout or connection error records nothing (a cassette holds responses): the
    # replay cannot fail the same way, and a test with nothing else recorded has no cassette.
    suite.server.route("/moved", status=302, headers={"Location": "/fine"})
    suite.write(UNANSWERED)
    result = run(suite, "-v", "--cassette-report=report.json", *xdist)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "0 cassettes replayed (0 interactions), 2 cassettes recorded (5 new interactions)*",
            "4 requests sent to record got no response (a timeout, a connection error), in 1 "
            "test: a cassette holds responses only, so a replay cannot fail that way (the "
            "request is unmatched, or gets a later recording of it): test such errors without "
            "a cassette.",
            "  test_suite.py::test_timeout: GET http://127.0.0.1:*/slow, "
            "POST http://127.0.0.1:*/v1/chat/completions, GET http://127.0.0.1:*/down, "
            "GET http://127.0.0.1:*/gone",
        ]
    )
    report = json.loads((suite.path / "report.json").read_text())
    assert report["totals"]["requests_unanswered"] == 4
    tests = {t["nodeid"]: t for t in report["tests"]}
    assert [r.split(" ")[0] for r in tests["test_suite.py::test_timeout"]["unanswered"]] == [
        "GET",
        "POST",
        "GET",
        "GET",
    ]
    assert tests["test_suite.py::test_fine"]["unanswered"] == []
    assert suite.uris("test_timeout") == [f"{suite.server.base_url}/before"]


FLAKY = """
ATTEMPTS = []

@pytest.mark.cassette
def test_flaky():
    ATTEMPTS.append(1)
    requests.get(URL + "/common")
    requests.get(URL + f"/attempt/{len(ATTEMPTS)}")
    assert len(ATTEMPTS) > 1, "fails the first time"

@pytest.mark.cassette
def test_broken():
    requests.get(URL + "/broken")
    assert False, "fails every time"

@pytest.mark.cassette
def test_ok():
    requests.get(URL + "/ok")
"""


@pytest.mark.parametrize("xdist", XDIST)
def test_a_test_run_again_has_one_entry_its_last_attempt_s(
    suite: Suite, xdist: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest-rerunfailures runs a failed test again: the report had an entry per attempt,
    and its totals counted what every attempt played."""
    suite.write(FLAKY)
    report_path = suite.path / "report.json"
    result = run(suite, "--reruns=2", f"--cassette-report={report_path}", *xdist)
    result.assert_outcomes(passed=2, failed=1)
    assert result.parseoutcomes()["rerun"] == 3
    report = json.loads(report_path.read_text())
    entries = {t["nodeid"].split("::")[1]: t for t in report["tests"]}
    assert len(report["tests"]) == 3
    assert {name: (t["attempts"], t["failed"]) for name, t in entries.items()} == {
        "test_flaky": (2, False),
        "test_broken": (3, True),
        "test_ok": (1, False),
    }
    assert entries["test_flaky"]["recorded"] == 2 and entries["test_flaky"]["saved"]
    assert report["totals"]["not_saved"] == 1  # test_broken's last attempt's

    monkeypatch.setenv("CI", "true")
    result = run(suite, "--reruns=1", f"--cassette-report={report_path}", *xdist)
    result.assert_outcomes(passed=2, failed=1)
    assert result.parseoutcomes()["rerun"] == 2  # /attempt/1 was never recorded
    report = json.loads(report_path.read_text())
    flaky = [t for t in report["tests"] if t["nodeid"].endswith("test_flaky")]
    assert [(t["attempts"], t["played"]) for t in flaky] == [(2, 2)]
    assert report["totals"]["interactions_played"] == 3  # test_flaky's /common once, test_ok's
    assert report["totals"]["cassettes_replayed"] == 2


@pytest.mark.parametrize("xdist", XDIST)
def test_a_cassette_several_tests_share_counts_what_none_of_them_played(
    suite: Suite, xdist: list[str]
) -> None:
    # Each test plays its own page of one shared cassette: the others' pages are no test's
    # unused interactions (re-recording would not drop them, strict would fail them all).
    suite.write(shared_pages(4))
    run(suite, "--record-mode=new_episodes", *xdist).assert_outcomes(passed=4)
    result = run(suite, "--record-mode=none", "--cassette-report=report.json", *xdist)
    result.assert_outcomes(passed=4)
    assert "never played" not in result.stdout.str()
    report = json.loads((suite.path / "report.json").read_text())
    assert report["totals"]["interactions_unused"] == 0
    assert [t["unused"] for t in report["tests"]] == [[]] * 4
    # An interaction none of them plays any more is told once, for each test that left it.
    suite.write(shared_pages(3))
    result = run(suite, "--record-mode=none", "-v", *xdist)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "1 recorded interaction never played, in 3 tests: *",
            "  test_suite.py::test_page[[]0[]]: GET http://127.0.0.1:*/3",
        ]
    )


@pytest.mark.parametrize("xdist", XDIST)
def test_drop_unused_requests_leaves_a_cassette_several_tests_share_whole(
    suite: Suite, xdist: list[str]
) -> None:
    # Each test leaves the others' pages unplayed: dropping them lost all but the last page.
    suite.write(shared_pages(4, DROPPING))
    run(suite, *xdist).assert_outcomes(passed=4)
    result = run(suite, "--record-mode=new_episodes", "--cassette-report=report.json", *xdist)
    result.assert_outcomes(passed=4)
    assert sorted(suite.uris("pages", "shared")) == [suite.server.url(f"/{n}") for n in range(4)]
    result.stdout.fnmatch_lines(
        [
            "drop_unused_requests not applied to 1 cassette several tests share *"
            "--record-mode=rewrite*",
            "  cassettes/shared/pages.yaml",
        ]
    )
    report = json.loads((suite.path / "report.json").read_text())
    assert report["drop_unused_not_applied"] == ["cassettes/shared/pages.yaml"]


@pytest.mark.parametrize("xdist", XDIST)
def test_strict_judges_a_cassette_several_tests_share_over_the_run(
    suite: Suite, xdist: list[str]
) -> None:
    # Each test leaves the others' pages unplayed: strict failed every one of them. The run
    # fails instead when an interaction is played by none of them.
    suite.write(shared_pages(4))
    run(suite, *xdist).assert_outcomes(passed=4)
    result = run(suite, "--cassette-strict", "--record-mode=none", *xdist)
    result.assert_outcomes(passed=4)
    assert result.ret == 0
    suite.write(shared_pages(3))
    result = run(
        suite, "--cassette-strict", "--record-mode=none", "--cassette-report=r.json", *xdist
    )
    result.assert_outcomes(passed=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "UnusedInteractionsError: 1 recorded interaction of cassettes/shared/pages.yaml, "
            "which several strict tests share, never played by any of them (the run fails): "
            "re-record it to drop them: pytest --record-mode=rewrite 'test_suite.py'",
            "  GET http://127.0.0.1:*/3",
        ]
    )
    report = json.loads((suite.path / "r.json").read_text())
    assert list(report["strict_shared_unplayed"]) == ["cassettes/shared/pages.yaml"]


# shared_pages' four pages in classes, one nested: a class's node id has pytest make the other
# classes of the module but collect none of their tests.
PAGES_IN_CLASSES = f"""
class TestFirst:
    @pytest.mark.cassette("shared/pages.yaml", {DROPPING})
    def test_page(self):
        requests.get(URL + "/0")


class TestPages:
    @pytest.mark.cassette("shared/pages.yaml", {DROPPING})
    def test_page(self):
        requests.get(URL + "/1")

    class TestMore:
        @pytest.mark.cassette("shared/pages.yaml", {DROPPING})
        @pytest.mark.parametrize("page", [2, 3])
        def test_page(self, page):
            requests.get(URL + f"/{{page}}")
"""


@pytest.mark.parametrize("xdist", XDIST)
@pytest.mark.parametrize(
    "selection",
    [
        ["-k", "page and 1"],
        ["test_suite.py::test_page[1]"],
        ["test_suite.py::TestPages::test_page"],
    ],
    ids=["deselected", "node-id", "class-node-id"],
)
def test_a_run_that_leaves_out_tests_sharing_a_cassette_keeps_and_judges_nothing_of_theirs(
    suite: Suite, xdist: list[str], selection: list[str]
) -> None:
    # -k selected one page: its save dropped the other pages (drop_unused_requests), strict
    # failed it for them, and the summary told to re-record them away. A node id's run, which
    # collects the others without deselecting them, did too; a class's node id still did for
    # the tests of the module's other classes (nested ones too), which pytest never collects.
    suite.write(PAGES_IN_CLASSES if "::Test" in selection[0] else shared_pages(4, DROPPING))
    run(suite, *xdist).assert_outcomes(passed=4)
    told = 3 if selection[0] == "-k" and not xdist else 0  # (xdist: not told)
    result = run(suite, "--record-mode=new_episodes", *selection, *xdist)
    result.assert_outcomes(passed=1, deselected=told)
    assert sorted(suite.uris("pages", "shared")) == [suite.server.url(f"/{n}") for n in range(4)]
    result = run(suite, "--record-mode=none", "--cassette-strict", *selection, "-v", *xdist)
    result.assert_outcomes(passed=1, deselected=told)
    assert result.ret == pytest.ExitCode.OK
    assert "never played" not in result.stdout.str()


# A module of a suite (testpaths: tests, one cassette dir) whose test names a cassette first.
FLOW = """
@pytest.mark.cassette("shared/flow.yaml", drop_unused_requests=True)
def test_{name}():
    requests.get(URL + "/{name}")
    assert not os.environ.get("FAIL_{name}")
"""


def flow_suite(suite: Suite, *names: str, more: str = "") -> None:
    """`tests/<name>/test_<name>.py` for each name (`more`: lines the first test's body ends
    with)."""
    suite.pytester.makeini("[pytest]\ntestpaths = tests\ncassette_dir = cassettes\n")
    for name in names:
        source = FLOW.format(name=name) + (more if name == names[0] else "")
        suite.write(source, name=f"tests/{name}/test_{name}")


def flow_uris(suite: Suite) -> list[str]:
    flow = yaml.safe_load((suite.path / "cassettes/shared/flow.yaml").read_text())
    return sorted(i["request"]["uri"] for i in flow["interactions"])


NARROWER = {
    "file": ["tests/a/test_a.py"],
    "folder": ["tests/a"],
    "node-id": ["tests/a/test_a.py::test_a"],
    "ignore": ["--ignore=tests/b"],
    "last-failed": ["--lf", "-p", "cacheprovider"],
    "started-in-a-folder": [],  # pytest started in tests/a
    "collect-ignore": [],  # a conftest ignores tests/b/test_b.py (on some Python versions)
    "collect-ignore-folder": [],  # a conftest ignores tests/b
    "xdist": ["-n", "2", "tests/a/test_a.py"],
}


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=needs_xdist) if c == "xdist" else c for c in NARROWER]
)
def test_a_run_of_some_modules_keeps_and_judges_nothing_of_a_cassette_others_name(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    # `pytest tests/a/test_a.py` knew test_a alone: its save dropped test_b's page
    # (drop_unused_requests) and strict failed it for that page.
    args = NARROWER[case]
    flow_suite(suite, "a", "b")
    suite.run().assert_outcomes(passed=2)
    pages = [suite.server.url("/a"), suite.server.url("/b")]
    assert flow_uris(suite) == pages
    if case == "last-failed":  # test_a failed last: --lf collects its module alone
        monkeypatch.setenv("FAIL_a", "1")
        run(suite, "--record-mode=none", *args[1:]).assert_outcomes(passed=1, failed=1)
        monkeypatch.delenv("FAIL_a")
    elif case == "started-in-a-folder":
        monkeypatch.chdir(suite.path / "tests/a")
    elif case.startswith("collect-ignore"):
        ignored = "tests/b" if case.endswith("folder") else "tests/b/test_b.py"
        suite.pytester.makeconftest(f"collect_ignore = [{ignored!r}]\n")
    result = run(suite, "--record-mode=new_episodes", *args)
    result.assert_outcomes(passed=1)
    assert flow_uris(suite) == pages
    result.stdout.fnmatch_lines(
        [
            "drop_unused_requests not applied to 1 cassette named in markers: this run left "
            "test modules out *",
            "  cassettes/shared/flow.yaml",
        ]
    )
    result = run(suite, "--record-mode=none", "--cassette-strict", *args)
    assert result.ret == pytest.ExitCode.OK
    assert "never played" not in result.stdout.str()


def test_drop_unused_requests_not_applied_is_not_told_where_nothing_stale_was_kept(
    suite: Suite,
) -> None:
    # The first recording of a cassette two modules name, and a rewrite of the whole suite,
    # keep nothing stale: the summary said drop_unused_requests was not applied, telling to
    # re-record it with --record-mode=rewrite (the mode the rewrite ran in).
    flow_suite(suite, "a", "b")
    result = suite.run()
    result.assert_outcomes(passed=2)
    assert "drop_unused_requests not applied" not in result.stdout.str()
    result = run(suite, "--record-mode=rewrite")
    result.assert_outcomes(passed=2)
    assert flow_uris(suite) == [suite.server.url("/a"), suite.server.url("/b")]
    assert "drop_unused_requests not applied" not in result.stdout.str()
    # What it does keep is still told: test_a's run alone leaves test_b's page unplayed.
    result = run(suite, "--record-mode=new_episodes", "tests/a")
    result.stdout.fnmatch_lines(["drop_unused_requests not applied to 1 cassette *"])


@pytest.mark.parametrize(
    "case",
    ["file", "node-id", pytest.param("xdist", marks=needs_xdist), "deselected-module", "whole"],
)
def test_a_rewrite_of_some_modules_replaces_only_what_they_send_of_a_cassette_others_name(
    suite: Suite, case: str
) -> None:
    # `pytest tests/a/test_a.py --record-mode=rewrite` removed the whole old recording of a
    # cassette test_b names too: test_b's page was lost.
    flow_suite(suite, "a", "b", more='    requests.get(URL + "/old")\n')
    suite.run().assert_outcomes(passed=2)
    flow_suite(suite, "a")  # test_a no longer sends /old
    args = ["--deselect", "tests/b"] if case == "deselected-module" else NARROWER.get(case, [])
    result = run(suite, "--record-mode=rewrite", "--cassette-report=r.json", *args)
    result.assert_outcomes(passed=2 if case == "whole" else 1)
    in_part = json.loads((suite.path / "r.json").read_text())["rewritten_in_part"]
    assert in_part == ([] if case == "whole" else ["cassettes/shared/flow.yaml"])
    kept = ["/a", "/b"] if case == "whole" else ["/a", "/b", "/old"]
    assert flow_uris(suite) == [suite.server.url(page) for page in kept]  # /a once: replaced
    summary = "--record-mode=rewrite replaced in part 1 cassette named in markers or use_cassette blocks: *"
    if case == "whole":
        assert "replaced in part" not in result.stdout.str()
    else:
        result.stdout.fnmatch_lines(
            [summary + "pytest --record-mode=rewrite", "  cassettes/shared/flow.yaml"]
        )


def test_a_rewrite_of_one_module_names_a_session_blocks_cassette_as_what_it_is(
    suite: Suite,
) -> None:
    # `pytest test_a.py --record-mode=rewrite` replaced in part the login a session fixture's
    # use_cassette block records, and the summary called it a cassette "named in markers",
    # which no marker names.
    suite.pytester.makeconftest(
        HEADER
        + """
from pytest_cassettes import use_cassette


@pytest.fixture(scope="session")
def token(request):
    with use_cassette(request, "login.yaml"):
        return requests.get(URL + "/login").status_code
"""
    )
    suite.write("def test_a(token):\n    pass\n", name="test_a")
    suite.write("def test_b(token):\n    pass\n", name="test_b")
    suite.run().assert_outcomes(passed=2)
    result = suite.run("--record-mode=rewrite", "test_a.py")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "--record-mode=rewrite replaced in part 1 cassette named in markers or use_cassette "
            "blocks: *",
            "  cassettes/login.yaml",
        ]
    )


# Two tests naming one cassette, test_a marked `slow`; `{old}`: more lines test_a's body ends with.
SHARED_AB = """
@pytest.mark.cassette("shared/flow.yaml")
@pytest.mark.slow
def test_a():
    requests.get(URL + "/a")
{old}

@pytest.mark.cassette("shared/flow.yaml")
def test_b():
    requests.get(URL + "/b")
"""

DESELECTING = {
    "k": ["-k", "test_a"],
    "m": ["-m", "slow"],
    "deselect": ["--deselect", "test_suite.py::test_b"],
    "xdist": ["-n", "2", "-k", "test_a"],
}


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=needs_xdist) if c == "xdist" else c for c in DESELECTING]
)
def test_a_rewrite_that_deselects_a_test_naming_a_cassette_keeps_what_that_test_recorded(
    suite: Suite, case: str
) -> None:
    # `pytest --record-mode=rewrite -k test_a` rewrote the cassette test_b names too whole:
    # test_b's page was lost, and the summary said nothing of it.
    suite.pytester.makeini("[pytest]\nmarkers =\n    slow\n")
    suite.write(SHARED_AB.format(old='    requests.get(URL + "/old")'))
    suite.run().assert_outcomes(passed=2)
    suite.write(SHARED_AB.format(old=""))  # test_a no longer sends /old
    result = run(suite, "--record-mode=rewrite", "--cassette-report=r.json", *DESELECTING[case])
    result.assert_outcomes(passed=1, deselected=0 if case == "xdist" else 1)
    assert flow_uris(suite) == [suite.server.url(page) for page in ("/a", "/b", "/old")]
    in_part = json.loads((suite.path / "r.json").read_text())["rewritten_in_part"]
    assert in_part == ["cassettes/shared/flow.yaml"]
    result.stdout.fnmatch_lines(
        [
            "--record-mode=rewrite replaced in part 1 cassette named in markers or use_cassette blocks: *deselected*",
            "  cassettes/shared/flow.yaml",
        ]
    )
    # Both selected: the cassette is recorded afresh, the page no test sends goes.
    result = run(suite, "--record-mode=rewrite")
    result.assert_outcomes(passed=2)
    assert flow_uris(suite) == [suite.server.url(page) for page in ("/a", "/b")]
    assert "replaced in part" not in result.stdout.str()


def test_a_stepwise_rewrite_keeps_what_the_tests_it_skips_recorded_into_a_cassette_they_name(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `pytest --sw --record-mode=rewrite` after test_b failed deselects test_a, which passed:
    # the cassette both name was rewritten whole, and test_a's page lost.
    suite.write(SHARED_AB.format(old="") + '    assert not os.environ.get("FAIL_b")\n')
    suite.run().assert_outcomes(passed=2)
    stepwise = ["-p", "no:recording", "-p", "no:asyncio", "--sw"]  # with pytest's cache
    monkeypatch.setenv("FAIL_b", "1")
    suite.pytester.runpytest(*stepwise, "--record-mode=none").assert_outcomes(passed=1, failed=1)
    monkeypatch.delenv("FAIL_b")
    result = suite.pytester.runpytest(*stepwise, "--record-mode=rewrite")
    result.assert_outcomes(passed=1, deselected=1)
    assert flow_uris(suite) == [suite.server.url(page) for page in ("/a", "/b")]
    result.stdout.fnmatch_lines(["--record-mode=rewrite replaced in part 1 cassette *--sw*"])


@pytest.mark.parametrize(
    "skip",
    [
        '@pytest.mark.skip(reason="flaky upstream")',
        "@pytest.mark.skipif(True, reason='off')",
        "@pytest.mark.skipif(condition=True, reason='off')",
        "@pytest.mark.skipif('sys.platform != \"none\"', reason='off')",
        "@pytest.mark.skipif('not_a_name', reason='off')",  # pytest's error, no run of it
        "@pytest.mark.skipif('pytest.skip(\"off\")', reason='off')",
        "@pytest.mark.xfail(run=False, reason='hangs')",
        "@pytest.mark.xfail(True, run=False, reason='hangs')",
    ],
    ids=[
        "skip",
        "skipif",
        "skipif-kwarg",
        "skipif-string",
        "skipif-error",
        "skipif-skipping",
        "xfail",
        "xfail-if",
    ],
)
def test_a_rewrite_keeps_what_a_skipped_test_recorded_into_a_cassette_it_names(
    suite: Suite, skip: str
) -> None:
    # A test skipped by its marker (for a while: "flaky upstream") does not record: a rewrite
    # of the whole suite removed its interactions from the cassette it shares with test_a, so
    # the test failed unmatched once the marker went.
    suite.write(SHARED_AB.format(old=""))
    suite.run().assert_outcomes(passed=2)
    suite.write(SHARED_AB.format(old="").replace("def test_b", f"{skip}\ndef test_b"))
    result = run(suite, "--record-mode=rewrite")
    if "xfail" in skip:
        result.assert_outcomes(passed=1, xfailed=1)
    elif "not_a_name" in skip:
        result.assert_outcomes(passed=1, errors=1)
    else:
        result.assert_outcomes(passed=1, skipped=1)
    assert flow_uris(suite) == [suite.server.url(page) for page in ("/a", "/b")]
    result.stdout.fnmatch_lines(["--record-mode=rewrite replaced in part 1 cassette *skipped*"])


# Three tests naming one cassette; test_a also sends /old, which a later version drops.
SHARED_ABC = """
@pytest.mark.cassette("shared/flow.yaml")
def test_a():
    requests.get(URL + "/a")
{old}

@pytest.mark.cassette("shared/flow.yaml")
def test_b():
    if os.environ.get("INTERRUPT_b"):
        raise KeyboardInterrupt
    if os.environ.get("CRASH_b"):
        os._exit(1)
    assert not os.environ.get("FAIL_b")
    requests.get(URL + "/b")

@pytest.mark.cassette("shared/flow.yaml")
def test_c():
    requests.get(URL + "/c")
"""

STOPPED = {
    "exitfirst": (["-x"], "FAIL_b", ["test_b", "test_c"]),
    "failed": ([], "FAIL_b", ["test_b"]),
    # (in a process of its own: pytester's in-process run raises ^C again in the outer one)
    "interrupted": (["-p", "no:recording"], "INTERRUPT_b", ["test_b", "test_c"]),
    "failed-xdist": (["-n", "2"], "FAIL_b", ["test_b"]),
    # The tests the crashed worker ran before are not known to have passed either.
    "crashed-xdist-worker": (["-n", "2"], "CRASH_b", ["*test_b*"]),
}


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=needs_xdist) if "xdist" in c else c for c in STOPPED]
)
def test_a_whole_rewrite_keeps_what_tests_sharing_a_cassette_recorded_until_they_all_pass(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    # `pytest --record-mode=rewrite -x` where test_b failed before sending its request: test_a's
    # save removed the cassette's whole old recording, test_b's and test_c's pages with it, and
    # the next replay failed unmatched for both (^C in test_b, test_b failing, or its xdist
    # worker crashing, too).
    args, variable, not_passed = STOPPED[case]
    suite.write(SHARED_ABC.format(old='    requests.get(URL + "/old")'))
    suite.run().assert_outcomes(passed=3)
    suite.write(SHARED_ABC.format(old=""))  # test_a no longer sends /old
    monkeypatch.setenv(variable, "1")
    rewrite = ["--record-mode=rewrite", "--cassette-report=r.json", *args]
    if variable == "INTERRUPT_b":
        result = suite.pytester.runpytest_subprocess(*rewrite)
        assert result.ret == pytest.ExitCode.INTERRUPTED
    else:
        result = run(suite, *rewrite)
        assert result.ret == pytest.ExitCode.TESTS_FAILED
    # test_a's page replaced (once), the others' kept, and /old too: test_b may still need it.
    kept = ["/a", "/b", "/c", "/old"]
    assert flow_uris(suite) == [suite.server.url(page) for page in kept]
    ids = [f"test_suite.py::{name}" for name in not_passed]
    result.stdout.fnmatch_lines(
        [
            "--record-mode=rewrite kept old interactions in 1 cassette named in markers or use_cassette blocks: *"
            "pytest --record-mode=rewrite",
            f"  cassettes/shared/flow.yaml (not passed: {', '.join(ids)})",
        ]
    )
    kept_old = json.loads((suite.path / "r.json").read_text())["rewrite_kept_old"]
    if variable == "CRASH_b":
        assert "test_suite.py::test_b" in kept_old["cassettes/shared/flow.yaml"]
    else:
        assert kept_old == {"cassettes/shared/flow.yaml": ids}
    monkeypatch.delenv(variable)
    run(suite, "--record-mode=none", *args).assert_outcomes(passed=3)
    # All of them pass: the cassette holds what they sent, /old is gone.
    result = run(suite, "--record-mode=rewrite", *args)
    result.assert_outcomes(passed=3)
    assert flow_uris(suite) == [suite.server.url(page) for page in ("/a", "/b", "/c")]
    assert "kept old interactions" not in result.stdout.str()
    run(suite, "--record-mode=none", *args).assert_outcomes(passed=3)


# test_a polls (two requests of one URL), test_b asks once; test_c, which -k leaves out, names
# their cassette too.
POLLING = """
@pytest.mark.cassette("shared/flow.yaml")
def test_a():
    requests.get(URL + "/poll")
    requests.get(URL + "/poll")

@pytest.mark.cassette("shared/flow.yaml")
def test_b():
    requests.get(URL + "/poll")

@pytest.mark.cassette("shared/flow.yaml")
def test_c():
    requests.get(URL + "/c")
"""


@pytest.mark.parametrize(
    "selection", [["-k", "test_a or test_b"], []], ids=["deselected", "whole-suite"]
)
def test_a_rewrite_in_part_replaces_only_the_old_recording_not_what_the_run_recorded(
    suite: Suite, selection: list[str]
) -> None:
    # A rewrite of a cassette in part: test_b's save replaced every recorded /poll, test_a's
    # two fresh ones too, by its one: test_a's replay then failed unmatched at its second.
    suite.write(POLLING)
    suite.run().assert_outcomes(passed=3)
    result = suite.run("--record-mode=rewrite", *selection)
    result.assert_outcomes(passed=3 if not selection else 2, deselected=1 if selection else 0)
    uris = [suite.server.url(page) for page in ("/c", "/poll", "/poll")]
    assert sorted(flow_uris(suite)) == uris
    suite.run("--record-mode=none").assert_outcomes(passed=3)


@pytest.mark.parametrize("xdist", XDIST)
def test_a_run_in_all_mode_replaces_only_the_old_recording_of_a_shared_cassette(
    suite: Suite, xdist: list[str]
) -> None:
    # `--record-mode=all`: test_b's save replaced every /poll the cassette held, test_a's two
    # fresh ones too, by its one: test_a's replay then failed unmatched at its second poll.
    suite.write(POLLING)
    suite.run().assert_outcomes(passed=3)
    run(suite, "--record-mode=all", *xdist).assert_outcomes(passed=3)
    # test_b's poll is test_a's first one to the matchers: kept once (as under xdist).
    uris = [suite.server.url(page) for page in ("/c", "/poll", "/poll")]
    assert sorted(flow_uris(suite)) == uris
    suite.run("--record-mode=none").assert_outcomes(passed=3)


# A conftest's cassette_dir: `recorded/` beside each test module.
@pytest.mark.parametrize("before", ["none", "without-test_b"])
def test_a_whole_rewrite_where_a_test_failed_tells_old_interactions_kept_only_if_some_are(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, before: str
) -> None:
    # A cassette first recorded by the rewrite, or whose every old interaction the passing
    # tests sent again (test_b, which fails, never recorded into it): the summary said the
    # rewrite "kept old interactions" in it, and told to rewrite again, though it held none.
    suite.write(SHARED_ABC.format(old=""))
    monkeypatch.setenv("FAIL_b", "1")
    if before == "without-test_b":
        suite.run().assert_outcomes(passed=2, failed=1)
    result = suite.run("--record-mode=rewrite", "--cassette-report=r.json")
    result.assert_outcomes(passed=2, failed=1)
    assert flow_uris(suite) == [suite.server.url(page) for page in ("/a", "/c")]
    assert "kept old interactions" not in result.stdout.str()
    assert json.loads((suite.path / "r.json").read_text())["rewrite_kept_old"] == {}


def test_a_whole_rewrite_keeps_old_interactions_a_block_of_the_shared_cassette_saw(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # test_a sends a part of its requests in a use_cassette block of the cassette its marker
    # names: the block's save, the run's first whole rewrite of the file, removed every old
    # interaction it found, test_b's and test_c's too, though test_b then failed.
    block = (
        "    from pytest_cassettes import use_cassette\n\n"
        '    with use_cassette(request, "shared/flow.yaml"):\n'
        '        requests.get(URL + "/in-block")\n'
    )
    source = SHARED_ABC.replace("def test_a():", "def test_a(request):")
    suite.write(source.format(old=block))
    suite.run().assert_outcomes(passed=3)
    monkeypatch.setenv("FAIL_b", "1")
    result = suite.run("--record-mode=rewrite")
    result.assert_outcomes(passed=2, failed=1)
    kept = ["/a", "/b", "/c", "/in-block"]
    assert flow_uris(suite) == [suite.server.url(page) for page in kept]
    result.stdout.fnmatch_lines(
        ["  cassettes/shared/flow.yaml (not passed: test_suite.py::test_b)"]
    )
    monkeypatch.delenv("FAIL_b")
    suite.run("--record-mode=none").assert_outcomes(passed=3)


@pytest.mark.parametrize("first", [True, False], ids=["block-first", "block-later"])
def test_a_whole_rewrite_keeps_what_a_block_of_another_test_records_into_a_shared_cassette(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, first: bool
) -> None:
    # test_z, whose marker names no cassette, records a part of its requests in a block of
    # the cassette test_a and test_b name. Run before them, the block's save rewrote the file
    # whole (test_b's page lost though test_b then failed), and its page, found there by the
    # first of them to open it, was taken for old: the run's end removed it.
    block = """
def test_z(request):
    from pytest_cassettes import use_cassette

    with use_cassette(request, "shared/flow.yaml"):
        requests.get(URL + "/z")
"""
    source = SHARED_ABC.format(old="")
    suite.write(block + source if first else source + block)
    suite.run().assert_outcomes(passed=4)
    monkeypatch.setenv("FAIL_b", "1")
    suite.run("--record-mode=rewrite").assert_outcomes(passed=3, failed=1)
    assert flow_uris(suite) == [suite.server.url(page) for page in ("/a", "/b", "/c", "/z")]
    monkeypatch.delenv("FAIL_b")
    suite.run("--record-mode=rewrite").assert_outcomes(passed=4)
    assert flow_uris(suite) == [suite.server.url(page) for page in ("/a", "/b", "/c", "/z")]
    suite.run("--record-mode=none").assert_outcomes(passed=4)


# test_a (and test_b) name shared/flow.yaml; test_z's block of it says record_mode="rewrite".
BLOCK_REWRITING = """
@pytest.mark.cassette("shared/flow.yaml")
def test_a():
    requests.get(URL + "/a")
{test_b}
def test_z(request):
    from pytest_cassettes import use_cassette

    with use_cassette(request, "shared/flow.yaml", record_mode="rewrite"):
        requests.get(URL + "/z")
{old}
"""
TEST_B = """
@pytest.mark.cassette("shared/flow.yaml")
def test_b():
    requests.get(URL + "/b")
"""


@pytest.mark.parametrize("tests", [1, 2], ids=["one-test", "two-tests"])
def test_a_block_saying_rewrite_keeps_what_the_tests_naming_its_cassette_recorded(
    suite: Suite, tests: int
) -> None:
    # A use_cassette block whose own record_mode is "rewrite", in a run whose tests record in
    # `once`: where one test's marker names its cassette, the block's save rewrote the file
    # whole (test_a's page lost as soon as it was recorded, and test_a failed unmatched on
    # replay); where two do, it was replaced in part and the page the block no longer sends
    # stayed, the summary saying nothing.
    test_b = TEST_B if tests == 2 else ""
    suite.write(BLOCK_REWRITING.format(test_b=test_b, old='        requests.get(URL + "/old")'))
    suite.run().assert_outcomes(passed=tests + 1)
    pages = ["/a", "/b", "/z"] if tests == 2 else ["/a", "/z"]
    assert sorted(flow_uris(suite)) == sorted(suite.server.url(p) for p in [*pages, "/old"])
    suite.write(BLOCK_REWRITING.format(test_b=test_b, old=""))  # the block no longer sends /old
    result = suite.run("--cassette-report=r.json")
    result.assert_outcomes(passed=tests + 1)
    assert sorted(flow_uris(suite)) == sorted(suite.server.url(p) for p in [*pages, "/old"])
    result.stdout.fnmatch_lines(
        [
            'record_mode="rewrite" of a marker or use_cassette block replaced in part 1 '
            "cassette that other tests name too: *pytest --record-mode=rewrite",
            "  cassettes/shared/flow.yaml",
        ]
    )
    in_part = json.loads((suite.path / "r.json").read_text())["rewritten_in_part"]
    assert in_part == ["cassettes/shared/flow.yaml"]
    # Rewritten with the tests naming it, the page none sends any more goes.
    result = suite.run("--record-mode=rewrite")
    result.assert_outcomes(passed=tests + 1)
    assert sorted(flow_uris(suite)) == sorted(suite.server.url(p) for p in pages)
    assert "replaced in part" not in result.stdout.str()
    suite.run("--record-mode=none").assert_outcomes(passed=tests + 1)


# test_z records a part of its requests in a block of the cassette test_a and test_b name.
BLOCK_OF_SHARED = """
@pytest.mark.cassette("shared/flow.yaml")
def test_a():
    requests.get(URL + "/a")

@pytest.mark.cassette("shared/flow.yaml")
def test_b():
    requests.get(URL + "/b")

def test_q():
    assert not os.environ.get("FAIL_q")

def test_z(request):
    from pytest_cassettes import use_cassette

    with use_cassette(request, "shared/flow.yaml"):
        assert not os.environ.get("FAIL_z")
        if os.environ.get("CRASH_z"):
            os._exit(1)
        requests.get(URL + "/z")
"""

BLOCK_NOT_RUN = {
    "block-failed": ("FAIL_z", [], {"passed": 3, "failed": 1}),
    "block-failed-xdist": ("FAIL_z", ["-n", "2"], {"passed": 3, "failed": 1}),
    "block-crashed-xdist": ("CRASH_z", ["-n", "2"], {"passed": 3, "failed": 1}),
    "exitfirst": ("FAIL_q", ["-x"], {"passed": 2, "failed": 1}),
    "deselected": ("", ["-k", "not test_z"], {"passed": 3, "deselected": 1}),
}


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=needs_xdist) if "xdist" in c else c for c in BLOCK_NOT_RUN]
)
def test_a_whole_rewrite_keeps_what_a_block_that_did_not_save_recorded_into_a_shared_cassette(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    # A whole-suite rewrite where test_z's block of the cassette test_a and test_b name failed,
    # or where test_z did not run (-x stopped the run, -k left it out): test_a and test_b
    # passed, so the run's end removed the old recording they did not send again, test_z's
    # page with it, and test_z failed unmatched on replay (where test_z's xdist worker crashed
    # in the block too: its report never came).
    variable, args, outcomes = BLOCK_NOT_RUN[case]
    suite.write(BLOCK_OF_SHARED)
    suite.run().assert_outcomes(passed=4)
    if variable:
        monkeypatch.setenv(variable, "1")
    result = run(suite, "--record-mode=rewrite", "--cassette-report=r.json", *args)
    result.assert_outcomes(**outcomes)
    assert flow_uris(suite) == [suite.server.url(page) for page in ("/a", "/b", "/z")]
    kept_old = json.loads((suite.path / "r.json").read_text())["rewrite_kept_old"]
    if variable == "FAIL_z":
        assert kept_old == {"cassettes/shared/flow.yaml": ["test_suite.py::test_z"]}
        result.stdout.fnmatch_lines(
            ["  cassettes/shared/flow.yaml (not passed: test_suite.py::test_z)"]
        )
    else:
        assert kept_old == {"cassettes/shared/flow.yaml": []}
        result.stdout.fnmatch_lines(["  cassettes/shared/flow.yaml (the run left tests out)"])
    if variable:
        monkeypatch.delenv(variable)
    run(suite, "--record-mode=none").assert_outcomes(passed=4)


# Two recorders of shared/flow.yaml, the first sending /old too: test_a, whose marker names
# it, or test_y, recording into it in a block as test_z does.
TWO_RECORDERS = {
    "marker-and-block": """
@pytest.mark.cassette("shared/flow.yaml")
def test_a():
    assert not os.environ.get("FAIL_a")
    requests.get(URL + "/a")
{old}
""",
    "two-blocks": """
def test_y(request):
    from pytest_cassettes import use_cassette

    with use_cassette(request, "shared/flow.yaml"):
        assert not os.environ.get("FAIL_y")
        requests.get(URL + "/y")
    {old}
""",
}
BLOCK_OF_Z = """
def test_z(request):
    from pytest_cassettes import use_cassette

    with use_cassette(request, "shared/flow.yaml"):
        assert not os.environ.get("FAIL_z")
        requests.get(URL + "/z")
"""


@pytest.mark.parametrize(
    ("kind", "failing"),
    [
        ("marker-and-block", "test_a"),
        ("marker-and-block", "test_z"),
        ("two-blocks", "test_y"),
        ("two-blocks", "test_z"),
    ],
)
def test_a_rewrite_keeps_what_a_block_and_another_recorder_of_its_cassette_need_until_both_pass(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, kind: str, failing: str
) -> None:
    # A cassette one test's marker names, or none, that test_z records into in a block: a
    # whole-suite rewrite removed the file's old recording at the first save, that of the one
    # that passed, and the other, which failed, lost its page (it failed unmatched on replay).
    first = "/a" if kind == "marker-and-block" else "/y"
    old = '    requests.get(URL + "/old")'
    suite.write(TWO_RECORDERS[kind].format(old=old) + BLOCK_OF_Z)
    suite.run().assert_outcomes(passed=2)
    suite.write(TWO_RECORDERS[kind].format(old="") + BLOCK_OF_Z)  # /old no longer sent
    variable = "FAIL_" + failing[-1]
    monkeypatch.setenv(variable, "1")
    result = suite.run("--record-mode=rewrite")
    result.assert_outcomes(passed=1, failed=1)
    assert flow_uris(suite) == sorted(suite.server.url(page) for page in (first, "/old", "/z"))
    result.stdout.fnmatch_lines([f"  cassettes/shared/flow.yaml (not passed: *{failing})"])
    monkeypatch.delenv(variable)
    suite.run("--record-mode=none").assert_outcomes(passed=2)
    suite.run("--record-mode=rewrite").assert_outcomes(passed=2)  # both pass: /old goes
    assert flow_uris(suite) == [suite.server.url(page) for page in (first, "/z")]
    suite.run("--record-mode=none").assert_outcomes(passed=2)


@pytest.mark.parametrize("xdist", XDIST)
def test_a_marker_saying_rewrite_for_every_test_naming_its_cassette_replaces_it_whole(
    suite: Suite, xdist: list[str]
) -> None:
    # A test parametrized over one cassette, its marker saying record_mode="rewrite": every
    # test naming it rewrites, yet the page none sends any more stayed, and the summary said
    # other tests name it too.
    source = """
@pytest.mark.cassette("shared/flow.yaml", record_mode="{mode}")
@pytest.mark.parametrize("page", ["/a", "/b"])
def test_page(page):
    requests.get(URL + page)
{old}
"""
    suite.write(source.format(mode="once", old='    requests.get(URL + "/old")'))
    run(suite, *xdist).assert_outcomes(passed=2)
    suite.write(source.format(mode="rewrite", old=""))  # /old no longer sent
    result = run(suite, *xdist)
    result.assert_outcomes(passed=2)
    assert flow_uris(suite) == [suite.server.url(page) for page in ("/a", "/b")]
    assert "in part" not in result.stdout.str()
    run(suite, "--record-mode=none", *xdist).assert_outcomes(passed=2)


@pytest.mark.parametrize("ini", [False, True], ids=["default-once", "ini-rewrite"])
def test_a_marker_saying_rewrite_keeps_what_tests_replaying_its_shared_cassette_need(
    suite: Suite, ini: bool
) -> None:
    # test_a's marker says record_mode="rewrite", test_b's `once` (the default, or its marker
    # where the ini says rewrite): the run's end removed the old recording test_a did not send
    # again, test_b's page with it, and test_b failed unmatched on the next run.
    source = SHARED_AB.format(old="").replace("@pytest.mark.slow\n", "")
    suite.write(source)
    suite.run().assert_outcomes(passed=2)
    if ini:
        suite.pytester.makeini("[pytest]\ncassette_record_mode = rewrite\n")
        marked = '@pytest.mark.cassette("shared/flow.yaml", record_mode="once")\ndef test_b'
        source = source.replace('@pytest.mark.cassette("shared/flow.yaml")\ndef test_b', marked)
    else:
        marked = '@pytest.mark.cassette("shared/flow.yaml", record_mode="rewrite")\ndef test_a'
        source = source.replace('@pytest.mark.cassette("shared/flow.yaml")\ndef test_a', marked)
    suite.write(source)
    result = suite.run("--cassette-report=r.json")
    result.assert_outcomes(passed=2)
    assert flow_uris(suite) == [suite.server.url("/a"), suite.server.url("/b")]
    if ini:
        result.stdout.fnmatch_lines(["  cassettes/shared/flow.yaml (not passed: *test_b)"])
    else:
        result.stdout.fnmatch_lines(
            ['record_mode="rewrite" of a marker * replaced in part 1 cassette *', "  cassettes/*"]
        )
        in_part = json.loads((suite.path / "r.json").read_text())["rewritten_in_part"]
        assert in_part == ["cassettes/shared/flow.yaml"]
    suite.run("--record-mode=none").assert_outcomes(passed=2)


# A serializer of the user's (vcrpy's JSON under another name), or a persister (vcrpy's own
# file persister, subclassed), registered for the whole suite.
STORED_BY_THE_USER = {
    "serializer": """
from vcr.serializers import jsonserializer

class Mine:
    serialize = staticmethod(jsonserializer.serialize)
    deserialize = staticmethod(jsonserializer.deserialize)

def pytest_cassettes_configure(config, vcr):
    vcr.register_serializer("mine", Mine)
""",
    "persister": """
from vcr.persisters.filesystem import FilesystemPersister

class Mine(FilesystemPersister):
    pass

def pytest_cassettes_configure(config, vcr):
    vcr.register_persister(Mine)
""",
}


@pytest.mark.parametrize("kind", STORED_BY_THE_USER)
def test_a_whole_rewrite_through_a_users_serializer_or_persister_keeps_what_failed_tests_need(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    # A cassette several tests name, stored through a serializer or a persister of the user's:
    # a whole-suite rewrite where test_b failed rewrote it whole at test_a's save, and test_b's
    # page was lost (test_b failed unmatched on replay).
    suite.pytester.makeconftest(STORED_BY_THE_USER[kind])
    source = SHARED_ABC
    if kind == "serializer":
        source = source.replace('"shared/flow.yaml"', '"shared/flow.json", serializer="mine"')
    stored = (
        suite.path / "cassettes/shared" / ("flow.json" if kind == "serializer" else "flow.yaml")
    )

    def uris() -> list[str]:
        flow = yaml.safe_load(stored.read_text())  # JSON is YAML too
        return sorted(i["request"]["uri"] for i in flow["interactions"])

    suite.write(source.format(old='    requests.get(URL + "/old")'))
    suite.run().assert_outcomes(passed=3)
    suite.write(source.format(old=""))  # test_a no longer sends /old
    monkeypatch.setenv("FAIL_b", "1")
    result = suite.run("--record-mode=rewrite")
    result.assert_outcomes(passed=2, failed=1)
    assert uris() == [suite.server.url(page) for page in ("/a", "/b", "/c", "/old")]
    result.stdout.fnmatch_lines(["  cassettes/shared/flow.* (not passed: test_suite.py::test_b)"])
    monkeypatch.delenv("FAIL_b")
    suite.run("--record-mode=none").assert_outcomes(passed=3)
    suite.run("--record-mode=rewrite").assert_outcomes(passed=3)
    assert uris() == [suite.server.url(page) for page in ("/a", "/b", "/c")]
    suite.run("--record-mode=none").assert_outcomes(passed=3)


# A serializer or a persister of the user's registered in a conftest of a subfolder, which an
# xdist controller (it collects nothing) never loads; the persister stores beside the path.
IN_A_SUBFOLDER = {
    "serializer": STORED_BY_THE_USER["serializer"],
    "persister": """
import os

from vcr.persisters.filesystem import CassetteNotFoundError
from vcr.serialize import deserialize, serialize

class Mine:
    @staticmethod
    def load_cassette(cassette_path, serializer):
        if not os.path.exists(cassette_path + ".mine"):
            raise CassetteNotFoundError()
        with open(cassette_path + ".mine") as file:
            return deserialize(file.read(), serializer)

    @staticmethod
    def save_cassette(cassette_path, cassette_dict, serializer):
        os.makedirs(os.path.dirname(cassette_path), exist_ok=True)
        with open(cassette_path + ".mine", "w") as file:
            file.write(serialize(cassette_dict, serializer))

def pytest_cassettes_configure(config, vcr):
    vcr.register_persister(Mine)
""",
}


@needs_xdist
@pytest.mark.parametrize("kind", IN_A_SUBFOLDER)
def test_a_whole_rewrite_under_xdist_keeps_the_old_where_only_workers_know_how_it_is_stored(
    suite: Suite, kind: str
) -> None:
    # The workers' conftest registered the serializer; the controller, at the run's end, did
    # not have it: KeyError 'mine' (INTERNALERROR) after the tests passed. A persister it
    # lacked too: its vcrpy default wrote a stray empty cassette where the user's stores none.
    folder = suite.path / "sub"
    folder.mkdir()
    (folder / "conftest.py").write_text(IN_A_SUBFOLDER[kind])
    name = "shared/flow.json" if kind == "serializer" else "shared/flow.yaml"
    options = ', serializer="mine"' if kind == "serializer" else ""
    module = folder / "test_sub.py"
    source = HEADER + textwrap.dedent(
        f"""
        @pytest.mark.cassette("{name}"{options})
        @pytest.mark.parametrize("page", ["/a", "/b"])
        def test_page(page):
            requests.get(URL + page)
        {{old}}
        """
    )
    module.write_text(source.format(old='    requests.get(URL + "/old") if page == "/a" else None'))
    run(suite, "-n", "2").assert_outcomes(passed=2)
    module.write_text(source.format(old=""))  # /old no longer sent
    os.utime(module, (module.stat().st_mtime + 2,) * 2)
    result = run(suite, "-n", "2", "--record-mode=rewrite")
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    stored = folder / "cassettes" / (name if kind == "serializer" else name + ".mine")
    flow = yaml.safe_load(stored.read_text())  # JSON is YAML too
    uris = sorted(i["request"]["uri"] for i in flow["interactions"])
    assert uris == [suite.server.url(page) for page in ("/a", "/b", "/old")]
    assert not (folder / "cassettes/shared/flow.yaml").exists()  # no stray file
    result.stdout.fnmatch_lines(
        [
            "--record-mode=rewrite kept old interactions in 1 cassette *",
            f"  sub/cassettes/{name} (* {kind} * not registered in pytest's main process*)",
        ]
    )


# A persister of the user's that stops saving once FLAG exists (test_z creates it, or deletes
# the cassette), after every test recorded.
FAILING_LATE = """
from vcr.persisters.filesystem import FilesystemPersister

class Mine(FilesystemPersister):
    @classmethod
    def save_cassette(cls, cassette_path, cassette_dict, serializer):
        if os.path.exists(os.environ["FLAG"]):
            raise RuntimeError("the store is down")
        super().save_cassette(cassette_path, cassette_dict, serializer)

def pytest_cassettes_configure(config, vcr):
    vcr.register_persister(Mine)
"""
AT_THE_END = """
@pytest.mark.cassette("shared/flow.yaml")
@pytest.mark.parametrize("page", ["/a", "/b"])
def test_page(page):
    requests.get(URL + page)
{old}

def test_z():
    if os.environ.get("DELETE"):
        os.remove("cassettes/shared/flow.yaml")
    else:
        open(os.environ["FLAG"], "w").close()
"""


@pytest.mark.parametrize("case", ["persister-fails", "cassette-deleted"])
def test_a_whole_rewrite_ends_well_where_the_store_changed_under_the_run(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    # A persister raising as the run's end removed the old recording crashed the session
    # (INTERNALERROR, no summary); a cassette deleted during the run was written back, empty.
    suite.pytester.makeconftest("import os\n" + FAILING_LATE)
    flag = suite.path / "flag"
    monkeypatch.setenv("FLAG", str(flag))
    suite.write(AT_THE_END.format(old='    requests.get(URL + "/old")'))
    suite.run("-p", "no:randomly").assert_outcomes(passed=3)
    flag.unlink()
    suite.write(AT_THE_END.format(old=""))  # /old no longer sent
    if case == "cassette-deleted":
        monkeypatch.setenv("DELETE", "1")
    result = suite.run("-p", "no:randomly", "--record-mode=rewrite")
    result.assert_outcomes(passed=3)
    stored = suite.path / "cassettes/shared/flow.yaml"
    if case == "cassette-deleted":
        assert not stored.exists()
        return
    assert flow_uris(suite) == [suite.server.url(page) for page in ("/a", "/b", "/old")]
    result.stdout.fnmatch_lines(["  cassettes/shared/flow.yaml (*RuntimeError: the store is down)"])


@pytest.mark.parametrize("xdist", XDIST)
def test_a_whole_rewrite_counts_a_test_passing_on_its_rerun_as_passed(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, xdist: list[str]
) -> None:
    # pytest-rerunfailures: test_b fails once after its request, then passes; the rerun's
    # record supersedes the failed attempt's, and the old page none sends any more goes.
    flaky = """
@pytest.mark.cassette("shared/flow.yaml")
@pytest.mark.flaky(reruns=1)
def test_b(tmp_path_factory):
    requests.get(URL + "/b")
    once = tmp_path_factory.getbasetemp().parent / "failed-once"
    if os.environ.get("FLAKY_b") and not once.exists():
        once.write_text("")
        raise AssertionError("flaky")
"""
    test_a = SHARED_ABC.split("@pytest.mark.cassette", 2)[1]
    suite.write(
        "@pytest.mark.cassette" + test_a.format(old='    requests.get(URL + "/old")') + flaky
    )
    suite.run().assert_outcomes(passed=2)
    suite.write("@pytest.mark.cassette" + test_a.format(old="") + flaky)
    monkeypatch.setenv("FLAKY_b", "1")
    result = run(suite, "--record-mode=rewrite", *xdist)
    assert result.parseoutcomes().get("rerun") == 1
    assert flow_uris(suite) == [suite.server.url("/a"), suite.server.url("/b")]
    assert "kept old interactions" not in result.stdout.str()


RECORDED_BESIDE = """
import pytest

@pytest.fixture
def cassette_dir(request):
    return str(request.path.parent / "recorded")
"""


def test_a_whole_rewrite_of_a_name_tests_share_in_folders_of_their_own_drops_the_stale(
    suite: Suite,
) -> None:
    # A conftest's cassette_dir: the tests naming `flow.yaml` count by the name, test_b's in
    # another folder; it records there, and its cassette is no reason to keep a/'s old pages.
    suite.pytester.makeconftest(RECORDED_BESIDE)
    test = """
@pytest.mark.cassette("flow.yaml")
def test_{name}():
    requests.get(URL + "/{name}")
"""
    suite.write(
        test.format(name="a1") + '    requests.get(URL + "/old")\n' + test.format(name="a2"),
        "a/test_a",
    )
    suite.write(test.format(name="b"), "b/test_b")
    suite.run().assert_outcomes(passed=3)
    suite.write(test.format(name="a1") + test.format(name="a2"), "a/test_a")
    result = suite.run("--record-mode=rewrite")
    result.assert_outcomes(passed=3)
    assert "kept old interactions" not in result.stdout.str()
    for folder, pages in (("a", ["/a1", "/a2"]), ("b", ["/b"])):
        flow = yaml.safe_load((suite.path / folder / "recorded/flow.yaml").read_text())
        uris = sorted(i["request"]["uri"] for i in flow["interactions"])
        assert uris == [suite.server.url(page) for page in pages]


# test_a names flow.yaml through its module's own cassette_dir (the folder of its other
# module's cassettes too), and errors in its setup before its cassette opens where BREAK says:
# in that fixture, or in a module-scoped one set up before it.
NAMED_THROUGH_ITS_FIXTURE = """
@pytest.fixture(scope="module")
def service():
    assert os.environ.get("BREAK") != "module"

@pytest.fixture
def cassette_dir(request):
    assert os.environ.get("BREAK") != "cassette_dir"
    return str(request.path.parent / "cassettes")

@pytest.mark.cassette("flow.yaml")
def test_a(service):
    requests.get(URL + "/a")
"""
# The other recorder of flow.yaml, in a module of its own: a block, or a test naming it.
RECORDING_INTO_FLOW = {
    "block": """
def test_z(request):
    from pytest_cassettes import use_cassette

    with use_cassette(request, "flow.yaml"):
        requests.get(URL + "/z")
""",
    "marker": """
@pytest.mark.cassette("flow.yaml")
def test_z():
    requests.get(URL + "/z")
""",
}


@pytest.mark.parametrize(
    ("other", "first", "broken", "xdist"),
    [
        ("block", True, "cassette_dir", []),
        ("block", False, "module", []),
        ("marker", True, "module", []),
        ("marker", False, "cassette_dir", []),
        pytest.param("block", False, "cassette_dir", ["-n", "2"], marks=needs_xdist),
        pytest.param("marker", True, "module", ["-n", "2"], marks=needs_xdist),
    ],
    ids=["block", "block-later", "marker", "marker-later", "block-later-n2", "marker-n2"],
)
def test_a_whole_rewrite_keeps_what_a_test_naming_its_cassette_through_its_fixture_recorded(
    suite: Suite,
    monkeypatch: pytest.MonkeyPatch,
    other: str,
    first: bool,
    broken: str,
    xdist: list[str],
) -> None:
    # test_a, whose cassette_dir fixture is its module's, errored in its setup, before its
    # cassette opened: tests naming a cassette through a fixture of their own are known by
    # the name only, so test_z's file was taken for one only test_z's block, or test_z, named,
    # and the run's end removed test_a's page as old (test_a failed unmatched on replay).
    suite.write(NAMED_THROUGH_ITS_FIXTURE)
    suite.write(RECORDING_INTO_FLOW[other], "test_0other" if first else "test_zother")
    run(suite, *xdist).assert_outcomes(passed=2)
    flow = suite.path / "cassettes/flow.yaml"

    def uris() -> list[str]:
        interactions = yaml.safe_load(flow.read_text())["interactions"]
        return sorted(i["request"]["uri"] for i in interactions)

    both = [suite.server.url("/a"), suite.server.url("/z")]
    assert uris() == both
    monkeypatch.setenv("BREAK", broken)
    result = run(suite, "--record-mode=rewrite", "--cassette-report=r.json", *xdist)
    result.assert_outcomes(passed=1, errors=1)
    assert uris() == both
    kept_old = json.loads((suite.path / "r.json").read_text())["rewrite_kept_old"]
    assert kept_old == {"cassettes/flow.yaml": ["test_suite.py::test_a"]}
    monkeypatch.delenv("BREAK")
    run(suite, "--record-mode=none", *xdist).assert_outcomes(passed=2)
    # Both pass: nothing is kept, nothing lost.
    result = run(suite, "--record-mode=rewrite", *xdist)
    result.assert_outcomes(passed=2)
    assert "kept old interactions" not in result.stdout.str()
    assert uris() == both


def test_a_whole_rewrite_keeps_what_a_test_naming_a_json_cassette_without_its_suffix_recorded(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # test_a names `flow` (serializer="json": cassettes/flow.json) and errors in a module
    # fixture before its cassette opens; test_z records into the same file in a block. The
    # tests naming a file were looked for under `flow.yaml`: the block's file was taken for one
    # no test names, and the run's end removed test_a's page as old.
    suite.write(
        """
@pytest.fixture(scope="module")
def service():
    assert not os.environ.get("BREAK")

@pytest.mark.cassette("flow", serializer="json")
def test_a(service):
    requests.get(URL + "/a")
"""
    )
    suite.write(
        RECORDING_INTO_FLOW["block"].replace('"flow.yaml"', '"flow", serializer="json"'),
        "test_zother",
    )
    suite.run().assert_outcomes(passed=2)
    flow = suite.path / "cassettes/flow.json"

    def uris() -> list[str]:
        interactions = json.loads(flow.read_text())["interactions"]
        return sorted(i["request"]["uri"] for i in interactions)

    both = [suite.server.url("/a"), suite.server.url("/z")]
    assert uris() == both
    monkeypatch.setenv("BREAK", "1")
    result = suite.run("--record-mode=rewrite")
    result.assert_outcomes(passed=1, errors=1)
    assert uris() == both
    result.stdout.fnmatch_lines(["  cassettes/flow.json (not passed: test_suite.py::test_a)"])
    monkeypatch.delenv("BREAK")
    suite.run("--record-mode=none").assert_outcomes(passed=2)


@pytest.mark.parametrize(
    "mark",
    [
        "@pytest.mark.skipif(False, reason='off')",
        "@pytest.mark.skipif('sys.platform == \"none\"', reason='off')",
        "@pytest.mark.xfail(False, run=False, reason='hangs')",
        "@pytest.mark.xfail(reason='flaky')",
    ],
    ids=["skipif-false", "skipif-string-false", "xfail-if-false", "xfail-runs"],
)
def test_a_rewrite_of_tests_their_markers_let_run_records_the_cassette_afresh(
    suite: Suite, mark: str
) -> None:
    # A condition that does not skip the test: every test naming the cassette sends again, and
    # the page none sends any more goes.
    suite.write(SHARED_AB.format(old='    requests.get(URL + "/old")'))
    suite.run().assert_outcomes(passed=2)
    suite.write(SHARED_AB.format(old="").replace("def test_b", f"{mark}\ndef test_b"))
    result = run(suite, "--record-mode=rewrite")
    assert flow_uris(suite) == [suite.server.url(page) for page in ("/a", "/b")]
    assert "replaced in part" not in result.stdout.str()


@pytest.mark.parametrize("whole", [[], ["tests"], ["."]], ids=["bare", "testpaths", "rootdir"])
def test_a_run_of_the_whole_suite_drops_what_a_cassette_s_one_test_no_longer_sends(
    suite: Suite, whole: list[str]
) -> None:
    # A run given the suite's testpaths (`pytest tests`) was taken for a narrower one: it told
    # no orphan in a project with one cassette dir.
    flow_suite(suite, "a", more='    requests.get(URL + "/old")\n')
    suite.run().assert_outcomes(passed=1)
    flow_suite(suite, "a")  # test_a no longer sends /old
    # Folders pytest never goes into, test modules in them or not, leave none of the suite out.
    for folder in ("tests/.venv/lib", "tests/env/lib", "tests/node_modules/pkg"):
        suite.write("def test_vendored(): pass\n", name=f"{folder}/test_vendored")
    (suite.path / "tests/env/pyvenv.cfg").write_text("home = /usr/bin\n")
    (suite.path / "tests/env/bin").mkdir()  # a virtualenv to pytest 7 (8 reads pyvenv.cfg)
    (suite.path / "tests/env/bin/activate").write_text("")
    old = [suite.server.url("/a"), suite.server.url("/old")]
    result = run(suite, "--record-mode=new_episodes", "tests/a")
    result.assert_outcomes(passed=1)
    assert flow_uris(suite) == old
    result = run(suite, "--record-mode=new_episodes", "--cassette-report=r.json", *whole)
    result.assert_outcomes(passed=1)
    assert flow_uris(suite) == [suite.server.url("/a")]
    assert "drop_unused_requests not applied" not in result.stdout.str()
    assert json.loads((suite.path / "r.json").read_text())["orphans_known"] is True


LAST_FAILED = {
    "lf": ["--lf"],
    "lf-lfnf-all": ["--lf", "--lfnf=all"],
    "lf-failure-fixed": ["--lf"],  # the cache's failures emptied by the run that fixed them
    "ff": ["--ff"],
    "lf-xdist": ["--lf", "-n", "2"],  # each worker reads the cache
}


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=needs_xdist) if "xdist" in c else c for c in LAST_FAILED]
)
def test_a_run_of_last_failures_where_none_are_known_is_a_run_of_the_whole_suite(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    # `pytest --lf` with no failure recorded runs every test, but was taken for a run of part
    # of the suite: drop_unused_requests was not applied, and no orphan was told.
    flow_suite(suite, "a", more='    requests.get(URL + "/old")\n')
    suite.run().assert_outcomes(passed=1)
    flow_suite(suite, "a")  # test_a no longer sends /old
    cache = ["-p", "cacheprovider"]
    if case == "lf-failure-fixed":
        monkeypatch.setenv("FAIL_a", "1")
        run(suite, "--record-mode=none", *cache).assert_outcomes(failed=1)
        monkeypatch.delenv("FAIL_a")
        run(suite, "--record-mode=none", "--lf", *cache).assert_outcomes(passed=1)
    args = ["--record-mode=new_episodes", "--cassette-report=r.json", *LAST_FAILED[case], *cache]
    result = run(suite, *args)
    result.assert_outcomes(passed=1)
    assert flow_uris(suite) == [suite.server.url("/a")]
    assert "drop_unused_requests not applied" not in result.stdout.str()
    assert json.loads((suite.path / "r.json").read_text())["orphans_known"] is True


@pytest.mark.parametrize("pattern", ["tests/data", "*/data"])
def test_a_folder_norecursedirs_names_by_its_path_leaves_none_of_the_suite_out(
    suite: Suite, pattern: str
) -> None:
    # norecursedirs = tests/data (pytest's own suite names testing/example_scripts so): its
    # test-like files were taken for test modules the run ignored, so every whole run was one
    # of part of the suite: drop_unused_requests was never applied.
    flow_suite(suite, "a", more='    requests.get(URL + "/old")\n')
    suite.run().assert_outcomes(passed=1)
    flow_suite(suite, "a")  # test_a no longer sends /old
    suite.pytester.makeini(
        f"[pytest]\ntestpaths = tests\ncassette_dir = cassettes\nnorecursedirs = {pattern}\n"
    )
    suite.write("def test_sample(): pass\n", name="tests/data/test_sample")
    result = run(suite, "--record-mode=new_episodes")
    result.assert_outcomes(passed=1)
    assert flow_uris(suite) == [suite.server.url("/a")]
    assert "drop_unused_requests not applied" not in result.stdout.str()


def test_another_plugin_s_option_named_ignore_something_leaves_none_of_the_suite_out(
    suite: Suite,
) -> None:
    # `pytest --ignore-slow` (a conftest's or a plugin's flag) was taken for pytest's --ignore:
    # the whole suite's run was one of part of it, and drop_unused_requests was never applied.
    flow_suite(suite, "a", more='    requests.get(URL + "/old")\n')
    suite.run().assert_outcomes(passed=1)
    flow_suite(suite, "a")  # test_a no longer sends /old
    suite.pytester.makeconftest(
        'def pytest_addoption(parser):\n    parser.addoption("--ignore-slow", action="store_true")\n'
    )
    result = run(suite, "--record-mode=new_episodes", "--ignore-slow")
    result.assert_outcomes(passed=1)
    assert flow_uris(suite) == [suite.server.url("/a")]
    assert "drop_unused_requests not applied" not in result.stdout.str()


def test_tests_sharing_a_cassette_in_a_directory_of_their_own_fixture_keep_each_others(
    suite: Suite,
) -> None:
    # A conftest's cassette_dir: the path was known only as each test ran, and each test's
    # save dropped the pages recorded before it (the file kept the last page).
    suite.pytester.makeconftest(RECORDED_BESIDE)
    suite.write(shared_pages(3, DROPPING))
    run(suite).assert_outcomes(passed=3)
    run(suite, "--record-mode=none", "--cassette-strict").assert_outcomes(passed=3)
    recorded = yaml.safe_load((suite.path / "recorded/shared/pages.yaml").read_text())
    uris = sorted(i["request"]["uri"] for i in recorded["interactions"])
    assert uris == [suite.server.url(f"/{n}") for n in range(3)]


def test_a_cassette_config_of_their_own_leaves_tests_naming_one_name_in_two_folders_apart(
    suite: Suite,
) -> None:
    # A conftest's cassette_config (the project's filters) had the tests counted by the name
    # alone: a/cassettes/flow.yaml and b/cassettes/flow.yaml were taken for one file two tests
    # share, and drop_unused_requests was applied to neither.
    suite.pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def cassette_config():
            return {"filter_headers": ["x-trace"]}
        """
    )
    test = """
@pytest.mark.cassette("flow.yaml", drop_unused_requests=True)
def test_{name}():
    requests.get(URL + "/{name}")
"""
    for name in ("a", "b"):
        suite.write(
            test.format(name=name) + '    requests.get(URL + "/old")\n', f"{name}/test_{name}"
        )
    suite.run().assert_outcomes(passed=2)
    for name in ("a", "b"):
        suite.write(test.format(name=name), f"{name}/test_{name}")
    result = suite.run("--record-mode=new_episodes")
    result.assert_outcomes(passed=2)
    assert "drop_unused_requests not applied" not in result.stdout.str()
    for name in ("a", "b"):
        flow = yaml.safe_load((suite.path / name / "cassettes/flow.yaml").read_text())
        assert [i["request"]["uri"] for i in flow["interactions"]] == [suite.server.url(f"/{name}")]


SCRUBBED = """
@pytest.mark.cassette
def test_login():
    requests.get(URL + "/login", headers={"Authorization": "Bearer q8Jm2vR7xK4pL9wZ"})

@pytest.mark.cassette
def test_search():
    requests.get(URL + "/search?api_key=k3Yd8sP1rT6uW0zQ")
    requests.get(URL + "/search?page=2")
"""


@pytest.mark.parametrize("xdist", XDIST)
def test_the_json_report_counts_what_the_summary_says(suite: Suite, xdist: list[str]) -> None:
    for path in ("/login", "/search"):  # not the echo, which would hold the secrets again
        suite.server.route(path, body=b"ok")
    suite.write(SCRUBBED)
    result = run(suite, "--cassette-report=recorded.json", *xdist)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "0 cassettes replayed (0 interactions), 2 cassettes recorded (3 new interactions), "
            "2 secret values scrubbed"
        ]
    )
    totals = json.loads((suite.path / "recorded.json").read_text())["totals"]
    assert (
        totals["cassettes_recorded"],
        totals["interactions_recorded"],
        totals["values_scrubbed"],
    ) == (2, 3, 2)
    suite.write(SCRUBBED.replace('    requests.get(URL + "/search?page=2")\n', ""))
    result = run(suite, "--record-mode=none", "--cassette-report=replayed.json", *xdist)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "2 cassettes replayed (2 interactions), 0 cassettes recorded (0 new interactions), "
            "0 secret values scrubbed",
            "1 recorded interaction never played, in 1 test: *",
        ]
    )
    totals = json.loads((suite.path / "replayed.json").read_text())["totals"]
    assert (
        totals["cassettes_replayed"],
        totals["interactions_played"],
        totals["interactions_unused"],
        totals["cassettes_recorded"],
        totals["values_scrubbed"],
    ) == (2, 2, 1, 0, 0)


@contextlib.contextmanager
def undeletable(folder: Path) -> Iterator[None]:
    """A folder whose files cannot be deleted (read-only; immutable where we are root)."""
    if os.getuid() == 0:
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
            pytest.skip("root, without chattr to make a folder immutable")
        undo = ["chattr", "-i", str(folder)]
    else:
        folder.chmod(0o555)
        undo = ["chmod", "755", str(folder)]
    try:
        yield
    finally:
        subprocess.run(undo, check=True)


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_prune_that_cannot_delete_a_cassette_says_why_and_ends_the_run_cleanly(
    suite: Suite,
) -> None:
    # A cassette folder that is read-only (checked out so, a mounted volume): --cassette-prune
    # ended the run with PermissionError (INTERNALERROR) in place of its summary.
    orphan_setup(suite)
    folder = suite.path / "cassettes" / "test_suite"
    with undeletable(folder):
        result = suite.run("--cassette-prune", "--record-mode=none")
    result.assert_outcomes(passed=3, skipped=1)
    assert "INTERNALERROR" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "--cassette-prune deleted nothing: cannot delete "
            "cassettes/test_suite/test_removed_long_ago.yaml (*)",
        ]
    )
    assert (folder / "test_removed_long_ago.yaml").exists()


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_json_report_says_why_prune_deleted_nothing(suite: Suite) -> None:
    # The summary said "--cassette-prune deleted nothing: ..." but the JSON report had no
    # field for it: a CI job reading `pruned: []` could not tell a failed prune from a clean
    # tree.
    orphan_setup(suite)
    report = suite.path / "report.json"
    suite.run("--cassette-report=report.json")
    assert json.loads(report.read_text())["prune_failed"] is None
    suite.run("-k", "one", "--cassette-prune", "--cassette-report=report.json")
    refused = json.loads(report.read_text())
    assert refused["pruned"] == []
    assert refused["prune_failed"].startswith("orphans are told only in a run of the whole")
    folder = suite.path / "cassettes" / "test_suite"
    with undeletable(folder):
        suite.run("--cassette-prune", "--record-mode=none", "--cassette-report=report.json")
    failed = json.loads(report.read_text())
    assert failed["pruned"] == []
    assert failed["prune_failed"].startswith(
        "cannot delete cassettes/test_suite/test_removed_long_ago.yaml ("
    )


# A serializer that stops the save: it raises (a full disk would), or it outlasts the test's
# pytest-timeout, whose signal stops the save as it writes.
STOPPED_SAVE = """
import os
import time

from vcr.serializers import yamlserializer

class Stopping:
    deserialize = staticmethod(yamlserializer.deserialize)

    @staticmethod
    def serialize(data):
        if os.environ.get("STOP") == "raise":
            raise OSError(28, "No space left on device")
        if os.environ.get("STOP") == "timeout":
            time.sleep(60)
        return yamlserializer.serialize(data)

def pytest_cassettes_configure(config, vcr):
    vcr.register_serializer("stopping", Stopping)
"""


@pytest.mark.parametrize("stop", ["raise", "timeout"])
def test_a_save_stopped_by_an_error_or_a_timeout_is_reported_as_not_saved(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, stop: str
) -> None:
    # The test's teardown failed and its cassette stayed as it was, but the report left the
    # test out: the summary was silent (no "not saved" line) and the JSON report had no entry.
    if stop == "timeout":
        pytest.importorskip("pytest_timeout")
    suite.pytester.makeconftest(STOPPED_SAVE)
    timeout = "@pytest.mark.timeout(1)" if stop == "timeout" else ""
    suite.write(
        f"""
        @pytest.mark.cassette(serializer="stopping")
        {timeout}
        def test_new():
            requests.get(URL + "/a")
        """
    )
    monkeypatch.setenv("STOP", stop)
    plugin = ["-p", "timeout"] if stop == "timeout" else []
    result = suite.run(*plugin, "--cassette-report=r.json")
    result.assert_outcomes(passed=1, errors=1)
    assert not suite.cassette_path("test_new").exists()
    result.stdout.fnmatch_lines(["1 recorded interaction of failed tests not saved*"])
    (entry,) = json.loads((suite.path / "r.json").read_text())["tests"]
    assert (entry["saved"], entry["failed"], entry["recorded"]) == (False, True, 0)
    monkeypatch.delenv("STOP")
    suite.run().assert_outcomes(passed=1)  # the lock was let go: it records now
    assert suite.uris("test_new") == [suite.server.url("/a")]
