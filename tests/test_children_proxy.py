"""Children not guarded at the socket (not Python, or Python without our sitecustomize) send
HTTP through the proxy variables' trap (children_proxy.py): real pytest runs whose tests start
curl and Pythons started without site against a local server."""

from __future__ import annotations

import os
import shutil
import socket
import textwrap

import pytest

from tests.conftest import Suite
from tests.httpserver import LocalServer

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

CHILDREN = """
import subprocess
import sys

GET = (
    "import sys, urllib.request\\n"
    "print(urllib.request.urlopen(sys.argv[1], timeout=5).status)\\n"
)

def curl(*args):
    return subprocess.run(
        ["curl", "-s", "-S", "-o", "/dev/null", "-w", "%{http_code}", *args],
        capture_output=True, text=True,
    )

def isolated_get(url, **kwargs):  # -S: no site, so no sitecustomize or .pth of ours
    return subprocess.run(
        [sys.executable, "-S", "-c", GET, url], capture_output=True, text=True, **kwargs
    )
"""


def write(suite: Suite, source: str) -> None:
    suite.write(CHILDREN + textwrap.dedent(source))


def ci(suite: Suite, monkeypatch: pytest.MonkeyPatch, *args: str) -> pytest.RunResult:
    monkeypatch.setenv("CI", "true")
    return suite.run("-p", "no:randomly", *args)


@needs_curl
def test_curl_in_a_replay_only_test_is_refused_and_fails_the_test(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tests never look at curl's status: the block still fails them, naming the command.
    write(
        suite,
        """
        @pytest.mark.cassette
        def test_plain_http():
            print("CURL SAID:", curl(URL + "/plain").stdout)

        @pytest.mark.cassette
        def test_tunnelled():  # CONNECT, as for https
            print("CURL SAID:", curl("-p", URL + "/tunnel").stderr)
        """,
    )
    result = ci(suite, monkeypatch, "-s")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*CURL SAID: 403",
            "*CURL SAID: curl: (56) *403*",
            "*NetworkBlockedError: Network access to 127.0.0.1:* blocked in a child process "
            "(pid *: curl -s -S -o /dev/null -w %{http_code} http://127.0.0.1:*/plain) of "
            "test_suite.py::test_plain_http",
            "*What a child process sends is neither recorded nor replayed*",
            "*NetworkBlockedError: Network access to 127.0.0.1:* blocked in a child process "
            "(pid *: curl * -p http://127.0.0.1:*/tunnel) of test_suite.py::test_tunnelled",
            "2 network connections blocked*",
        ]
    )
    assert suite.server.hits == 0


def test_a_python_child_the_sitecustomize_does_not_guard_is_refused_too(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        suite,
        """
        @pytest.mark.cassette
        def test_isolated():
            isolated_get(URL + "/isolated")

        @pytest.mark.cassette
        def test_own_environment():
            subprocess.run([sys.executable, "-c", GET, URL + "/own-env"], env={"PATH": "/bin"})
        """,
    )
    result = ci(suite, monkeypatch)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*blocked in a child process (pid *: python* -S -c *) of test_suite.py::test_isolated",
            "*blocked in a child process (pid *: python* -c *) of "
            "test_suite.py::test_own_environment",
        ]
    )
    assert suite.server.hits == 0


@needs_curl
def test_curl_started_by_a_guarded_python_child_is_refused_too(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The child imports subprocess after start-up: its Popen carries the guard from then on.
    write(
        suite,
        """
        RUN_CURL = "import subprocess, sys; subprocess.run(['curl', '-s', sys.argv[1]])"

        @pytest.mark.cassette
        def test_cli():
            subprocess.run([sys.executable, "-c", RUN_CURL, URL + "/grandchild"])
        """,
    )
    result = ci(suite, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*blocked in a child process (pid *: curl -s http://127.0.0.1:*/grandchild) of *test_cli"]
    )
    assert suite.server.hits == 0


@needs_curl
@pytest.mark.parametrize("allowed", ["127.0.0.1", "localhost", r"127\.0\.0\.1", "127.0.0.1:{port}"])
def test_children_reach_a_host_the_run_allows_in_every_form(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, allowed: str
) -> None:
    # Names, addresses and ranges go in NO_PROXY; a regular expression or an entry with a port
    # cannot: the trap passes them through (a CONNECT tunnel or the request sent on).
    write(
        suite,
        """
        @pytest.mark.cassette
        def test_children():
            assert curl(URL + "/curl").stdout == "200"
            assert curl("-p", URL + "/tunnel").stdout == "200"
            done = isolated_get(URL + "/isolated")
            assert done.stdout == "200\\n", done.stderr
        """,
    )
    allow = allowed.format(port=suite.server.port)
    ci(suite, monkeypatch, f"--cassette-allow-hosts={allow}").assert_outcomes(passed=1)
    assert suite.server.hits == 3


@pytest.mark.parametrize("close_fds", [True, False])
def test_a_guarded_python_child_has_the_proxy_variables_the_test_had(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, close_fds: bool
) -> None:
    # Guarded at the socket, its own clients must not go through the trap; a proxy the project
    # sets (a corporate one) is given back to it. Popen starts a child by os.posix_spawn where
    # it can (close_fds=False; on Python 3.13 in most cases): our posix_spawn carried the
    # environment Popen carried a second time, and the child got the first trap's variables.
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    write(
        suite,
        """
        SHOW = (
            "import os; print(sorted((k, v) for k, v in os.environ.items() "
            "if 'PROXY' in k.upper()))"
        )

        @pytest.mark.cassette
        def test_guarded_child():
            shown = subprocess.run(
                [sys.executable, "-c", SHOW],
                capture_output=True,
                text=True,
                check=True,
                close_fds=CLOSE_FDS,
            )
            assert shown.stdout == "[('HTTPS_PROXY', 'http://proxy.corp.example:3128')]\\n"
            # The test's own environment is untouched.
            assert [k for k in os.environ if "PROXY" in k.upper()] == ["HTTPS_PROXY"]
        """.replace("CLOSE_FDS", str(close_fds)),
    )
    ci(suite, monkeypatch).assert_outcomes(passed=1)


def test_a_child_that_goes_mid_request_leaves_no_error_in_the_trap(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A child killed (a timeout) while the trap opens its tunnel resets the connection: the
    # trap's thread must not raise, which pytest reports as a warning (an error under -W error)
    # in whichever test runs then.
    write(
        suite,
        """
        import socket
        import struct
        from urllib.parse import urlsplit

        @pytest.mark.cassette
        def test_killed_children():
            proxy = subprocess.run(["sh", "-c", "echo $HTTP_PROXY"], capture_output=True, text=True)
            trap = urlsplit(proxy.stdout.strip())
            server = urlsplit(URL)
            for _ in range(20):
                child = socket.create_connection((trap.hostname, trap.port))
                child.sendall(f"CONNECT {server.netloc} HTTP/1.1\\r\\n\\r\\n".encode())
                child.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                child.close()  # a reset, as from a killed process

        def test_next():
            import time

            time.sleep(0.5)  # the trap's threads end meanwhile
        """,
    )
    warning_is_error = ("-W", "error::pytest.PytestUnhandledThreadExceptionWarning")
    result = ci(suite, monkeypatch, "--cassette-allow-hosts=127.0.0.1", *warning_is_error)
    result.assert_outcomes(passed=2)


def test_a_child_whose_arguments_are_an_iterator_gets_them_all(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # subprocess takes any iterable of arguments on POSIX; naming the command for a block must
    # not use them up.
    write(
        suite,
        """
        @pytest.mark.cassette
        def test_generated_arguments():
            words = (word for word in [sys.executable, "-c", "print('hi')"])
            assert subprocess.run(words, capture_output=True, text=True).stdout == "hi\\n"
        """,
    )
    ci(suite, monkeypatch).assert_outcomes(passed=1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_child_of_a_forked_worker_is_named_in_its_block(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker inherits the test's trap but not its thread: its children's tokens were
    # unknown to the test's trap, which named the test's last child instead.
    write(
        suite,
        """
        import multiprocessing

        def fetch(path):
            return isolated_get(URL + path).returncode

        @pytest.mark.cassette
        def test_pool():
            subprocess.run(["true"])  # the trap is up before the fork
            with multiprocessing.get_context("fork").Pool(1) as pool:
                assert pool.map(fetch, ["/forked"]) == [1]
        """,
    )
    result = ci(suite, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*blocked in a child process (pid *: python* -S -c import sys, urllib*) of *test_pool"]
    )
    assert suite.server.hits == 0


def test_a_proxy_the_test_sets_on_an_allowed_host_is_kept(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A local stand-in for a service, reached as a proxy (a mitmproxy replaying answers): the
    # child connects to an allowed host only, as a Python child guarded at the socket does.
    write(
        suite,
        """
        @pytest.mark.cassette
        def test_through_a_local_proxy():
            done = isolated_get(
                "http://api.example.com/v1", env={**os.environ, "http_proxy": URL}
            )
            assert done.stdout == "200\\n", done.stderr
        """,
    )
    ci(suite, monkeypatch, "--cassette-allow-hosts=127.0.0.1").assert_outcomes(passed=1)
    assert [request.path for request in suite.server.requests] == ["http://api.example.com/v1"]


@needs_curl
def test_the_trap_goes_with_the_guard(suite: Suite, monkeypatch: pytest.MonkeyPatch) -> None:
    # A thread left running made every later fork warn on Python 3.12+ ("This process is
    # multi-threaded, use of fork() may lead to deadlocks"), in tests with no guard at all.
    write(
        suite,
        """
        import threading

        def trap_threads():
            return [t.name for t in threading.enumerate() if t.name == "pytest-cassettes-trap"]

        @pytest.mark.cassette
        def test_guarded():
            curl(URL + "/x")
            assert trap_threads() == ["pytest-cassettes-trap"]

        def test_plain_after():
            assert trap_threads() == []

        @pytest.mark.cassette
        def test_guarded_again():
            print("CURL SAID:", curl(URL + "/y").stdout)
        """,
    )
    result = ci(suite, monkeypatch, "-s")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*CURL SAID: 403", "*blocked in a child process (pid *: curl *"])
    assert suite.server.hits == 0


def test_a_request_to_the_trap_without_a_host_is_no_block(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A client sent the trap a plain `GET /` (no proxy request): it named no host to refuse.
    write(
        suite,
        """
        ASK_TRAP = (
            "import os, socket, urllib.parse\\n"
            "proxy = urllib.parse.urlsplit(os.environ['HTTP_PROXY'])\\n"
            "with socket.create_connection((proxy.hostname, proxy.port)) as s:\\n"
            "    s.sendall(b'GET / HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\n\\\\r\\\\n')\\n"
            "    print(s.recv(100).split(b'\\\\r\\\\n')[0].decode())\\n"
        )

        @pytest.mark.cassette
        def test_raw():
            done = subprocess.run(
                [sys.executable, "-S", "-c", ASK_TRAP], capture_output=True, text=True
            )
            assert done.stdout == "HTTP/1.1 400 Bad Request\\n", done.stderr
        """,
    )
    result = ci(suite, monkeypatch)
    result.assert_outcomes(passed=1)
    assert "blocked" not in result.stdout.str()


def test_the_trap_refuses_a_child_it_knows_no_guards_for(server: LocalServer) -> None:
    # A connection whose child the trap no longer knows (its guard went as it connected) has
    # no allowed hosts to go by: passing it through reached any host.
    from urllib.parse import urlsplit

    from pytest_cassettes import children_proxy

    trap = children_proxy._Trap()
    trap.register([], "pid 1: curl")
    try:
        with socket.create_connection(("127.0.0.1", trap.port), timeout=5) as child:
            child.sendall(f"CONNECT {urlsplit(server.url('/')).netloc} HTTP/1.1\r\n\r\n".encode())
            assert child.recv(100).startswith(b"HTTP/1.1 403 Forbidden")
    finally:
        trap.stop()
    assert server.hits == 0
    assert trap.thread is None


@needs_curl
def test_the_trap_serves_a_test_holding_many_files(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The trap's socket numbered past 1023: select() refused it, the trap's thread died and
    # curl waited for an answer forever.
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip("cannot open 1100 files")
    write(
        suite,
        """
        @pytest.fixture
        def many_files():
            files = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
            yield
            for fd in files:
                os.close(fd)

        @pytest.mark.cassette
        def test_many(many_files):
            print("CURL SAID:", curl("--max-time", "10", URL + "/x").stdout)
        """,
    )
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    try:
        result = ci(
            suite, monkeypatch, "-s", "-W", "error::pytest.PytestUnhandledThreadExceptionWarning"
        )
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*CURL SAID: 403", "*NetworkBlockedError: *blocked in a child process (pid *: curl *"]
    )
    assert suite.server.hits == 0


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.mark.parametrize(
    ("command", "named"),
    [
        pytest.param("git ls-remote {url}/repo.git", "", marks=needs_git),
        pytest.param("git clone -q {url}/repo.git cloned", "", marks=needs_git),
        pytest.param("curl -s --proxy-anyauth {url}/anyauth", "", marks=needs_curl),
        pytest.param("curl -s --proxy-anyauth {plain}/anyauth", "", marks=needs_curl),
        # A body follows the head: not asked on that connection, named as maybe another child.
        pytest.param(
            "curl -s --proxy-anyauth -d a=b {plain}/post",
            "true, or another child",
            marks=needs_curl,
        ),
    ],
)
def test_a_client_sending_credentials_when_asked_is_named_in_its_block(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, command: str, named: str
) -> None:
    # libcurl asked to choose how to authenticate (git's way, curl --proxy-anyauth) sends the
    # credentials naming its child only when the proxy asks for them: the block was named after
    # the last child the test started, here `true` (and said so for certain).
    url = suite.server.base_url
    command = command.format(url=url.replace("http:", "https:"), plain=url)
    write(
        suite,
        f"""
        @pytest.mark.cassette
        def test_gated():
            gated = subprocess.Popen(
                ["sh", "-c", "read go; {command}"],
                stdin=subprocess.PIPE,
                env={{**os.environ, "GIT_TERMINAL_PROMPT": "0"}},
            )
            subprocess.run(["true"])  # started after it, before it connects
            gated.communicate(b"go\\n")
        """,
    )
    result = ci(suite, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"*NetworkBlockedError: Network access to 127.0.0.1:* blocked in a child process "
            f"(pid *: {named or 'sh -c read go; ' + command}) of test_suite.py::test_gated",
            "1 network connection blocked*",
        ]
    )
    assert ("or another child" in result.stdout.str()) == bool(named)
    assert suite.server.hits == 0


def test_a_client_that_sends_no_credentials_when_asked_still_fails_its_test(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Asked for credentials, it gives up: its block was told before it was asked, named after
    # the last child started, which may not be the one that connected.
    write(
        suite,
        """
        GIVE_UP = (
            "import os, socket, sys, urllib.parse\\n"
            "proxy = urllib.parse.urlsplit(os.environ['HTTPS_PROXY'])\\n"
            "target = urllib.parse.urlsplit(sys.argv[1]).netloc\\n"
            "with socket.create_connection((proxy.hostname, proxy.port)) as s:\\n"
            "    s.sendall(f'CONNECT {target} HTTP/1.1\\\\r\\\\n\\\\r\\\\n'.encode())\\n"
            "    print(s.recv(100).split(b'\\\\r\\\\n')[0].decode())\\n"
        )

        @pytest.mark.cassette
        def test_no_credentials():
            done = subprocess.run(
                [sys.executable, "-S", "-c", GIVE_UP, URL], capture_output=True, text=True
            )
            assert done.stdout == "HTTP/1.1 407 Proxy Authentication Required\\n", done.stderr
        """,
    )
    result = ci(suite, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*NetworkBlockedError: Network access to 127.0.0.1:* blocked in a child process "
            "(pid *: python* -S -c import os, socket, *, or another child) of *test_no_credentials",
            "1 network connection blocked*",
        ]
    )
    assert suite.server.hits == 0


# Clients asked for their credentials (407) that answer when told to (a line on stdin): on the
# same connection, as libcurl does, or on a new one.
ANSWERS_WHEN_TOLD = {
    "same connection": """
import base64, os, socket, sys, urllib.parse
proxy = urllib.parse.urlsplit(os.environ["HTTPS_PROXY"])
connect = f"CONNECT {urllib.parse.urlsplit(sys.argv[1]).netloc} HTTP/1.1\\r\\n"
token = base64.b64encode(f"{proxy.username}:x".encode()).decode()
with socket.create_connection((proxy.hostname, proxy.port)) as s:
    for credentials in ["", f"Proxy-Authorization: Basic {token}\\r\\n"]:
        s.sendall(f"{connect}{credentials}\\r\\n".encode())
        print(s.recv(200).split(b"\\r\\n")[0].decode(), flush=True)
        sys.stdin.readline()
""",
    "new connection": """
import base64, os, socket, sys, urllib.parse
proxy = urllib.parse.urlsplit(os.environ["HTTPS_PROXY"])
connect = f"CONNECT {urllib.parse.urlsplit(sys.argv[1]).netloc} HTTP/1.1\\r\\n"
token = base64.b64encode(f"{proxy.username}:x".encode()).decode()
for credentials in ["", f"Proxy-Authorization: Basic {token}\\r\\n"]:
    with socket.create_connection((proxy.hostname, proxy.port)) as s:
        s.sendall(f"{connect}{credentials}\\r\\n".encode())
        print(s.recv(200).split(b"\\r\\n")[0].decode(), flush=True)
    sys.stdin.readline()
""",
}


@pytest.mark.parametrize("client", list(ANSWERS_WHEN_TOLD))
def test_a_child_asked_for_its_credentials_as_its_test_ends_is_counted_once(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    # Its block, told before it was asked, was read when the test's call ended; its answer,
    # which tells it again named, was read when the guard went: the one connection failed the
    # test twice (its call and its teardown). On a new connection, the answer was a new block.
    suite.write(
        f"""
        import subprocess
        import sys

        STARTED = []

        @pytest.fixture(autouse=True)
        def answer_after_the_call():
            yield
            for child in STARTED:
                assert child.communicate("go\\n")[0] == "HTTP/1.1 403 Forbidden\\n"

        @pytest.mark.cassette
        def test_asked():
            child = subprocess.Popen(
                [sys.executable, "-S", "-c", {ANSWERS_WHEN_TOLD[client]!r}, URL],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )
            STARTED.append(child)
            assert child.stdout.readline() == "HTTP/1.1 407 Proxy Authentication Required\\n"
        """
    )
    result = ci(suite, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["1 network connection blocked*"])
    assert suite.server.hits == 0


def test_two_children_asked_for_one_host_that_answer_on_new_connections_count_twice(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both asked before either answered: the trap kept the second ask alone, so the first
    # one's block, told before it was asked, stood besides both answers (3 blocks, one named
    # "or another child").
    suite.write(
        f"""
        import subprocess
        import sys

        @pytest.mark.cassette
        def test_asked():
            children = []
            for _ in range(2):
                child = subprocess.Popen(
                    [sys.executable, "-S", "-c", {ANSWERS_WHEN_TOLD["new connection"]!r}, URL],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                )
                children.append(child)
                assert child.stdout.readline() == "HTTP/1.1 407 Proxy Authentication Required\\n"
            for child in children:
                assert child.communicate("go\\n")[0] == "HTTP/1.1 403 Forbidden\\n"
        """
    )
    result = ci(suite, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["2 network connections blocked*"])
    assert "or another child" not in result.stdout.str()
    assert suite.server.hits == 0
