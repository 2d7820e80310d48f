"""`pytest-cassettes migrate`: pytest-recording names rewritten, cassettes kept where they are."""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import pytest

from pytest_cassettes.migrate import migrate
from tests.conftest import Suite

SAMPLE_TEST = """\
import pytest
from pytest import mark

pytestmark = [pytest.mark.vcr(record_mode="once")]


@pytest.mark.vcr("login.yaml", "/abs/other.yaml", match_on=["method", "path"])
def test_flow(vcr_config, request):
    assert request.getfixturevalue("vcr_config") is vcr_config


@mark.vcr
@pytest.mark.default_cassette("custom")
def test_named():
    pass


class TestOuter:
    class TestInner:
        @pytest.mark.vcr()
        def test_nested(self):
            pass
"""
SAMPLE_CONFTEST = """\
import os

import pytest


@pytest.fixture
def vcr_config():
    return {"filter_headers": ["authorization"]}


def pytest_recording_configure(config, vcr):
    vcr.register_matcher("noop", lambda a, b: True)
"""
MIGRATED_TEST = """\
import pytest
from pytest import mark

pytestmark = [pytest.mark.cassette(record_mode="once")]


@pytest.mark.cassette(match_on=["method", "path"], shared=["test_sample/login.yaml", "/abs/other.yaml"])
def test_flow(cassette_config, request):
    assert request.getfixturevalue("cassette_config") is cassette_config


@mark.cassette
@pytest.mark.cassette("test_sample/custom.yaml")
def test_named():
    pass


class TestOuter:
    class TestInner:
        @pytest.mark.cassette()
        def test_nested(self):
            pass
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_sample.py").write_text(SAMPLE_TEST)
    (tmp_path / "tests" / "conftest.py").write_text(SAMPLE_CONFTEST)
    (tmp_path / "tests" / "test_other.py").write_text("def test_untouched():\n    pass\n")
    (tmp_path / "tests" / ".hidden").mkdir()
    (tmp_path / "tests" / ".hidden" / "test_h.py").write_text("import pytest\npytest.mark.vcr\n")
    return tmp_path


def test_dry_run_prints_a_diff_and_changes_nothing(tree: Path) -> None:
    out = io.StringIO()
    assert migrate([str(tree / "tests")], write=False, out=out) == 1
    text = out.getvalue()
    assert (tree / "tests" / "test_sample.py").read_text() == SAMPLE_TEST
    assert f"--- a/{tree}/tests/test_sample.py" in text
    assert '-@pytest.mark.vcr("login.yaml", "/abs/other.yaml", match_on' in text
    assert "+def cassette_config():" in text
    assert "+def pytest_cassettes_configure(config, vcr):" in text
    assert "test_other.py" not in text and ".hidden" not in text
    assert "nested class TestOuter.TestInner" in text
    assert text.endswith("would migrate 2 files\n")


def test_write_rewrites_and_a_second_run_finds_nothing(tree: Path) -> None:
    out = io.StringIO()
    assert migrate([str(tree / "tests")], write=True, out=out) == 0
    assert (tree / "tests" / "test_sample.py").read_text() == MIGRATED_TEST
    conftest = (tree / "tests" / "conftest.py").read_text()
    assert "def cassette_config():" in conftest
    assert "def pytest_cassettes_configure(config, vcr):" in conftest
    compile(conftest, "conftest.py", "exec")
    compile(MIGRATED_TEST, "test_sample.py", "exec")

    again = io.StringIO()
    assert migrate([str(tree / "tests")], write=False, out=again) == 0
    assert "would migrate 0 files" in again.getvalue()


def test_a_file_that_does_not_parse_is_reported(tmp_path: Path) -> None:
    (tmp_path / "test_bad.py").write_text("def broken(:\n")
    out = io.StringIO()
    assert migrate([str(tmp_path)], write=True, out=out) == 2
    assert "test_bad.py: error:" in out.getvalue()


def test_a_migrated_suite_replays_the_cassettes_recorded_before(suite: Suite) -> None:
    legacy = textwrap.dedent(
        """
        pytestmark = pytest.mark.vcr

        @pytest.fixture
        def vcr_config():
            return {"match_on": ["method", "path"]}

        class TestApi:
            def test_get(self):
                assert requests.get(URL + "/get").json()["path"] == "/get"

        @pytest.mark.default_cassette("login")
        def test_login():
            requests.get(URL + "/login")

        @pytest.mark.vcr("login.yaml")
        def test_flow():
            requests.get(URL + "/login")
            assert requests.get(URL + "/data").json()["path"] == "/data"
        """
    )
    path = suite.write(legacy, name="test_legacy")
    # Recorded by pytest-recording itself.
    result = suite.run("-p", "no:cassettes", "-p", "recording", "--record-mode=new_episodes")
    result.assert_outcomes(passed=3)
    hits = suite.server.hits

    out = io.StringIO()
    assert migrate([str(path)], write=True, out=out) == 0
    migrated = path.read_text()
    assert "mark.vcr" not in migrated and "vcr_config" not in migrated
    # In the quotes the source wrote: single ones failed a formatter's or linter's check.
    assert 'shared=["test_legacy/login.yaml"]' in migrated

    suite.run("-p", "no:recording", "--record-mode=none").assert_outcomes(passed=3)
    assert suite.server.hits == hits


def test_a_vcr_marker_naming_its_library_dir_is_left_with_a_note(tmp_path: Path) -> None:
    source = (
        "import pytest\n\n\n"
        '@pytest.mark.vcr(cassette_library_dir="tests/cassettes/flat")\n'
        "def test_flat():\n    pass\n"
    )
    (tmp_path / "test_flat.py").write_text(source)
    out = io.StringIO()
    assert migrate([str(tmp_path)], write=True, out=out) == 0
    assert (tmp_path / "test_flat.py").read_text() == source  # a cassette marker would refuse it
    assert "test_flat.py:4: @pytest.mark.vcr(cassette_library_dir=...) left as it is" in (
        out.getvalue()
    )


NAMING_CONFTEST = """\
import pytest


@pytest.fixture
def default_cassette_name(request):
    return request.node.name.lower()
"""


def test_a_default_cassette_name_override_leaves_the_vcr_markers_under_it(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    (tests / "named").mkdir(parents=True)
    (tests / "named" / "conftest.py").write_text(NAMING_CONFTEST)
    marked = (
        "import pytest\n\n\n"
        "@pytest.mark.vcr\n@pytest.mark.default_cassette('x')\ndef test_Health():\n    pass\n"
    )
    (tests / "named" / "test_a.py").write_text(marked)
    (tests / "test_b.py").write_text(marked)  # beside the conftest's directory: not under it
    out = io.StringIO()
    assert migrate([str(tests)], write=False, out=out) == 1
    text = out.getvalue()
    assert "conftest.py:5: default_cassette_name override left in place" in text
    assert "+# TODO(pytest-cassettes migrate): default_cassette_name names the cassettes" in text
    assert "named/test_a.py:4: vcr markers left as they are: their cassettes are named or " in (
        text
    )
    assert f"placed by the default_cassette_name fixture of {tests}/named/conftest.py:5" in text
    assert f"--- a/{tests}/named/test_a.py" not in text
    assert "-@pytest.mark.default_cassette('x')" in text  # test_b.py's
    assert text.endswith("would migrate 2 files\n")

    assert migrate([str(tests)], write=True, out=io.StringIO()) == 0
    assert (tests / "named" / "test_a.py").read_text() == marked
    conftest = (tests / "named" / "conftest.py").read_text()
    assert conftest.count("# TODO(pytest-cassettes migrate)") == 1
    assert "mark.vcr" not in (tests / "test_b.py").read_text()
    again = io.StringIO()
    assert migrate([str(tests)], write=False, out=again) == 0  # the TODO is not added twice
    assert "would migrate 0 files" in again.getvalue()


def test_a_default_cassette_name_override_above_a_plain_pyproject_is_found(
    tmp_path: Path,
) -> None:
    """pytest's rootdir is where a file configures it: a package's plain pyproject.toml below
    it is none, and the conftest.py above it applies (a review's finding)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(NAMING_CONFTEST)
    tests = tmp_path / "pkg" / "tests"
    tests.mkdir(parents=True)
    (tmp_path / "pkg" / "pyproject.toml").write_text("[project]\nname = 'pkg'\n")
    marked = "import pytest\n\n\n@pytest.mark.vcr\ndef test_Health():\n    pass\n"
    (tests / "test_a.py").write_text(marked)
    assert migrate([str(tests)], write=True, out=io.StringIO()) == 0
    assert (tests / "test_a.py").read_text() == marked
    (tmp_path / "pkg" / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    assert migrate([str(tests)], write=True, out=io.StringIO()) == 0  # its own rootdir now
    assert "mark.vcr" not in (tests / "test_a.py").read_text()


def test_a_suite_naming_its_cassettes_with_default_cassette_name_replays_after_migrate(
    suite: Suite,
) -> None:
    suite.pytester.makeconftest(NAMING_CONFTEST)
    legacy = """
        @pytest.mark.vcr
        def test_Health():
            assert requests.get(URL + "/health").json()["path"] == "/health"

        class TestApi:
            @pytest.mark.vcr
            @pytest.mark.parametrize("which", ["A"])
            def test_Get(self, which):
                requests.get(URL + "/get/" + which)
        """
    suite.write(legacy, name="test_legacy")
    # Recorded by pytest-recording itself, into names the conftest's fixture chose.
    result = suite.run("-p", "no:cassettes", "-p", "recording", "--record-mode=once")
    result.assert_outcomes(passed=2)
    assert (suite.path / "cassettes" / "test_legacy" / "test_health.yaml").is_file()
    hits = suite.server.hits

    assert migrate([str(suite.path)], write=True, out=io.StringIO()) == 0
    suite.run("-p", "no:recording", "--record-mode=none").assert_outcomes(passed=2)
    assert suite.server.hits == hits


PYTEST_VCR_DIR = """\
import os

import pytest


@pytest.fixture(scope="module")
def vcr_cassette_dir(request):
    return os.path.join(os.path.dirname(request.module.__file__), "cassettes")
"""


def test_a_vcr_cassette_dir_override_leaves_the_vcr_markers_under_it(tmp_path: Path) -> None:
    """Rewritten to `cassette`, the tests under it would look in cassettes/<module>/ and miss
    every file the override placed (an adopter's pytest-vcr suite: all of them, flat)."""
    tests = tmp_path / "tests"
    (tests / "placed").mkdir(parents=True)
    (tests / "placed" / "conftest.py").write_text(PYTEST_VCR_DIR)
    marked = "import pytest\n\n\n@pytest.mark.vcr\ndef test_page():\n    pass\n"
    (tests / "placed" / "test_a.py").write_text(marked)
    (tests / "test_b.py").write_text(marked)  # not under the override
    out = io.StringIO()
    assert migrate([str(tests)], write=False, out=out) == 1
    text = out.getvalue()
    assert "placed/conftest.py:7: vcr_cassette_dir override left in place" in text
    assert f"placed by the vcr_cassette_dir fixture of {tests}/placed/conftest.py:7" in text
    assert migrate([str(tests)], write=True, out=io.StringIO()) == 0
    assert (tests / "placed" / "test_a.py").read_text() == marked
    assert "mark.vcr" not in (tests / "test_b.py").read_text()
    conftest = (tests / "placed" / "conftest.py").read_text()
    assert "# TODO(pytest-cassettes migrate): vcr_cassette_dir places the cassettes" in conftest
    again = io.StringIO()
    assert migrate([str(tests)], write=True, out=again) == 0
    assert (tests / "placed" / "conftest.py").read_text() == conftest  # one TODO


def test_a_pytest_vcr_suite_replays_its_flat_cassettes_after_migrate(suite: Suite) -> None:
    """pytest-vcr's cassettes are cassettes/<test>.yaml; the README's override keeps them there
    for `vcr` tests, and `migrate` must not move the tests to our marker's per-module names."""
    suite.pytester.makeconftest(PYTEST_VCR_DIR)
    suite.write(
        """
        @pytest.mark.vcr
        def test_page():
            assert requests.get(URL + "/page").json()["path"] == "/page"
        """,
        name="test_crawl",
    )
    # Recorded as pytest-vcr lays them out (pytest-recording with the same override).
    result = suite.run("-p", "no:cassettes", "-p", "recording", "--record-mode=once")
    result.assert_outcomes(passed=1)
    assert (suite.path / "cassettes" / "test_page.yaml").is_file()
    hits = suite.server.hits

    out = io.StringIO()
    assert migrate([str(suite.path)], write=True, out=out) == 0
    assert "moved" not in out.getvalue()  # the override keeps them where they are
    assert not (suite.path / "cassettes" / "test_crawl").exists()
    result = suite.run("-p", "no:recording", "--record-mode=none")
    result.assert_outcomes(passed=1)
    assert suite.server.hits == hits


def test_a_test_recorded_anew_beside_its_pytest_vcr_cassette_is_named_in_the_report(
    suite: Suite,
) -> None:
    """Without the override, a local run (`once`) records pytest-vcr's tests anew into the
    per-module folder, silently: the summary names each beside the flat file it did not use."""
    flat = suite.path / "cassettes" / "test_page.yaml"
    flat.parent.mkdir()
    flat.write_text("interactions: []\nversion: 1\n")
    suite.write(
        """
        @pytest.mark.cassette
        def test_page():
            assert requests.get(URL + "/page").json()["path"] == "/page"

        @pytest.mark.cassette
        def test_other():
            assert requests.get(URL + "/other").status_code == 200
        """
    )
    report = suite.path / "report.json"
    result = suite.run("--record-mode=once", f"--cassette-report={report}")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "1 cassette recorded anew where pytest-vcr's file for the test is *delete the new "
            "files and move pytest-vcr's there with `pytest-cassettes migrate --write`*",
            "  cassettes/test_suite/test_page.yaml (pytest-vcr's: cassettes/test_page.yaml)",
        ]
    )
    beside = json.loads(report.read_text())["recorded_beside_pytest_vcr_cassettes"]
    assert beside == {"cassettes/test_suite/test_page.yaml": "cassettes/test_page.yaml"}
    suite.server.reset()
    again = suite.run("--record-mode=once")  # replayed: nothing recorded anew, nothing told
    again.assert_outcomes(passed=2)
    assert "pytest-vcr's file" not in again.stdout.str()


def test_a_file_without_a_last_newline_ends_its_diff_as_diff_does(tmp_path: Path) -> None:
    (tmp_path / "test_end.py").write_text(
        "import pytest\n\n\n@pytest.mark.vcr\ndef test_x():\n    pass"
    )
    out = io.StringIO()
    assert migrate([str(tmp_path)], write=False, out=out) == 1
    assert "     pass\n\\ No newline at end of file\n" in out.getvalue()
    assert out.getvalue().endswith("\nwould migrate 1 file\n")


def test_files_pytest_recording_names_otherwise_are_renamed_to_ours(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A nested class's (pytest-recording names it after the innermost class) and a long id's
    (pytest-recording keeps up to 255 bytes, we cut at 240): the migrated tests missed them."""
    legacy = """
        pytestmark = pytest.mark.vcr

        class TestOuter:
            class TestInner:
                def test_deep(self):
                    assert requests.get(URL + "/deep").json()["path"] == "/deep"

        @pytest.mark.parametrize("word", ["w"], ids=["w" * 230])
        def test_long(word):
            assert requests.get(URL + "/long").json()["path"] == "/long"
        """
    suite.write(legacy, name="test_legacy")
    result = suite.run("-p", "no:cassettes", "-p", "recording", "--record-mode=once")
    result.assert_outcomes(passed=2)
    folder = suite.path / "cassettes" / "test_legacy"
    long = f"test_long[{'w' * 230}].yaml"
    assert {p.name for p in folder.iterdir()} == {"TestInner.test_deep.yaml", long}
    hits = suite.server.hits

    out = io.StringIO()
    assert migrate([str(suite.path)], write=True, out=out) == 0
    assert (
        f"moved {folder}/TestInner.test_deep.yaml -> {folder}/TestOuter.TestInner.test_deep.yaml\n"
    ) in out.getvalue()
    assert "nested class" not in out.getvalue()  # renamed, nothing left to do
    assert len(list(folder.iterdir())) == 2 and not (folder / long).exists()

    monkeypatch.setenv("CI", "true")
    suite.run("-p", "no:recording", "--block-network").assert_outcomes(passed=2)
    assert suite.server.hits == hits


CLASS_NAMED = """
    @pytest.fixture
    def vcr_config():
        return {"match_on": ["method", "path"]}

    @pytest.mark.vcr
    def test_plain():
        assert requests.get(URL + "/plain").json()["path"] == "/plain"

    @pytest.mark.vcr
    class TestConfigured:
        @pytest.fixture
        def vcr_config(self):
            return {"match_on": ["method", "path", "query"]}

        def test_a(self):
            assert requests.get(URL + "/a?x=1").json()["path"] == "/a?x=1"

    class TestNamed:
        @pytest.fixture
        def default_cassette_name(self, request):
            return "named-" + request.node.name

        @pytest.mark.vcr
        def test_b(self):
            assert requests.get(URL + "/b").json()["path"] == "/b"

    class TestNamedToo(TestNamed):
        @pytest.mark.vcr
        def test_c(self):
            assert requests.get(URL + "/c").json()["path"] == "/c"
    """


def test_a_class_s_naming_fixture_leaves_only_the_tests_under_it_on_vcr(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A class's default_cassette_name names the cassettes of its tests (and its subclasses')
    only: the module's other tests move to our marker (they all stayed on vcr)."""
    path = suite.write(CLASS_NAMED, name="test_legacy")
    result = suite.run("-p", "no:cassettes", "-p", "recording", "--record-mode=once")
    result.assert_outcomes(passed=5)  # TestNamedToo runs test_b too
    folder = suite.path / "cassettes" / "test_legacy"
    assert (folder / "named-test_b.yaml").is_file() and (folder / "named-test_c.yaml").is_file()
    hits = suite.server.hits

    out = io.StringIO()
    assert migrate([str(path)], write=True, out=out) == 0
    migrated = path.read_text()
    assert migrated.count("@pytest.mark.cassette\n") == 2  # test_plain's, TestConfigured's
    assert migrated.count("@pytest.mark.vcr\n") == 2  # test_b's, test_c's
    assert "def cassette_config(self):" in migrated
    assert (
        f"{path}:30: vcr markers of TestNamed, TestNamedToo left as they are: their cassettes "
        f"are named or placed by the default_cassette_name fixture of {path}:27,"
    ) in out.getvalue()

    monkeypatch.setenv("CI", "true")
    suite.run("-p", "no:recording").assert_outcomes(passed=5)
    assert suite.server.hits == hits


def test_markers_the_tests_under_a_class_s_naming_fixture_carry_are_left_too(
    tmp_path: Path,
) -> None:
    """A test carrying both vcr and cassette markers is refused: the markers of a base class,
    of a class around, and of the module (pytestmark) stay with the tests they apply to."""
    source = (
        "import pytest\n\n\n"
        "@pytest.mark.vcr\nclass Base:\n    def test_base(self):\n        pass\n\n\n"
        "class TestSub(Base):\n"
        "    @pytest.fixture\n    def default_cassette_name(self, request):\n"
        "        return 'x-' + request.node.name\n\n\n"
        "@pytest.mark.vcr\nclass TestOuter:\n    class TestInner:\n"
        "        @pytest.fixture\n        def vcr_cassette_dir(self):\n            return 'x'\n\n"
        "        def test_inner(self):\n            pass\n\n\n"
        "class TestFree:\n    @pytest.mark.vcr\n    def test_free(self):\n        pass\n"
    )
    for top, said in (
        ("", "of TestSub, TestOuter.TestInner (and of Base, TestOuter, whose markers they carry)"),
        (
            "pytestmark = pytest.mark.vcr\n\n\ndef test_top():\n    pass\n\n\n",
            "of the whole module (markers at its top level, such as pytestmark, apply to the "
            "tests of TestSub, TestOuter.TestInner too)",
        ),
    ):
        (tmp_path / "test_a.py").write_text(source.replace("\n\n\n", f"\n\n\n{top}", 1))
        out = io.StringIO()
        assert migrate([str(tmp_path)], write=True, out=out) == 0
        assert f"vcr markers {said} left as they are" in out.getvalue()
        migrated = (tmp_path / "test_a.py").read_text()
        if top:
            assert "@pytest.mark.cassette\n" not in migrated
        else:
            assert migrated.count("@pytest.mark.vcr\n") == 2  # Base's, TestOuter's
            assert "    @pytest.mark.cassette\n    def test_free" in migrated


# A pytest-recording project as its users write one: a vcr_config filtering headers and
# dropping cookies, a matcher of its own, markers on modules, classes and tests (record modes,
# a named cassette, a shared one), the `vcr` fixture, block_network under --block-network.
PROJECT_CONFTEST = """\
import pytest

TOKEN = "sk-live-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"


def _drop_cookies(response):
    response["headers"].pop("Set-Cookie", None)
    return response


@pytest.fixture(scope="module")
def vcr_config():
    return {
        "filter_headers": ["authorization", ("x-api-key", "DUMMY")],
        "filter_query_parameters": ["token"],
        "before_record_response": _drop_cookies,
    }


@pytest.fixture
def auth():
    return {"Authorization": f"Bearer {TOKEN}", "X-Api-Key": TOKEN}


def pytest_recording_configure(config, vcr):
    vcr.register_matcher("path_only", lambda a, b: a.path == b.path)
"""
PROJECT_USERS = """
pytestmark = pytest.mark.vcr

def test_list(auth):
    assert requests.get(URL + "/users", headers=auth).json()["path"] == "/users"

@pytest.mark.parametrize("user", [1, 2])
def test_get(auth, user):
    assert requests.get(f"{URL}/users/{user}", headers=auth).json()["path"] == f"/users/{user}"

@pytest.mark.vcr(record_mode="new_episodes")
def test_create(auth):
    answer = requests.post(URL + "/users?token=abc123", json={"name": "ada"}, headers=auth)
    assert answer.json()["method"] == "POST"

class TestSession:
    def test_login(self):
        assert requests.get(URL + "/login").json() == {}  # its cookie never recorded

    @pytest.mark.default_cassette("session-refresh")
    def test_refresh(self, auth):
        assert requests.post(URL + "/refresh", headers=auth).status_code == 200

def test_played(vcr):
    requests.get(URL + "/ping")
    assert vcr.play_count in (0, 1)
"""
PROJECT_SEARCH = """
import httpx

@pytest.mark.vcr(match_on=["method", "path_only"])
class TestSearch:
    def test_search(self, auth):
        with httpx.Client(headers=auth) as client:
            assert client.get(URL + "/search", params={"q": "ada"}).status_code == 200

    def test_pages(self, auth):
        with httpx.Client(headers=auth) as client:
            assert client.get(URL + "/search", params={"page": 2}).status_code == 200

@pytest.mark.vcr("login.yaml", record_mode="once")
def test_me(auth):
    assert httpx.get(URL + "/me", headers=auth).status_code == 200

@pytest.mark.block_network
def test_offline():
    with pytest.raises(RuntimeError, match="Network is disabled"):
        httpx.get(URL + "/never")
"""


def test_a_pytest_recording_project_replays_offline_and_is_told_what_is_left(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.pytester.makepyprojecttoml(
        '[project]\nname = "acme"\noptional-dependencies = {test = ["pytest-recording"]}\n\n'
        '[tool.pytest.ini_options]\naddopts = "--block-network"\n'
    )
    (suite.path / "requirements-dev.txt").write_text("requests\npytest_recording==0.13.2\n")
    suite.pytester.makeconftest(PROJECT_CONFTEST)
    suite.server.route("/login", body="{}", headers={"Set-Cookie": "session=s3cr3t-cookie"})
    users = suite.write(PROJECT_USERS, name="test_users")
    search = suite.write(PROJECT_SEARCH, name="test_search")
    # In a process of its own: pytest-recording's --block-network leaves socket.socket with a
    # `connect` of its own (the original, put back as an attribute of the class).
    record = ("-p", "no:cassettes", "-p", "recording", "-p", "no:cacheprovider")
    result = suite.pytester.runpytest_subprocess(*record, "--record-mode=once")
    result.assert_outcomes(passed=11)
    cassettes = suite.path / "cassettes"
    (cassettes / "test_search" / "test_me.yaml").rename(cassettes / "test_search" / "login.yaml")
    hits = suite.server.hits

    out = io.StringIO()
    assert migrate([str(suite.path)], write=True, out=out) == 0
    said = out.getvalue()
    assert "pytest-recording is installed: uninstall it once migrated" in said
    assert "\npyproject.toml: names pytest-recording: replace it by pytest-cassettes\n" in said
    assert "\nrequirements-dev.txt: names pytest-recording: replace it by " in said
    # the Bearer token the echo answers hold (filter_headers cleans the request only)
    assert "\n8 cassettes hold what looks like secrets (pytest-recording and vcrpy scrub " in said
    assert f"`pytest-cassettes scan {cassettes}` lists them" in said
    assert "mark.vcr" not in users.read_text() + search.read_text()

    suite.server.stop()
    monkeypatch.setenv("CI", "true")
    suite.run("-p", "no:recording").assert_outcomes(passed=11)
    assert suite.server.hits == hits


def test_a_fixture_recording_with_vcrpy_itself_is_told_what_to_write(tmp_path: Path) -> None:
    # The usual login of pytest-recording suites, a session fixture around vcrpy's own
    # use_cassette, went through migrate without a word: its file stays unscrubbed (password,
    # token, session cookie), which only a later recording run's summary told.
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(
            """\
            import pytest
            import vcr
            from vcr import VCR, use_cassette as vcr_cassette

            @pytest.fixture(scope="session")
            def token():
                my_vcr = vcr.VCR(cassette_library_dir="tests/cassettes")
                with my_vcr.use_cassette("login.yaml"):
                    return "t"

            @pytest.fixture
            def other():
                with vcr.use_cassette("other.yaml"), vcr_cassette("third.yaml"):
                    pass
                with VCR().use_cassette("fourth.yaml"):
                    pass
            """
        )
    )
    (tmp_path / "test_a.py").write_text(
        "import pytest_cassettes\n\n\n"
        "def test_x(request):\n"
        "    with pytest_cassettes.use_cassette(request, 'mine.yaml'):\n"
        "        pass\n"
    )
    out = io.StringIO()
    migrate([str(tmp_path)], write=False, out=out)
    told = [line for line in out.getvalue().splitlines() if "vcrpy's own use_cassette" in line]
    assert [line.split(": ", 1)[0] for line in told] == [
        f"{tmp_path}/conftest.py:{n}" for n in (8, 13, 13, 15)
    ]
    assert '`pytest_cassettes.use_cassette(request, "login.yaml")`' in told[0]
    assert "unscrubbed" in told[0]


def test_a_default_cassette_beside_a_bare_vcr_marker_becomes_one_cassette_marker(
    suite: Suite,
) -> None:
    # `@pytest.mark.default_cassette("x")` always comes with `@pytest.mark.vcr`: migrated,
    # the test carried two cassette markers, `@pytest.mark.cassette("m/x.yaml")` and a bare
    # `@pytest.mark.cassette`, where the README's table shows one.
    path = suite.write(
        """
        @pytest.mark.default_cassette("shared")
        @pytest.mark.vcr
        def test_one():
            requests.get(URL + "/shared")

        @pytest.mark.vcr()
        @pytest.mark.default_cassette("shared")
        def test_two():
            requests.get(URL + "/shared")

        @pytest.mark.default_cassette("shared")
        @pytest.mark.vcr(record_mode="once")
        def test_three():
            requests.get(URL + "/shared")
        """,
        name="test_named",
    )
    suite.run("-p", "no:recording").assert_outcomes(passed=3)
    assert migrate([str(path)], write=True, out=io.StringIO()) == 0
    migrated = path.read_text()
    assert migrated.count('@pytest.mark.cassette("test_named/shared.yaml")\ndef test_one') == 1
    assert migrated.count('@pytest.mark.cassette("test_named/shared.yaml")\ndef test_two') == 1
    # A marker with options keeps them, beside the name. (A bare `@mark.vcr` whose `mark`,
    # imported from pytest, is used nowhere else stays too, as `@mark.cassette`: dropped, it
    # left `from pytest import mark` unused, which a project's linter then failed.)
    assert '@pytest.mark.cassette(record_mode="once")\ndef test_three' in migrated
    hits = suite.server.hits
    suite.run("-p", "no:recording", "--record-mode=none").assert_outcomes(passed=3)
    assert suite.server.hits == hits
