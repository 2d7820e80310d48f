"""Node children are guarded at the socket by a preload given in NODE_OPTIONS (children_node.py,
node_guard.cjs): real pytest runs whose tests start node against a local server."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from pytest_cassettes import children_node
from tests.conftest import Suite

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def _node_major() -> int:
    if shutil.which("node") is None:
        return 0
    done = subprocess.run(["node", "-p", "process.versions.node"], capture_output=True, text=True)
    return int(done.stdout.split(".")[0])


# Node 24+ sends HTTP through the proxy variables (NODE_USE_ENV_PROXY=1): the preload lets it
# reach the trap, which answers 403, where before 24 the preload refuses the connection itself.
PROXIED = _node_major() >= 24

CHILDREN = """
import subprocess
import sys

# A GET of the URL given (http or https): its status, or its error on stderr and status 3.
GET = (
    "const url = process.argv[1];"
    "require(url.split(':')[0]).get(url, (r) => { console.log(r.statusCode); r.resume(); })"
    ".on('error', (e) => { console.error(e.message); process.exitCode = 3; })"
)

def node(code, *args, **kwargs):
    return subprocess.run(["node", "-e", code, *args], capture_output=True, text=True, **kwargs)
"""


def write(suite: Suite, source: str) -> None:
    suite.write(CHILDREN + textwrap.dedent(source))


def ci(suite: Suite, monkeypatch: pytest.MonkeyPatch, *args: str) -> pytest.RunResult:
    monkeypatch.setenv("CI", "true")
    return suite.run("-p", "no:randomly", *args)


def test_a_node_child_in_a_replay_only_test_is_refused_and_fails_the_test(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Node 20 ignores the proxy variables: its requests reached the server. The tests never look
    # at node's status: the block still fails them, naming the command.
    write(
        suite,
        """
        @pytest.mark.cassette
        def test_http():
            done = node(GET, URL + "/plain")
            print("NODE SAID:", done.stderr or done.stdout)

        @pytest.mark.cassette
        def test_https():
            node(GET, URL.replace("http:", "https:") + "/tls")

        @pytest.mark.cassette
        def test_raw_tcp():  # a database driver's connection: no proxy takes it
            port = URL.rsplit(":", 1)[1]
            node(f"require('net').connect({port}, '127.0.0.1', function () {{ this.end(); }})")
        """,
    )
    result = ci(suite, monkeypatch, "-s")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*NODE SAID: 403"
            if PROXIED
            else "*NODE SAID: pytest-cassettes: network access to 127.0.0.1:* blocked in a child "
            "process of test_suite.py::test_http: a replay-only run makes no real connections.",
            "*NetworkBlockedError: Network access to 127.0.0.1:* blocked in a child process "
            "(pid *: node -e const url = process.argv*) of test_suite.py::test_http",
            "*What a child process sends is neither recorded nor replayed*",
            "*blocked in a child process (pid *: node -e const url*) of *test_https",
            "*blocked in a child process (pid *: node -e require('net').connect(*) of *test_raw_tcp",
            "3 network connections blocked*",
        ]
    )
    assert suite.server.hits == 0


@pytest.mark.parametrize(
    "allowed", ["127.0.0.1", "localhost", r"127\.0\.0\.1", "127.0.0.1:{port}", "127.0.0.0/8"]
)
def test_a_node_child_reaches_a_host_the_run_allows_in_every_form(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, allowed: str
) -> None:
    write(
        suite,
        """
        @pytest.mark.cassette
        def test_node():
            done = node(GET, URL + "/allowed")
            assert done.stdout == "200\\n", done.stderr
        """,
    )
    allow = allowed.format(port=suite.server.port)
    ci(suite, monkeypatch, f"--cassette-allow-hosts={allow}").assert_outcomes(passed=1)
    assert suite.server.hits == 1


# Another port; an IPv6 range, which holds no IPv4 address as the guard reads it (net.BlockList
# matched an IPv4 address in an IPv6 range as its mapped form).
@pytest.mark.parametrize("allowed", ["localhost:1,127.0.0.1:2", "::/0", "::ffff:0:0/96"])
def test_a_port_or_range_the_run_does_not_allow_is_refused(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, allowed: str
) -> None:
    write(
        suite,
        """
        @pytest.mark.cassette
        def test_node():
            node(GET, URL + "/other-port")
        """,
    )
    result = ci(suite, monkeypatch, f"--cassette-allow-hosts={allowed}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*blocked in a child process (pid *: node -e *) of *test_node"])
    assert suite.server.hits == 0


def test_the_node_options_a_test_gives_are_kept(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The project's own preload (in a folder whose name holds a space) still runs, after the
    # guard; a guarded Python child has NODE_OPTIONS as the test had it, and its own node child
    # is guarded again.
    preload = suite.path / "my preloads" / "hello.js"
    preload.parent.mkdir()
    preload.write_text("console.log('HELLO from the project');\n")
    monkeypatch.setenv("NODE_OPTIONS", f'--require "{preload}"')
    write(
        suite,
        """
        SHOW = "import os; print(os.environ['NODE_OPTIONS'], 'PYTEST_CASSETTES_NODE_GUARD' in os.environ)"
        RUN_NODE = "import subprocess, sys; subprocess.run(['node', '-e', sys.argv[1], sys.argv[2]])"
        PROXIED = __PROXIED__

        @pytest.mark.cassette
        def test_options():
            done = node(GET, URL + "/own-options")
            if PROXIED:  # the trap's answer
                assert done.stdout == "HELLO from the project\\n403\\n", done.stderr
            else:  # the preload's refusal
                assert done.stdout == "HELLO from the project\\n", done.stderr
                assert "blocked" in done.stderr
            shown = subprocess.run([sys.executable, "-c", SHOW], capture_output=True, text=True)
            assert shown.stdout == os.environ["NODE_OPTIONS"] + " False\\n"
            assert "node_guard" not in os.environ["NODE_OPTIONS"]
            subprocess.run([sys.executable, "-c", RUN_NODE, GET, URL + "/grandchild"])
        """.replace("__PROXIED__", str(PROXIED)),
    )
    result = ci(suite, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*blocked in a child process (pid *: node -e *) of *test_options",
            "2 network connections blocked*",
        ]
    )
    assert suite.server.hits == 0


def test_a_node_child_of_a_node_child_is_refused_too(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # npm, npx and other Node tools start Node children, which inherit NODE_OPTIONS: the block
    # names the process that connected (Node 24+: the child the trap's proxy variables were
    # given to, whose own child inherits them).
    write(
        suite,
        """
        SPAWN = (
            "require('child_process').execFileSync('node', ['-e', process.argv[1], "
            "process.argv[2]], {stdio: 'inherit'})"
        )

        @pytest.mark.cassette
        def test_npm_like():
            node(SPAWN, GET, URL + "/grandchild")
        """,
    )
    result = ci(suite, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*blocked in a child process (pid *: node -e require('child_process')*) of *test_npm_like"
            if PROXIED
            else "*blocked in a child process (pid *: node -e const url = process*) of *test_npm_like"
        ]
    )
    assert suite.server.hits == 0


def test_a_node_child_reaches_the_trap(suite: Suite, monkeypatch: pytest.MonkeyPatch) -> None:
    # Node 24 sends HTTP through the proxy variables (NODE_USE_ENV_PROXY=1): the preload lets it
    # reach the trap, which refuses the host and tells the block once.
    write(
        suite,
        """
        PROXIED = __PROXIED__
        VIA_PROXY = (
            "const proxy = new URL(process.env.HTTP_PROXY);"
            "const auth = Buffer.from(proxy.username + ':x').toString('base64');"
            "require('http').get({host: proxy.hostname, port: proxy.port, path: process.argv[1],"
            " headers: {'Proxy-Authorization': 'Basic ' + auth}},"
            " (r) => { console.log(r.statusCode); r.resume(); })"
        )

        @pytest.mark.cassette
        def test_node_24():  # Node 24 goes to the trap itself; before 24, as Node 24 would
            assert node(GET if PROXIED else VIA_PROXY, URL + "/proxied").stdout == "403\\n"
        """.replace("__PROXIED__", str(PROXIED)),
    )
    result = ci(suite, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"*NetworkBlockedError: Network access to 127.0.0.1:{suite.server.port} blocked in a "
            "child process (pid *: node -e const *) of test_suite.py::test_node_24",
            "1 network connection blocked*",
        ]
    )
    assert suite.server.hits == 0


def test_the_preload_is_named_as_node_options_read_a_path(tmp_path: Path) -> None:
    # Installed in a folder whose name holds a space (a virtual environment under "My
    # Projects"), a quote or a backslash, the preload is still found.
    preload = tmp_path / 'my "quoted" back\\slash folder' / "guard.js"
    preload.parent.mkdir()
    preload.write_text("console.log('LOADED');\n")
    options = f"--require {children_node._quoted(str(preload))} --no-warnings"
    done = subprocess.run(
        ["node", "-e", "0"], env={"NODE_OPTIONS": options}, capture_output=True, text=True
    )
    assert done.stdout == "LOADED\n", done.stderr


@pytest.mark.parametrize("path", ["''", "false"])
def test_a_connection_given_an_empty_path_is_refused(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    # net reads an empty path (a driver's unset socket option) as no Unix socket and connects
    # to the host: the preload let it through as one.
    write(
        suite,
        f"""
        @pytest.mark.cassette
        def test_raw_tcp():
            host, port = URL.rsplit("/", 1)[1].split(":")
            done = node(
                f"require('net').connect({{{{path: {path}, host: '{{host}}', port: {{port}}}}}})"
                ".on('connect', function () {{ this.end('GET /raw HTTP/1.0\\\\r\\\\n\\\\r\\\\n'); }})"
                ".on('error', (e) => console.error(e.message))"
            )
            print("NODE SAID:", done.stderr)
        """,
    )
    result = ci(suite, monkeypatch, "-s")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*NODE SAID: pytest-cassettes: network access to 127.0.0.1:* blocked*",
            "*blocked in a child process (pid *: node -e require('net')*) of *test_raw_tcp",
        ]
    )
    assert suite.server.hits == 0


def test_the_preload_loads_in_a_project_whose_package_json_says_module(tmp_path: Path) -> None:
    # A virtual environment inside a JavaScript project ("type": "module" in its package.json):
    # Node read a .js preload there as an ES module, and every Node child died at its start.
    installed = tmp_path / ".venv" / "lib" / "site-packages" / "pytest_cassettes"
    installed.mkdir(parents=True)
    (tmp_path / "package.json").write_text('{"type": "module"}\n')
    preload = installed / Path(children_node.PRELOAD).name
    shutil.copyfile(children_node.PRELOAD, preload)
    env = {
        "NODE_OPTIONS": f"--require {children_node._quoted(str(preload))}",
        children_node.GUARD: '{"trap": 1, "guards": []}',
    }
    done = subprocess.run(
        ["node", "-e", "console.log('ran')"], env=env, capture_output=True, text=True
    )
    assert (done.returncode, done.stdout) == (0, "ran\n"), done.stderr


@pytest.mark.parametrize("value", ["null", '{"trap": 1}', '{"guards": [{}]}', "not json"])
def test_a_guard_variable_the_plugin_did_not_write_leaves_node_running(value: str) -> None:
    # A TypeError at the preload's start killed every Node child.
    env = {
        "NODE_OPTIONS": f"--require {children_node._quoted(children_node.PRELOAD)}",
        children_node.GUARD: value,
    }
    done = subprocess.run(
        ["node", "-e", "console.log('ran')"], env=env, capture_output=True, text=True
    )
    assert (done.returncode, done.stdout) == (0, "ran\n"), done.stderr
