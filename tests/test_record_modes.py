"""Every record mode on a missing and on an existing cassette, with a real server counting hits."""

from __future__ import annotations

import pytest

from tests.conftest import Suite

TWO_REQUESTS = """
@pytest.mark.cassette
def test_two():
    assert requests.get(URL + "/a").json()["path"] == "/a"
    assert requests.get(URL + "/b").json()["path"] == "/b"
"""

ONE_OLD_ONE_NEW = """
@pytest.mark.cassette
def test_two():
    assert requests.get(URL + "/a").json()["path"] == "/a"
    assert requests.get(URL + "/c").json()["path"] == "/c"
"""


def record_first(suite: Suite) -> None:
    suite.write(TWO_REQUESTS)
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 2
    suite.server.reset()


def test_once_records_a_missing_cassette_then_replays_it_offline(suite: Suite) -> None:
    record_first(suite)
    assert suite.uris("test_two") == [suite.server.url("/a"), suite.server.url("/b")]
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 0


def test_once_refuses_a_new_request_into_an_existing_cassette(suite: Suite) -> None:
    record_first(suite)
    suite.write(ONE_OLD_ONE_NEW)
    result = suite.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*UnmatchedRequestError*", "*GET */c*", "*--record-mode=new_episodes*"]
    )
    assert suite.server.hits == 0
    assert len(suite.uris("test_two")) == 2


@pytest.mark.parametrize("mode", ["none", "once", "new_episodes", "all", "rewrite"])
def test_an_existing_cassette_under_each_mode(suite: Suite, mode: str) -> None:
    record_first(suite)
    suite.write(ONE_OLD_ONE_NEW)
    result = suite.run(f"--record-mode={mode}")
    expected = {
        # mode: (outcome, hits on the server, URIs in the cassette afterwards)
        "none": ("failed", 0, ["/a", "/b"]),
        "once": ("failed", 0, ["/a", "/b"]),
        "new_episodes": ("passed", 1, ["/a", "/b", "/c"]),
        "all": ("passed", 2, ["/b", "/a", "/c"]),
        "rewrite": ("passed", 2, ["/a", "/c"]),
    }[mode]
    result.assert_outcomes(**{expected[0]: 1})
    assert suite.server.hits == expected[1]
    assert suite.uris("test_two") == [suite.server.url(p) for p in expected[2]]


@pytest.mark.parametrize("mode", ["once", "new_episodes", "all", "rewrite"])
def test_a_missing_cassette_is_recorded_by_every_recording_mode(suite: Suite, mode: str) -> None:
    suite.write(TWO_REQUESTS)
    suite.run(f"--record-mode={mode}").assert_outcomes(passed=1)
    assert suite.server.hits == 2
    assert len(suite.uris("test_two")) == 2


def test_none_with_a_missing_cassette_fails_and_says_how_to_record(suite: Suite) -> None:
    suite.write(TWO_REQUESTS)
    result = suite.run("--record-mode=none")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*CassetteMissingError: Cassette missing for test_suite.py::test_two",
            "*expected at: *cassettes/test_suite/test_two.yaml",
            "*record mode: none (--record-mode)*",
            "*pytest --record-mode=once 'test_suite.py::test_two'",
        ]
    )
    assert suite.server.hits == 0
    assert not suite.cassette_path("test_two").exists()


def test_all_re_records_without_duplicating(suite: Suite) -> None:
    record_first(suite)
    suite.run("--record-mode=all").assert_outcomes(passed=1)
    suite.run("--record-mode=all").assert_outcomes(passed=1)
    assert suite.server.hits == 4
    assert sorted(suite.uris("test_two")) == [suite.server.url("/a"), suite.server.url("/b")]


def test_rewrite_keeps_the_old_cassette_when_the_test_fails(suite: Suite) -> None:
    record_first(suite)
    before = suite.cassette_path("test_two").read_bytes()
    suite.write(
        """
        @pytest.mark.cassette
        def test_two():
            requests.get(URL + "/z")
            assert False, "the API changed"
        """
    )
    suite.run("--record-mode=rewrite").assert_outcomes(failed=1)
    assert suite.cassette_path("test_two").read_bytes() == before


def test_new_episodes_replays_a_repeated_request_from_the_recording_not_twice(suite: Suite) -> None:
    suite.write(
        """
        @pytest.mark.cassette
        def test_poll():
            for _ in range(3):
                assert requests.get(URL + "/poll").status_code == 200
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 3
    suite.server.reset()
    suite.run("--record-mode=new_episodes").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    assert len(suite.uris("test_poll")) == 3


@pytest.mark.parametrize(("repeats", "sent"), [(False, 2), (True, 0)])
def test_new_episodes_records_repeats_past_the_recording_unless_repeats_are_allowed(
    suite: Suite, repeats: bool, sent: int
) -> None:
    # vcrpy counts plays: the one recording of /poll answers the first request; the next two
    # are new episodes, unless allow_playback_repeats lets the recording answer them all.
    suite.write(
        f"""
        @pytest.mark.cassette(allow_playback_repeats={repeats})
        def test_poll():
            requests.get(URL + "/poll")
        """
    )
    suite.run().assert_outcomes(passed=1)
    suite.server.reset()
    suite.write(
        f"""
        @pytest.mark.cassette(allow_playback_repeats={repeats})
        def test_poll():
            for _ in range(3):
                requests.get(URL + "/poll")
        """
    )
    suite.run("--record-mode=new_episodes").assert_outcomes(passed=1)
    assert suite.server.hits == sent
    assert len(suite.uris("test_poll")) == 1 + sent
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == sent


def test_a_failing_test_saves_nothing_unless_asked(suite: Suite) -> None:
    suite.write(
        """
        @pytest.mark.cassette
        def test_fails():
            requests.get(URL + "/a")
            assert False

        @pytest.mark.cassette(record_on_exception=True)
        def test_fails_but_keeps():
            requests.get(URL + "/a")
            assert False
        """
    )
    result = suite.run()
    result.assert_outcomes(failed=2)
    assert not suite.cassette_path("test_fails").exists()
    assert suite.uris("test_fails_but_keeps") == [suite.server.url("/a")]
    result.stdout.fnmatch_lines(["*1 recorded interaction of failed tests not saved*"])


def test_replay_serves_the_recorded_response_not_the_live_one(suite: Suite) -> None:
    suite.server.route("/v", body=b"version one")
    suite.write(
        """
        @pytest.mark.cassette
        def test_v():
            assert requests.get(URL + "/v").text == "version one"
        """
    )
    suite.run().assert_outcomes(passed=1)
    suite.server.route("/v", body=b"version two")
    suite.run().assert_outcomes(passed=1)


LIVE = """
@pytest.mark.cassette
def test_marked(cassette):
    assert cassette is None  # --cassette-disable: no cassette
    assert requests.get(URL + "/a").json()["path"] == "/a"

@pytest.mark.vcr
def test_legacy(vcr):
    assert vcr is None
    assert requests.get(URL + "/b").json()["path"] == "/b"

def test_plain():
    assert requests.get(URL + "/c").json()["path"] == "/c"
"""


@pytest.mark.parametrize("flag", ["--cassette-disable", "--disable-recording"])
def test_disabled_cassettes_run_live_even_in_ci_and_touch_no_file(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, flag: str
) -> None:
    # A nightly run against the real service: cassettes neither read (a broken one included)
    # nor written, whatever CI says.
    suite.write(LIVE)
    folder = suite.path / "cassettes" / "test_suite"
    folder.mkdir(parents=True)
    (folder / "test_marked.yaml").write_text("interactions: [\n")  # not even read
    monkeypatch.setenv("CI", "true")
    result = suite.run(flag, "--record-mode=none")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([f"cassettes: disabled ({flag}): cassette tests run live*"])
    assert suite.server.hits == 3
    assert sorted(p.name for p in folder.iterdir()) == ["test_marked.yaml"]


def test_disabled_cassettes_are_still_blocked_by_block_network(suite: Suite) -> None:
    suite.write(LIVE)
    result = suite.run("--cassette-disable", "--block-network")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(["*NetworkBlockedError*"])
    assert suite.server.hits == 0


@pytest.mark.parametrize("flag", ["--cassette-disable", "--disable-recording"])
def test_disabled_and_blocked_wider_fixtures_connect_test_bodies_do_not(
    suite: Suite, flag: str
) -> None:
    # As the README says (and pytest-recording does): the guard starts with the test's
    # function-scoped fixtures; wider ones, set up before it, reach the network.
    suite.write(
        """
        from pytest_cassettes import use_cassette

        @pytest.fixture(scope="session")
        def login(request):
            with use_cassette(request, "login.yaml") as cassette:
                assert cassette is None
                return requests.get(URL + "/login").status_code

        @pytest.fixture(scope="module")
        def plain_module():
            return requests.get(URL + "/module").status_code

        @pytest.fixture
        def plain_function():
            return requests.get(URL + "/function").status_code

        @pytest.mark.cassette
        def test_session(login):
            assert login == 200

        def test_module(plain_module):
            assert plain_module == 200

        def test_function(plain_function):
            pass

        @pytest.mark.cassette
        def test_body():
            requests.get(URL + "/body")
        """
    )
    result = suite.run(flag, "--block-network")
    result.assert_outcomes(passed=2, failed=1, errors=1)
    result.stdout.fnmatch_lines(["ERROR*test_function*NetworkBlocked*"])
    result.stdout.fnmatch_lines(["FAILED*test_body*NetworkBlocked*"])
    assert sorted(r.path for r in suite.server.requests) == ["/login", "/module"]
    assert not (suite.path / "cassettes").exists()


def test_prune_is_refused_when_cassettes_are_disabled(suite: Suite) -> None:
    suite.write(LIVE)
    result = suite.run("--cassette-disable", "--cassette-prune")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--cassette-prune cannot be used with --cassette-disable*"])
