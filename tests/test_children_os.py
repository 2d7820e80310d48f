"""Children started by os.system, os.spawn*, os.posix_spawn and os.exec* carry the guard as a
subprocess child does (children_os.py): real pytest runs whose tests start curl, node and
Python that way against a local server."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap

import pytest

from tests.conftest import Suite

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

CHILDREN = """
import os
import pty
import shlex
import shutil

def curl_args(path):
    return ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", URL + path]

def curl_command(path):
    return shlex.join(curl_args(path))

def fork_exec(path, failing=None):  # os.fork and an os.exec*, as pty.spawn and others do
    pid = os.fork()
    if pid == 0:
        try:
            if failing:
                try:
                    os.execv(failing, [failing])
                except OSError:
                    pass
            os.execvp("curl", curl_args(path))
        finally:
            os._exit(127)
    return os.waitpid(pid, 0)

def fork_execve_named(path):  # the environment given by its name
    pid = os.fork()
    if pid == 0:
        try:
            os.execve(path=shutil.which("curl"), argv=curl_args(path), env=dict(os.environ))
        finally:
            os._exit(127)
    return os.waitpid(pid, 0)
"""


def write(suite: Suite, source: str) -> None:
    suite.write(CHILDREN + textwrap.dedent(source))


def ci(suite: Suite, monkeypatch: pytest.MonkeyPatch, *args: str) -> pytest.RunResult:
    monkeypatch.setenv("CI", "true")
    return suite.run("-p", "no:randomly", *args)


STARTS = {
    "system": "os.system(curl_command('/system'))",
    "system_bytes": "os.system(curl_command('/system-bytes').encode())",
    "spawnlp": "os.spawnlp(os.P_WAIT, 'curl', *curl_args('/spawnlp'))",
    "spawnv": "os.spawnv(os.P_WAIT, shutil.which('curl'), curl_args('/spawnv'))",
    "spawnve": "os.spawnve(os.P_WAIT, shutil.which('curl'), curl_args('/spawnve'), dict(os.environ))",
    "spawnvpe_nowait": (
        "os.waitpid(os.spawnvpe(os.P_NOWAIT, 'curl', curl_args('/nowait'), {'PATH': '/usr/bin:/bin'}), 0)"
    ),
    "posix_spawnp": "os.waitpid(os.posix_spawnp('curl', curl_args('/posix_spawnp'), os.environ), 0)",
    "spawnve_env_named": (
        "os.spawnve(os.P_WAIT, shutil.which('curl'), curl_args('/named'), env=dict(os.environ))"
    ),
    "fork_execvp": "fork_exec('/fork')",
    "fork_execve_named": "fork_execve_named('/fork-named')",
    "fork_exec_after_one_failed": "fork_exec('/second', failing='/nonexistent/curl')",
    "pty_spawn": "pty.spawn(curl_args('/pty'))",
    "posix_spawn": (
        "os.waitpid(os.posix_spawn(shutil.which('curl'), curl_args('/posix_spawn'), {}), 0)"
    ),
}


@needs_curl
@pytest.mark.parametrize("start", list(STARTS))
def test_curl_started_by_os_is_refused_and_fails_the_test(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, start: str
) -> None:
    # They gave curl os.environ (or the environment given) as it was: curl reached the server
    # and the test passed. The test never looks at curl's status: the block still fails it.
    write(
        suite,
        f"""
        @pytest.mark.cassette
        def test_started():
            {STARTS[start]}
        """,
    )
    result = ci(suite, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*NetworkBlockedError: Network access to 127.0.0.1:* blocked in a child process "
            "(*curl -s -o /dev/null -w *http_code* http://127.0.0.1:*/*) of "
            "test_suite.py::test_started",
            "1 network connection blocked*",
        ]
    )
    assert suite.server.hits == 0
    if "system" not in start and "P_WAIT" not in STARTS[start]:  # the pid known: named
        result.stdout.fnmatch_lines(["*blocked in a child process (pid *: curl *"])


def test_os_system_keeps_its_wait_status_and_the_child_its_environment(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The command runs after the variables' exports, in the same shell: its status, a signal
    # that kills that shell, and the test's own variables are as without a guard.
    monkeypatch.setenv("PROJECT_SETTING", "it's 'quoted'")
    write(
        suite,
        """
        def run_all():
            return [
                os.system("exit 3"),
                os.system("kill -TERM $$"),
                os.system(b\"\"\"test "$PROJECT_SETTING" = "it's 'quoted'" \"\"\"),
                os.system(""),
            ]

        EXPECTED = [3 << 8, 15, 0, 0]

        @pytest.mark.cassette
        def test_guarded():
            assert run_all() == EXPECTED
            assert os.system('test -n "$HTTP_PROXY" && test -n "$NODE_OPTIONS"') == 0

        def test_unguarded():
            import posix

            assert os.system is posix.system  # no guard: the real one, no cost
            assert run_all() == EXPECTED
            assert os.system('test -z "$HTTP_PROXY$NODE_OPTIONS"') == 0
        """,
    )
    ci(suite, monkeypatch).assert_outcomes(passed=2)


@needs_curl
def test_fakes_of_the_functions_in_place_before_a_guard_are_left_alone(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A conftest's fakes, in place before any guard: os.system's got the command after the
    # exports, and the real os.spawnvpe and os.execvpe ran in place of os.spawnvp's and
    # os.execvp's (the exec replaced pytest's process by curl).
    suite.pytester.makeconftest(
        """
        import os

        CALLS = []
        os.system = lambda command: CALLS.append(command) or 0
        os.spawnvp = lambda mode, file, args: CALLS.append(args) or 0
        os.execvp = lambda file, args: CALLS.append(args)
        """
    )
    write(
        suite,
        """
        from conftest import CALLS

        @pytest.mark.cassette
        def test_faked():
            os.system(curl_command('/system'))
            os.spawnvp(os.P_WAIT, 'curl', curl_args('/spawnvp'))
            os.execvp('curl', curl_args('/execvp'))
            assert CALLS == [curl_command('/system'), curl_args('/spawnvp'), curl_args('/execvp')]
        """,
    )
    monkeypatch.setenv("CI", "true")
    result = suite.pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert suite.server.hits == 0


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_started_by_os_system_is_refused(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Node 20 ignores the proxy variables: the preload in NODE_OPTIONS refuses it at the socket,
    # naming its pid; Node 24+ goes to the trap, which os.system does not tell a pid.
    write(
        suite,
        """
        GET = "require('http').get(process.argv[1], (r) => r.resume()).on('error', () => {})"

        @pytest.mark.cassette
        def test_node():
            os.system(shlex.join(["node", "-e", GET, URL + "/node"]))
        """,
    )
    result = ci(suite, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*blocked in a child process (*node -e *require(*http*) of test_suite.py::test_node"]
    )
    assert suite.server.hits == 0


@pytest.mark.skipif(sys.platform != "win32", reason="cmd.exe's os.system")
def test_os_system_on_windows_runs_the_command_under_a_guard(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The command came after `export NAME=value` and a newline: cmd.exe knows no `export`, and
    # the newline ended its command line, so the test's command never ran.
    suite.write(
        """
        import os

        @pytest.mark.cassette
        def test_guarded(tmp_path):
            out = tmp_path / "out.txt"
            assert os.system(f'echo ran> "{out}" && exit 3') == 3
            assert out.read_text().strip() == "ran"
        """
    )
    ci(suite, monkeypatch).assert_outcomes(passed=1)


@needs_curl
def test_functions_a_module_imported_by_name_before_the_guard_carry_it_too(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `from os import system` (and the others) in a module imported before any guard kept the
    # real functions: curl got no proxy variables and reached the server; the test passed.
    (suite.path / "helpers.py").write_text(
        textwrap.dedent(
            """
            import os
            from os import execvp, fork, posix_spawnp, spawnvp, system, waitpid

            def fork_exec(args):
                pid = fork()
                if pid == 0:
                    try:
                        execvp(args[0], args)
                    finally:
                        os._exit(127)
                return waitpid(pid, 0)
            """
        )
    )
    suite.pytester.makeconftest("import helpers")
    write(
        suite,
        """
        import helpers

        @pytest.mark.cassette
        def test_system():
            helpers.system(curl_command('/system'))

        @pytest.mark.cassette
        def test_spawnvp():
            helpers.spawnvp(os.P_WAIT, 'curl', curl_args('/spawnvp'))

        @pytest.mark.cassette
        def test_posix_spawnp():
            helpers.waitpid(helpers.posix_spawnp('curl', curl_args('/posix_spawnp'), os.environ), 0)

        @pytest.mark.cassette
        def test_fork_execvp():
            helpers.fork_exec(curl_args('/execvp'))

        def test_unguarded_again():
            import posix

            assert helpers.system is posix.system  # the real one back, no cost
        """,
    )
    result = ci(suite, monkeypatch)
    result.assert_outcomes(failed=4, passed=1)
    result.stdout.fnmatch_lines(["4 network connections blocked*"])
    assert suite.server.hits == 0


@needs_curl
def test_a_fake_of_the_environment_taking_form_is_not_called_in_place_of_the_real_one(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # os.spawnvp and os.execvp, carrying the guard, called os.spawnvpe and os.execvpe: a fake
    # of those a conftest put in place ran instead, curl never started, and a forked child
    # calling os.execvp ended at once (127) with the test passing.
    # The conftest's fakes outlive its in-process run: given back here, else a later test's
    # os.spawnvpe returned the fake's 0, and its os.waitpid(0, 0) found no child.
    monkeypatch.setattr(os, "spawnvpe", os.spawnvpe)
    monkeypatch.setattr(os, "execvpe", os.execvpe)
    suite.pytester.makeconftest(
        """
        import os

        CALLS = []
        os.spawnvpe = lambda *args: CALLS.append(args) or 0
        os.execvpe = lambda *args: CALLS.append(args)
        """
    )
    write(
        suite,
        """
        from conftest import CALLS

        @pytest.mark.cassette
        def test_spawnvp():
            os.spawnvp(os.P_WAIT, 'curl', curl_args('/spawnvp'))
            assert CALLS == []

        @pytest.mark.cassette
        def test_fork_execvp():
            assert os.waitstatus_to_exitcode(fork_exec('/execvp')[1]) == 0
            assert CALLS == []
        """,
    )
    result = ci(suite, monkeypatch)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["2 network connections blocked*"])
    assert suite.server.hits == 0


def test_a_module_that_bound_an_os_function_is_not_kept_alive_after_its_run(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The modules looked through for os's functions bound by name were held (their namespace)
    # for the life of the process: a module an in-process pytester run imported, and all it
    # holds, outlived the run that forgot it.
    import gc

    helper = suite.path / "helper.py"
    helper.write_text("from os import system\n\nBIG = bytearray(1_000_000)\n")
    suite.write(
        """
        def test_0_plain():
            import helper  # before any guard: it binds os's own system

        @pytest.mark.cassette
        def test_1_guarded():
            import helper

            assert helper.system("exit 0") == 0
        """
    )
    ci(suite, monkeypatch).assert_outcomes(passed=2)
    gc.collect()
    alive = [
        namespace
        for namespace in gc.get_objects()
        if type(namespace) is dict and namespace.get("__file__") == str(helper)
    ]
    assert alive == []
