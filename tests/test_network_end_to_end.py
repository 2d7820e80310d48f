"""Replay-only runs make no real connection: the guard in real pytest runs, with allow-lists."""

from __future__ import annotations

import textwrap

import pytest

from tests.conftest import Suite, needs_xdist

RAW_SOCKET = """
import socket
from urllib.parse import urlsplit

def connect(url, host=None):
    parts = urlsplit(url)
    with socket.create_connection((host or parts.hostname, parts.port), timeout=2) as sock:
        sock.sendall(b"GET /raw HTTP/1.0\\r\\n\\r\\n")
        return sock.recv(100)
"""


# A conftest's keep-alive connection to the server, made (and used once) before any guard.
EARLY_CONNECTION = """
import http.client, os, socket
from urllib.parse import urlsplit

PARTS = urlsplit(os.environ["TEST_SERVER"])
EARLY = http.client.HTTPConnection(PARTS.hostname, PARTS.port, timeout=5)
EARLY.request("GET", "/warm")
EARLY.getresponse().read()
"""


def run_in_ci(suite: Suite, monkeypatch: pytest.MonkeyPatch) -> pytest.RunResult:
    """The suite run again as CI runs it (replay-only), against a server that forgot its hits."""
    suite.server.reset()
    monkeypatch.setenv("CI", "true")
    return suite.run()


def run_fresh_in_ci(suite: Suite, monkeypatch: pytest.MonkeyPatch) -> pytest.RunResult:
    """The suite run as CI runs it, in a process of its own: what its tests import there is
    imported while a guard is installed."""
    monkeypatch.setenv("CI", "true")
    return suite.pytester.runpytest_subprocess(
        "-p", "no:recording", "-p", "no:asyncio", "-p", "no:randomly"
    )


def test_a_replay_only_cassette_test_cannot_reach_the_network(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.write(
        RAW_SOCKET
        + textwrap.dedent("""
        @pytest.mark.cassette(ignore_localhost=True)
        def test_sneaky():
            requests.get(URL + "/ignored-host-goes-out-unrecorded")
        """)
    )
    suite.run().assert_outcomes(passed=1)  # recording mode: the ignored host is reached
    assert suite.server.hits == 1
    result = run_in_ci(suite, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*NetworkBlockedError: Network access to 127.0.0.1:* blocked in test_suite.py::test_sneaky",
            "*record mode: none (CI is set: a replay-only run)*",
            "*A cassette was open and this connection went past it: the host is in `ignore_hosts`*",
            "*--cassette-allow-hosts=127.0.0.1*",
        ]
    )
    assert suite.server.hits == 0


@pytest.mark.parametrize("option", ["scrub_request", "before_record_request"])
def test_a_request_a_scrub_function_dropped_is_told_apart_in_the_error(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    # Returning None is vcrpy's way to ignore a request: it goes out unrecorded in every run.
    # In CI the error must name the function, not `ignore_hosts` or an unrecorded client.
    suite.write(
        textwrap.dedent(f"""
        def drop(request):
            return None if request.path.endswith("/dropped") else request

        @pytest.mark.cassette({option}=drop)
        def test_drops():
            requests.get(URL + "/kept")
            requests.get(URL + "/dropped")
        """)
    )
    suite.run().assert_outcomes(passed=1)
    assert suite.uris("test_drops") == [suite.server.url("/kept")]
    result = run_in_ci(suite, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*NetworkBlockedError: Network access to 127.0.0.1:* blocked in test_suite.py::test_drops",
            "*A cassette was open and a scrub function of yours (`scrub_request`, "
            "`before_record_request`) returned None for a request to this host*",
        ]
    )
    result.stdout.no_fnmatch_line("*the host is in `ignore_hosts`*")
    assert suite.server.hits == 0


def test_a_client_cassettes_do_not_record_is_told_apart_in_the_error(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pycurl, or niquests beside the real urllib3, connect past vcrpy's patches: recording
    # passes and saves nothing; in CI the error must not only suggest allowing the host.
    suite.write(
        RAW_SOCKET
        + textwrap.dedent("""
        @pytest.mark.cassette
        def test_unrecorded_client():
            requests.get(URL + "/recorded")
            assert connect(URL)
        """)
    )
    suite.run().assert_outcomes(passed=1)
    assert suite.uris("test_unrecorded_client") == [suite.server.url("/recorded")]
    result = run_in_ci(suite, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*NetworkBlockedError: Network access to 127.0.0.1:* blocked in "
            "test_suite.py::test_unrecorded_client",
            "*went past it*the client is one cassettes do not record (pycurl, niquests*",
        ]
    )
    assert suite.server.hits == 0


def test_raw_sockets_and_dns_are_blocked_too(suite: Suite) -> None:
    suite.write(
        RAW_SOCKET
        + textwrap.dedent("""
        import socket

        @pytest.mark.cassette
        def test_raw():
            with pytest.raises(Exception) as excinfo:
                connect(URL)
            assert "blocked" in str(excinfo.value)

        @pytest.mark.cassette
        def test_dns():
            with pytest.raises(Exception, match="blocked"):
                socket.getaddrinfo("db.internal.example", 5432)
        """)
    )
    result = suite.run("--record-mode=none")
    # The tests caught the errors, but a blocked attempt fails the test anyway.
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*Network access to db.internal.example:5432 blocked*"])
    assert suite.server.hits == 0


# A raw asyncio client (a database driver, say): one GET over asyncio's streams.
OPEN_CONNECTION = """
import asyncio
from urllib.parse import urlsplit

async def fetch():
    parts = urlsplit(URL)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(b"GET /uvloop HTTP/1.0\\r\\n\\r\\n")
    data = await reader.read()
    writer.close()
    return data
"""


def test_a_client_on_uvloop_is_blocked_too(suite: Suite, monkeypatch: pytest.MonkeyPatch) -> None:
    # uvloop resolves and connects in libuv, past the socket module: a database or queue
    # client on it must not reach the network from a replay-only run either.
    pytest.importorskip("uvloop")
    suite.write(
        OPEN_CONNECTION
        + textwrap.dedent("""
        import uvloop

        @pytest.mark.cassette
        def test_on_uvloop():
            loop = uvloop.new_event_loop()
            try:
                assert b" 200 " in loop.run_until_complete(fetch()).split(b"\\r\\n")[0]
            finally:
                loop.close()
        """)
    )
    suite.run().assert_outcomes(passed=1)  # recording: the guard lets it through
    assert suite.server.hits == 1
    result = run_in_ci(suite, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*NetworkBlockedError: Network access to 127.0.0.1:* blocked*"])
    assert suite.server.hits == 0


def test_uvloop_imported_inside_the_test_is_blocked_too(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The code under test may set its loop up lazily: uvloop is first imported while the
    # guard is already installed. A fresh process, so that nothing imported it before.
    pytest.importorskip("uvloop")
    suite.write(
        OPEN_CONNECTION
        + textwrap.dedent("""
        import sys

        @pytest.mark.cassette
        def test_lazy_uvloop():
            assert "uvloop" not in sys.modules
            import uvloop

            loop = uvloop.new_event_loop()
            try:
                loop.run_until_complete(fetch())
            finally:
                loop.close()

        def test_unguarded_after():  # no cassette: uvloop's own methods are back
            import uvloop

            assert not {"create_connection", "getaddrinfo"} & set(vars(uvloop.Loop))
        """)
    )
    result = run_fresh_in_ci(suite, monkeypatch)
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*NetworkBlockedError: Network access to 127.0.0.1:* blocked*"])
    assert suite.server.hits == 0


# pycurl: libcurl resolves and connects in C, past the socket module and vcrpy's patches.
PYCURL_GET = """
import pycurl

def curl_get(url, proxy=""):
    handle = pycurl.Curl()
    try:
        handle.setopt(pycurl.URL, url)
        handle.setopt(pycurl.PROXY, proxy)
        handle.setopt(pycurl.TIMEOUT, 5)
        return handle.perform_rb()
    finally:
        handle.close()
"""


def test_pycurl_is_blocked_in_a_replay_only_run(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before, a pycurl test passed in CI by reaching the network: nothing recorded it, nothing
    # blocked it. It is still not recorded; a replay-only run now blocks it, even where the
    # test swallows pycurl's error.
    pytest.importorskip("pycurl")
    suite.write(
        PYCURL_GET
        + textwrap.dedent("""
        @pytest.mark.cassette
        def test_curl():
            assert b'"path": "/curl"' in curl_get(URL + "/curl")

        @pytest.mark.cassette
        def test_curl_error_swallowed():
            try:
                curl_get(URL.replace("127.0.0.1", "localhost") + "/swallowed")
            except Exception:
                pass
        """)
    )
    suite.run().assert_outcomes(passed=2)  # recording: the guard lets it through
    assert suite.server.hits == 2
    result = run_in_ci(suite, monkeypatch)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*NetworkBlockedError: Network access to 127.0.0.1:* blocked in "
            "test_suite.py::test_curl",
            "*NetworkBlockedError: Network access to localhost:* blocked in "
            "test_suite.py::test_curl_error_swallowed",
        ],
        consecutive=False,
    )
    assert suite.server.hits == 0


def test_pycurl_imported_inside_the_test_is_blocked_too(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # First imported while the guard is installed (a fresh process: nothing imported it
    # before); the real class is back once the guard is gone.
    pytest.importorskip("pycurl")
    suite.write(
        textwrap.dedent("""
        import sys

        @pytest.mark.cassette
        def test_lazy_pycurl():
            assert "pycurl" not in sys.modules
            import pycurl

            handle = pycurl.Curl()
            handle.setopt(pycurl.URL, URL + "/lazy")
            handle.setopt(pycurl.PROXY, "")
            handle.perform_rb()

        def test_unguarded_after():
            import pycurl

            assert pycurl.Curl.__bases__ == (object,)  # pycurl's own class, not the guard's
        """)
    )
    result = run_fresh_in_ci(suite, monkeypatch)
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*NetworkBlockedError: Network access to 127.0.0.1:* blocked*"])
    assert suite.server.hits == 0


def test_grpc_is_blocked_in_a_replay_only_run(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # gRPC's C core connects past the socket module (Google's client libraries use it): a
    # cassette test's channel reached the network from CI. Imported in the test's body, as
    # gRPC imports its channel module when the first channel is made; a fresh process.
    pytest.importorskip("grpc")
    from tests.test_network import GrpcServer

    server = GrpcServer()
    try:
        suite.write(
            textwrap.dedent(f"""
            import sys

            @pytest.mark.cassette
            def test_grpc():
                assert "grpc._channel" not in sys.modules
                import grpc

                with grpc.insecure_channel("127.0.0.1:{server.port}") as channel:
                    channel.unary_unary("/echo.Echo/Say")(b"ping", timeout=5)

            def test_unguarded_after():
                import grpc

                with grpc.insecure_channel("127.0.0.1:{server.port}") as channel:
                    assert channel.unary_unary("/echo.Echo/Say")(b"ping", timeout=5)
            """)
        )
        result = run_fresh_in_ci(suite, monkeypatch)
    finally:
        server.server.stop(None)
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        ["*NetworkBlockedError: Network access to 127.0.0.1:* blocked in test_suite.py::test_grpc"]
    )
    assert server.calls == 1  # the plain test's


@pytest.mark.parametrize(
    ("allow", "reached"),
    [
        ("127.0.0.1", True),
        ("127.0.0.0/8", True),
        ("localhost", True),
        ("127.0.0.1:1", False),
        ("10.0.0.0/8", False),
    ],
)
def test_allowed_hosts_get_through(suite: Suite, allow: str, reached: bool) -> None:
    suite.write(
        RAW_SOCKET
        + textwrap.dedent("""
        @pytest.mark.cassette
        def test_database():
            assert connect(URL)
        """)
    )
    result = suite.run("--record-mode=none", f"--cassette-allow-hosts={allow}")
    result.assert_outcomes(**({"passed": 1} if reached else {"failed": 1}))
    assert suite.server.hits == (1 if reached else 0)


def test_allow_hosts_by_name_in_ini_and_marker(suite: Suite) -> None:
    suite.pytester.makeini("[pytest]\ncassette_allow_hosts = example.invalid\n")
    suite.write(
        RAW_SOCKET
        + textwrap.dedent("""
        @pytest.mark.cassette(allow_hosts=["localhost"], record_mode="none")
        def test_by_name():
            assert connect(URL, host="localhost")

        @pytest.mark.cassette(record_mode="none")
        def test_not_allowed():
            connect(URL, host="localhost")
        """)
    )
    result = suite.run()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*Network access to localhost:* blocked in *test_not_allowed*"])
    assert suite.server.hits == 1


@pytest.mark.parametrize("how", ["--record-mode=none", "CI=true"])
def test_a_replay_only_run_allows_only_the_hosts_the_run_allows(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """SPEC: a replay-only run opens no connection "whatever a marker or config says; the only
    exception is a host named in cassette_allow_hosts / --cassette-allow-hosts"."""
    suite.pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def cassette_config():
            return {"allow_hosts": ["127.0.0.1"]}
        """
    )
    suite.write(
        RAW_SOCKET
        + textwrap.dedent("""
        @pytest.mark.cassette(allow_hosts=["localhost", "127.0.0.1"])
        def test_marker_allows():
            connect(URL, host="localhost")

        @pytest.mark.cassette
        def test_config_allows():
            connect(URL)
        """)
    )
    args = [how] if how.startswith("--") else []
    if not args:
        monkeypatch.setenv("CI", "true")
    result = suite.run(*args)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*Network access to localhost:* blocked in *test_marker_allows*"])
    assert suite.server.hits == 0
    allowed = suite.run(*args, "--cassette-allow-hosts=localhost,127.0.0.1")
    allowed.assert_outcomes(passed=2)
    assert suite.server.hits == 2


def test_block_network_guards_every_test(suite: Suite) -> None:
    suite.write(
        """
        def test_plain():
            requests.get(URL + "/plain")

        def test_plain_allowed_by_ini_list():
            pass
        """
    )
    result = suite.run("--block-network")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*--block-network blocks real connections in every test.*"])
    assert suite.server.hits == 0
    suite.run("--block-network", "--cassette-allow-hosts=127.0.0.1").assert_outcomes(passed=2)
    assert suite.server.hits == 1


def test_the_guard_is_gone_after_the_test(suite: Suite) -> None:
    suite.write(
        RAW_SOCKET
        + textwrap.dedent("""
        import socket
        ORIGINAL = (socket.socket.connect, socket.getaddrinfo)

        @pytest.mark.cassette
        def test_guarded():
            assert socket.getaddrinfo is not ORIGINAL[1]

        def test_after():
            assert (socket.socket.connect, socket.getaddrinfo) == ORIGINAL
            assert connect(URL)
        """)
    )
    suite.run("--record-mode=none", "-p", "no:randomly").assert_outcomes(passed=2)
    assert suite.server.hits == 1


def test_the_guard_is_gone_for_a_plain_test_between_guarded_ones_and_after_the_run(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Between two guarded tests the guard's patches may stay in place, doing nothing: a plain
    # test still sees the originals, the next guarded test still blocks, and the run leaves
    # nothing of ours in place.
    import os
    import socket
    import subprocess

    def ours() -> tuple[object, ...]:
        return (socket.socket.connect, socket.getaddrinfo, os.system, subprocess.Popen.__init__)

    before = ours()
    suite.write(
        RAW_SOCKET
        + textwrap.dedent("""
        import subprocess

        ORIGINAL = (socket.socket.connect, socket.getaddrinfo, os.system, subprocess.Popen.__init__)

        def now():
            return (socket.socket.connect, socket.getaddrinfo, os.system, subprocess.Popen.__init__)

        @pytest.mark.cassette
        def test_1_guarded():
            assert all(a is not b for a, b in zip(now(), ORIGINAL))

        @pytest.mark.cassette
        def test_2_guarded_again():
            assert all(a is not b for a, b in zip(now(), ORIGINAL))
            connect(URL)

        def test_3_plain():
            assert now() == ORIGINAL
            assert connect(URL)

        @pytest.mark.cassette
        def test_4_guarded():
            connect(URL)
        """)
    )
    result = run_in_ci(suite, monkeypatch)
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*Network access to 127.0.0.1:* blocked in test_suite.py::test_2_guarded_again",
            "*Network access to 127.0.0.1:* blocked in test_suite.py::test_4_guarded",
        ]
    )
    assert suite.server.hits == 1
    assert ours() == before


def test_a_child_a_plain_tests_fixture_starts_after_a_guarded_test_is_not_guarded(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The module fixture of a plain test, torn down after the guarded test that ends the module
    # (its guard gone, its patches maybe still in place): its child runs without the guard.
    out = suite.path / "child.txt"
    suite.write(
        textwrap.dedent(f"""
        import subprocess
        import sys

        @pytest.fixture(scope="module")
        def tool():
            yield
            code = "import os; print(os.environ.get('PYTEST_CASSETTES_CHILD_GUARD'))"
            told = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            open({str(out)!r}, "w").write(told.stdout)

        def test_1_plain(tool):
            pass

        @pytest.mark.cassette
        def test_2_guarded():
            assert "PYTEST_CASSETTES_CHILD_GUARD" in os.environ
        """)
    )
    run_in_ci(suite, monkeypatch).assert_outcomes(passed=2)
    assert out.read_text() == "None\n"


def test_a_guard_patches_again_what_a_test_before_replaced(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A guarded test puts its own getaddrinfo and os.system in place of the guard's and leaves
    # them: the next guarded test is guarded as every test is (its name look-up refused), and
    # os.system is a fake of the test's own, left alone.
    import os
    import socket

    monkeypatch.setattr(os, "system", os.system)  # the fakes outlive the run: given back here
    monkeypatch.setattr(socket, "getaddrinfo", socket.getaddrinfo)
    suite.write(
        textwrap.dedent("""
        import socket

        def test_0_plain():
            pass

        @pytest.mark.cassette
        def test_1_replaces():
            socket.getaddrinfo = lambda *args, **kwargs: []
            os.system = lambda command: 0

        @pytest.mark.cassette
        def test_2_guarded():
            assert os.system("exit 3") == 0
            socket.getaddrinfo("db.example.invalid", 5432)
        """)
    )
    result = run_in_ci(suite, monkeypatch)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*Network access to db.example.invalid:5432 blocked in test_suite.py::test_2_guarded"]
    )


def test_bad_allow_list_entry_is_a_usage_error(suite: Suite) -> None:
    suite.write("def test_x():\n    pass\n")
    result = suite.run("--cassette-allow-hosts=*.example.com")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*Invalid allowed host '[*].example.com'*"])


@needs_xdist
def test_the_guard_works_under_xdist(suite: Suite) -> None:
    suite.write(
        RAW_SOCKET
        + textwrap.dedent(
            """
            @pytest.mark.cassette
            @pytest.mark.parametrize("n", range(4))
            def test_raw(n):
                connect(URL)
            """
        )
    )
    result = suite.pytester.runpytest_subprocess(
        "-p", "no:recording", "-n", "2", "--record-mode=none"
    )
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(["*NetworkBlockedError: Network access to 127.0.0.1:* blocked*"])
    result.stdout.fnmatch_lines(["*4 network connections blocked*"])
    assert suite.server.hits == 0


def test_unittest_cases_and_doctests_get_the_cassette_and_the_guard(suite: Suite) -> None:
    suite.write(
        '''
        import unittest

        @pytest.mark.cassette
        class TestLegacy(unittest.TestCase):
            def test_recorded(self):
                self.assertEqual(requests.get(URL + "/unittest").status_code, 200)

        def fetch():
            """
            >>> fetch()
            200
            """
            return requests.get(URL + "/doctest").status_code
        '''
    )
    suite.run().assert_outcomes(passed=1)  # the doctest is not collected without the flag
    assert suite.uris("TestLegacy.test_recorded") == [suite.server.url("/unittest")]
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0

    result = suite.run("--doctest-modules", "--block-network", "--record-mode=none")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*NetworkBlockedError*", "*test_suite.fetch*"])
    assert suite.server.hits == 0


@pytest.mark.parametrize(
    ("allowed", "reached"),
    [
        (r"127\.0\.0\..*", True),
        (r"(localhost|127\.)", True),
        (r"10\..*", False),
        # The comma of {m,n} does not separate entries, in the flag as in the ini.
        (r"127\.0\.0\.\d{1,3}", True),
    ],
)
def test_pytest_recordings_regular_expressions_are_allowed_hosts(
    suite: Suite, allowed: str, reached: bool
) -> None:
    suite.write(
        f"""
        def test_flag():
            requests.get(URL + "/flag")

        @pytest.mark.block_network(allowed_hosts=[{allowed!r}])
        def test_marker():
            requests.get(URL + "/marker")

        @pytest.mark.cassette(ignore_localhost=True, record_mode="none")
        def test_cassette():  # replay-only: the ignored host goes out through the guard
            requests.get(URL + "/cassette")
        """
    )
    result = suite.run("--block-network", f"--allowed-hosts={allowed}")
    result.assert_outcomes(**({"passed": 3} if reached else {"failed": 3}))
    assert suite.server.hits == (3 if reached else 0)


def test_a_bad_regular_expression_in_allowed_hosts_is_a_usage_error(suite: Suite) -> None:
    suite.write("def test_x():\n    pass\n")
    result = suite.run("--block-network", "--allowed-hosts=(local")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*Invalid allowed host '(local': not a valid regular expression*"])


def test_a_wider_fixture_of_a_cassette_test_cannot_reach_the_network_in_a_replay_only_run(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A module-scoped fixture is set up for the first test that needs it, before the test's
    # cassette opens, and torn down after it closes: its requests are neither recorded nor
    # replayed, and reached the network from CI.
    suite.write(
        """
        @pytest.fixture(scope="module")
        def session_token():
            token = requests.get(URL + "/login").text
            yield token
            if os.environ.get("LOGOUT"):
                requests.get(URL + "/logout")

        @pytest.mark.cassette
        def test_uses_it(session_token):
            assert requests.get(URL + "/data").status_code == 200
        """
    )
    suite.run().assert_outcomes(passed=1)  # recording: the fixture's request goes out
    assert [r.path for r in suite.server.requests] == ["/login", "/data"]
    result = run_in_ci(suite, monkeypatch)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "E *NetworkBlockedError: Network access to 127.0.0.1:* blocked in "
            "test_suite.py::test_uses_it",
            "E *No cassette was open: a fixture wider than the test*",
        ]
    )
    assert suite.server.hits == 0
    # Its teardown is guarded too; a host the run allows gets through.
    monkeypatch.setenv("LOGOUT", "1")
    result = suite.run("--cassette-allow-hosts=127.0.0.1")
    result.assert_outcomes(passed=1)
    assert [r.path for r in suite.server.requests] == ["/login", "/logout"]
    suite.server.reset()
    result = suite.run("--record-mode=none")
    result.assert_outcomes(errors=1)
    assert suite.server.hits == 0


def test_the_replay_only_guard_of_a_test_ends_with_its_teardown(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.write(
        RAW_SOCKET
        + textwrap.dedent("""
        @pytest.mark.cassette
        def test_cassette():
            pass

        def test_plain_after_it():
            assert connect(URL)
        """)
    )
    monkeypatch.setenv("CI", "true")
    suite.server.route("/raw", body=b"raw")
    suite.run("-p", "no:randomly").assert_outcomes(passed=2)
    assert suite.server.hits == 1


def test_a_wider_fixture_s_teardown_is_guarded_for_its_own_tests_only(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The last test of a module tears down the module's fixtures, its own or not: only its own
    # are its business (which test runs last is a matter of order).
    suite.write(
        """
        @pytest.fixture(scope="module")
        def mine():
            yield
            requests.get(URL.replace("127.0.0.1", "localhost") + "/logout")

        @pytest.fixture(scope="module")
        def theirs():
            yield
            requests.get(URL.replace("127.0.0.1", "localhost") + "/cleanup")

        def test_plain_first(theirs):
            pass

        @pytest.mark.cassette
        def test_cassette_last():
            pass
        """
    )
    monkeypatch.setenv("CI", "true")
    suite.run("-p", "no:randomly").assert_outcomes(passed=2)
    assert [r.path for r in suite.server.requests] == ["/cleanup"]
    suite.server.reset()
    suite.write(
        """
        @pytest.fixture(scope="module")
        def mine():
            yield
            requests.get(URL.replace("127.0.0.1", "localhost") + "/logout")

        @pytest.mark.cassette
        def test_cassette_last(mine):
            pass
        """
    )
    result = suite.run("-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_cassette_last*", "*No cassette was open*"]
    )
    assert suite.server.hits == 0


def test_the_replay_only_guard_goes_when_a_test_stops_the_run(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytest.exit skips the test's teardown: the guard must not outlive it.
    suite.pytester.makeconftest(
        """
        import os

        import pytest
        import requests

        @pytest.fixture(scope="session")
        def goodbye():
            yield
            requests.get(os.environ["TEST_SERVER"] + "/session-end")
        """
    )
    suite.write(
        """
        def test_first(goodbye):  # a plain test's fixture: not under the guard
            pass

        @pytest.mark.cassette
        def test_stops():
            pytest.exit("enough")
        """
    )
    monkeypatch.setenv("CI", "true")
    result = suite.run("-p", "no:randomly")
    result.stdout.fnmatch_lines(["*Exit: enough*"])
    assert "NetworkBlockedError" not in result.stdout.str()
    assert [r.path for r in suite.server.requests] == ["/session-end"]
    # A fixture the stopped test set up is torn down after the run ended: unguarded too, and
    # pytest ends normally (the guard raised out of pytest's own session finish).
    suite.server.reset()
    suite.write(
        """
        @pytest.mark.cassette
        def test_stops(goodbye):
            pytest.exit("enough")
        """
    )
    result = suite.run("-p", "no:randomly")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # as pytest.exit ends any run
    result.stdout.fnmatch_lines(["*- cassettes -*", "*Exit: enough*"])
    assert "NetworkBlockedError" not in result.stdout.str()
    assert [r.path for r in suite.server.requests] == ["/session-end"]


def test_every_fixture_set_up_for_a_replay_only_cassette_test_is_guarded_at_teardown(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whichever test is running when it goes, and whatever set it up: a plugin's autouse
    # fixture set up before the cassette, a dependency of an overridden cassette_config, the
    # module-scoped fixture a function-scoped one extends, one fetched from the test body.
    suite.pytester.makepyfile(
        myplug="""
        import os

        import pytest
        import requests

        @pytest.fixture(autouse=True)
        def plugin_autouse():
            yield
            if os.environ.get("LEAK") == "autouse":
                requests.get(os.environ["TEST_SERVER"] + "/autouse")
        """
    )
    suite.pytester.makeconftest(
        """
        import os

        import pytest
        import requests

        def leak(name):
            if os.environ.get("LEAK") == name:
                requests.get(os.environ["TEST_SERVER"] + "/" + name)

        @pytest.fixture(scope="module")
        def srv():
            yield
            leak("extended")

        @pytest.fixture(scope="module")
        def dyn():
            yield
            leak("dynamic")

        @pytest.fixture
        def client():
            yield
            leak("config-dependency")
        """
    )
    suite.write(
        """
        @pytest.fixture
        def srv(srv):
            return srv

        @pytest.fixture
        def cassette_config(client):
            return {}

        @pytest.mark.cassette
        def test_it(srv, request):
            request.getfixturevalue("dyn")
        """
    )
    suite.pytester.syspathinsert()  # for -p myplug
    monkeypatch.setenv("CI", "true")
    for leak in ("autouse", "config-dependency", "extended", "dynamic"):
        monkeypatch.setenv("LEAK", leak)
        result = suite.run("-p", "myplug")
        result.assert_outcomes(passed=1, errors=1)
        fixture = {"autouse": "plugin_autouse", "config-dependency": "client"}.get(leak)
        fixture = fixture or {"extended": "srv", "dynamic": "dyn"}[leak]
        result.stdout.fnmatch_lines(
            [
                "*ERROR at teardown of test_it*",
                "*NetworkBlockedError: Network access to 127.0.0.1:* blocked in the teardown of "
                f"fixture '{fixture}' of test_*.py::test_it",
            ]
        )
        assert suite.server.hits == 0, leak


def test_a_blocked_request_swallowed_by_a_later_teardown_fails_the_test_tearing_down(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.write(
        """
        @pytest.fixture(scope="module")
        def mod():
            yield
            try:
                requests.get(URL + "/bye", timeout=2)
            except Exception:
                pass  # swallowed

        @pytest.mark.cassette
        def test_one(mod):
            pass

        def test_two():
            pass
        """
    )
    monkeypatch.setenv("CI", "true")
    result = suite.run("-p", "no:randomly")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_two*",
            "*NetworkBlockedError: Network access to 127.0.0.1:* blocked in the teardown of "
            "fixture 'mod' (set up for test_*.py::test_one) in test_*.py::test_two",
        ]
    )
    assert suite.server.hits == 0


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="forks")
def test_a_blocked_request_in_a_forked_pool_worker_fails_the_test(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forked worker inherits the guard; its NetworkBlockedError, sent back pickled, could not
    be rebuilt (keyword-only arguments): the pool's result thread died and `pool.apply` waited
    for ever, a hung CI job (an audit's finding)."""
    suite.write(
        """
        import multiprocessing
        import socket
        from urllib.parse import urlsplit

        def fetch(url):
            return requests.get(url).status_code

        def connect(url):
            parts = urlsplit(url)
            socket.create_connection((parts.hostname, parts.port), timeout=2).close()

        @pytest.mark.cassette
        def test_pool():
            with multiprocessing.get_context("fork").Pool(1) as pool:
                with pytest.raises(Exception) as missing:
                    pool.apply_async(fetch, (URL + "/from-a-worker",)).get(timeout=20)
                with pytest.raises(RuntimeError, match="blocked") as blocked:
                    pool.apply_async(connect, (URL,)).get(timeout=20)
            assert type(missing.value).__name__ == "CassetteMissingError"
            assert type(blocked.value).__name__ == "NetworkBlockedError"
            assert "expected at:" in str(missing.value)
        """
    )
    monkeypatch.setenv("CI", "true")
    suite.pytester.runpytest_subprocess("-p", "no:recording").assert_outcomes(passed=1)
    assert suite.server.hits == 0


def test_a_connection_made_before_the_guard_cannot_send_in_a_replay_only_test(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A keep-alive http.client connection and a connected UDP socket made at import time (and
    # used once then): their sends in a replay-only test reached the server, since only connect
    # and sendto/sendmsg with an address were checked. A Unix socket pair still talks.
    suite.pytester.makeconftest(
        EARLY_CONNECTION
        + textwrap.dedent("""
        UDP = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        UDP.connect((PARTS.hostname, PARTS.port))
        """)
    )
    suite.write(
        """
        import socket
        import conftest

        @pytest.mark.cassette
        def test_keep_alive():
            conftest.EARLY.request("GET", "/kept-alive")
            conftest.EARLY.getresponse().read()

        @pytest.mark.cassette
        def test_sendfile(tmp_path):
            (tmp_path / "f").write_bytes(b"GET /sendfile HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            with open(tmp_path / "f", "rb") as f:
                conftest.EARLY.sock.sendfile(f)

        @pytest.mark.cassette
        def test_udp():
            conftest.UDP.send(b"datagram")

        @pytest.mark.cassette
        def test_udp_sendmsg_without_an_address():
            conftest.UDP.sendmsg([b"datagram"], [], 0, None)

        @pytest.mark.cassette
        def test_unix_pair():
            a, b = socket.socketpair()
            a.sendall(b"x")
            assert b.recv(1) == b"x"
        """
    )
    result = run_fresh_in_ci(suite, monkeypatch)
    result.assert_outcomes(passed=1, failed=4)
    result.stdout.fnmatch_lines(
        ["*NetworkBlockedError: Network access to 127.0.0.1:* blocked in test_suite.py::test_*"]
    )
    assert [r.path for r in suite.server.requests] == ["/warm"]


def test_a_thread_a_replay_only_test_started_keeps_its_guard_after_the_test(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The thread's request, sent after the test's teardown (while a plain test ran), reached
    # the server: the guard had gone with the test. So did the one it then ran in an
    # executor's worker, a thread it started after the test. A thread the plain test starts
    # is its own.
    suite.write(
        """
        import threading
        from concurrent.futures import ThreadPoolExecutor

        GO = threading.Event()
        TOLD = []

        def fetch(path):
            try:
                requests.get(URL + path, timeout=5)
                TOLD.append("sent")
            except Exception as error:
                TOLD.append(type(error).__name__)
                TOLD.append(str(error).splitlines()[0])

        def later():
            GO.wait()
            fetch("/after-the-test")
            with ThreadPoolExecutor(1) as pool:
                pool.submit(fetch, "/from-a-worker").result()

        @pytest.mark.cassette
        def test_starts_a_thread():
            threading.Thread(target=later, name="leftover").start()

        def test_plain_after():
            GO.set()
            [thread] = [t for t in threading.enumerate() if t.name == "leftover"]
            thread.join()
            assert TOLD == 2 * [
                "NetworkBlockedError",
                "Network access to 127.0.0.1:" + URL.rsplit(":", 1)[1]
                + " blocked in a thread test_suite.py::test_starts_a_thread started, after its end",
            ]
            mine = threading.Thread(target=lambda: TOLD.append(requests.get(URL + "/mine").status_code))
            mine.start()
            mine.join()
            assert TOLD[-1] == 200
        """
    )
    result = run_fresh_in_ci(suite, monkeypatch)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["2 network connections blocked, none in a failed test*"])
    assert [r.path for r in suite.server.requests] == ["/mine"]


def test_a_connection_made_before_the_guard_to_an_allowed_address_asks_no_name_server(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A session's keep-alive connection to an allowed address: at each test's first send the
    # guard looked up every allowed name (a DNS query per name and test) before seeing that the
    # address was allowed as it is.
    suite.pytester.makeconftest(
        """
        import _socket, http.client, os
        from urllib.parse import urlsplit

        LOOKED_UP = []
        real = _socket.getaddrinfo

        def counting(host, *args, **kwargs):
            LOOKED_UP.append(host)
            return real(host, *args, **kwargs)

        _socket.getaddrinfo = counting
        PARTS = urlsplit(os.environ["TEST_SERVER"])
        EARLY = http.client.HTTPConnection(PARTS.hostname, PARTS.port, timeout=5)
        EARLY.request("GET", "/warm")
        EARLY.getresponse().read()
        """
    )
    suite.write(
        """
        import conftest

        @pytest.mark.cassette
        @pytest.mark.parametrize("n", range(3))
        def test_keep_alive(n):
            conftest.EARLY.request("GET", f"/kept-alive/{n}")
            conftest.EARLY.getresponse().read()
            assert "db.example.invalid" not in conftest.LOOKED_UP
        """
    )
    monkeypatch.setenv("CI", "true")
    result = suite.pytester.runpytest_subprocess(
        "-p",
        "no:recording",
        "-p",
        "no:randomly",
        "--cassette-allow-hosts=127.0.0.1,db.example.invalid",
    )
    result.assert_outcomes(passed=3)
    assert suite.server.hits == 4


TLS_CONFTEST = """
import datetime, socket, ssl, threading
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(folder):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(folder / "cert.pem"), str(folder / "key.pem")


RECEIVED = []


def pytest_configure(config):
    global CLIENT
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(*self_signed(config.rootpath))
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        with server_context.wrap_socket(listener.accept()[0], server_side=True) as conn:
            while data := conn.recv(100):
                RECEIVED.append(data)

    threading.Thread(target=serve, daemon=True).start()
    client_context = ssl.create_default_context()
    client_context.check_hostname = False
    client_context.verify_mode = ssl.CERT_NONE
    CLIENT = client_context.wrap_socket(socket.create_connection(listener.getsockname()))
    CLIENT.sendall(b"warm")
"""


def test_a_tls_connection_made_before_the_guard_cannot_send_in_a_replay_only_test(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An ssl socket writes through its SSL object, past socket.send: its writes in a
    # replay-only test reached the server.
    pytest.importorskip("cryptography")
    suite.pytester.makeconftest(TLS_CONFTEST)
    suite.write(
        """
        import time
        import conftest

        @pytest.mark.cassette
        def test_sendall():
            conftest.CLIENT.sendall(b"sendall")

        @pytest.mark.cassette
        def test_write():
            conftest.CLIENT.write(b"write")

        def test_only_the_warm_up_arrived():
            conftest.CLIENT.sendall(b"end")  # unguarded: the server reads up to it
            while not conftest.RECEIVED or conftest.RECEIVED[-1] != b"end":
                time.sleep(0.01)
            assert b"".join(conftest.RECEIVED) == b"warmend"
        """
    )
    result = run_fresh_in_ci(suite, monkeypatch)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["2 network connections blocked*"])


def test_a_connection_made_before_the_guard_to_an_allowed_name_s_address_sends(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Allowed by name, connected by address before the guard (a session's database
    # connection): its sends go through, the name being looked up when one is first checked.
    import socket

    name = socket.gethostname()
    try:
        resolved = {info[4][0] for info in socket.getaddrinfo(name, None)}
    except OSError:
        pytest.skip("this machine's name does not resolve")
    if "127.0.0.1" not in resolved:
        pytest.skip("this machine's name does not resolve to 127.0.0.1")
    suite.pytester.makeconftest(
        """
        import http.client, os
        from urllib.parse import urlsplit

        PARTS = urlsplit(os.environ["TEST_SERVER"])
        EARLY = http.client.HTTPConnection("127.0.0.1", PARTS.port, timeout=5)
        EARLY.request("GET", "/warm")
        EARLY.getresponse().read()
        """
    )
    suite.write(
        """
        import conftest

        @pytest.mark.cassette
        def test_keep_alive():
            conftest.EARLY.request("GET", "/kept-alive")
            assert conftest.EARLY.getresponse().status == 200
        """
    )
    monkeypatch.setenv("CI", "true")
    result = suite.pytester.runpytest_subprocess(
        "-p", "no:randomly", f"--cassette-allow-hosts={name}:{suite.server.port}"
    )
    result.assert_outcomes(passed=1)
    assert [r.path for r in suite.server.requests] == ["/warm", "/kept-alive"]


KEEP_ALIVE = """
import socket
from urllib.parse import urlsplit

PARTS = urlsplit(URL)
KEPT = []

def ask(path):
    # One request on the kept-alive raw socket (vcrpy records none of it): the status.
    sock = KEPT[0]
    sock.sendall(f"GET {path} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n".encode())
    data = b""
    while b"\\r\\n\\r\\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "closed by the server"
        data += chunk
    head, _, body = data.partition(b"\\r\\n\\r\\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\\r\\n")[0])
    while len(body) < length:
        body += sock.recv(4096)
    return head.split(b" ")[1]
"""


def test_a_servers_side_of_a_kept_alive_connection_answers_in_the_next_guarded_test(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server (in this process) accepted the connection under the first test's guard; in the
    # next test its answer on that socket was checked by its peer, the client's passing port,
    # which `127.0.0.1:PORT` does not allow: the server's thread was refused, the test failed.
    suite.write(
        KEEP_ALIVE
        + textwrap.dedent("""
        @pytest.mark.cassette
        def test_1_connects():
            KEPT.append(socket.create_connection((PARTS.hostname, PARTS.port), timeout=5))
            assert ask("/first") == b"200"

        @pytest.mark.cassette
        def test_2_reuses():
            assert ask("/second") == b"200"
        """)
    )
    suite.server.reset()
    monkeypatch.setenv("CI", "true")
    result = suite.run(f"--cassette-allow-hosts=127.0.0.1:{suite.server.port}")
    result.assert_outcomes(passed=2)
    assert [r.path for r in suite.server.requests] == ["/first", "/second"]


def test_a_plain_test_after_one_that_left_a_thread_running_starts_children_as_python_does(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A thread a guarded test left running keeps socket's patches in place; os's and
    # subprocess's functions that carry the guard into children stayed too, in the plain test
    # after it, where the README has them Python's own.
    suite.write(
        """
        import subprocess
        import threading

        ORIGINAL = (os.system, os.posix_spawn, subprocess.Popen.__init__)
        GO = threading.Event()

        @pytest.mark.cassette
        def test_1_leaves_a_thread():
            assert os.system is not ORIGINAL[0]
            threading.Thread(target=GO.wait, name="leftover").start()

        def test_2_plain():
            try:
                assert (os.system, os.posix_spawn, subprocess.Popen.__init__) == ORIGINAL
            finally:
                GO.set()
        """
    )
    run_in_ci(suite, monkeypatch).assert_outcomes(passed=2)


def test_a_plain_test_reusing_a_worker_a_guarded_test_started_is_not_blocked(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A loop kept for the module (a session-scoped event loop): its default executor's worker
    # started in a guarded test. A plain test's look-up through it (asyncio resolves names in
    # that executor) was refused by the guarded test's guard, which kept the worker. The work
    # the guarded test submitted stays behind its guard, run after it.
    suite.write(
        RAW_SOCKET
        + textwrap.dedent("""
        import asyncio
        import threading
        import time
        from concurrent.futures import ThreadPoolExecutor

        LOOP = asyncio.new_event_loop()
        POOL = ThreadPoolExecutor(1)
        GO = threading.Event()
        LATE = []

        def fetch_later():
            GO.wait(60)  # not forever: were test_2 to fail first, the run would hang at exit
            requests.get(URL + "/late")

        @pytest.mark.cassette
        def test_1_starts_the_workers():
            LOOP.run_until_complete(LOOP.run_in_executor(None, time.sleep, 0))
            POOL.submit(time.sleep, 0).result()
            LATE.append(ThreadPoolExecutor(1).submit(fetch_later))

        def test_2_plain_reuses_them():
            found = LOOP.run_until_complete(LOOP.getaddrinfo("localhost", 80))
            assert found
            assert POOL.submit(requests.get, URL + "/plain").result().status_code == 200
            GO.set()  # the guarded test's own work, run after it: still behind its guard
            with pytest.raises(Exception, match="blocked in a thread .*test_1.* after its end"):
                LATE[0].result()

        @pytest.mark.cassette
        def test_3_guarded_reuses_them():
            POOL.submit(connect, URL).result()
        """)
    )
    result = run_in_ci(suite, monkeypatch)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*Network access to 127.0.0.1:* blocked in test_suite.py::test_3_guarded_reuses_them"]
    )
    assert [r.path for r in suite.server.requests] == ["/plain"]


def test_a_tls_servers_side_answers_a_client_allowed_on_its_port(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A TLS server in the test's process wraps the socket accept gave it in a new ssl socket:
    # that one's handshake was checked by its peer, the client's passing port, which
    # `127.0.0.1:PORT` does not allow, and the server's side was refused.
    pytest.importorskip("cryptography")
    import socket

    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    suite.pytester.makeconftest(TLS_CONFTEST.split("RECEIVED = []")[0])
    suite.write(
        f"""
        import socket, ssl, threading
        from conftest import self_signed

        @pytest.mark.cassette
        def test_tls_round_trip(tmp_path):
            server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server_context.load_cert_chain(*self_signed(tmp_path))
            listener = socket.create_server(("127.0.0.1", {port}))
            told = []

            def serve():
                with server_context.wrap_socket(listener.accept()[0], server_side=True) as conn:
                    conn.sendall(conn.recv(100).upper())

            def serving():
                try:
                    serve()
                except Exception as error:
                    told.append(error)

            thread = threading.Thread(target=serving)
            thread.start()
            client_context = ssl.create_default_context()
            client_context.check_hostname = False
            client_context.verify_mode = ssl.CERT_NONE
            with client_context.wrap_socket(
                socket.create_connection(("127.0.0.1", {port}), timeout=5)
            ) as client:
                client.sendall(b"ping")
                assert client.recv(100) == b"PING"
            thread.join()
            listener.close()
            assert told == []
        """
    )
    monkeypatch.setenv("CI", "true")
    suite.run(f"--cassette-allow-hosts=127.0.0.1:{port}").assert_outcomes(passed=1)


def test_a_leftover_thread_cannot_send_on_a_connection_a_plain_test_used(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A connection made at import, used by a plain test while a guarded test's leftover thread
    # kept the guard's patches in place: the plain test's send marked it checked, and the
    # leftover thread's send on it then went out unchecked.
    suite.pytester.makeconftest(
        """
        import http.client, os
        from urllib.parse import urlsplit

        PARTS = urlsplit(os.environ["TEST_SERVER"])
        EARLY = http.client.HTTPConnection(PARTS.hostname, PARTS.port, timeout=5)
        EARLY.request("GET", "/warm")
        EARLY.getresponse().read()
        """
    )
    suite.write(
        """
        import threading
        import conftest

        GO = threading.Event()
        TOLD = []

        def later():
            GO.wait()
            try:
                conftest.EARLY.request("GET", "/from-the-thread")
                conftest.EARLY.getresponse().read()
                TOLD.append("sent")
            except Exception as error:
                TOLD.append(type(error).__name__)

        @pytest.mark.cassette
        def test_1_leaves_a_thread():
            threading.Thread(target=later, name="leftover").start()

        def test_2_plain():
            conftest.EARLY.request("GET", "/plain")
            conftest.EARLY.getresponse().read()
            GO.set()
            [thread] = [t for t in threading.enumerate() if t.name == "leftover"]
            thread.join()
            assert TOLD == ["NetworkBlockedError"]
        """
    )
    run_fresh_in_ci(suite, monkeypatch).assert_outcomes(passed=2)
    assert [r.path for r in suite.server.requests] == ["/warm", "/plain"]


def test_a_refused_connection_fails_at_the_test_s_call_without_the_guard_s_frames(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Was: the traceback went on through the guard (guarded_connect, _check_connect,
    # check_address, NetworkGuard._check_connect in network.py), which rendering cost a failed
    # test ~40 ms, and which tell the user nothing the error does not.
    suite.write(
        textwrap.dedent("""
        import socket

        @pytest.mark.block_network
        def test_raw():
            socket.create_connection(("127.0.0.2", 9), timeout=2)
        """)
    )
    result = run_in_ci(suite, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '>*socket.create_connection(("127.0.0.2", 9), timeout=2)',
            "*NetworkBlockedError: Network access to 127.0.0.2:9 blocked in test_suite.py::test_raw",
        ]
    )
    assert "pytest_cassettes" not in result.stdout.str().replace(
        "pytest_cassettes.errors.NetworkBlockedError", ""
    )


def test_a_fixtures_own_patch_over_the_guards_stays_and_the_guard_leaves_nothing(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A module fixture puts its own socket.connect in place while a guarded test's patches are
    # on (wrapping the guard's). At the plain test that follows the guard's patches go: they
    # put socket's own connect back over the fixture's, which the plain test then missed, and
    # the fixture's teardown put the guard's back for the rest of the process.
    import socket

    suite.write(
        RAW_SOCKET
        + textwrap.dedent("""
        CALLS = []

        @pytest.fixture(scope="module")
        def counting():
            real = socket.socket.connect

            def counting_connect(self, address):
                CALLS.append(address)
                return real(self, address)

            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(socket.socket, "connect", counting_connect)
                yield CALLS

        @pytest.mark.cassette
        def test_1_guarded(counting):
            connect(URL)

        def test_2_plain(counting):
            assert connect(URL)
            assert len(counting) == 2
        """)
    )
    result = run_in_ci(suite, monkeypatch)
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*blocked in test_suite.py::test_1_guarded"])
    assert suite.server.hits == 1
    assert "connect" not in vars(socket.socket)  # nothing of the guard's left in place


def test_os_write_on_a_connection_made_before_the_guard_cannot_send(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # os.write and os.writev on the file descriptor of a socket connected before the guard
    # (its own, or a duplicate) reached the server: only the socket's methods were checked.
    # A pipe, a file, a Unix socket pair and a server's side (or a duplicate of it) are still
    # written to.
    suite.pytester.makeconftest(
        EARLY_CONNECTION
        + textwrap.dedent("""
        SERVER = socket.create_server(("127.0.0.1", 0))
        CLIENT = socket.create_connection(SERVER.getsockname())
        CLIENT_2 = socket.create_connection(SERVER.getsockname())
        """)
    )
    suite.write(
        """
        import socket
        import conftest

        REQUEST = b"GET /written HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"

        @pytest.mark.cassette
        def test_os_write():
            os.write(conftest.EARLY.sock.fileno(), REQUEST)

        @pytest.mark.cassette
        def test_os_writev_on_a_duplicate():
            os.writev(os.dup(conftest.EARLY.sock.fileno()), [REQUEST])

        @pytest.mark.cassette
        def test_others_are_written_to(tmp_path):
            read, write = os.pipe()
            assert os.write(write, b"piped") == 5 and os.read(read, 5) == b"piped"
            a, b = socket.socketpair()
            assert os.writev(a.fileno(), [b"x", b"y"]) == 2 and b.recv(2) == b"xy"
            with open(tmp_path / "f", "wb") as f:
                assert os.write(f.fileno(), b"file") == 4
            accepted, _ = conftest.SERVER.accept()  # a server's side
            assert os.write(accepted.fileno(), b"answer") == 6
            assert conftest.CLIENT.recv(6) == b"answer"
            accepted, _ = conftest.SERVER.accept()  # another, written to through a duplicate
            assert os.write(os.dup(accepted.fileno()), b"dup") == 3
            assert conftest.CLIENT_2.recv(3) == b"dup"
        """
    )
    result = run_fresh_in_ci(suite, monkeypatch)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        ["*NetworkBlockedError: Network access to 127.0.0.1:* blocked in test_suite.py::test_os_*"]
    )
    assert [r.path for r in suite.server.requests] == ["/warm"]


def test_work_a_replay_only_test_left_queued_in_an_executor_stays_behind_its_guard(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Work a replay-only test submitted to an executor, still queued when the run ended (run as
    # the interpreter exits, when Python joins the executor's workers): the guard's patches
    # went with the run, and it reached the server.
    told = suite.path / "told.txt"
    suite.pytester.makeconftest(
        f"""
        import threading

        RUN_OVER = threading.Event()

        def pytest_unconfigure():
            RUN_OVER.set()

        def told(what):
            with open({str(told)!r}, "w") as stream:
                stream.write(what)
        """
    )
    suite.write(
        RAW_SOCKET
        + textwrap.dedent("""
        from concurrent.futures import ThreadPoolExecutor

        import conftest

        POOL = ThreadPoolExecutor(1)

        def after_the_run():
            try:
                connect(URL)
            except Exception as error:
                conftest.told(type(error).__name__)
            else:
                conftest.told("reached")

        @pytest.mark.cassette
        def test_leaves_work_queued():
            POOL.submit(conftest.RUN_OVER.wait)  # the worker busy till the run's end
            POOL.submit(after_the_run)
        """)
    )
    run_fresh_in_ci(suite, monkeypatch).assert_outcomes(passed=1)
    assert told.read_text() == "NetworkBlockedError"
    assert suite.server.hits == 0


def test_a_uvloop_transport_on_a_connection_made_before_the_guard_cannot_send(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # uvloop's transports write in libuv, past socket's sends: one made on a socket connected
    # before the guard (a pool's kept connection) reached the server. A Unix socket pair still
    # gets its transport.
    pytest.importorskip("uvloop")
    suite.pytester.makeconftest(
        """
        import os, socket
        from urllib.parse import urlsplit

        PARTS = urlsplit(os.environ["TEST_SERVER"])
        EARLY = socket.create_connection((PARTS.hostname, PARTS.port), timeout=5)
        PAIR = socket.socketpair()
        UDP = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        UDP.connect((PARTS.hostname, PARTS.port))
        """
    )
    suite.write(
        """
        import asyncio
        import socket

        import uvloop

        import conftest

        async def send_on(sock, path):
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_connection(asyncio.Protocol, sock=sock)
            transport.write(f"GET {path} HTTP/1.0\\r\\n\\r\\n".encode())
            await asyncio.sleep(0.2)
            transport.close()

        @pytest.mark.cassette
        def test_early():
            conftest.EARLY.setblocking(False)
            uvloop.run(send_on(conftest.EARLY, "/early"))

        async def send_datagram_on(sock):
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=sock)
            transport.sendto(b"datagram")
            transport.close()

        @pytest.mark.cassette
        def test_udp_early():
            conftest.UDP.setblocking(False)
            uvloop.run(send_datagram_on(conftest.UDP))

        @pytest.mark.cassette
        def test_unix_pair():
            conftest.PAIR[0].setblocking(False)
            uvloop.run(send_on(conftest.PAIR[0], "/pair"))
            assert conftest.PAIR[1].recv(100).startswith(b"GET /pair")
        """
    )
    result = run_fresh_in_ci(suite, monkeypatch)
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*NetworkBlockedError: Network access to 127.0.0.1:* blocked in test_suite.py::test_*",
            "*NetworkBlockedError: Network access to 127.0.0.1:* blocked in test_suite.py::test_*",
        ]
    )
    assert suite.server.hits == 0


def test_os_write_under_a_guard_leaves_a_blocking_socket_blocking(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a default timeout set (socket.setdefaulttimeout: a test's, a library's), the look at
    # a socket's descriptor that os.write is given made it non-blocking: the caller's next
    # blocking read of it raised BlockingIOError.
    suite.write(
        """
        import socket

        @pytest.fixture
        def default_timeout():
            socket.setdefaulttimeout(5)
            yield
            socket.setdefaulttimeout(None)

        @pytest.mark.cassette
        def test_written_then_read_blocking(default_timeout):
            a, b = socket.socketpair()
            a.settimeout(None)  # blocking
            assert os.write(a.fileno(), b"ping") == 4
            assert os.get_blocking(a.fileno())
        """
    )
    run_in_ci(suite, monkeypatch).assert_outcomes(passed=1)


def test_a_fixtures_patch_over_the_guards_leaves_nothing_when_a_later_guard_came_and_went(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A module fixture wraps the guard's socket.connect at a guarded test; the next guarded test
    # put the guard's patch over the fixture's again. When the patches went (a plain test) the
    # guard forgot its own under the fixture's, and the fixture's teardown (the module's end)
    # put that back for the rest of the process.
    import socket

    suite.write(
        """
        import socket

        @pytest.fixture(scope="module")
        def wrapping():
            real = socket.socket.connect

            def wrapped(self, address):
                return real(self, address)

            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(socket.socket, "connect", wrapped)
                yield

        @pytest.mark.cassette
        def test_1_guarded(wrapping):
            pass

        @pytest.mark.cassette
        def test_2_guarded(wrapping):
            pass

        def test_3_plain(wrapping):
            pass
        """
    )
    run_in_ci(suite, monkeypatch).assert_outcomes(passed=3)
    assert "connect" not in vars(socket.socket)  # nothing of the guard's left in place


def test_os_write_to_a_standard_stream_that_is_a_tcp_socket_is_output(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytest's own output read over TCP (a runner that gives it a connected socket for stdout):
    # os.write to it under a guard (a test's with -s; capfd's teardown writing back) was
    # refused as a connection made before the guard.
    import socket
    import subprocess
    import sys

    suite.write(
        """
        @pytest.mark.cassette
        def test_raw_output():
            os.write(1, b"RAW LINE\\n")
        """
    )
    monkeypatch.setenv("CI", "true")
    with socket.create_server(("127.0.0.1", 0)) as server:
        with socket.create_connection(server.getsockname()) as stdout:
            reader, _ = server.accept()
            command = [
                sys.executable,
                "-m",
                "pytest",
                "-s",
                "-p",
                "no:randomly",
                "-p",
                "no:asyncio",
            ]
            child = subprocess.Popen(
                [*command, "-p", "no:recording"], cwd=suite.path, stdout=stdout.fileno()
            )
        with reader:
            reader.settimeout(60)
            output = b"".join(iter(lambda: reader.recv(65536), b""))
    assert child.wait() == 0, output.decode()
    assert b"RAW LINE" in output
