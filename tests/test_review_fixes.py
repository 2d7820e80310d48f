"""Regressions found in review: each test failed before its fix."""

from __future__ import annotations

import importlib
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from vcr import matchers
from vcr.request import Request

from pytest_cassettes import libraries, storage
from pytest_cassettes.cassette import Cassette, Context
from pytest_cassettes.patching import Patches, Router
from tests.conftest import Suite
from tests.test_report import FLAKY


def test_a_secret_a_fixture_puts_in_the_environment_is_scrubbed(suite: Suite) -> None:
    suite.write(
        """
        @pytest.fixture
        def service(monkeypatch):
            monkeypatch.setenv("MYSERVICE_TOKEN", "tok9f83hq2kzx7")

        @pytest.mark.cassette
        def test_token(service):
            requests.get(URL + "/items/" + os.environ["MYSERVICE_TOKEN"])
        """
    )
    suite.run().assert_outcomes(passed=1)
    text = suite.cassette_path("test_token").read_text()
    assert "tok9f83hq2kzx7" not in text
    assert "/items/%3CMYSERVICE_TOKEN%3E" in text
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)  # the live key matches
    assert suite.server.hits == 0


def test_an_interrupted_test_saves_nothing(suite: Suite) -> None:
    suite.write(
        """
        @pytest.mark.cassette
        def test_interrupted():
            requests.get(URL + "/one")
            raise KeyboardInterrupt
        """
    )
    # In a subprocess: pytester re-raises an in-process run's KeyboardInterrupt.
    result = suite.pytester.runpytest_subprocess("-p", "no:recording", "-p", "no:asyncio")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert not suite.cassette_path("test_interrupted").exists()


def test_prune_keeps_the_cassettes_of_tests_that_did_not_run(suite: Suite) -> None:
    suite.write(
        """
        @pytest.mark.vcr
        @pytest.mark.skip(reason="not today")
        def test_legacy():
            pass

        @pytest.mark.cassette(serializer="json")
        @pytest.mark.skip(reason="not today")
        def test_json():
            pass

        @pytest.mark.cassette
        def test_fails_first():
            assert False

        @pytest.mark.cassette
        def test_never_reached_after_x():
            pass
        """
    )
    folder = suite.path / "cassettes" / "test_suite"
    folder.mkdir(parents=True)
    kept = ["test_legacy.yaml", "test_json.json", "test_never_reached_after_x.yaml"]
    for name in [*kept, "test_gone.yaml"]:
        (folder / name).write_text("interactions: []\nversion: 1\n")
    suite.run("-x", "--cassette-prune")  # stopped early: nothing is pruned
    assert sorted(p.name for p in folder.iterdir()) == sorted([*kept, "test_gone.yaml"])
    suite.run("--cassette-prune").stdout.fnmatch_lines(["pruned 1 orphan cassette:"])
    assert sorted(p.name for p in folder.iterdir()) == sorted(kept)


def test_prune_with_one_cassette_dir_keeps_other_directories_modules(suite: Suite) -> None:
    suite.pytester.makeini("[pytest]\ncassette_dir = recorded\n")
    for package in ("a", "b"):
        folder = suite.path / package
        folder.mkdir()
        (folder / "test_api.py").write_text(
            f"import pytest\n\n@pytest.mark.cassette\ndef test_{package}():\n    pass\n"
        )
    shared = suite.path / "recorded" / "test_api"
    shared.mkdir(parents=True)
    for name in ("test_a.yaml", "test_b.yaml"):
        (shared / name).write_text("interactions: []\nversion: 1\n")
    suite.run("a", "--cassette-prune")
    assert sorted(p.name for p in shared.iterdir()) == ["test_a.yaml", "test_b.yaml"]


def interaction(uri: str, body: str) -> storage.Interaction:
    """A recorded GET of `uri` answered 200 with `body`."""
    return {
        "request": {"method": "GET", "uri": uri, "body": None, "headers": {}},
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {},
            "body": {"string": body},
        },
    }


def loaded_cassette(path: Path, mode: str, **options: Any) -> Cassette:
    """The cassette file at `path` opened as a test in `mode` opens it (method and URI)."""
    cassette = Cassette(
        path=path,
        shared_paths=(),
        record_mode=mode,
        context=Context(nodeid="t", mode=mode, reason="test"),
        matchers=[matchers.method, matchers.uri],
        **options,
    )
    cassette.load(storage.read(path), path, own=True)
    return cassette


def counting_cassette(tmp_path: Path, mode: str, **options: Any) -> tuple[Cassette, list[str]]:
    """A cassette of one recorded `GET http://x/a`, opened in `mode`, and the paths its
    `before_record_request` is asked to prepare from then on."""
    path = tmp_path / "c.yaml"
    storage.write(path, [interaction("http://x/a", "a")])
    calls: list[str] = []

    def prepare(request: Request) -> Request:
        calls.append(request.path)
        return request

    cassette = loaded_cassette(path, mode, prepare_request=prepare, **options)
    calls.clear()
    return cassette, calls


def test_concurrent_identical_requests_get_distinct_recordings(tmp_path: Path) -> None:
    path = tmp_path / "poll.yaml"
    storage.write(
        path, [interaction("http://x/poll", "pending"), interaction("http://x/poll", "done")]
    )
    cassette = loaded_cassette(path, "none")
    first, second = (Request("GET", "http://x/poll", None, {}) for _ in range(2))
    # Two threads both asked before either played: the second must not get the same entry.
    assert cassette.can_play(first) and cassette.can_play(second)
    bodies = [cassette.play(first)["body"]["string"], cassette.play(second)["body"]["string"]]
    assert bodies == [b"pending", b"done"]


def test_block_network_lets_recording_tests_record(suite: Suite) -> None:
    suite.write(
        """
        @pytest.mark.cassette
        def test_records():
            requests.get(URL + "/r")

        def test_plain():
            requests.get(URL + "/p")
        """
    )
    result = suite.run("--block-network")
    result.assert_outcomes(passed=1, failed=1)  # the cassette test recorded; the plain one not
    assert suite.server.hits == 1
    assert suite.cassette_path("test_records").exists()


def test_a_replay_only_run_writes_nothing_even_to_drop_unused(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.write(
        """
        @pytest.mark.cassette(drop_unused_requests=True)
        def test_two(cassette):
            requests.get(URL + "/a")
            if not cassette.play_count:
                requests.get(URL + "/b")
        """
    )
    suite.run().assert_outcomes(passed=1)
    before = suite.cassette_path("test_two").read_bytes()
    monkeypatch.setenv("CI", "true")
    suite.run().assert_outcomes(passed=1)
    assert suite.cassette_path("test_two").read_bytes() == before
    monkeypatch.delenv("CI")
    suite.run().assert_outcomes(passed=1)  # outside CI the unused /b is dropped
    assert len(suite.uris("test_two")) == 1


def test_a_marker_cannot_turn_off_block_network(suite: Suite) -> None:
    suite.write(
        """
        @pytest.mark.cassette(block_network=False)
        def test_guarded(cassette):
            requests.get(URL + "/x")
        """
    )
    suite.run("--record-mode=once").assert_outcomes(passed=1)  # recording: let through
    suite.server.reset()
    suite.write(
        """
        import socket
        from urllib.parse import urlsplit

        @pytest.mark.cassette(block_network=False)
        def test_guarded(cassette):
            parts = urlsplit(URL)
            socket.create_connection((parts.hostname, parts.port), timeout=2).close()
        """
    )
    result = suite.run("--block-network")  # the cassette exists: once may not record
    result.assert_outcomes(failed=1)
    assert suite.server.hits == 0


def test_what_take_prepared_serves_the_very_next_ask_only(tmp_path: Path) -> None:
    """On a miss, the requests shortcut's `take` hands what it prepared to the stubs' path
    (hooks run once per request); nothing else may be served that: not a later request, not
    one after the send that made it failed (`drop_carried`), not one after a hit."""
    cassette, calls = counting_cassette(tmp_path, "new_episodes", allow_playback_repeats=True)

    def ask() -> Request:
        return Request("GET", "http://x/b", None, {})

    assert cassette.take(ask()) is None
    cassette.prepared(ask())  # the stub's own request for the same call: prepared once
    cassette.prepared(ask())  # a later request: prepared again
    assert calls == ["/b", "/b"]

    assert cassette.take(ask()) is None
    cassette.drop_carried()  # the send failed before the stub asked
    cassette.prepared(ask())
    assert calls == ["/b"] * 4

    assert cassette.take(ask()) is None
    assert cassette.take(Request("GET", "http://x/a", None, {})) is not None  # a hit
    cassette.prepared(ask())
    assert calls == ["/b"] * 5 + ["/a", "/b"]


def test_a_hidden_library_is_hidden_from_the_hiding_thread_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # vcrpy is imported (and its patchers built) with the HTTP libraries not imported yet
    # hidden; a test's background thread importing one of them meanwhile gets it.
    (tmp_path / "hidden_client_lib.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "hidden_client_lib", raising=False)
    seen: list[object] = []

    def other_thread() -> None:
        try:
            seen.append(importlib.import_module("hidden_client_lib").VALUE)
        except ImportError as exc:
            seen.append(exc)

    try:
        with libraries.hidden(frozenset({"hidden_client_lib"})):
            with pytest.raises(ImportError):
                importlib.import_module("hidden_client_lib")
            thread = threading.Thread(target=other_thread)
            thread.start()
            thread.join()
        assert seen == [1]
    finally:
        sys.modules.pop("hidden_client_lib", None)


def test_an_import_told_while_the_patches_switch_on_leaves_one_set_of_patches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A library imported on a test's thread (which switched the patches off before its import)
    # may have its vcr.patch reload done by the thread switching the patches on for the next
    # test (libraries._catch_up), which tells Patches from inside switch_on. A nested
    # switch_on entered a second set of patches that nothing ever took off again.
    import http.client

    import vcr.patch

    real_connection, real_reset = http.client.HTTPConnection, vcr.patch.force_reset
    libraries.import_vcr()
    patches = Patches(Router())
    patch_module = libraries.patch_module
    told: list[bool] = []

    def patch_module_then_told(everything: bool = False) -> Any:
        module = patch_module(everything)
        if not told:  # as libraries._catch_up does, on this thread, once
            told.append(True)
            patches.after_import()
        return module

    try:
        patches.switch_on()
        patches.before_import()  # the test's thread imports a library: off, to come back on
        monkeypatch.setattr(libraries, "patch_module", patch_module_then_told)
        patches.switch_on()  # the next test
        assert told
        assert patches.on
        assert http.client.HTTPConnection is not real_connection
        patches.switch_off()
    finally:
        patches.close()
    assert http.client.HTTPConnection is real_connection
    assert vcr.patch.force_reset is real_reset


def test_an_import_that_ends_after_its_test_leaves_the_patches_as_the_next_test_wants() -> None:
    # A test's thread imports a library (the patches go off for it) and the import ends during
    # the next test. A test without a cassette must keep the real libraries; a cassette test
    # that switched the patches on meanwhile gets them rebuilt, the new library included.
    import http.client

    real_connection = http.client.HTTPConnection
    libraries.import_vcr()
    patches = Patches(Router())
    try:
        patches.switch_on()  # a cassette test
        patches.before_import()  # its thread starts importing a library
        patches.switch_off()  # the next test has no cassette
        patches.after_import()  # the import ends
        assert not patches.on
        assert http.client.HTTPConnection is real_connection

        patches.switch_on()  # a cassette test
        patches.before_import()  # its thread starts importing a library
        patches.switch_on()  # the next test, a cassette test too
        built = patches._patchers
        patches.after_import()  # the import ends
        assert patches.on
        assert patches._patchers is not None and patches._patchers is not built
        assert http.client.HTTPConnection is not real_connection
    finally:
        patches.close()
    assert http.client.HTTPConnection is real_connection


def test_a_test_that_passes_when_run_again_saves_its_recording(suite: Suite) -> None:
    # A flaky test under pytest-rerunfailures: the failed attempt saves nothing, the passing
    # rerun saves its own recording (it was lost: the first attempt's failure stayed). The
    # summary told the failed attempt as "1 recorded interaction of failed tests not saved
    # (record_on_exception=True keeps them)": advice that, followed, saves the failure for the
    # rerun to replay. Only a test's last attempt counts.
    suite.write(FLAKY)
    result = suite.run("--record-mode=once", "--reruns=1")
    result.assert_outcomes(passed=2, failed=1)
    assert [uri.rsplit("/", 1)[1] for uri in suite.uris("test_flaky")] == ["common", "2"]
    result.stdout.fnmatch_lines(
        [
            "*2 cassettes recorded (3 new interactions)*",
            "1 recorded interaction of failed tests not saved*",
        ]
    )


def test_will_send_decides_as_can_play_and_prepares_each_request_once(tmp_path: Path) -> None:
    """`will_send` (asked in the stub's `request()`, to connect then) decides as `can_play`
    would, keeps nothing but what it prepared for the stub's own ask, and a request whose body
    grew meanwhile (http.client's `send` after `request`) is prepared again."""
    cassette, calls = counting_cassette(tmp_path, "new_episodes")
    recorded = Request("GET", "http://x/a", None, {})
    assert not cassette.will_send(recorded)  # it replays
    assert cassette.can_play(recorded) and calls == ["/a"]
    cassette.play(recorded)
    new = Request("POST", "http://x/b", None, {})
    assert cassette.will_send(new)
    assert not cassette.can_play(new) and calls == ["/a", "/b"]
    grown = Request("POST", "http://x/b", None, {})
    assert cassette.will_send(grown)
    grown.body = b"more"
    assert not cassette.can_play(grown) and calls == ["/a", "/b", "/b", "/b"]
    replay_only = loaded_cassette(cassette.path, "none")
    assert not replay_only.will_send(Request("GET", "http://x/other", None, {}))
