"""pytest-recording's markers, fixtures and flags, honoured when pytest-recording is not loaded."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import vcr
import yaml

from tests.conftest import Suite

WITHOUT_RECORDING = ("-p", "no:recording")
UNDER_RECORDING = ("-p", "no:cassettes", "-p", "recording")

# A module written for pytest-recording, untouched.
LEGACY_SUITE = """
pytestmark = pytest.mark.vcr

@pytest.fixture
def vcr_config():
    return {"filter_headers": ["X-Secret"], "match_on": ["method", "path", "query"]}

def test_plain(vcr_cassette_dir):
    assert vcr_cassette_dir.endswith(os.path.join("cassettes", "test_legacy"))
    got = requests.get(URL + "/plain", headers={"X-Secret": "hush"}).json()
    assert got["path"] == "/plain"

class TestGroup:
    class TestInner:
        @pytest.mark.vcr(allow_playback_repeats=True)
        def test_nested(self):
            for _ in range(2):
                assert requests.get(URL + "/repeat").status_code == 200

@pytest.mark.default_cassette("shared")
def test_named():
    assert requests.get(URL + "/shared").json()["path"] == "/shared"

@pytest.mark.vcr("shared.yaml")
def test_with_extra():
    assert requests.get(URL + "/shared").json()["path"] == "/shared"
    assert requests.get(URL + "/own").json()["path"] == "/own"
"""
LEGACY_FILES = [
    "TestInner.test_nested.yaml",
    "shared.yaml",
    "test_plain.yaml",
    "test_with_extra.yaml",
]


def legacy_dir(suite: Suite) -> list[str]:
    return sorted(p.name for p in (suite.path / "cassettes" / "test_legacy").iterdir())


def uris(suite: Suite, name: str) -> list[str]:
    data = yaml.safe_load((suite.path / "cassettes" / "test_legacy" / name).read_text())
    return [i["request"]["uri"].replace(suite.server.base_url, "") for i in data["interactions"]]


def test_a_pytest_recording_suite_records_and_replays_unchanged(suite: Suite) -> None:
    suite.write(LEGACY_SUITE, name="test_legacy")
    suite.run(*WITHOUT_RECORDING, "--record-mode=once").assert_outcomes(passed=4)
    assert suite.server.hits == 5  # /shared of test_with_extra came from the extra cassette
    assert legacy_dir(suite) == LEGACY_FILES
    assert uris(suite, "test_with_extra.yaml") == ["/own"]  # extras are read-only
    assert uris(suite, "TestInner.test_nested.yaml") == ["/repeat", "/repeat"]
    plain = yaml.safe_load(
        (suite.path / "cassettes" / "test_legacy" / "test_plain.yaml").read_text()
    )
    assert "X-Secret" not in plain["interactions"][0]["request"]["headers"]  # vcr_config's filter

    suite.run(*WITHOUT_RECORDING, "--record-mode=none").assert_outcomes(passed=4)
    # The same files replay under pytest-recording itself.
    suite.run(*UNDER_RECORDING, "--record-mode=none").assert_outcomes(passed=4)
    assert suite.server.hits == 5


def test_a_pytest_recording_suite_runs_where_warnings_are_errors(suite: Suite) -> None:
    """pytest 9 deprecates module-scoped fixtures defined as methods of a plugin object: our
    `vcr_cassette_dir` was one, and under `filterwarnings = error` every `vcr` test errored."""
    suite.pytester.makeini("[pytest]\nfilterwarnings =\n    error\n")
    suite.write(LEGACY_SUITE, name="test_legacy")
    suite.write(LEGACY_SUITE.replace("test_legacy", "test_legacy_two"), name="test_legacy_two")
    suite.run(*WITHOUT_RECORDING, "--record-mode=once").assert_outcomes(passed=8)
    suite.run(*WITHOUT_RECORDING, "--record-mode=none").assert_outcomes(passed=8)


def test_cassettes_recorded_by_pytest_recording_replay_under_pytest_cassettes(
    suite: Suite,
) -> None:
    suite.write(LEGACY_SUITE, name="test_legacy")
    # pytest-recording's "once" refuses to add to a test that has extra cassettes.
    suite.run(*UNDER_RECORDING, "--record-mode=new_episodes").assert_outcomes(passed=4)
    hits = suite.server.hits
    # vcrpy 8+ replays the second /repeat from what it just recorded; vcrpy 7 sends it again.
    assert hits in (4, 5)
    assert legacy_dir(suite) == LEGACY_FILES
    suite.run(*WITHOUT_RECORDING, "--record-mode=none").assert_outcomes(passed=4)
    assert suite.server.hits == hits


def test_vcr_options_merge_with_cassette_config_and_the_vcr_fixture(suite: Suite) -> None:
    suite.write(
        """
        @pytest.fixture
        def cassette_config():
            return {"filter_headers": ["X-One"]}

        @pytest.fixture
        def vcr_config():
            return {"filter_headers": ["X-Two"], "record_mode": "new_episodes"}

        @pytest.mark.vcr(filter_headers=["X-Three"])
        def test_merge(vcr, cassette):
            assert vcr.path == cassette.path and vcr.record_mode == "new_episodes"
            headers = {"X-One": "1", "X-Two": "2", "X-Three": "3", "X-Kept": "k"}
            requests.get(URL + "/h", headers=headers)
            assert len(vcr.recorded_requests) == 1

        def test_unmarked(vcr):
            assert vcr is None
        """
    )
    suite.run(*WITHOUT_RECORDING).assert_outcomes(passed=2)
    headers = suite.cassette("test_merge")["interactions"][0]["request"]["headers"]
    assert set(headers) & {"X-One", "X-Two", "X-Three", "X-Kept"} == {"X-Kept"}


def test_a_vcr_cassette_dir_override_moves_the_cassettes(suite: Suite) -> None:
    suite.write(
        """
        @pytest.fixture(scope="module")
        def vcr_cassette_dir():
            return os.path.join(os.path.dirname(__file__), "recorded")

        @pytest.mark.vcr
        def test_moved():
            requests.get(URL + "/moved")
        """
    )
    suite.run(*WITHOUT_RECORDING).assert_outcomes(passed=1)
    assert (suite.path / "recorded" / "test_moved.yaml").exists()
    assert not (suite.path / "cassettes").exists()
    suite.run(*WITHOUT_RECORDING, "--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 1


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("@pytest.mark.vcr(record_modes='none')", "*unknown option 'record_modes'*"),
        ("@pytest.mark.vcr\n@pytest.mark.cassette", "*both @pytest.mark.cassette and*vcr*"),
    ],
)
def test_bad_vcr_markers_are_usage_errors(suite: Suite, source: str, message: str) -> None:
    suite.write(f"{source}\ndef test_x():\n    pass\n")
    result = suite.run(*WITHOUT_RECORDING)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_network_flags_and_marker_are_settings_for_the_guard(suite: Suite) -> None:
    suite.write(
        """
        from pytest_cassettes.compat import NetworkOptions, network_options

        def test_flags(request):
            assert network_options(request.node) == NetworkOptions(True, ("ini", "db", "cache"))

        @pytest.mark.block_network(allowed_hosts=["api"])
        def test_marker(request):
            options = network_options(request.node, {"allow_hosts": ["cfg"]})
            assert options == NetworkOptions(True, ("ini", "db", "cache", "cfg", "api"))
        """
    )
    suite.pytester.makeini("[pytest]\ncassette_allow_hosts = ini\n")
    result = suite.run(
        *WITHOUT_RECORDING,
        "--block-network",
        "--allowed-hosts=db,cache",
        "--cassette-allow-hosts=ini",
        "--strict-markers",
    )
    result.assert_outcomes(passed=2)


def test_help_and_markers_mention_the_compatibility_names(suite: Suite) -> None:
    result = suite.run(*WITHOUT_RECORDING, "--help")
    result.stdout.fnmatch_lines(
        ["*--block-network*", "*pytest-recording*", "*--allowed-hosts=*", "*pytest-recording*"]
    )
    result = suite.run(*WITHOUT_RECORDING, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.vcr(*extra_cassettes, **options):*"])
    result.stdout.fnmatch_lines(["@pytest.mark.default_cassette(name):*"])


def test_with_pytest_recording_loaded_its_names_are_left_to_it(suite: Suite) -> None:
    suite.write(
        """
        def test_compat_off(request):
            assert request.config.pluginmanager.get_plugin("cassettes-compat") is None
            assert request.config.pluginmanager.has_plugin("recording")

        @pytest.mark.vcr
        def test_vcr_is_pytest_recordings(vcr):
            assert type(vcr).__module__ == "vcr.cassette"
            requests.get(URL + "/v")
        """
    )
    result = suite.run("-p", "recording", "--record-mode=once", "--block-network", "--help")
    result.stdout.fnmatch_lines(["*--block-network*Block network access except for VCR*"])
    assert "same as --cassette-allow-hosts" not in result.stdout.str()  # ours is not added
    suite.run("-p", "recording", "--record-mode=once").assert_outcomes(passed=2)
    assert suite.cassette_path("test_vcr_is_pytest_recordings").exists()


@pytest.fixture
def socket_methods_restored() -> Iterator[None]:
    """pytest-recording's blocking "restores" socket.socket.connect by assigning the inherited
    method to the class: our guard's tests check that it is inherited."""
    before = {name: vars(socket.socket).get(name) for name in ("connect", "connect_ex")}
    yield
    for name, value in before.items():
        if value is None and name in vars(socket.socket):
            delattr(socket.socket, name)


@pytest.mark.usefixtures("socket_methods_restored")
def test_with_pytest_recording_loaded_block_network_still_lets_our_recording_tests_through(
    suite: Suite,
) -> None:
    """Both plugins installed: --block-network is pytest-recording's flag, and its autouse
    fixture blocked every test without its `vcr` marker, our recording tests included, with
    its own error and without our allow-list. It still guards its own tests (`vcr`, and its
    `block_network` marker's allowed_hosts), and every fixture sees the flag as given."""
    suite.write(
        """
        @pytest.fixture(autouse=True)
        def flag_as_given(request):
            assert request.config.getoption("--block-network")

        @pytest.mark.cassette
        def test_records():
            assert requests.get(URL + "/recorded").status_code == 200

        def test_plain():
            requests.get(URL + "/plain")

        @pytest.mark.vcr
        def test_vcr_is_pytest_recordings():
            requests.get(URL + "/v")

        @pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
        def test_marker_allows():
            requests.get(URL + "/marker")
        """
    )
    result = suite.run("-p", "recording", "--record-mode=once", "--block-network")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        ["*NetworkBlockedError: Network access to 127.0.0.1:* blocked in *test_plain*"]
    )
    # /recorded, /v (pytest-recording's recording test) and /marker
    assert suite.server.hits == 3
    assert suite.cassette_path("test_records").exists()
    allowed = suite.run(
        "-p",
        "recording",
        "--record-mode=once",
        "--block-network",
        "--cassette-allow-hosts=127.0.0.1",
    )
    allowed.assert_outcomes(passed=4)
    assert suite.server.hits == 5  # /plain and /marker; the cassettes replayed


def test_with_pytest_recording_loaded_prune_keeps_its_cassettes(suite: Suite) -> None:
    suite.write(
        """
        @pytest.mark.cassette
        def test_ours():
            requests.get(URL + "/ours")

        @pytest.mark.vcr
        def test_theirs():
            requests.get(URL + "/theirs")

        @pytest.mark.vcr("extra.yaml")
        @pytest.mark.skip(reason="not today")
        def test_theirs_skipped():
            pass
        """
    )
    folder = suite.path / "cassettes" / "test_suite"
    folder.mkdir(parents=True)
    for name in ("extra.yaml", "test_theirs_skipped.yaml", "stray.yaml"):
        (folder / name).write_text("interactions: []\nversion: 1\n")
    suite.run("-p", "recording", "--record-mode=once").assert_outcomes(passed=2, skipped=1)
    result = suite.run("-p", "recording", "--record-mode=none", "--cassette-prune")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["pruned 1 orphan cassette:", "  cassettes/test_suite/stray.yaml"])
    assert sorted(p.name for p in folder.iterdir()) == [
        "extra.yaml",
        "test_ours.yaml",
        "test_theirs.yaml",
        "test_theirs_skipped.yaml",
    ]


def test_cassettes_pytest_recording_wrote_for_file_and_iterator_bodies_replay(
    suite: Suite,
) -> None:
    """vcrpy writes such request bodies pickled (`!!python/object/new:_io.BytesIO`,
    `!!python/object/apply:builtins.iter`); its safe loader reads them back, and so do we."""
    suite.write(
        """
        import io

        pytestmark = pytest.mark.vcr(match_on=["method", "uri", "body"])

        def test_file_body():
            r = requests.post(URL + "/upload", data=io.BytesIO(b"file contents"))
            assert r.status_code == 200

        def test_iterator_body():
            r = requests.post(URL + "/upload", data=iter([b"chunk-1,", b"chunk-2"]))
            assert r.status_code == 200
        """
    )
    suite.run(*UNDER_RECORDING, "--record-mode=once").assert_outcomes(passed=2)
    written = (suite.path / "cassettes" / "test_suite" / "test_file_body.yaml").read_text()
    assert "python/object/new:_io.BytesIO" in written
    # vcrpy 8+ writes an iterator's chunks pickled too; vcrpy 7 the chunked framing sent.
    iterator = (suite.path / "cassettes" / "test_suite" / "test_iterator_body.yaml").read_text()
    if not vcr.__version__.startswith("7."):
        assert "python/object/apply:builtins.iter" in iterator
    hits = suite.server.hits
    suite.run(*WITHOUT_RECORDING, "--record-mode=none").assert_outcomes(passed=2)
    assert suite.server.hits == hits


@pytest.mark.parametrize("plugins", [WITHOUT_RECORDING, ("-p", "recording")], ids=["alone", "both"])
def test_a_conftest_implementing_pytest_recording_configure_runs_and_its_matcher_is_used(
    suite: Suite, plugins: tuple[str, ...]
) -> None:
    suite.pytester.makeconftest(
        """
        def same_path(r1, r2):
            assert r1.path == r2.path, "paths differ"

        def pytest_recording_configure(config, vcr):
            vcr.register_matcher("same_path", same_path)
        """
    )
    suite.write(
        """
        import time

        @pytest.mark.vcr(match_on=["method", "same_path"])
        def test_theirs():
            requests.get(URL + "/theirs", params={"t": str(time.time_ns())})

        @pytest.mark.cassette(match_on=["method", "same_path"])
        def test_ours():
            requests.get(URL + "/ours", params={"t": str(time.time_ns())})
        """
    )
    suite.run(*plugins, "--record-mode=once").assert_outcomes(passed=2)
    assert suite.server.hits == 2
    suite.run(*plugins, "--record-mode=none").assert_outcomes(passed=2)
    assert suite.server.hits == 2


# pydantic-ai's way: vcrpy's "yaml" serializer replaced by one storing JSON bodies parsed.
JSON_BODY_SERIALIZER = """
import json

import yaml


class JsonBodySerializer:
    @staticmethod
    def serialize(cassette_dict):
        for interaction in cassette_dict["interactions"]:
            body = interaction["response"]["body"]
            try:
                body["parsed_body"] = json.loads(body.pop("string"))
            except ValueError:
                pass
        return yaml.dump(cassette_dict, Dumper=yaml.SafeDumper)

    @staticmethod
    def deserialize(cassette_string):
        cassette_dict = yaml.load(cassette_string, Loader=yaml.SafeLoader)
        for interaction in cassette_dict["interactions"]:
            body = interaction["response"]["body"]
            if "parsed_body" in body:
                body["string"] = json.dumps(body.pop("parsed_body"))
        return cassette_dict


def pytest_recording_configure(config, vcr):
    vcr.register_serializer("yaml", JsonBodySerializer)
"""


def test_a_serializer_registered_as_yaml_reads_and_writes_the_cassettes(suite: Suite) -> None:
    suite.pytester.makeconftest(JSON_BODY_SERIALIZER)
    suite.write(
        """
        @pytest.mark.vcr
        def test_json():
            assert requests.get(URL + "/j").json()["path"] == "/j"
        """
    )
    path = suite.path / "cassettes" / "test_suite" / "test_json.yaml"
    for record, replay in (
        (UNDER_RECORDING, WITHOUT_RECORDING),
        (WITHOUT_RECORDING, UNDER_RECORDING),
    ):
        path.unlink(missing_ok=True)
        suite.run(*record, "--record-mode=once").assert_outcomes(passed=1)
        stored = yaml.safe_load(path.read_text())["interactions"][0]["response"]["body"]
        assert stored["parsed_body"]["path"] == "/j" and "string" not in stored
        hits = suite.server.hits
        suite.run(*replay, "--record-mode=none").assert_outcomes(passed=1)
        assert suite.server.hits == hits


def test_a_persister_gets_response_bodies_as_bytes_as_from_vcrpy(suite: Suite) -> None:
    # langchain's persister hands the cassette to vcrpy's serializer, which wants bytes bodies:
    # str bodies made files pytest-recording could not replay.
    suite.pytester.makeconftest(
        """
        from pathlib import Path

        from vcr.persisters.filesystem import CassetteNotFoundError
        from vcr.serialize import deserialize, serialize

        class CheckingPersister:
            @staticmethod
            def load_cassette(cassette_path, serializer):
                path = Path(cassette_path)
                if not path.is_file():
                    raise CassetteNotFoundError()
                return deserialize(path.read_text(), serializer)

            @staticmethod
            def save_cassette(cassette_path, cassette_dict, serializer):
                bodies = [r["body"]["string"] for r in cassette_dict["responses"]]
                assert all(isinstance(body, bytes) for body in bodies), bodies
                path = Path(cassette_path)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(serialize(cassette_dict, serializer))

        def pytest_recording_configure(config, vcr):
            vcr.register_persister(CheckingPersister)
        """
    )
    suite.write(
        """
        @pytest.mark.vcr
        def test_one():
            assert requests.get(URL + "/one").json()["path"] == "/one"
        """
    )
    suite.run(*WITHOUT_RECORDING, "--record-mode=once").assert_outcomes(passed=1)
    assert suite.server.hits == 1
    suite.run(*UNDER_RECORDING, "--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 1


def test_the_vcr_fixture_is_a_cassette_as_vcrpy_shows_it(suite: Suite) -> None:
    suite.write(
        """
        @pytest.mark.vcr
        def test_vcrpy_view(vcr):
            assert vcr._path.endswith(os.path.join("test_suite", "test_vcrpy_view.yaml"))
            requests.get(URL + "/a")
            assert len(vcr) == len(vcr.data) == len(vcr.responses) == 1
            assert vcr.requests[0].uri == URL + "/a"
            if vcr.rewound:  # replaying
                assert vcr.play_count == 1 and vcr.play_counts[0] == 1
                assert vcr.all_played and not vcr.dirty and vcr.write_protected
            else:  # recording: vcrpy counts the recorded interaction as not played
                assert vcr.play_count == 0 and not vcr.play_counts
                assert not vcr.all_played and vcr.dirty and not vcr.write_protected

        @pytest.mark.cassette
        def test_migrated(vcr, cassette):
            # `migrate` rewrites the marker and keeps the argument.
            requests.get(URL + "/b")
            assert vcr.path == cassette.path and len(vcr) == 1
        """
    )
    suite.run(*WITHOUT_RECORDING).assert_outcomes(passed=2)
    assert suite.server.hits == 2
    suite.run(*WITHOUT_RECORDING, "--record-mode=none").assert_outcomes(passed=2)
    assert suite.server.hits == 2


def test_the_record_mode_fixture_tells_the_run_s_mode_and_an_override_sets_vcr_tests_mode(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.write(
        """
        def test_mode(record_mode):
            assert record_mode == os.environ["EXPECTED_MODE"]
        """
    )
    for args, env, expected in (
        ((), {}, "once"),
        (("--record-mode=all",), {}, "all"),
        ((), {"CI": "true"}, "none"),
    ):
        monkeypatch.setenv("EXPECTED_MODE", expected)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        suite.run(*WITHOUT_RECORDING, *args).assert_outcomes(passed=1)
    monkeypatch.delenv("CI")
    # A conftest overriding it (pytest-recording's base mode): under vcr_config and markers,
    # under the flag.
    suite.pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def record_mode():
            return "none"
        """
    )
    suite.write(
        """
        @pytest.mark.vcr
        def test_replay_only():
            requests.get(URL + "/c")
        """
    )
    result = suite.run(*WITHOUT_RECORDING)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*CassetteMissingError*", "*record mode: none (record_mode fixture)*"]
    )
    assert suite.server.hits == 0
    suite.run(*WITHOUT_RECORDING, "--record-mode=once").assert_outcomes(passed=1)
    assert suite.server.hits == 1


def test_cassette_library_dir_of_vcr_tests_is_honoured_as_pytest_recording_does(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # openinference-instrumentation-langchain's tests name it in their markers: refusing it
    # stopped the whole run.
    suite.write(
        """
        @pytest.fixture
        def vcr_config():
            return {"cassette_library_dir": "flat"}

        @pytest.mark.vcr
        def test_flat():
            requests.get(URL + "/f")

        @pytest.mark.vcr(cassette_library_dir="tests/cassettes/mine")
        def test_marked():
            requests.get(URL + "/m")
        """
    )
    files = {
        suite.path / "flat" / "test_flat.yaml",
        suite.path / "tests" / "cassettes" / "mine" / "test_marked.yaml",
    }
    suite.run(*UNDER_RECORDING, "--record-mode=once").assert_outcomes(passed=2)
    assert {f for f in files if f.is_file()} == files
    monkeypatch.setenv("CI", "true")
    suite.run(*WITHOUT_RECORDING).assert_outcomes(passed=2)
    assert suite.server.hits == 2
    # Ours records there too.
    monkeypatch.delenv("CI")
    for file in files:
        file.unlink()
    suite.run(*WITHOUT_RECORDING).assert_outcomes(passed=2)
    assert {f for f in files if f.is_file()} == files


def test_a_skipped_test_s_cassette_in_another_module_s_folder_is_not_pruned(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.write(
        """
        @pytest.mark.skipif(bool(os.environ.get("SKIP_IT")), reason="now skipped")
        @pytest.mark.vcr(cassette_library_dir="cassettes/test_other")
        def test_elsewhere():
            requests.get(URL + "/e")
        """
    )
    suite.write("@pytest.mark.vcr\ndef test_other():\n    pass\n", name="test_other")
    suite.run(*WITHOUT_RECORDING).assert_outcomes(passed=2)
    kept = suite.path / "cassettes" / "test_other" / "test_elsewhere.yaml"
    assert kept.is_file()
    monkeypatch.setenv("SKIP_IT", "1")
    result = suite.run(*WITHOUT_RECORDING, "--cassette-prune")
    result.assert_outcomes(passed=1, skipped=1)
    assert kept.is_file()


def test_path_options_in_vcr_config_say_which_fixture_to_override(suite: Suite) -> None:
    suite.write(
        """
        @pytest.fixture
        def vcr_config():
            return {"path_transformer": str.upper}

        @pytest.mark.vcr
        def test_x():
            pass
        """
    )
    result = suite.run(*WITHOUT_RECORDING)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            "*vcr_config: option 'path_transformer' is not supported: override the "
            "`vcr_cassette_dir` or `default_cassette_name` fixture*"
        ]
    )


def test_a_blocked_connection_is_the_runtime_error_pytest_recording_tests_expect(
    suite: Suite,
) -> None:
    suite.write(
        """
        import urllib.request

        import pytest_cassettes

        @pytest.mark.block_network
        def test_theirs():
            with pytest.raises(RuntimeError, match="Network is disabled"):
                requests.get(URL + "/x")

        def test_ours():
            with pytest.raises(RuntimeError) as info:
                urllib.request.urlopen(URL + "/y")
            assert isinstance(info.value, pytest_cassettes.NetworkBlockedError)
            assert "Network is disabled" not in str(info.value)
        """
    )
    suite.pytester.makeini("[pytest]\ncassette_block_network = true\n")
    result = suite.run(*WITHOUT_RECORDING)
    # Ours fails all the same: a client may swallow the error, so a blocked connection fails
    # the test unless the test's own block_network marker asked for the block.
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_suite.py::test_ours - *NetworkBlockedError*"])
    assert suite.server.hits == 0


def test_pytest_vcr_s_flat_layout_is_kept_with_the_readme_s_fixture(suite: Suite) -> None:
    suite.pytester.makeconftest(
        """
        import os

        import pytest

        @pytest.fixture(scope="module")
        def vcr_cassette_dir(request):
            return os.path.join(os.path.dirname(request.module.__file__), "cassettes")
        """
    )
    suite.write(
        """
        @pytest.mark.vcr
        def test_iana():
            assert requests.get(URL + "/iana").status_code == 200
        """
    )
    suite.run(*WITHOUT_RECORDING).assert_outcomes(passed=1)
    assert (suite.path / "cassettes" / "test_iana.yaml").is_file()


def test_extra_cassettes_stay_relative_to_the_module_folder_beside_a_library_dir(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytest-recording: the own cassette in cassette_library_dir, extra names relative to
    # vcr_cassette_dir (cassettes/<module>/).
    suite.write(
        """
        @pytest.mark.vcr
        def test_shared():
            requests.get(URL + "/shared")

        @pytest.mark.vcr
        def test_own():
            requests.get(URL + "/own")
        """
    )
    suite.run(*WITHOUT_RECORDING).assert_outcomes(passed=2)
    module = suite.path / "cassettes" / "test_suite"
    (module / "test_shared.yaml").rename(module / "shared.yaml")
    (suite.path / "flat").mkdir()
    (module / "test_own.yaml").rename(suite.path / "flat" / "test_x.yaml")
    suite.write(
        """
        @pytest.mark.vcr("shared.yaml", cassette_library_dir="flat")
        def test_x():
            requests.get(URL + "/shared")
            requests.get(URL + "/own")
        """
    )
    monkeypatch.setenv("CI", "true")
    for plugins in (WITHOUT_RECORDING, UNDER_RECORDING):
        suite.run(*plugins, "--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 2


def test_with_pytest_recording_loaded_a_library_dir_marker_leaves_orphans_known(
    suite: Suite,
) -> None:
    suite.write(
        """
        @pytest.mark.vcr(cassette_library_dir="flat")
        def test_theirs():
            pass
        """
    )
    stale = suite.path / "cassettes" / "test_suite" / "stale.yaml"
    stale.parent.mkdir(parents=True)
    stale.write_text("interactions: []\nversion: 1\n")
    result = suite.run("-p", "recording", "--record-mode=none")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["1 orphan cassette*"])


def test_with_pytest_recording_loaded_a_library_dir_cassette_is_not_an_orphan(
    suite: Suite,
) -> None:
    # pytest-recording runs the `vcr` test; its marker puts the cassette in another module's
    # folder: known at collection, so --cassette-prune keeps it.
    suite.write(
        """
        @pytest.mark.cassette
        def test_a_one():
            requests.get(URL + "/a")
        """,
        name="test_a",
    )
    suite.write(
        """
        LIB = os.path.join(os.path.dirname(__file__), "cassettes", "test_a")

        @pytest.mark.vcr(cassette_library_dir=LIB)
        def test_b_shared():
            requests.get(URL + "/b")
        """,
        name="test_b",
    )
    suite.run("-p", "recording", "--record-mode=once").assert_outcomes(passed=2)
    kept = suite.path / "cassettes" / "test_a" / "test_b_shared.yaml"
    assert kept.is_file()
    result = suite.run("-p", "recording", "--record-mode=none", "--cassette-prune")
    result.assert_outcomes(passed=2)
    assert kept.is_file()
    assert "orphan cassette" not in result.stdout.str()


PYTEST_VCR_FLAT = """
import os

import pytest


@pytest.fixture(scope="module")
def vcr_cassette_dir(request):
    return os.path.join(os.path.dirname(request.module.__file__), "cassettes")
"""


def test_pytest_vcrs_vcr_cassette_fixture_is_the_tests_cassette(suite: Suite) -> None:
    """pytest-vcr's tests ask for `vcr_cassette` (its play_count, its requests): without it
    every such test errored with "fixture 'vcr_cassette' not found" (an adopter's suite)."""
    suite.pytester.makeconftest(PYTEST_VCR_FLAT)
    suite.write(
        """
        @pytest.mark.vcr
        def test_marked(vcr_cassette):
            assert requests.get(URL + "/a").status_code == 200
            assert vcr_cassette.play_count == (0 if vcr_cassette.dirty else 1)
            assert len(vcr_cassette.requests) == 1

        def test_unmarked(vcr_cassette):
            assert requests.get(URL + "/b").status_code == 200
        """,
        name="test_crawl",
    )
    suite.run(*WITHOUT_RECORDING, "--record-mode=once").assert_outcomes(passed=2)
    assert (suite.path / "cassettes" / "test_marked.yaml").is_file()  # the vcr test's layout
    assert suite.cassette_path("test_unmarked", "test_crawl").is_file()  # the cassette's
    hits = suite.server.hits
    suite.run(*WITHOUT_RECORDING, "--record-mode=none").assert_outcomes(passed=2)
    assert suite.server.hits == hits


def test_a_caught_block_that_fails_the_test_says_it_was_caught_and_how_to_expect_it(
    suite: Suite,
) -> None:
    # A pytest-recording suite's `pytest.raises(RuntimeError)` around a blocked request, under
    # `--block-network` but without the marker, failed with the very error it caught and no
    # word why: the message read as if the test had not caught it.
    suite.write(
        """
        import socket
        from urllib.parse import urlsplit

        @pytest.mark.cassette
        def test_recorded():
            try:  # a client cassettes do not record, whose library swallows its errors
                socket.create_connection((urlsplit(URL).hostname, urlsplit(URL).port))
            except Exception:
                pass

        def test_expects_the_block():
            with pytest.raises(RuntimeError):
                requests.get(URL + "/b")
        """
    )
    result = suite.run("--block-network", "--record-mode=none", *WITHOUT_RECORDING)
    result.assert_outcomes(failed=2)
    text = result.stdout.str()
    caught = "The test passed over this error (it, or a library it calls, caught it)"
    assert text.count(caught) == 2
    expect = "A test without a cassette that expects the block: mark it @pytest.mark.block_network"
    assert text.count(expect) == 1, text
    assert suite.server.hits == 0
