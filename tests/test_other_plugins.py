"""Other pytest plugins beside cassettes, as README's "Other pytest plugins and tools" says they
work. Each test skips where its plugin is not installed, and loads it with `-p NAME` (a user's
run loads it through its entry point: tests/conftest.py keeps plugins out of runs that did not
ask for them)."""

from __future__ import annotations

import shutil
import socket
import uuid
from collections.abc import Iterator

import pytest

from pytest_cassettes import storage
from tests.conftest import NOT_ASKED_FOR, Suite, needs_xdist, other_plugins


def test_hypothesis_examples_share_the_tests_cassette_and_replay_in_ci(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run in processes of their own: hypothesis draws some examples from the constants of the
    # modules it counts as local, loaded when it draws (ours, installed editable as here), and
    # this process has loaded all of ours. A recording and a replay-only run load different
    # ones: of these 400 numbers, some drawn from them differed, requests never recorded.
    pytest.importorskip("hypothesis")
    suite.write(
        """
        from hypothesis import HealthCheck, given, settings, strategies as st

        @pytest.mark.cassette
        @settings(
            derandomize=True,
            deadline=None,
            max_examples=40,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(st.lists(st.integers(0, 10_000), min_size=10, max_size=10))
        def test_property(cassette, ns):
            query = "&".join(f"x={n}" for n in ns)
            assert requests.get(URL + f"/n?{query}").json()["path"] == f"/n?{query}"
        """
    )
    suite.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "hypothesispytest"
    ).assert_outcomes(passed=1)
    recorded = suite.uris("test_property")
    assert len(recorded) == suite.server.hits > 1
    monkeypatch.setenv("CI", "true")
    result = suite.pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "hypothesispytest")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"1 cassette replayed ({len(recorded)} interactions)*"])
    assert suite.server.hits == len(recorded)


@pytest.mark.parametrize("library", ["responses", "requests_mock"])
def test_a_mocking_library_started_in_a_module_fixture_keeps_its_patches(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, library: str
) -> None:
    # Its mock answers in the cassette tests and in the plain test between them; what it lets
    # through is recorded, and replayed in CI.
    pytest.importorskip(library)
    start = {
        "responses": """
            import responses
            with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
                mock.get("https://api.example.com/mocked", json={"mocked": True})
                mock.add_passthru(URL)
                yield
        """,
        "requests_mock": """
            import requests_mock
            with requests_mock.Mocker(real_http=True) as mock:
                mock.get("https://api.example.com/mocked", json={"mocked": True})
                yield
        """,
    }[library]
    suite.write(
        f"""
        @pytest.fixture(scope="module", autouse=True)
        def mocked():
            {start.strip()}

        def check():
            assert requests.get("https://api.example.com/mocked").json() == {{"mocked": True}}

        @pytest.mark.cassette
        def test_a():
            check()
            requests.get(URL + "/through")

        def test_b_plain():
            check()

        @pytest.mark.cassette
        def test_c():
            check()
        """
    )
    plugin = ["-p", "requests_mock"] if library == "requests_mock" else []  # responses has none
    suite.run("-p", "no:randomly", *plugin).assert_outcomes(passed=3)
    assert suite.uris("test_a") == [suite.server.url("/through")]
    monkeypatch.setenv("CI", "true")
    suite.run("-p", "no:randomly", *plugin).assert_outcomes(passed=3)
    assert suite.server.hits == 1


@pytest.fixture
def socket_class_kept() -> Iterator[None]:
    # pytest-socket, undoing --allow-hosts, sets socket.socket.connect (the inherited method)
    # on the class itself: tests run later in this process would find it there.
    held = "connect" in vars(socket.socket)
    yield
    if not held and "connect" in vars(socket.socket):
        del socket.socket.connect


DISABLE_SOCKET = ("-p", "socket", "--disable-socket")


@pytest.mark.usefixtures("socket_class_kept")
def test_pytest_socket_beside_block_network(suite: Suite, monkeypatch: pytest.MonkeyPatch) -> None:
    # A test without a cassette: our error for a host name, pytest-socket's for an address.
    # A cassette test replays under --disable-socket; an unrecorded request gets our error.
    pytest.importorskip("pytest_socket")
    suite.write(
        """
        @pytest.mark.cassette
        def test_recorded():
            requests.get(URL + "/recorded")
            if os.environ.get("MORE"):
                requests.get(URL + "/more")

        def test_name():
            requests.get(URL.replace("127.0.0.1", "localhost"))

        def test_address():
            requests.get(URL)
        """
    )
    suite.run(*DISABLE_SOCKET, "-k", "recorded").assert_outcomes(failed=1)
    suite.run(*DISABLE_SOCKET, "--allow-hosts=127.0.0.1", "-k", "recorded").assert_outcomes(
        passed=1
    )
    monkeypatch.setenv("CI", "true")
    result = suite.run(*DISABLE_SOCKET, "--block-network")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "FAILED test_suite.py::test_name - *NetworkBlockedError*",
            "FAILED test_suite.py::test_address - *SocketBlockedError*",
        ],
        consecutive=False,
    )
    monkeypatch.setenv("MORE", "1")
    result = suite.run(*DISABLE_SOCKET, "-k", "recorded")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*UnmatchedRequestError*"])
    assert suite.server.hits == 1


@needs_xdist
@pytest.mark.parametrize("library", ["freezegun", "time_machine"])
def test_a_frozen_clock_replays_a_request_that_carries_the_date(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, library: str
) -> None:
    pytest.importorskip(library)
    freeze = {
        "freezegun": "freezegun.freeze_time('2024-01-02')",
        "time_machine": "time_machine.travel('2024-01-02', tick=False)",
    }[library]
    suite.write(
        f"""
        import datetime
        import {library}

        @pytest.mark.cassette("shared/dated.yaml")
        @pytest.mark.parametrize("page", range(4))
        @{freeze}
        def test_dated(page):
            since = datetime.date.today().isoformat()
            requests.get(URL + f"/{{page}}?since={{since}}")
        """
    )
    plugin = ["-p", "time_machine"] if library == "time_machine" else []  # freezegun has none
    suite.run("-n", "2", *plugin).assert_outcomes(passed=4)
    uris = sorted(i["request"]["uri"] for i in suite.cassette("dated", "shared")["interactions"])
    assert uris == [suite.server.url(f"/{page}?since=2024-01-02") for page in range(4)]
    monkeypatch.setenv("CI", "true")
    suite.run("-n", "2", *plugin).assert_outcomes(passed=4)


def test_a_run_loads_only_the_other_plugins_it_asks_for(pytester: pytest.Pytester) -> None:
    # tests/conftest.py: pytest-socket, pytest-httpx ... loaded themselves into every generated
    # run, and patched for all of them (~10 of this suite's tests failed beside them).
    if not NOT_ASKED_FOR:
        pytest.skip("no other plugin is installed")
    other = other_plugins()
    pytester.makeconftest(
        """
        def pytest_report_header(config):
            names = [config.pluginmanager.get_name(p) for p in config.pluginmanager.get_plugins()]
            return "loaded: " + " ".join(sorted(n for n in names if n))
        """
    )
    pytester.makepyfile("def test_nothing(): pass")
    loaded = (
        pytester.runpytest("-p", "no:asyncio")
        .stdout.str()
        .split("loaded: ", 1)[1]
        .split("\n", 1)[0]
        .split()
    )
    assert "cassettes" in loaded
    assert not set(other) & set(loaded)
    loaded = (
        pytester.runpytest("-p", "no:asyncio", "-p", other[0])
        .stdout.str()
        .split("loaded: ", 1)[1]
        .split()
    )
    assert other[0] in loaded


@pytest.mark.parametrize("library", ["freezegun", "time_machine"])
def test_a_clock_left_in_the_future_spares_the_marks_of_a_run_still_going(
    suite: Suite, library: str
) -> None:
    # A clock moved to the future and never put back (started in a conftest) is still moved
    # when the run ends and sweeps away the folders of runs killed a day ago: another run's,
    # live beside it (it marked a cassette a second ago), must not look a day old.
    pytest.importorskip(library)
    travel = {
        "freezegun": "freezegun.freeze_time('2099-01-02')",
        "time_machine": "time_machine.travel('2099-01-02', tick=False)",
    }[library]
    suite.pytester.makeconftest(f"import {library}\n\n{travel}.start()\n")
    suite.write(
        """
        import time

        def test_the_clock_is_moved():
            assert time.time() > 4e9

        @pytest.mark.cassette("shared/named.yaml")
        def test_recorded():
            requests.get(URL + "/a")
        """
    )
    ongoing = storage.lock_dir() / f"run-{uuid.uuid4().hex}"  # another run, still going
    (ongoing / "x.written").parent.mkdir(parents=True)
    (ongoing / "x.written").touch()
    try:
        result = suite.pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
        result.assert_outcomes(passed=2)
        assert suite.uris("named", "shared") == [suite.server.url("/a")]
        assert ongoing.exists()
    finally:
        shutil.rmtree(ongoing, ignore_errors=True)
