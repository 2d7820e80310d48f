"""Errors that say what to do, as test failures: unmatched requests, swallowed errors, bad files."""

from __future__ import annotations

import shlex

import pytest
import yaml

from tests.conftest import Suite, shared_pages

RECORDED = """
@pytest.mark.cassette
def test_api():
    requests.get(URL + "/users?page=1")
    requests.post(URL + "/users", json={"name": "ada"})
"""


def recorded(suite: Suite, replacement: str) -> pytest.RunResult:
    suite.write(RECORDED)
    suite.run().assert_outcomes(passed=1)
    suite.server.reset()
    suite.write(replacement)
    return suite.run("--record-mode=none")


def test_unmatched_request_shows_the_closest_recordings_and_what_differs(suite: Suite) -> None:
    result = recorded(
        suite,
        """
        @pytest.mark.cassette
        def test_api():
            requests.get(URL + "/users?page=2")
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*UnmatchedRequestError: Request not found in the cassette of test_suite.py::test_api:",
            "*GET http://127.0.0.1:*/users?page=2",
            "*cassette(s): *test_api.yaml",
            "*record mode: none (--record-mode)",
            "*closest recorded requests:",
            "*GET http://127.0.0.1:*/users?page=1 (differs in: query)",
            "*This run is replay-only*",
            "*pytest --record-mode=new_episodes 'test_suite.py::test_api'",
        ]
    )
    assert suite.server.hits == 0


def test_unmatched_request_shows_how_each_matcher_differs_shortened(suite: Suite) -> None:
    # vcrpy's matchers fail with a message (a custom one's assertion, the built-ins' `a != b`):
    # under the matcher that differs, its first lines, each cut at 200 characters, without
    # pytest's `Full diff:` of a rewritten assert.
    suite.pytester.makeconftest(
        """
        import json

        def json_body(r1, r2):
            assert json.loads(r1.body) == json.loads(r2.body), "JSON bodies differ"

        def pytest_cassettes_configure(config, vcr):
            vcr.register_matcher("json_body", json_body)
        """
    )
    source = """
        @pytest.mark.cassette(match_on=["method", "path", "query", "json_body"])
        def test_api():
            requests.post(URL + "/orders?q=" + "n" * 300 + "&page=1", json={"qty": QTY})
        """
    suite.write(source.replace("QTY", "2"))
    suite.run().assert_outcomes(passed=1)
    suite.server.reset()
    changed = source.replace("QTY", "3").replace("page=1", "page=2")
    suite.write(changed.replace('"n" * 300', '"m" * 300'))
    result = suite.run("--record-mode=none")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*closest recorded requests:",
            "*POST http://127.0.0.1:*/orders?q=nnn*&page=1 (differs in: query, json_body)",
            "*  query: page: '2', recorded '1'",
            "*    q: 'mmm*mmm\u2026",
            "*  json_body: JSON bodies differ",
            "*    assert {'qty': 3} == {'qty': 2}",
            "*      {'qty': 3} != {'qty': 2}",
            "*This run is replay-only*",
        ]
    )
    query = next(line for line in result.outlines if "q: 'mmm" in line)
    assert query.endswith("m" * 10 + "\u2026") and len(query.partition("    q: ")[2]) == 198
    assert "Full diff" not in result.stdout.str()  # pytest's long explanation is not all shown
    assert suite.server.hits == 0


def test_the_headers_matcher_shows_the_headers_that_differ(suite: Suite) -> None:
    # vcrpy's headers matcher says `{all headers} != {all headers}`: cut at 200 characters,
    # long headers before it hid the one that differs. Each differing header is on its line.
    source = """
        @pytest.mark.cassette(match_on=["method", "path", "headers"])
        def test_api():
            padding = {f"X-Padding-{n}": "p" * 60 for n in range(5)}
            requests.get(URL + "/items", headers={**padding, HEADERS})
        """
    suite.write(source.replace("HEADERS", '"X-Version": "2", "X-Old": "1"'))
    suite.run().assert_outcomes(passed=1)
    suite.server.reset()
    suite.write(source.replace("HEADERS", '"X-Version": "3", "X-New": "1"'))
    result = suite.run("--record-mode=none")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*GET http://127.0.0.1:*/items (differs in: headers)",
            "*  headers: X-New: '1', not recorded",
            "*    X-Old: not sent, recorded '1'",
            "*    X-Version: '3', recorded '2'",
            "*This run is replay-only*",
        ]
    )
    assert "'X-Padding-0'" not in result.stdout.str()  # the headers that match are left out
    assert suite.server.hits == 0


def test_a_server_the_test_starts_itself_on_a_free_port_is_named_as_such(suite: Suite) -> None:
    # pytest-django's live_server and a uvicorn thread serve the test's own app on a new port
    # each run: a recording of it can only fail to match (or, on a fixed port, replay the app's
    # answers without running it). The error said to record it again with new_episodes.
    suite.write(
        """
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer

        class App(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        @pytest.mark.cassette
        def test_live_app():
            server = HTTPServer(("127.0.0.1", 0), App)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            try:
                url = "http://localhost:%d/page?q=1" % server.server_port
                assert requests.get(url).text == "ok"
            finally:
                server.shutdown()
                server.server_close()
        """
    )
    suite.run().assert_outcomes(passed=1)
    result = suite.run("--record-mode=none")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*UnmatchedRequestError*",
            "*(differs in: port)*",
            "*Only its port differs, on this machine: a server the test starts itself*"
            "ignore_localhost=True*cassette_allow_hosts = localhost*",
            "*This run is replay-only*",
        ]
    )


def test_a_request_to_another_host_gets_no_local_server_advice(suite: Suite) -> None:
    result = recorded(
        suite,
        """
        @pytest.mark.cassette
        def test_api():
            requests.get(URL + "/users?page=2")
        """,
    )
    result.assert_outcomes(failed=1)
    assert "Only its port differs" not in result.stdout.str()


def test_a_repeated_request_suggests_allow_playback_repeats(suite: Suite) -> None:
    result = recorded(
        suite,
        """
        @pytest.mark.cassette
        def test_api():
            requests.get(URL + "/users?page=1")
            requests.get(URL + "/users?page=1")
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*already played 1 time(s)*allow_playback_repeats=True*"])


def test_allow_playback_repeats_replays_the_same_interaction_again(suite: Suite) -> None:
    result = recorded(
        suite,
        """
        @pytest.mark.cassette(allow_playback_repeats=True)
        def test_api():
            for _ in range(3):
                requests.get(URL + "/users?page=1")
        """,
    )
    result.assert_outcomes(passed=1)


def test_with_allow_playback_repeats_a_polling_test_replays_as_it_recorded(suite: Suite) -> None:
    """Matches play in their recorded order before any repeats, and a poll past the recording
    repeats the last answer: a poll (running, running, done) that passed while recording
    passes replayed (repeating the first answer, as vcrpy does, would poll for ever)."""
    uri = suite.server.url("/job")
    interactions = [
        {
            "request": {"method": "GET", "uri": uri, "body": None, "headers": {}},
            "response": {
                "status": {"code": 200, "message": "OK"},
                "headers": {"Content-Type": ["text/plain"]},
                "body": {"string": state},
            },
        }
        for state in ("running", "running", "done")
    ]
    path = suite.cassette_path("test_poll")
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump({"interactions": interactions, "version": 1}))
    suite.write(
        """
        @pytest.mark.cassette(allow_playback_repeats=True)
        def test_poll():
            seen = []
            while not seen or seen[-1] != "done":
                seen.append(requests.get(URL + "/job").text)
                assert len(seen) < 10
            assert seen == ["running", "running", "done"]
            assert requests.get(URL + "/job").text == "done"  # a late poll: the final answer
        """
    )
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0


def test_an_error_the_client_swallows_still_fails_the_test(suite: Suite) -> None:
    result = recorded(
        suite,
        """
        @pytest.mark.cassette
        def test_api():
            try:
                requests.get(URL + "/elsewhere")
            except Exception:
                pass  # an SDK with a fallback, a retry loop, a broad except...
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*UnmatchedRequestError*", "*GET */elsewhere*"])


@pytest.mark.skipif(
    int(pytest.__version__.split(".")[0]) < 9, reason="the `subtests` fixture is pytest 9's"
)
def test_an_error_a_subtest_shows_is_not_told_again_on_its_test(suite: Suite) -> None:
    result = recorded(
        suite,
        """
        @pytest.mark.cassette
        def test_api(subtests):
            with subtests.test(msg="shown"):
                requests.get(URL + "/shown")
            with subtests.test(msg="swallowed"):
                try:
                    requests.get(URL + "/swallowed")
                except Exception:
                    pass
            with subtests.test(msg="replayed"):
                assert requests.get(URL + "/users?page=1").status_code == 200
        """,
    )
    # The subtest that met the error shows it; the test fails with the error no subtest
    # showed (a client swallowed it), not with the subtest's again.
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["*test_api [[]shown[]]*", "*GET */shown", "*test_api _*", "*GET */swallowed"],
        consecutive=False,
    )
    told = [line for line in result.outlines if "Request not found in the cassette" in line]
    sent = [line.rsplit("/", 1)[1] for line in result.outlines if line.startswith("E         GET")]
    assert (len(told), sent) == (2, ["shown", "swallowed"])


def test_scrubbing_that_raises_fails_the_test_even_where_the_client_swallows_it(
    suite: Suite,
) -> None:
    # A scrub hook's error, or a fault of ours on a body's shape (one a reviewer found on a
    # JSON Schema): the interaction is lost, and an SDK's retry loop may swallow the error.
    suite.write(
        """
        def broken(response):
            return response["no such key"]

        @pytest.mark.cassette(scrub_response=broken)
        def test_api():
            try:
                requests.get(URL + "/users")
            except Exception:
                pass  # an SDK's retry loop, a fallback
        """
    )
    result = suite.run("--record-mode=once")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ScrubError: Scrubbing the response of a request raised, in test_suite.py::test_api:",
            "*GET http://127.0.0.1:*/users",
            "*KeyError: 'no such key'",
            "*Nothing of it was recorded*",
        ]
    )
    assert not (suite.pytester.path / "cassettes").exists()  # a failed test saves nothing


def test_an_error_a_fixture_teardown_swallows_still_fails_the_test(suite: Suite) -> None:
    result = recorded(
        suite,
        """
        @pytest.fixture
        def client():
            yield
            try:
                requests.post(URL + "/logout")  # not in the cassette
            except Exception:
                pass

        @pytest.fixture
        def quiet_client():
            yield
            requests.get(URL + "/users?page=1")  # in the cassette

        @pytest.mark.cassette
        def test_api(client):
            requests.get(URL + "/users?page=1")

        @pytest.mark.cassette("test_suite/test_api.yaml")
        def test_api_again(quiet_client):
            pass
        """,
    )
    result.assert_outcomes(passed=2, errors=1)  # test_api passes its call, errors at teardown
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_api*", "*UnmatchedRequestError*", "*POST */logout*"]
    )
    assert suite.server.hits == 0


def test_an_error_the_client_wraps_still_shows_our_message(suite: Suite) -> None:
    result = recorded(
        suite,
        """
        class SDKError(Exception):
            pass

        @pytest.mark.cassette
        def test_api():
            try:
                requests.get(URL + "/elsewhere")
            except Exception as exc:
                raise SDKError("connection problem") from exc
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*SDKError: connection problem*", "*UnmatchedRequestError*"])


def test_a_group_holding_our_error_beside_the_tests_own_is_left_as_it_is(suite: Suite) -> None:
    # What hypothesis raises when a replayed property test fails: its distinct failures, the
    # test's own assertion and the unmatched request of an example it tried while shrinking.
    # The test's assertion was lost from the headline: the test failed with our error alone.
    result = recorded(
        suite,
        """
        import sys

        if sys.version_info < (3, 11):
            from exceptiongroup import ExceptionGroup

        @pytest.mark.cassette
        def test_api():
            errors = []
            for page in (1, 2):
                try:
                    requests.get(URL + f"/users?page={page}")
                    assert page != 1, "the test's own failure"
                except Exception as exc:
                    errors.append(exc)
            raise ExceptionGroup("Hypothesis found 2 distinct failures.", errors)
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ExceptionGroup: Hypothesis found 2 distinct failures. (2 sub-exceptions)",
            "*AssertionError: the test's own failure*",
            "*UnmatchedRequestError: Request not found*",
            # before Python 3.11: the backport's `exceptiongroup.ExceptionGroup`, cut short
            "FAILED *::test_api - *ExceptionGroup: Hypothesis f*",
        ]
    )


def test_an_unmatched_request_in_once_mode_says_how_to_add_it(suite: Suite) -> None:
    suite.write(RECORDED)
    suite.run().assert_outcomes(passed=1)
    suite.write(
        """
        @pytest.mark.cassette
        def test_api():
            requests.delete(URL + "/users/1")
        """
    )
    result = suite.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*record mode: once (default)",
            "*Mode 'once' does not add to an existing cassette*",
            "*--record-mode=new_episodes*",
            "*--record-mode=rewrite*",
        ]
    )


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_tests_sharing_a_named_cassette_record_it_together_in_once_mode(
    suite: Suite, workers: list[str]
) -> None:
    # 'once' records a missing cassette: in the run that first records it, every test naming
    # it adds its requests (the first to save it made it an existing file, and the others'
    # requests were unmatched); a later run's new test is told how to add to it.
    if workers:
        pytest.importorskip("xdist")
    suite.write(shared_pages(4))
    suite.run(*workers).assert_outcomes(passed=4)
    assert sorted(suite.uris("pages", "shared")) == [suite.server.url(f"/{n}") for n in range(4)]
    suite.run("--record-mode=none").assert_outcomes(passed=4)
    suite.write(shared_pages(5))
    result = suite.run()
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Mode 'once' does not add to an existing cassette*",
            "*pytest --record-mode=new_episodes 'test_suite.py::test_page[[]4[]]'",
            "*Tests that share a cassette (its name in their markers) add to it in 'once' only "
            "in the run that first records it*",
            "*pytest --record-mode=new_episodes 'test_suite.py'",
        ]
    )
    suite.run("--record-mode=new_episodes").assert_outcomes(passed=5)
    suite.run("--record-mode=none").assert_outcomes(passed=5)
    # A test's own cassette is its alone: no such advice.
    suite.write(RECORDED)
    suite.run().assert_outcomes(passed=1)
    suite.write(RECORDED.replace("requests.get(", "requests.delete("))
    result = suite.run()
    result.assert_outcomes(failed=1)
    assert "Tests that share a cassette" not in result.stdout.str()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("interactions: [\n  - request: {method: GET\n", "*invalid YAML*"),
        ("version: 2\ninteractions: []\n", "*test_api.yaml:1: unknown cassette format version 2*"),
        ("- request: {}\n", "*older than 1.0*"),
        (
            "interactions:\n- request: {method: GET}\n  response: {}\nversion: 1\n",
            "*test_api.yaml:2: interaction 1: request.uri*",
        ),
        ("!!python/object/apply:os.system ['echo pwned']\n", "*refused YAML tag*"),
        ("", "*test_api.yaml:1: empty: delete it and record it again*"),
        ("just text\n", "*not a cassette*"),
    ],
)
def test_an_unreadable_cassette_fails_the_test_and_is_left_alone(
    suite: Suite, content: str, message: str
) -> None:
    suite.write(
        """
        @pytest.mark.cassette
        def test_api():
            requests.get(URL + "/users")
        """
    )
    path = suite.cassette_path("test_api")
    path.parent.mkdir(parents=True)
    path.write_text(content)
    for mode in ("once", "new_episodes", "all"):
        result = suite.run(f"--record-mode={mode}")
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(["*CassetteLoadError: Cannot read cassette *test_api.yaml*"])
        result.stdout.fnmatch_lines([message])
        # Told once (in the test's error and its summary line), not again as the context of
        # pytest's own exception.
        assert "During handling of the above exception" not in result.stdout.str()
        assert path.read_text() == content
    assert suite.server.hits == 0


def test_an_empty_cassette_says_what_records_it_again(suite: Suite) -> None:
    # --record-mode=rewrite leaves an unreadable file alone, an empty one too: only deleting
    # it lets the test record again, and the message says so.
    suite.write(
        """
        @pytest.mark.cassette
        def test_api():
            requests.get(URL + "/users")
        """
    )
    path = suite.cassette_path("test_api")
    path.parent.mkdir(parents=True)
    path.write_text("")
    result = suite.run("--record-mode=rewrite")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*test_api.yaml:1: empty: delete it and record it again*"])
    assert path.read_text() == ""
    path.unlink()
    suite.run().assert_outcomes(passed=1)
    assert suite.uris("test_api") == [suite.server.url("/users")]


def test_a_long_query_that_differs_names_the_parameters_that_differ(suite: Suite) -> None:
    # A presigned URL (S3's X-Amz-*) is longer than the matcher's message line: cut at 200
    # characters, it never showed the one parameter that changed between runs (X-Amz-Date).
    source = """
        @pytest.mark.cassette
        def test_link():
            params = {"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": "c" * 120,
                      "X-Amz-Date": "DATE", "X-Amz-Expires": "600", "EXTRA": "1"}
            requests.get(URL + "/share/file.txt", params=params)
        """
    suite.write(source.replace("DATE", "20240101T000000Z"))
    suite.run().assert_outcomes(passed=1)
    suite.server.reset()
    changed = source.replace("DATE", "20240102T000000Z").replace('"EXTRA": "1"', '"NEW": "2"')
    suite.write(changed)
    result = suite.run("--record-mode=none")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*GET http://127.0.0.1:*/share/file.txt?* (differs in: query)",
            "*  query: EXTRA: not sent, recorded '1'",
            "*    NEW: '2', not recorded",
            "*    X-Amz-Date: '20240102T000000Z', recorded '20240101T000000Z'",
        ]
    )
    assert "X-Amz-Credential: " not in result.stdout.str()  # equal: not listed
    assert suite.server.hits == 0


def test_a_missing_cassette_names_pytest_vcrs_flat_file_for_the_test(suite: Suite) -> None:
    """A suite moved from pytest-vcr without its `vcr_cassette_dir` override: every cassette
    is in cassettes/<test>.yaml, and the error said only where it expected them."""
    suite.write(
        """
        @pytest.mark.cassette
        def test_page():
            requests.get(URL + "/page")
        """,
        name="test_crawl",
    )
    suite.run("--record-mode=once").assert_outcomes(passed=1)
    recorded = suite.cassette_path("test_page", "test_crawl")
    flat = suite.path / "cassettes" / "test_page.yaml"
    recorded.rename(flat)  # where pytest-vcr keeps it
    result = suite.run("--record-mode=none")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"*expected at: {recorded}",
            f"*found instead: {flat}, pytest-vcr's layout (no module folder)*",
            f"*path expected with `pytest-cassettes migrate --write {suite.path}`, or",
        ]
    )
    flat.unlink()
    result = suite.run("--record-mode=none")
    result.assert_outcomes(failed=1)
    assert "found instead" not in result.stdout.str()


def test_pytest_vcrs_flat_file_is_found_by_pytest_vcrs_own_name(suite: Suite) -> None:
    # pytest-vcr names a method's file after its innermost class only and keeps the test's id
    # as pytest writes it: `Inner.test_page[a:b].yaml`, where ours is `Outer.Inner.test_page[a-b]`.
    suite.write(
        """
        class TestOuter:
            class TestInner:
                @pytest.mark.cassette
                @pytest.mark.parametrize("q", ["a:b"])
                def test_page(self, q):
                    requests.get(URL + "/page")
        """,
        name="test_crawl",
    )
    suite.run("--record-mode=once").assert_outcomes(passed=1)
    recorded = suite.cassette_path("TestOuter.TestInner.test_page[a-b]", "test_crawl")
    flat = suite.path / "cassettes" / "TestInner.test_page[a:b].yaml"
    recorded.rename(flat)
    result = suite.run("--record-mode=none")
    result.assert_outcomes(failed=1)
    assert f"found instead: {flat}, pytest-vcr's layout" in result.stdout.str()  # [] no glob


def printed_command(result: pytest.RunResult) -> list[str]:
    """The arguments of the last `pytest --record-mode=...` command an error printed."""
    [*_, line] = (line for line in result.stdout.lines if "pytest --record-mode=" in line)
    return shlex.split(line.split("pytest ", 1)[1])


USERS = """
@pytest.mark.cassette(strict=True)
@pytest.mark.parametrize("who", ["it's me"])
def test_users(who):
    requests.get(URL + "/users")
"""
GROUPS = '    requests.get(URL + "/groups")\n'


def test_the_commands_errors_print_run_from_where_pytest_was_started(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Node ids are relative to the rootdir: started in tests/, pytest found no
    # `tests/test_api.py` the commands named. A quote in a test id broke their quoting.
    suite.pytester.makeini("[pytest]\n")
    folder = suite.path / "tests"
    folder.mkdir()
    monkeypatch.chdir(folder)
    for source, mode, error in [
        (USERS, "none", "CassetteMissingError"),
        (USERS + GROUPS, "none", "UnmatchedRequestError"),
        (USERS, "once", "UnusedInteractionsError"),
    ]:
        suite.write(source, name="tests/test_api")
        result = suite.run(f"--record-mode={mode}")
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([f"*{error}*"])
        suite.run(*printed_command(result)).assert_outcomes(passed=1)
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert [r.path for r in suite.server.requests] == ["/users", "/groups", "/users"]


@pytest.mark.parametrize("where", ["tests", "tests/test_api.py"])
def test_the_commands_errors_print_name_a_test_outside_the_rootdir(
    suite: Suite, where: str
) -> None:
    # A config file in another folder (-c ci/pytest.ini) makes that folder the rootdir: the
    # node ids of tests outside it are relative to the argument holding them (`test_api.py::
    # test_users`, `::test_users`), and the commands named ci/test_api.py, which is not there.
    (suite.path / "ci").mkdir()
    (suite.path / "ci" / "pytest.ini").write_text("[pytest]\n")
    (suite.path / "tests").mkdir()
    suite.write(
        """
        @pytest.mark.cassette
        def test_users():
            requests.get(URL + "/users")
        """,
        name="tests/test_api",
    )
    result = suite.run("-c", "ci/pytest.ini", "--record-mode=none", where)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["rootdir: *ci", "*CassetteMissingError*"])
    assert printed_command(result)[1] == "tests/test_api.py::test_users"
    suite.run(*printed_command(result)).assert_outcomes(passed=1)


@pytest.mark.parametrize(
    "nodeid", ["tests/test_api.py::test_users", "test_api.py::test_x[rio de janeiro]"]
)
def test_commands_printed_on_windows_quote_the_test_as_cmd_and_powershell_read_it(
    nodeid: str,
) -> None:
    # Every printed command quoted its test in single quotes, which cmd.exe does not take for
    # quotes: `pytest --record-mode=once 'tests/test_api.py::test_users'` copied there gave
    # pytest a path starting with a quote ("file or directory not found").
    from pytest_cassettes.errors import quoted

    assert quoted(nodeid, windows=True) == f'"{nodeid}"'
    assert quoted('test_x["a"]', windows=True) == '"test_x[\\"a\\"]"'  # as argv reads it
    assert shlex.split(quoted(nodeid, windows=False)) == [nodeid]
