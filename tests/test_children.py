"""A guarded test's Python child processes are guarded too (children.py): real pytest runs whose
tests start real Python processes that talk to a local server."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from pytest_cassettes.children import ENV, SITE_DIR
from tests.conftest import Suite

# The child: a GET of the URL it is given, its own error (if any) on stderr, exit status 3.
CHILD = """
import subprocess
import sys

GET = (
    "import sys, urllib.request\\n"
    "try:\\n"
    "    urllib.request.urlopen(sys.argv[1], timeout=5).read()\\n"
    "except Exception as error:\\n"
    "    print(type(error).__name__, error, file=sys.stderr)\\n"
    "    sys.exit(3)\\n"
)

# A raw socket's GET of the URL it is given (a database driver's: no proxy).
RAW = (
    "import socket, sys, urllib.parse\\n"
    "parts = urllib.parse.urlsplit(sys.argv[1])\\n"
    "socket.create_connection((parts.hostname, parts.port), timeout=5).sendall(b'GET /raw HTTP/1.0\\\\r\\\\n\\\\r\\\\n')\\n"
)

def child_get(url, **kwargs):
    return subprocess.run(
        [sys.executable, "-c", GET, url], capture_output=True, text=True, **kwargs
    )
"""


def write(suite: Suite, source: str) -> None:
    suite.write(CHILD + textwrap.dedent(source))


def ci(suite: Suite, monkeypatch: pytest.MonkeyPatch, *args: str) -> pytest.RunResult:
    monkeypatch.setenv("CI", "true")
    return suite.run(*args)


def test_a_python_child_of_a_replay_only_test_cannot_reach_the_network(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test never looks at the child's exit status: the block still fails it.
    write(
        suite,
        """
        @pytest.mark.cassette
        def test_cli():
            done = child_get(URL + "/from-the-child")
            print("CHILD SAID:", done.returncode, done.stderr)
        """,
    )
    result = ci(suite, monkeypatch, "-s")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*CHILD SAID: 3 NetworkBlockedError Network access to 127.0.0.1:* blocked in a "
            "child process (pid *) of test_suite.py::test_cli",
            # The command as given (Python 3.9 knows only sys.argv: no code after -c).
            "*NetworkBlockedError: Network access to 127.0.0.1:* blocked in a child process "
            "(pid *: python* -c *) of test_suite.py::test_cli",
            "*record mode: none (CI is set: a replay-only run)*",
            "*What a child process sends is neither recorded nor replayed*",
            "*--cassette-allow-hosts=127.0.0.1*",
            "1 network connection blocked*",
        ]
    )
    assert suite.server.hits == 0


def test_a_child_reaches_a_host_the_run_allows(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        suite,
        """
        @pytest.mark.cassette
        def test_cli():
            done = child_get(URL + "/allowed")
            assert done.returncode == 0, done.stderr
        """,
    )
    ci(suite, monkeypatch, "--cassette-allow-hosts=127.0.0.1").assert_outcomes(passed=1)
    assert suite.server.hits == 1


def test_the_environment_is_given_back_and_a_projects_sitecustomize_still_runs(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = suite.path / "own_site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("MARK = 'the project sitecustomize ran'\n")
    monkeypatch.setenv("PYTHONPATH", str(site))
    write(
        suite,
        """
        SHOW = "import os, sitecustomize; print(os.environ['PYTHONPATH']); print(sitecustomize.MARK)"

        @pytest.mark.cassette
        def test_guarded():
            shown = subprocess.run(
                [sys.executable, "-c", SHOW], capture_output=True, text=True, check=True
            ).stdout.splitlines()
            assert shown[1] == "the project sitecustomize ran"
            assert shown[0].split(os.pathsep)[1:] == [os.environ["OWN_SITE"]]
            assert child_get(URL + "/x").returncode == 3  # and it is guarded
            pytest.fail("expected")  # a failing test gives the environment back too

        def test_plain_after():
            assert os.environ["PYTHONPATH"] == os.environ["OWN_SITE"]
            assert "PYTEST_CASSETTES_CHILD_GUARD" not in os.environ
            assert child_get(URL + "/plain").returncode == 0  # a plain test is not guarded
        """,
    )
    monkeypatch.setenv("OWN_SITE", str(site))
    result = ci(suite, monkeypatch, "-p", "no:randomly")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*Failed: expected*"])  # not an assertion before it
    assert suite.server.hits == 1
    assert os.environ["PYTHONPATH"] == str(site)
    assert ENV not in os.environ


def test_a_guarded_childs_start_up_imports_only_what_the_guard_needs(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every Python child of a replay-only run pays for them: pytest's import alone costs more
    # than the guard; pathlib and importlib.abc (importlib.resources, tempfile) were 7 ms of
    # the guard's 34 on Python 3.12.
    write(
        suite,
        """
        SHOW = (
            "import sys; print('pytest_cassettes.network' in sys.modules, "
            "sorted({'pytest', 'pathlib', 'importlib.abc'} & set(sys.modules)))"
        )
        # Python 3.9's importlib.util, which finds the project's sitecustomize, imports it.
        EXPECTED = "True []\\n" if sys.version_info >= (3, 10) else "True ['importlib.abc']\\n"

        @pytest.mark.cassette
        def test_cli():
            shown = subprocess.run(
                [sys.executable, "-c", SHOW], capture_output=True, text=True, check=True
            )
            assert shown.stdout == EXPECTED
        """,
    )
    ci(suite, monkeypatch).assert_outcomes(passed=1)


def test_a_child_given_its_own_pythonpath_is_guarded_and_keeps_it(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        suite,
        """
        SHOW = "import os; print(os.environ['PYTHONPATH'])"

        def show(**kwargs):
            return subprocess.run(
                [sys.executable, "-c", SHOW], capture_output=True, text=True, **kwargs
            ).stdout.strip().split(os.pathsep)

        @pytest.mark.cassette
        def test_own_env():
            env = {**os.environ, "PYTHONPATH": "src"}
            assert show(env=env)[1:] == ["src"]
            assert child_get(URL + "/env", env=env).returncode == 3

        @pytest.mark.cassette
        def test_monkeypatched(monkeypatch):
            monkeypatch.setenv("PYTHONPATH", "src")
            assert child_get(URL + "/setenv").returncode == 3

        def test_plain_after():  # subprocess left as it was
            assert show(env={**os.environ, "PYTHONPATH": "src"}) == ["src"]
        """,
    )
    result = ci(suite, monkeypatch, "-p", "no:randomly")
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(["2 network connections blocked*"])
    assert suite.server.hits == 0


def older_python() -> str | None:
    """A Python older than pytest-cassettes supports (3.9) on this machine, pyenv's included."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"), "versions")
    found = [shutil.which(f"python3.{minor}") for minor in (8, 7, 6)]
    found += sorted(map(str, pyenv.glob("3.[678].*/bin/python3")))
    for python in filter(None, found):
        if subprocess.run([python, "-c", "pass"], capture_output=True).returncode == 0:
            return python
    return None


def test_a_child_on_an_older_python_runs_quietly_with_the_projects_sitecustomize(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its stderr is the child's own (a test may assert it empty); not guarded at the socket,
    # its urllib goes through the proxy variables' trap (children_proxy.py).
    python = older_python()
    if python is None:
        pytest.skip("no Python older than 3.9 here")
    site = suite.path / "own_site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("MARK = 'the project sitecustomize ran'\n")
    monkeypatch.setenv("PYTHONPATH", str(site))
    monkeypatch.setenv("OLD_PYTHON", python)
    write(
        suite,
        """
        SHOW = (
            "import sitecustomize, sys, urllib.request, urllib.error; print(sitecustomize.MARK)\\n"
            "try:\\n"
            "    urllib.request.urlopen(sys.argv[1], timeout=5)\\n"
            "except urllib.error.HTTPError as error:\\n"
            "    print(error.code)\\n"
        )

        @pytest.mark.cassette
        def test_old_python():
            done = subprocess.run(
                [os.environ["OLD_PYTHON"], "-c", SHOW, URL + "/old"],
                capture_output=True, text=True,
            )
            assert (done.stdout, done.stderr) == ("the project sitecustomize ran\\n403\\n", "")
        """,
    )
    result = ci(suite, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*NetworkBlockedError: Network access to 127.0.0.1:* blocked in a child process (pid *: "
            "python3* -c import sitecustomize*) of test_suite.py::test_old_python"
        ]
    )
    assert suite.server.hits == 0


def test_the_environment_of_a_guarded_test_names_our_site_folder(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)
    write(
        suite,
        f"""
        @pytest.mark.cassette
        def test_guarded():
            assert os.environ["PYTHONPATH"] == {SITE_DIR!r}

        def test_plain():
            assert "PYTHONPATH" not in os.environ
        """,
    )
    ci(suite, monkeypatch, "-p", "no:randomly").assert_outcomes(passed=2)
    assert "PYTHONPATH" not in os.environ


def test_a_multiprocessing_spawn_worker_is_guarded_and_a_swallowed_error_still_fails(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        suite,
        """
        import multiprocessing
        import urllib.request

        def fetch(url):
            return urllib.request.urlopen(url, timeout=5).status

        @pytest.mark.cassette
        def test_pool():
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                try:
                    pool.apply(fetch, (URL + "/from-a-worker",))
                except Exception:
                    pass  # swallowed
        """,
    )
    result = ci(suite, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*NetworkBlockedError: Network access to 127.0.0.1:* blocked in a child process*"]
    )
    assert suite.server.hits == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork")
def test_a_block_names_the_process_that_made_it_a_fork_of_a_child_too(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A multiprocessing forkserver's workers are such forks.
    write(
        suite,
        """
        FORK = (
            "import os, sys, urllib.request\\n"
            "pid = os.fork()\\n"
            "if pid == 0:\\n"
            "    try:\\n"
            "        urllib.request.urlopen(sys.argv[1], timeout=5)\\n"
            "    finally:\\n"
            "        os._exit(0)\\n"
            "print(pid)\\n"
            "os.waitpid(pid, 0)\\n"
        )

        @pytest.mark.cassette
        def test_forks():
            done = subprocess.run(
                [sys.executable, "-c", FORK, URL + "/forked"], capture_output=True, text=True
            )
            print("FORKED", done.stdout.strip())
        """,
    )
    result = ci(suite, monkeypatch, "-s")
    result.assert_outcomes(failed=1)
    forked = result.stdout.str().split("FORKED ", 1)[1].split()[0]
    result.stdout.fnmatch_lines([f"FAILED *blocked in a child process (pid {forked}: python*"])
    assert suite.server.hits == 0


def test_block_network_guards_the_children_of_plain_tests(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        suite,
        """
        def test_plain():
            assert child_get(URL + "/x").returncode == 3
        """,
    )
    result = suite.run("--block-network")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*blocked in a child process (pid *) of test_suite.py::test_plain*"]
    )
    assert suite.server.hits == 0


def test_a_recording_test_and_a_plain_test_leave_children_alone(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)
    write(
        suite,
        """
        @pytest.mark.cassette
        def test_recording():
            assert "PYTHONPATH" not in os.environ
            assert child_get(URL + "/a").returncode == 0

        def test_plain():
            assert child_get(URL + "/b").returncode == 0
        """,
    )
    suite.run().assert_outcomes(passed=2)
    assert suite.server.hits == 2


def test_a_child_started_by_a_fixtures_teardown_fails_the_test_there(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        suite,
        """
        @pytest.fixture
        def server_process():
            yield
            child_get(URL + "/at-teardown")  # its failure ignored

        @pytest.mark.cassette
        def test_cli(server_process):
            pass
        """,
    )
    result = ci(suite, monkeypatch)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_cli*", "*blocked in a child process (pid *) of *test_cli*"]
    )
    assert suite.server.hits == 0


def test_a_pytest_run_in_a_child_is_guarded_and_not_warned_about_our_import(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The child imports pytest_cassettes before pytest starts: pytest must not warn that it
    # cannot rewrite it (PYTEST_DONT_REWRITE), and the inner run's own guards nest in the child's.
    inner = suite.path / "inner"
    inner.mkdir()
    (inner / "inner_check.py").write_text(
        "import os, urllib.request\n\n"
        "def test_plain():\n"
        "    urllib.request.urlopen(os.environ['TEST_SERVER'] + '/inner', timeout=5)\n"
    )
    write(
        suite,
        """
        @pytest.mark.cassette
        def test_runs_pytest():
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
                 "-p", "no:asyncio", "-W", "error::pytest.PytestAssertRewriteWarning",
                 "inner/inner_check.py"],
                capture_output=True, text=True,
            )
            print("INNER:", done.stdout + done.stderr)
        """,
    )
    result = ci(suite, monkeypatch, "-s")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*FAILED inner/inner_check.py::test_plain - *NetworkBlockedError: Network access to "
            "127.0.0.1:* blocked in a child process (pid *: python* *) of "
            "test_suite.py::test_runs_pytest*",
            "*1 failed in*",
        ]
    )
    result.stdout.no_fnmatch_line("*already imported so cannot be rewritten*")
    assert suite.server.hits == 0


def test_without_a_temporary_folder_a_childs_block_is_told_in_the_child_only(
    suite: Suite,
) -> None:
    # A fresh process, so that its report file is made there (one per process), and cannot be.
    (suite.path / "conftest.py").write_text("import tempfile\ntempfile.tempdir = '/no/such/dir'\n")
    write(
        suite,
        """
        @pytest.mark.block_network
        def test_guarded():
            assert child_get(URL + "/x").returncode == 3

        def test_plain_after():  # no guard left behind
            requests.get(URL + "/plain")
        """,
    )
    result = suite.pytester.runpytest_subprocess(
        "-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:asyncio", "-p", "no:recording"
    )
    result.assert_outcomes(passed=2)
    assert suite.server.hits == 1


def test_popen_is_given_back_whole_when_a_fixture_swaps_it(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A session fixture puts a fake Popen in place (as pytest-subprocess does) while the guards
    # of two tests come and go, and takes it away after the last: the fake is not wrapped (it
    # takes no `env`), and the real class ends as it was.
    import subprocess

    real_init = subprocess.Popen.__init__
    write(
        suite,
        """
        class Swapped:  # a fake Popen (pytest-subprocess's): no `env` in its signature
            def __init__(self, args):
                self.args = args

            def communicate(self, *_):
                return "", ""

        @pytest.fixture(scope="session")
        def swapped():
            real = subprocess.Popen
            subprocess.Popen = Swapped
            yield
            subprocess.Popen = real

        @pytest.mark.cassette
        def test_one(swapped):
            assert subprocess.Popen(["faked"]).args == ["faked"]

        @pytest.mark.cassette
        def test_two(swapped):
            assert subprocess.Popen(["faked"]).args == ["faked"]
        """,
    )
    result = ci(suite, monkeypatch, "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    assert subprocess.Popen.__init__ is real_init
    assert suite.server.hits == 0


WORKERS_PAST_OUR_SITECUSTOMIZE = {
    # The forkserver a plain test started has no guard, and forks every later worker.
    "forkserver_started_unguarded": (
        "forkserver",
        """
        def test_plain_starts_the_forkserver():
            worker = multiprocessing.get_context("forkserver").Process(target=print)
            worker.start()
            worker.join()
        """,
        "",
    ),
    # multiprocessing spawns its worker past subprocess: with the PYTHONPATH the test set,
    # our sitecustomize is not found.
    "spawned_after_pythonpath_replaced": (
        "spawn",
        "",
        "monkeypatch.setenv('PYTHONPATH', os.getcwd())",
    ),
}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no forkserver")
@pytest.mark.parametrize("case", list(WORKERS_PAST_OUR_SITECUSTOMIZE))
def test_a_multiprocessing_worker_our_sitecustomize_misses_is_guarded(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    # These workers reached the server from a replay-only test, and the test passed.
    method, before, first = WORKERS_PAST_OUR_SITECUSTOMIZE[case]
    write(
        suite,
        before
        + f"""
        import multiprocessing
        import urllib.request

        def fetch(url):
            urllib.request.urlopen(url, timeout=5).read()

        @pytest.mark.cassette
        def test_worker(monkeypatch):
            {first}
            worker = multiprocessing.get_context("{method}").Process(
                target=fetch, args=(URL + "/from-a-worker",)
            )
            worker.start()
            worker.join()
        """,
    )
    monkeypatch.setenv("CI", "true")
    result = suite.pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1 if before else 0, failed=1)
    result.stdout.fnmatch_lines(
        ["*NetworkBlockedError: Network access to 127.0.0.1:* blocked in a child process*"]
    )
    assert suite.server.hits == 0


def test_a_child_started_with_isolated_or_ignore_environment_is_guarded_at_the_socket(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `python -I` and `python -E` ignore the PYTHONPATH that leads to our sitecustomize: their
    # raw sockets (a database driver's) reached the server, only HTTP through a client reading
    # the proxy variables was caught. A run in a process of its own: what it leaves at its end.
    import glob
    import site

    write(
        suite,
        """
        @pytest.mark.cassette
        @pytest.mark.parametrize("flags", [["-I"], ["-E"], ["-Es"], ["-X", "dev", "-I"]])
        def test_isolated(flags):
            done = subprocess.run([sys.executable, *flags, "-c", RAW, URL], capture_output=True, text=True)
            print("CHILD SAID:", done.returncode, done.stderr)

        def test_plain_isolated_child():
            done = subprocess.run([sys.executable, "-I", "-c", RAW, URL], capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
            print("RUN PID:", os.getpid())
        """,
    )
    monkeypatch.setenv("CI", "true")
    result = suite.pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:recording", "-s")
    result.assert_outcomes(failed=4, passed=1)
    result.stdout.fnmatch_lines(
        ["*NetworkBlockedError: Network access to 127.0.0.1:* blocked in a child process (pid *"]
    )
    assert suite.server.hits == 1  # the plain test's
    # Its own file gone (another run's, under xdist, may be there meanwhile)
    pid = result.stdout.str().split("RUN PID: ")[1].split()[0]
    left = [
        glob.glob(os.path.join(folder, f"pytest-cassettes-isolated-{pid}.pth"))
        for folder in site.getsitepackages()
    ]
    assert left == [[] for _ in site.getsitepackages()]


def test_a_pth_file_a_killed_run_of_the_same_pid_left_is_written_afresh(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run killed (kill -9, a CI job's time-out) leaves its .pth file; a later run given the
    # same pid (a container's pytest often is) took that file as its own as it was: written by
    # another version or install, its line did not guard the `python -I` child, which reached
    # the server.
    suite.pytester.makeconftest(
        """
        import os, site

        for folder in site.getsitepackages():
            try:
                with open(os.path.join(folder, f"pytest-cassettes-isolated-{os.getpid()}.pth"), "w") as f:
                    f.write("import os\\n")  # the line of an install gone
            except OSError:
                continue
            break
        """
    )
    write(
        suite,
        """
        @pytest.mark.cassette
        def test_isolated():
            subprocess.run([sys.executable, "-I", "-c", RAW, URL], capture_output=True)
        """,
    )
    monkeypatch.setenv("CI", "true")
    result = suite.pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:recording")
    result.assert_outcomes(failed=1)
    assert suite.server.hits == 0


def test_a_child_started_with_isolated_in_dev_mode_says_nothing_of_ours(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The .pth line that guards a `python -I` child left the file it read our sitecustomize
    # from unclosed: with warnings shown (-X dev, -W default) every such child wrote a
    # ResourceWarning to its stderr, failing a test that checks the child says nothing.
    write(
        suite,
        """
        @pytest.mark.cassette
        def test_isolated_dev():
            done = subprocess.run(
                [sys.executable, "-X", "dev", "-I", "-c", "print('hi')"],
                capture_output=True, text=True,
            )
            assert (done.stdout, done.stderr) == ("hi\\n", "")
        """,
    )
    monkeypatch.setenv("CI", "true")
    result = suite.pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:recording")
    result.assert_outcomes(passed=1)
