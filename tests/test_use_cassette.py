"""`use_cassette(request, name)`: cassettes for fixtures wider than the test, and for a part of
a test. Real pytest runs (pytester), real requests, a server on 127.0.0.1."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.conftest import Suite, needs_xdist

# A session-scoped login (pytest-recording issue 76: such fixtures could not be recorded),
# used by a plain test and by a cassette test.
LOGIN = """
from pytest_cassettes import use_cassette


@pytest.fixture(scope="session")
def token(request):
    with use_cassette(request) as cassette:
        response = requests.post(URL + "/login", json={"user": "ann", "password": "pw-123"})
        assert response.status_code == 200
    return response.json()["token"]


def test_plain(token):
    assert token.startswith("<") or token.startswith("tok")


@pytest.mark.cassette
def test_orders(token):
    response = requests.get(URL + "/orders", headers={"Authorization": "Bearer " + token})
    assert response.json() == {"orders": [1, 2]}
"""


def serve_login(suite: Suite) -> None:
    suite.server.route("/login", body=json.dumps({"token": "tok-" + "a1b2c3d4e5f6" * 3}))
    suite.server.route("/orders", body=json.dumps({"orders": [1, 2]}))


def test_a_session_fixture_records_once_then_replays_offline(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_login(suite)
    suite.write(LOGIN)
    suite.run("--record-mode=once").assert_outcomes(passed=2)
    assert [r.path for r in suite.server.requests] == ["/login", "/orders"]
    login = suite.path / "cassettes" / "token.yaml"  # beside the file, named after the fixture
    text = login.read_text()
    assert "/login" in text and "pw-123" not in text and "a1b2c3d4e5f6" not in text
    # The test's own cassette holds only its own request.
    assert suite.uris("test_orders") == [suite.server.url("/orders")]

    suite.server.reset()
    monkeypatch.setenv("CI", "true")
    result = suite.run("-v")
    result.assert_outcomes(passed=2)
    assert suite.server.hits == 0
    result.stdout.fnmatch_lines(["*2 cassettes replayed (2 interactions)*"])
    # Set up for a cassette test alone: under that test's replay-only guard.
    suite.run("-k", "orders").assert_outcomes(passed=1, deselected=1)
    assert suite.server.hits == 0


def test_a_replay_only_run_without_the_fixture_cassette_says_how_to_record(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_login(suite)
    suite.write(LOGIN)
    monkeypatch.setenv("CI", "true")
    result = suite.run()
    result.assert_outcomes(passed=0, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*CassetteMissingError*",
            "*cassettes/token.yaml*",
            "*pytest --record-mode=once 'test_suite.py::test_plain'*",
        ]
    )
    assert suite.server.hits == 0
    assert not (suite.path / "cassettes" / "token.yaml").exists()


def test_an_unmatched_request_fails_the_fixture_even_if_the_client_error_is_swallowed(
    suite: Suite,
) -> None:
    serve_login(suite)
    suite.write(
        """
        from pytest_cassettes import use_cassette


        @pytest.fixture(scope="module")
        def info(request):
            with use_cassette(request, "shared/info.yaml", record_mode="none"):
                try:
                    requests.get(URL + "/other")
                except Exception:
                    pass
            return 1


        def test_one(info):
            pass
        """
    )
    (suite.path / "cassettes" / "shared").mkdir(parents=True)
    (suite.path / "cassettes" / "shared" / "info.yaml").write_text("interactions: []\nversion: 1\n")
    result = suite.run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*UnmatchedRequestError: Request not found*",
            "*GET http://127.0.0.1:*/other",
            "*record mode: none (use_cassette('shared/info.yaml') in fixture 'info')",
        ]
    )
    assert suite.server.hits == 0


def test_the_test_cassette_is_routed_to_again_after_the_block(suite: Suite) -> None:
    serve_login(suite)
    suite.write(
        """
        from pytest_cassettes import use_cassette


        @pytest.mark.cassette
        def test_parts(request, cassette):
            requests.get(URL + "/orders?before")
            with use_cassette(request, "part.yaml") as part:
                requests.post(URL + "/login", json={})
            requests.get(URL + "/orders?after")
            assert part.path.name == "part.yaml" and part.path != cassette.path
        """
    )
    suite.run("--record-mode=once").assert_outcomes(passed=1)
    assert [q.split("?")[1] for q in suite.uris("test_parts")] == ["before", "after"]
    part = suite.path / "cassettes" / "part.yaml"
    assert "/login" in part.read_text() and "/orders" not in part.read_text()
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0


def test_a_failing_block_saves_nothing_and_options_are_checked(suite: Suite) -> None:
    serve_login(suite)
    suite.write(
        """
        from pytest_cassettes import use_cassette


        @pytest.fixture
        def broken(request):
            with use_cassette(request):
                requests.post(URL + "/login")
                raise RuntimeError("login failed")


        @pytest.fixture
        def misspelled(request):
            with use_cassette(request, "x", record_mod="once"):
                pass


        def test_broken(broken):
            pass


        def test_misspelled(misspelled):
            pass


        def test_needs_a_name(request):
            with use_cassette(request):
                pass
        """
    )
    result = suite.run("--record-mode=once")
    result.assert_outcomes(errors=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*RuntimeError: login failed*",
            "*unknown option 'record_mod'*",
            "*use_cassette(request) in a test needs a cassette name*",
        ]
    )
    assert not (suite.path / "cassettes" / "broken.yaml").exists()
    assert suite.server.hits == 1


def test_ini_cassette_dir_and_disable(suite: Suite, monkeypatch: pytest.MonkeyPatch) -> None:
    serve_login(suite)
    suite.pytester.makeini("[pytest]\ncassette_dir = recorded\n")
    suite.write(
        """
        from pytest_cassettes import use_cassette


        def test_it(request):
            with use_cassette(request, "login") as cassette:
                requests.post(URL + "/login")
            assert (cassette is None) == (os.environ.get("DISABLED") == "1")
        """
    )
    suite.run("--record-mode=once").assert_outcomes(passed=1)
    assert (suite.path / "recorded" / "login.yaml").exists()
    assert suite.server.hits == 1
    monkeypatch.setenv("DISABLED", "1")
    suite.run("--cassette-disable").assert_outcomes(passed=1)
    assert suite.server.hits == 2


@needs_xdist
def test_workers_recording_the_session_login_lose_nothing(suite: Suite) -> None:
    serve_login(suite)
    source = LOGIN + "".join(f"\n\ndef test_more_{i}(token):\n    assert token\n" for i in range(6))
    suite.write(source)
    suite.run("--record-mode=once", "-n", "2").assert_outcomes(passed=8)
    login = suite.path / "cassettes" / "token.yaml"
    # Each worker sets the session fixture up once: its login is kept beside the other's.
    text = login.read_text()
    # Each worker that set the fixture up sent its login; the file keeps one (the other
    # would never be played: --cassette-strict would fail every test using it).
    assert 1 <= sum(r.path == "/login" for r in suite.server.requests) <= 2
    assert text.count("uri:") == 1
    suite.server.reset()
    result = suite.run("--record-mode=none", "--cassette-strict")
    result.assert_outcomes(passed=8)
    assert suite.server.hits == 0
    assert not list(login.parent.glob("*.lock")) and not list(login.parent.glob("*.tmp*"))


def test_a_block_left_open_across_tests_is_an_error_a_test_long_one_is_not(suite: Suite) -> None:
    serve_login(suite)
    suite.write(
        """
        from pytest_cassettes import use_cassette


        @pytest.fixture(scope="module")
        def spanning(request):
            with use_cassette(request):
                yield


        @pytest.fixture
        def per_test(request):
            with use_cassette(request, request.node.name):
                yield


        def test_one(spanning, per_test):
            requests.get(URL + "/orders?one")


        def test_two(spanning, per_test):
            requests.get(URL + "/orders?two")
        """
    )
    result = suite.run("--record-mode=once")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        ["*use_cassette('spanning') in fixture 'spanning' stayed open while other tests ran*"]
    )
    # A function-scoped block spans its test: the test's requests are in its cassette.
    assert "orders?one" in (suite.path / "cassettes" / "test_one.yaml").read_text()
    assert "orders?two" in (suite.path / "cassettes" / "test_two.yaml").read_text()


def test_errors_of_a_block_spanning_the_test_are_told_once(suite: Suite) -> None:
    suite.write(
        """
        from pytest_cassettes import use_cassette


        @pytest.fixture
        def tape(request):
            with use_cassette(request, "tape", record_mode="none"):
                yield


        def test_it(tape):
            try:
                requests.get(URL + "/orders")
            except Exception:
                pass
        """
    )
    result = suite.run()
    result.assert_outcomes(failed=1)
    assert result.stdout.str().count("CassetteMissingError: Cassette missing") == 1
    assert suite.server.hits == 0


def test_a_failed_test_saves_nothing_of_a_block_spanning_it(suite: Suite) -> None:
    serve_login(suite)
    suite.write(
        """
        from pytest_cassettes import use_cassette


        @pytest.fixture
        def tape(request):
            with use_cassette(request, "tape"):
                yield


        def test_it(tape):
            requests.get(URL + "/orders?1")
            assert os.environ.get("FIXED") == "1", "fails halfway"
            requests.get(URL + "/orders?2")
        """
    )
    suite.run("--record-mode=once").assert_outcomes(failed=1)
    assert not (suite.path / "cassettes" / "tape.yaml").exists()


@pytest.mark.parametrize("scope", ["session", "module", "class"])
def test_an_unmatched_request_in_a_wider_fixture_teardown_fails_it(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, scope: str
) -> None:
    suite.write(
        """
        from pytest_cassettes import use_cassette


        @pytest.fixture(scope="SCOPE")
        def token(request):
            yield 1
            with use_cassette(request, "logout"):
                try:
                    requests.post(URL + "/logout")  # not in the cassette
                except Exception:
                    pass


        class TestIt:
            def test_one(self, token):
                pass

            def test_two(self):
                pass
        """.replace("SCOPE", scope)
    )
    (suite.path / "cassettes").mkdir()
    (suite.path / "cassettes" / "logout.yaml").write_text("interactions: []\nversion: 1\n")
    monkeypatch.setenv("CI", "true")
    result = suite.run()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*UnmatchedRequestError*"])
    assert suite.server.hits == 0


def test_a_block_left_open_neither_routes_nor_guards_later_tests(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_login(suite)
    suite.write(
        """
        from pytest_cassettes import use_cassette


        @pytest.fixture(scope="session")
        def spanning(request):
            with use_cassette(request):
                yield


        def test_one(spanning):
            pass


        def test_two():
            requests.get(URL + "/orders")  # a plain test: not guarded
        """
    )
    (suite.path / "cassettes").mkdir()
    (suite.path / "cassettes" / "spanning.yaml").write_text("interactions: []\nversion: 1\n")
    monkeypatch.setenv("CI", "true")
    result = suite.run()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*use_cassette('spanning') in fixture 'spanning' stayed open*"])
    assert suite.server.hits == 1


def test_each_instance_of_a_parametrized_fixture_has_its_cassette(suite: Suite) -> None:
    suite.server.route("/login/ann", body="{}")
    suite.server.route("/login/bob", body="{}")
    suite.write(
        """
        from pytest_cassettes import use_cassette


        @pytest.fixture(scope="session", params=["ann", "bob/x"])
        def token(request):
            with use_cassette(request):
                requests.post(URL + "/login/" + request.param.split("/")[0])
            return request.param


        def test_plain(token):
            pass
        """
    )
    suite.run("--record-mode=once").assert_outcomes(passed=2)
    # A parameter that is no safe file name gets a hash of it (`a/b` and `a-b` stay apart).
    names = sorted(p.name for p in (suite.path / "cassettes").iterdir())
    assert names[0] == "token[ann].yaml"
    assert re.fullmatch(r"token\[bob-x-[0-9a-f]{8}\]\.yaml", names[1])
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=2)
    assert suite.server.hits == 0


def test_parameters_differing_only_in_case_name_distinct_files(suite: Suite) -> None:
    # `token[Ann].yaml` and `token[ann].yaml` are one file on macOS and Windows: a string with
    # upper-case letters gets a hash of it; lower-case ones and True keep their plain names.
    suite.server.route("/login", body="{}")
    suite.write(
        """
        from pytest_cassettes import use_cassette


        @pytest.fixture(scope="session", params=["ann", "Ann", "ANN", True])
        def token(request):
            with use_cassette(request):
                requests.post(URL + "/login", json={"user": request.param})
            return request.param


        def test_plain(token):
            pass
        """
    )
    suite.run("--record-mode=once").assert_outcomes(passed=4)
    names = sorted(p.name for p in (suite.path / "cassettes").iterdir())
    assert len({name.lower() for name in names}) == 4, names
    assert "token[ann].yaml" in names and "token[True].yaml" in names
    assert sum(bool(re.fullmatch(r"token\[A(nn|NN)-[0-9a-f]{8}\]\.yaml", n)) for n in names) == 2
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=4)
    assert suite.server.hits == 0


# --- second review: the dedupe on save, routing after a block closed late, strict ------------


def test_requests_that_differ_in_headers_are_all_kept(suite: Suite) -> None:
    # Two tests recording into one named cassette, matched on headers: none is a duplicate.
    suite.write(
        """
        @pytest.mark.cassette("api.yaml", match_on=["method", "uri", "headers"])
        @pytest.mark.parametrize("user", ["ann", "bob"])
        def test_me(user):
            assert requests.get(URL + "/me", headers={"X-User": user}).status_code == 200
        """
    )
    suite.run("--record-mode=rewrite").assert_outcomes(passed=2)
    assert (suite.path / "cassettes" / "api.yaml").read_text().count("uri:") == 2
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=2)
    assert suite.server.hits == 0


def test_a_request_replayed_then_sent_again_is_recorded_again(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # new_episodes: the stored GET /status played once, the second one recorded: both kept.
    suite.write(
        """
        @pytest.mark.cassette
        def test_poll():
            for _ in range(int(os.environ.get("POLLS", "1"))):
                requests.get(URL + "/status")
        """
    )
    suite.run("--record-mode=once").assert_outcomes(passed=1)
    monkeypatch.setenv("POLLS", "2")
    suite.run("--record-mode=new_episodes").assert_outcomes(passed=1)
    assert len(suite.uris("test_poll")) == 2
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0


def test_the_report_counts_what_the_file_got(suite: Suite) -> None:
    suite.write(
        """
        @pytest.mark.cassette("shared.yaml")
        def test_one():
            requests.get(URL + "/status")


        @pytest.mark.cassette("shared.yaml")
        def test_two():
            requests.get(URL + "/status")
        """
    )
    report = suite.path / "report.json"
    suite.run("--record-mode=rewrite", f"--cassette-report={report}").assert_outcomes(passed=2)
    assert (suite.path / "cassettes" / "shared.yaml").read_text().count("uri:") == 1
    tests = json.loads(report.read_text())["tests"]
    assert sum(t["recorded"] for t in tests) == 1


def test_a_block_closed_late_routes_nothing_to_a_closed_cassette(suite: Suite) -> None:
    suite.write(
        """
        from pytest_cassettes import use_cassette


        @pytest.fixture(scope="session")
        def spanning(request):
            with use_cassette(request):
                yield


        @pytest.fixture(scope="session")
        def late():
            return requests.get(URL + "/orders").status_code


        @pytest.mark.cassette(record_mode="none")
        def test_one(request):
            request.getfixturevalue("spanning")


        @pytest.mark.cassette
        def test_two():
            pass


        @pytest.mark.cassette
        def test_three(late):
            assert late == 200
        """
    )
    folder = suite.path / "cassettes" / "test_suite"
    folder.mkdir(parents=True)
    (folder / "test_one.yaml").write_text("interactions: []\nversion: 1\n")
    result = suite.run("--record-mode=once")
    result.stdout.fnmatch_lines(["*stayed open while other tests ran*"])
    result.assert_outcomes(passed=3, errors=1)


def test_a_block_failing_strict_saves_nothing(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.write(
        """
        from pytest_cassettes import use_cassette


        @pytest.mark.cassette("own.yaml")
        def test_own():
            requests.get(URL + "/orders?q=" + os.environ["Q"])


        def test_block(request):
            with use_cassette(request, "blk.yaml"):
                requests.get(URL + "/orders?q=" + os.environ["Q"])
        """
    )
    monkeypatch.setenv("Q", "one")
    suite.run("--record-mode=once").assert_outcomes(passed=2)
    monkeypatch.setenv("Q", "two")
    suite.run("--record-mode=new_episodes", "--cassette-strict").assert_outcomes(failed=2)
    for name in ("own.yaml", "blk.yaml"):
        assert "q=two" not in (suite.path / "cassettes" / name).read_text()


@needs_xdist
def test_all_mode_under_xdist_keeps_one_login(suite: Suite) -> None:
    serve_login(suite)
    source = LOGIN.replace(
        "        assert response.status_code == 200\n",
        "        assert response.status_code == 200\n"
        "        import time; time.sleep(1.5)  # both workers loaded the file before a save\n",
    ) + "".join(f"\n\ndef test_more_{i}(token):\n    assert token\n" for i in range(4))
    suite.write(source)
    suite.run("--record-mode=once").assert_outcomes(passed=6)
    login = suite.path / "cassettes" / "token.yaml"
    assert login.read_text().count("uri:") == 1
    time.sleep(1.1)  # the new recordings differ from the old one (their Date headers)
    suite.run("--record-mode=all", "-n", "2").assert_outcomes(passed=6)
    assert login.read_text().count("uri:") == 1


# --- third review: stable labels of parameters, logins with a header of their own ------------


def test_a_number_parameter_names_its_cassette_whatever_the_list(suite: Suite) -> None:
    # Indirect parametrization gives one fixture different lists: the value names the file,
    # not its position (user 2 alone replayed user 1's login).
    serve_login(suite)
    suite.write(
        """
        from pytest_cassettes import use_cassette


        @pytest.fixture(scope="session")
        def account(request):
            with use_cassette(request):
                requests.post(URL + "/login", json={"user": request.param})
            return request.param


        @pytest.mark.parametrize("account", [1, 2], indirect=True)
        def test_both(account):
            pass


        @pytest.mark.parametrize("account", [2], indirect=True)
        def test_second_only(account):
            pass
        """
    )
    suite.run("--record-mode=once").assert_outcomes(passed=3)
    files = sorted(p.name for p in (suite.path / "cassettes").iterdir())
    assert files == ["account[1].yaml", "account[2].yaml"]
    assert '"user": 2' in (suite.path / "cassettes" / "account[2].yaml").read_text()


@needs_xdist
def test_workers_logins_with_an_invocation_id_are_kept_once(suite: Suite) -> None:
    # botocore's amz-sdk-invocation-id, OpenTelemetry's traceparent: a header that differs at
    # each request does not make two logins of one (the cassette's matchers ignore it).
    serve_login(suite)
    source = LOGIN.replace(
        'json={"user": "ann", "password": "pw-123"})',
        'json={"user": "ann", "password": "pw-123"},\n'
        '            headers={"amz-sdk-invocation-id": __import__("uuid").uuid4().hex})',
    ).replace(
        "        assert response.status_code == 200\n",
        "        assert response.status_code == 200\n"
        "        import time; time.sleep(1.5)  # both workers loaded the file before a save\n",
    ) + "".join(f"\n\ndef test_more_{i}(token):\n    assert token\n" for i in range(4))
    suite.write(source)
    suite.run("--record-mode=once", "-n", "2").assert_outcomes(passed=6)
    assert sum(r.path == "/login" for r in suite.server.requests) == 2
    assert (suite.path / "cassettes" / "token.yaml").read_text().count("uri:") == 1
    suite.server.reset()
    suite.run("--record-mode=none", "--cassette-strict").assert_outcomes(passed=6)


def test_parameters_with_a_dot_or_long_text_still_name_yaml_files(suite: Suite) -> None:
    serve_login(suite)
    suite.write(
        """
        from pytest_cassettes import use_cassette


        @pytest.fixture(scope="session", params=[1.5, "api.example.com", "\u6f22" * 81])
        def host(request):
            with use_cassette(request):
                requests.post(URL + "/login")
            return request.param


        def test_plain(host):
            pass
        """
    )
    suite.run("--record-mode=once").assert_outcomes(passed=3)
    names = sorted(p.name for p in (suite.path / "cassettes").iterdir())
    assert len(names) == 3 and all(name.endswith("].yaml") for name in names)
    assert "host[1.5].yaml" in names and "host[api.example.com].yaml" in names


# --- an adopter's run: recording beside a session login whose cassette exists ---------------


def authorizations(suite: Suite, path: str) -> list[str]:
    """The Authorization headers the server received on `path`."""
    return [
        value
        for r in suite.server.requests
        if r.path == path
        for name, value in r.headers.items()
        if name.lower() == "authorization"
    ]


@needs_xdist
def test_a_first_recording_under_xdist_logs_in_on_every_worker(suite: Suite) -> None:
    # The second worker to set the session login up found the first one's fresh cassette and
    # replayed it: its tests sent `Bearer <SCRUBBED>` to the live server (a 401 recorded).
    serve_login(suite)
    source = LOGIN.replace(
        "    with use_cassette(request) as cassette:\n",
        "    if os.environ.get('PYTEST_XDIST_WORKER') == 'gw1':\n"
        "        __import__('time').sleep(1.0)  # after gw0 saved its login\n"
        "    with use_cassette(request) as cassette:\n",
    ) + "".join(
        f"""

@pytest.mark.cassette
def test_order_{i}(token):
    requests.get(URL + "/orders", headers={{"Authorization": "Bearer " + token}})
"""
        for i in range(6)
    )
    suite.write(source)
    suite.run("--record-mode=once", "-n", "2").assert_outcomes(passed=8)
    sent = authorizations(suite, "/orders")
    assert len(sent) == 7 and not any("SCRUBBED" in value for value in sent)
    assert (suite.path / "cassettes" / "token.yaml").read_text().count("uri:") == 1


def test_a_test_recorded_beside_a_replayed_login_is_told_what_to_do(suite: Suite) -> None:
    # A new test recorded in a later run: the login replays `<SCRUBBED>`; its request with
    # that token is refused before it leaves (it was sent, and the server's 401 recorded).
    serve_login(suite)
    suite.write(LOGIN)
    suite.run("--record-mode=once").assert_outcomes(passed=2)
    suite.write(
        LOGIN
        + """

@pytest.mark.cassette
def test_new(token):
    requests.get(URL + "/orders?new", headers={"Authorization": "Bearer " + token})
"""
    )
    suite.server.reset()
    serve_login(suite)
    result = suite.run("--record-mode=once")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*PlaceholderSentError*", "*pytest --record-mode=rewrite 'test_suite.py::test_new'*"]
    )
    assert authorizations(suite, "/orders") == []
    # The command it prints records the test and the login afresh.
    result = suite.run("--record-mode=rewrite", "test_suite.py::test_new")
    result.assert_outcomes(passed=1)
    assert not any("SCRUBBED" in value for value in authorizations(suite, "/orders"))


COOKIE_LOGIN = """
from pytest_cassettes import use_cassette


@pytest.fixture(scope="session")
def session(request):
    client = requests.Session()
    with use_cassette(request):
        client.post(URL + "/login", json={"user": "ann", "password": "pw-123"})
    return client


@pytest.mark.cassette
def test_me(session):
    assert session.get(URL + "/me").status_code == 200
"""


def test_a_replayed_login_s_session_cookie_is_not_sent_to_record(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The session cookie of a login a block replayed is `<SCRUBBED>`: a new test recording
    # with it got the server's 403 and no word why. It is refused now, and a run without its
    # cassette says to record it with `rewrite` (which logs in afresh too).
    def serve() -> None:
        cookie = "sessionid=s3cr3t-Value-9f8e7d6c; Path=/"
        suite.server.route("/login", headers={"Set-Cookie": cookie})
        suite.server.route("/me", body="{}")

    serve()
    suite.write(COOKIE_LOGIN)
    suite.run("--record-mode=once").assert_outcomes(passed=1)
    suite.write(
        COOKIE_LOGIN + "\n\n@pytest.mark.cassette\ndef test_new(session):\n"
        "    session.get(URL + '/me?new')\n"
    )
    monkeypatch.setenv("CI", "true")
    result = suite.run()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*pytest --record-mode=rewrite 'test_suite.py::test_new'*"])
    monkeypatch.delenv("CI")
    suite.server.reset()
    serve()
    result = suite.run("--record-mode=once")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*PlaceholderSentError*", "*Cookie header*"])
    assert suite.server.hits == 0
    result = suite.run("--record-mode=rewrite", "test_suite.py::test_new")
    result.assert_outcomes(passed=1)
    cookies = [v for r in suite.server.requests for n, v in r.headers.items() if n == "Cookie"]
    assert cookies == ["sessionid=s3cr3t-Value-9f8e7d6c"]
