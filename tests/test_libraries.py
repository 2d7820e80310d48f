"""vcrpy is imported without the HTTP libraries a run never imports, and patches those imported
later: in a test's body, after other cassette tests ran, or by a project using vcrpy itself.

Each run is a subprocess: the point is what a fresh interpreter imports.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Suite

pytest.importorskip("httpx")
pytest.importorskip("aiohttp")
pytest.importorskip("botocore")


def run(suite: Suite, *args: str) -> pytest.RunResult:
    # Other plugins that import the libraries (respx's and pytest-httpx's import httpx) are off
    # in every generated run (tests/conftest.py).
    return suite.pytester.runpytest_subprocess("-p", "no:recording", "-p", "no:asyncio", *args)


UNUSED_NOT_IMPORTED = """
import sys

@pytest.mark.cassette
def test_requests_only():
    assert requests.get(URL + "/a").status_code == 200
    unused = {"aiohttp", "httpx", "botocore", "tornado"} & set(sys.modules)
    assert not unused, unused
"""


def test_libraries_the_tests_do_not_use_are_not_imported(suite: Suite) -> None:
    suite.write(UNUSED_NOT_IMPORTED)
    run(suite, "--record-mode=once").assert_outcomes(passed=1)
    run(suite, "--record-mode=none", "--block-network").assert_outcomes(passed=1)
    assert suite.uris("test_requests_only") == [suite.server.base_url + "/a"]


IMPORTED_IN_BODY = """
import sys

@pytest.mark.cassette
def test_first():
    assert requests.get(URL + "/first").status_code == 200

@pytest.mark.cassette
def test_httpx_imported_in_the_test():
    assert "httpx" not in sys.modules
    import httpx

    assert httpx.get(URL + "/late").json()["path"] == "/late"
    assert requests.get(URL + "/after").status_code == 200

@pytest.mark.cassette
def test_httpx_in_a_later_test():
    import httpx

    assert httpx.get(URL + "/later").status_code == 200

@pytest.mark.cassette
def test_botocore_imported_in_the_test():
    import botocore.awsrequest  # its classes subclass urllib3's: built on the real ones

    assert requests.get(URL + "/boto").status_code == 200
"""


def test_a_library_imported_inside_a_test_is_recorded_and_replayed(suite: Suite) -> None:
    suite.write(IMPORTED_IN_BODY)
    run(suite, "--record-mode=once").assert_outcomes(passed=4)
    base = suite.server.base_url
    assert suite.uris("test_httpx_imported_in_the_test") == [base + "/late", base + "/after"]
    assert suite.uris("test_httpx_in_a_later_test") == [base + "/later"]
    assert suite.uris("test_botocore_imported_in_the_test") == [base + "/boto"]
    hits = len(suite.server.requests)

    result = run(suite, "--record-mode=none", "--block-network")
    result.assert_outcomes(passed=4)
    assert len(suite.server.requests) == hits  # replayed: nothing reached the server


VCRPY_DIRECTLY = """
import sys

import vcr

@pytest.mark.cassette
def test_ours():
    assert requests.get(URL + "/ours").status_code == 200

def test_vcrpy_itself(tmp_path):
    assert "aiohttp" not in sys.modules
    with vcr.use_cassette(str(tmp_path / "own.yaml")) as own:
        assert requests.get(URL + "/own").status_code == 200
    assert len(own) == 1
    assert "aiohttp" in sys.modules  # imported by vcrpy's own patch builder, which found it
"""


def test_a_project_using_vcrpy_itself_still_gets_every_library(suite: Suite) -> None:
    suite.write(VCRPY_DIRECTLY)
    run(suite, "--record-mode=once").assert_outcomes(passed=2)
    assert suite.uris("test_ours") == [suite.server.base_url + "/ours"]


VCRPY_INSIDE_OURS = """
import sys

import vcr

@pytest.mark.cassette
def test_both(tmp_path):
    assert "aiohttp" not in sys.modules
    with vcr.use_cassette(str(tmp_path / "own.yaml"), record_mode="none"):
        pass  # vcrpy's patch module now sees (imports) every library, under our patches
    assert "aiohttp" in sys.modules
    assert requests.get(URL + "/after").status_code == 200

@pytest.mark.cassette
def test_next():
    assert requests.get(URL + "/next").status_code == 200
"""


def test_vcrpy_used_inside_a_cassette_test(suite: Suite) -> None:
    suite.write(VCRPY_INSIDE_OURS)
    run(suite, "--record-mode=once").assert_outcomes(passed=2)
    assert suite.uris("test_both") == [suite.server.base_url + "/after"]
    assert suite.uris("test_next") == [suite.server.base_url + "/next"]
    hits = len(suite.server.requests)
    run(suite, "--record-mode=none", "--block-network").assert_outcomes(passed=2)
    assert len(suite.server.requests) == hits


def test_a_run_without_cassette_tests_does_not_import_vcrpy(suite: Suite) -> None:
    # No HEADER: this module imports neither requests nor anything HTTP.
    (suite.path / "test_plain.py").write_text(
        "import sys\n"
        "HEAVY = ('vcr', 'yaml', 'requests', 'urllib3', 'pytest_cassettes.cassette')\n"
        "def test_plain():\n"
        "    assert [m for m in HEAVY if m in sys.modules] == []\n"
    )
    run(suite, "test_plain.py", "--block-network").assert_outcomes(passed=1)
    run(suite, "test_plain.py", "--record-mode=none").assert_outcomes(passed=1)


def test_the_projects_own_first_import_of_vcrpy_is_the_lean_one(suite: Suite) -> None:
    # A conftest importing vcrpy runs before any cassette test: the plugin's finder, installed
    # when the plugin loads, still hides the libraries nobody imported.
    (suite.path / "conftest.py").write_text("import sys\nimport vcr\nSEEN = set(sys.modules)\n")
    suite.write(
        """
        import sys

        import conftest

        def test_conftest_import():
            assert "vcr" in conftest.SEEN
            assert not {"aiohttp", "httpx", "botocore", "tornado"} & conftest.SEEN

        @pytest.mark.cassette
        def test_recorded():
            assert requests.get(URL + "/a").status_code == 200
            assert "aiohttp" not in sys.modules
        """
    )
    run(suite, "--record-mode=once", "-p", "no:randomly").assert_outcomes(passed=2)
    assert suite.uris("test_recorded") == [suite.server.base_url + "/a"]
    run(suite, "--record-mode=none", "--block-network").assert_outcomes(passed=2)


def test_the_plugins_modules_are_imported_without_pytests_assertion_rewriter(
    suite: Suite,
) -> None:
    # Was: pytest rewrote the plugin's whole package and read each module's cached code with
    # marshal.load on the open file, ~11 ms a process for ours. A run in the same process
    # (pytester's) that loads the plugin by its module's name warns of nothing it cannot
    # rewrite.
    suite.write(
        """
        import sys

        @pytest.mark.cassette
        def test_loaders():
            assert requests.get(URL + "/a").status_code == 200
            loaders = {
                name: type(module.__loader__).__name__
                for name, module in sys.modules.items()
                if name.startswith("pytest_cassettes.")  # the package itself comes first
            }
            assert "AssertionRewritingHook" not in loaders.values(), loaders

        def test_inner_run(pytester, monkeypatch):
            monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
            pytester.makepyfile("def test_inner(): pass")
            inner = pytester.runpytest_inprocess("-p", "pytest_cassettes.plugin")
            inner.assert_outcomes(passed=1)
        """
    )
    args = ("-p", "pytester", "-W", "error::pytest.PytestAssertRewriteWarning")
    run(suite, "--record-mode=once", *args).assert_outcomes(passed=2)
    replay = run(suite, "--record-mode=none", "--block-network", "-k", "loaders", *args)
    replay.assert_outcomes(passed=1)


THREADED_IMPORT = """
import sys, threading, time
sys.path.insert(0, {libs!r})
import urllib3
from pytest_cassettes import libraries
libraries.import_vcr()
got = []
thread = threading.Thread(target=lambda: got.append(__import__("httplib2").VALUE))
thread.start()
time.sleep(0.2)  # the thread is inside httplib2's (slow) module body
import tornado  # not seen by vcr.patch: it is reloaded, and imports httplib2 itself
thread.join()
import vcr.patch
print(got, sorted(libraries.loaded() & {{"httplib2", "tornado"}} & libraries._patch_sees))
print(hasattr(vcr.patch, "_HTTPConnectionWithTimeout"))
"""


def test_a_library_imported_on_a_thread_while_vcr_patch_reloads(tmp_path: Path) -> None:
    # The thread importing httplib2 holds Python's lock on that module while its watcher waits
    # to reload vcr.patch; the main thread, reloading vcr.patch for tornado, waits for
    # httplib2's import to end. This hung for ever; the thread now leaves its reload to the
    # main thread. Stand-ins for the two libraries (neither is a test dependency).
    (tmp_path / "httplib2.py").write_text(
        "import http.client, time\n"
        "time.sleep(0.5)\n"
        "class HTTPConnectionWithTimeout(http.client.HTTPConnection): pass\n"
        "class HTTPSConnectionWithTimeout(http.client.HTTPSConnection): pass\n"
        "SCHEME_TO_CONNECTION = {'http': HTTPConnectionWithTimeout}\n"
        "VALUE = 1\n"
    )
    (tmp_path / "tornado").mkdir()
    (tmp_path / "tornado" / "__init__.py").write_text("")
    (tmp_path / "tornado" / "simple_httpclient.py").write_text(
        "class SimpleAsyncHTTPClient:\n    def fetch_impl(self): pass\n"
    )
    script = THREADED_IMPORT.format(libs=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[1] ['httplib2', 'tornado']", "True"]


IN_PROCESS_RUNS = '''
import sys

from pytest_cassettes.cli import main

INNER = """
import os
import sys

import pytest

@pytest.mark.cassette
def test_late_httpx():
    import httpx
    import vcr.patch

    assert httpx.get(os.environ["TEST_SERVER"] + "/late").json()["path"] == "/late"
    # this run's httpx's original (vcrpy 8+ patches its transport, vcrpy 7 its client)
    names = ("_HttpxHttpTransport_handle_request", "_HttpxSyncClient_send_single_request")
    original = next(getattr(vcr.patch, n) for n in names if hasattr(vcr.patch, n))
    assert original.__globals__ is vars(sys.modules[original.__module__])
"""
ARGS = ("-p", "no:cacheprovider", "-p", "no:recording", "-p", "no:asyncio", "-p", "no:randomly",
        "-p", "no:respx")

def test_runs(pytester):
    # The package (and vcrpy) imported outside pytester's runs: they stay; httpx, imported in
    # each run's test body, is forgotten after each run.
    (pytester.path / "empty.yaml").write_text("interactions: []\\nversion: 1\\n")
    assert main(["check", str(pytester.path / "empty.yaml")]) == 0
    assert "httpx" not in sys.modules
    pytester.makepyfile(test_inner=INNER)
    pytester.runpytest(*ARGS, "--record-mode=once").assert_outcomes(passed=1)
    assert "httpx" not in sys.modules
    assert main(["check", str(pytester.path / "cassettes")]) == 0
    result = pytester.runpytest(*ARGS, "--record-mode=none")
    result.assert_outcomes(passed=1)
    finders = [type(finder).__name__ for finder in sys.meta_path]
    assert finders.count("_Watcher") == 1, finders
'''


def test_a_library_forgotten_by_pytester_between_in_process_runs_is_patched_again(
    suite: Suite,
) -> None:
    # pytester's in-process runs forget the modules each run imported, and restore
    # sys.meta_path; vcr.patch, imported outside the runs, still held the first run's httpx:
    # the second run's httpx (imported in the test body) was left unpatched, and its replay
    # was refused as a network access.
    suite.write(IN_PROCESS_RUNS, name="test_outer")
    run(suite, "-p", "pytester", "test_outer.py").assert_outcomes(passed=1)
