"""Markers: cassette names and paths, shared cassettes, option merging, bad options, --help."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import Suite


def test_default_names_follow_pytest_recordings_layout(suite: Suite) -> None:
    suite.write(
        """
        @pytest.mark.cassette
        def test_plain():
            requests.get(URL + "/1")

        class TestOuter:
            class TestInner:
                @pytest.mark.cassette
                def test_nested(self):
                    requests.get(URL + "/2")

            @pytest.mark.cassette
            @pytest.mark.parametrize("value", ["a/b", 'q"x:y', "z" * 300, "k::v"], ids=lambda v: v)
            def test_param(self, value):
                requests.get(URL + "/3")
        """
    )
    suite.run().assert_outcomes(passed=6)
    names = sorted(p.name for p in (suite.path / "cassettes" / "test_suite").iterdir())
    long_names = [n for n in names if "zzzz" in n]
    assert [n for n in names if n not in long_names] == [
        "TestOuter.TestInner.test_nested.yaml",
        "TestOuter.test_param[a-b].yaml",
        "TestOuter.test_param[k--v].yaml",  # `::` of an id is no class: pytest-recording's name
        "TestOuter.test_param[q-x-y].yaml",
        "test_plain.yaml",
    ]
    assert len(long_names) == 1 and len(long_names[0].encode()) <= 240
    assert long_names[0].startswith("TestOuter.test_param[zzz")
    suite.run("--record-mode=none").assert_outcomes(passed=6)


# Where pytest-repeat is not installed, what it does for `--count N` (and `@pytest.mark.repeat(N)`): a parameter of its own,
# last, with the id `<step>-<N>`.
REPEAT = """
import pytest


def pytest_addoption(parser):
    parser.addoption("--count", type=int, default=1)


@pytest.fixture
def __pytest_repeat_step_number(request):
    return request.param


@pytest.hookimpl(trylast=True)
def pytest_generate_tests(metafunc):
    count = metafunc.config.option.count
    if count > 1:
        metafunc.fixturenames.append("__pytest_repeat_step_number")
        metafunc.parametrize(
            "__pytest_repeat_step_number", range(count), indirect=True, ids=lambda i: f"{i + 1}-{count}"
        )
"""


def test_repetitions_of_a_test_share_its_cassette(suite: Suite) -> None:
    # Each repetition had a cassette of its own (`test_plain[1-3].yaml`): `--count` in a
    # replay-only run failed every test with a missing cassette, and took the test's own files
    # for orphans, which --cassette-prune deleted.
    repeat = ["-p", "repeat"]  # the plugin itself where it is installed
    if importlib.util.find_spec("pytest_repeat") is None:
        suite.pytester.makeconftest(REPEAT)
        repeat = []
    suite.write(
        """
        @pytest.mark.cassette
        def test_plain():
            assert requests.get(URL + "/plain").status_code == 200

        @pytest.mark.cassette
        @pytest.mark.parametrize("city", ["1-3", "b"])
        def test_param(city):
            assert requests.get(URL + "/" + city).status_code == 200

        @pytest.mark.vcr  # pytest-recording's marker, its name
        def test_legacy():
            assert requests.get(URL + "/legacy").status_code == 200
        """
    )
    suite.run(*repeat, "--record-mode=once", "--count=2").assert_outcomes(passed=8)
    folder = suite.path / "cassettes" / "test_suite"
    files = ["test_legacy.yaml", "test_param[1-3].yaml", "test_param[b].yaml", "test_plain.yaml"]
    assert sorted(p.name for p in folder.iterdir()) == files
    assert suite.uris("test_plain") == [suite.server.url("/plain")]
    result = suite.run(*repeat, "--record-mode=none", "--count=3", "--cassette-prune")
    result.assert_outcomes(passed=12)
    result.stdout.fnmatch_lines(["*12 cassettes replayed (12 interactions)*"])
    assert "orphan" not in result.stdout.str()
    assert sorted(p.name for p in folder.iterdir()) == files


def test_cassette_dir_ini_and_fixture(suite: Suite) -> None:
    suite.pytester.makeini("[pytest]\ncassette_dir = recorded\n")
    suite.write(
        """
        @pytest.mark.cassette
        def test_one():
            requests.get(URL + "/1")
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert (suite.path / "recorded" / "test_suite" / "test_one.yaml").exists()


def test_shared_cassettes_first_is_recorded_into_the_rest_read_only(suite: Suite) -> None:
    suite.write(
        """
        @pytest.mark.cassette("login.yaml")
        def test_login():
            requests.get(URL + "/login")

        @pytest.mark.cassette("flow.yaml", "login.yaml")
        def test_flow(cassette):
            requests.get(URL + "/login")
            requests.get(URL + "/data")
            assert len(cassette.played) + len(cassette.recorded_requests) == 2
        """
    )
    suite.run("-p", "no:randomly").assert_outcomes(passed=2)
    login = (suite.path / "cassettes" / "login.yaml").read_text()
    assert "/login" in login and "/data" not in login
    flow = (suite.path / "cassettes" / "flow.yaml").read_text()
    assert "/data" in flow and "/login" not in flow
    assert suite.server.hits == 2
    suite.run("--record-mode=none").assert_outcomes(passed=2)


def test_list_options_extend_and_scalars_take_the_closest(suite: Suite) -> None:
    suite.write(
        """
        pytestmark = pytest.mark.cassette(filter_headers=["x-module"], record_mode="all")

        @pytest.fixture
        def cassette_config():
            return {"filter_headers": ["x-config"], "match_on": ["method", "path"]}

        @pytest.mark.cassette(filter_headers=["x-test"], record_mode="new_episodes")
        def test_merge(cassette):
            assert cassette.record_mode == "new_episodes"
            requests.get(
                URL + "/h", headers={"X-Module": "m", "X-Config": "c", "X-Test": "t", "X-Kept": "k"}
            )
        """
    )
    suite.run().assert_outcomes(passed=1)
    headers = suite.cassette("test_merge")["interactions"][0]["request"]["headers"]
    assert "X-Kept" in headers
    assert not {"X-Module", "X-Config", "X-Test"} & set(headers)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("record_modes='none'", "*unknown option 'record_modes'. Did you mean 'record_mode'?*"),
        ("record_mode='sometimes'", "*invalid record mode 'sometimes'*"),
        ("filter_headers='authorization'", "*option 'filter_headers' takes a list*"),
        (
            "match_on='method'",
            "*option 'match_on' takes a list, got str 'method': write match_on=[[]'method'[]].",
        ),
        ("custom_patches=[]", "*option 'custom_patches' is not supported*"),
        ("filter_sensitive_data=[]", "*option 'filter_sensitive_data' is not supported*scrub_*"),
        ("strict='yes'", "*option 'strict' takes True or False*"),
        ("42", "*cassette names must be strings*"),
    ],
)
def test_bad_marker_options_are_usage_errors(suite: Suite, marker: str, message: str) -> None:
    suite.write(
        f"""
        @pytest.mark.cassette({marker})
        def test_x():
            pass
        """
    )
    result = suite.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_bad_cassette_config_option_fails_the_test_naming_it(suite: Suite) -> None:
    suite.write(
        """
        @pytest.fixture
        def cassette_config():
            return {"matchon": ["method"]}

        @pytest.mark.cassette
        def test_x():
            pass
        """
    )
    result = suite.run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*cassette_config: unknown option 'matchon'*"])


def test_unknown_matcher_is_reported(suite: Suite) -> None:
    suite.write(
        """
        @pytest.mark.cassette(match_on=["method", "colour"])
        def test_x():
            pass
        """
    )
    suite.run().stdout.fnmatch_lines(["*colour*"])


def test_help_lists_the_options(suite: Suite) -> None:
    result = suite.run("--help")
    result.stdout.fnmatch_lines(
        ["*--record-mode*", "*--cassette-allow-hosts*", "*cassette_dir*", "*cassette_record_mode*"]
    )
    # As the README says: CI beats markers, a recording test gets through --block-network
    # (whose tests the allowed hosts are for too), and --cassette-disable leaves its guard on.
    text = " ".join(result.stdout.str().split())
    assert "a CI run (CI=true) forces none" in text
    assert "every test but cassette tests that record" in text
    assert "that guarded tests may still reach (replay-only runs, --block-network)" in text
    assert "nothing is replayed or recorded (guarded only under --block-network;" in text


def test_markers_are_registered(suite: Suite) -> None:
    suite.run("--markers").stdout.fnmatch_lines(["@pytest.mark.cassette(*names, **options):*"])


def test_pytest_recording_installed_beside_us_still_starts(suite: Suite) -> None:
    suite.write(
        """
        @pytest.mark.cassette
        def test_one():
            requests.get(URL + "/1")
        """
    )
    result = suite.run("-p", "recording", "--record-mode=once")
    result.assert_outcomes(passed=1)
    assert suite.cassette_path("test_one").exists()
    result = suite.run("-p", "no:recording", "--record-mode=none")
    result.assert_outcomes(passed=1)


def test_the_cassette_fixture_alone_activates_a_cassette(suite: Suite) -> None:
    suite.write(
        """
        def test_fixture_only(cassette):
            requests.get(URL + "/1")
            assert cassette.path.name == "test_fixture_only.yaml"
            assert len(cassette.recorded_requests) == 1

        def test_unmarked():
            requests.get(URL + "/2")
        """
    )
    suite.run().assert_outcomes(passed=2)
    assert suite.cassette_path("test_fixture_only").exists()
    assert not suite.cassette_path("test_unmarked").exists()
    assert suite.server.hits == 2


def test_the_cassette_fixture_tells_what_was_played_and_recorded(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.write(
        """
        @pytest.mark.cassette
        def test_api(cassette):
            requests.get(URL + "/users")
            if os.environ.get("REPLAYING"):
                assert [r.path for r in cassette.played] == ["/users"]
                assert cassette.recorded_requests == [] and not cassette.all_played
                assert [r.path for r in cassette.unused] == ["/groups"]
                return
            requests.get(URL + "/groups")
            assert cassette.played == [] and cassette.all_played
            assert [r.path for r in cassette.recorded_requests] == ["/users", "/groups"]
        """
    )
    suite.run().assert_outcomes(passed=1)
    monkeypatch.setenv("REPLAYING", "1")
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 2


def test_fixture_overrides_apply_to_marked_tests_that_do_not_ask_for_them(suite: Suite) -> None:
    # A marked test that takes no fixture gets cassette_config and cassette_dir without pytest's
    # fixture machinery, unless a conftest, module or class overrides them.
    sub = suite.path / "sub"
    sub.mkdir()
    (sub / "conftest.py").write_text(
        "import pytest\n"
        "@pytest.fixture\n"
        "def cassette_dir(request):\n"
        "    return request.config.rootpath / 'elsewhere'\n"
    )
    suite.write(
        """
        @pytest.mark.cassette
        def test_default():
            requests.get(URL + "/a", headers={"X-Drop": "1"})

        class TestConfigured:
            @pytest.fixture
            def cassette_config(self):
                return {"filter_headers": ["x-drop"]}

            @pytest.mark.cassette
            def test_in_class(self):
                requests.get(URL + "/b", headers={"X-Drop": "1"})
        """
    )
    suite.write(
        """
        @pytest.mark.cassette
        def test_moved():
            requests.get(URL + "/c")
        """,
        name="sub/test_sub",
    )
    suite.run().assert_outcomes(passed=3)
    kept = suite.cassette("test_default")["interactions"][0]["request"]["headers"]
    assert "X-Drop" in kept
    dropped = suite.cassette("TestConfigured.test_in_class")["interactions"][0]["request"]
    assert "X-Drop" not in dropped["headers"]
    moved = suite.path / "elsewhere" / "test_sub" / "test_moved.yaml"
    assert "/c" in moved.read_text()
    assert not (sub / "cassettes").exists()
    suite.run("--record-mode=none").assert_outcomes(passed=3)


def test_the_cassette_asked_for_from_the_test_body_is_the_active_one(suite: Suite) -> None:
    suite.write(
        """
        @pytest.mark.cassette
        def test_late(request):
            requests.get(URL + "/a")
            cassette = request.getfixturevalue("cassette")
            seen = cassette.recorded_requests + cassette.played  # recorded, then replayed
            assert [r.uri for r in seen] == [URL + "/a"]
            assert cassette.path.name == "test_late.yaml"
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert suite.uris("test_late") == [suite.server.url("/a")]
    suite.run("--record-mode=none").assert_outcomes(passed=1)


def test_a_doctest_marked_by_a_hook_gets_its_cassette(suite: Suite) -> None:
    # pytest 7 builds a doctest's request only after its fixtures are set up.
    (suite.path / "conftest.py").write_text(
        "import pytest\n"
        "def pytest_collection_modifyitems(items):\n"
        "    for item in items:\n"
        "        item.add_marker(pytest.mark.cassette)\n"
    )
    suite.write(
        '''
        def fetch():
            """
            >>> fetch()
            200
            """
            return requests.get(URL + "/doctest").status_code
        '''
    )
    suite.run("--doctest-modules").assert_outcomes(passed=1)
    assert suite.uris("test_suite.fetch") == [suite.server.url("/doctest")]
    suite.server.reset()
    suite.run("--doctest-modules", "--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
