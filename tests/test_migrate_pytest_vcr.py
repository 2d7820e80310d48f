"""`pytest-cassettes migrate` moves pytest-vcr's flat cassettes (`cassettes/<test>.yaml`) to
the per-module names the migrated tests look for."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pytest_cassettes.cli import main
from pytest_cassettes.migrate import cassette_dir as migrate_cassette_dir
from pytest_cassettes.migrate import migrate
from tests.conftest import Suite
from tests.test_migrate import CLASS_NAMED

# pytest-vcr's own fixtures (1.0.2: `vcr_cassette_dir` and `vcr_cassette_name`, as it writes
# them), its name under pytest-recording's too: with them pytest-recording records where
# pytest-vcr did, with pytest-vcr's names (no character replaced, a module's
# `vcr_cassette_name` override honoured). The suites delete this file once recorded: a
# pytest-vcr project has none of it.
PYTEST_VCR_LAYOUT = """\
import os

import pytest


@pytest.fixture(scope="module")
def vcr_cassette_dir(request):
    return os.path.join(os.path.dirname(request.module.__file__), "cassettes")


@pytest.fixture
def vcr_cassette_name(request):
    test_class = request.cls
    if test_class:
        return "{}.{}".format(test_class.__name__, request.node.name)
    return request.node.name


@pytest.fixture
def default_cassette_name(vcr_cassette_name):
    return vcr_cassette_name
"""

CRAWL = """
@pytest.mark.vcr
def test_page():
    assert requests.get(URL + "/page").json()["path"] == "/page"

@pytest.mark.vcr
@pytest.mark.parametrize("which", ["a", "b:c"])
def test_item(which):
    assert requests.get(URL + "/item/" + which).json()["path"] == "/item/" + which

@pytest.mark.vcr
class TestApi:
    def test_get(self):
        assert requests.get(URL + "/get").status_code == 200

    class TestInner:
        def test_deep(self):
            assert requests.get(URL + "/deep").status_code == 200
"""
SEARCH = """
pytestmark = pytest.mark.vcr

def test_page():  # the name of test_crawl.py's: pytest-vcr gave both one file
    assert requests.get(URL + "/page").json()["path"] == "/page"
"""
# pytest-vcr's other way in: asking for its `vcr_cassette` fixture, no marker.
FIXTURE_STYLE = """
def test_fixture(vcr_cassette):
    assert requests.get(URL + "/fixture").status_code == 200
"""

FLAT = {
    "test_page.yaml",
    "test_item[a].yaml",
    "test_item[b:c].yaml",
    "TestApi.test_get.yaml",
    "TestInner.test_deep.yaml",
    "test_fixture.yaml",
}
MOVED = {
    "test_crawl/test_page.yaml",
    "test_crawl/test_item[a].yaml",
    "test_crawl/test_item[b-c].yaml",
    "test_crawl/TestApi.test_get.yaml",
    "test_crawl/TestApi.TestInner.test_deep.yaml",
    "test_search/test_page.yaml",
    "test_fixture_style/test_fixture.yaml",
}


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def record_as_pytest_vcr(suite: Suite) -> int:
    """Record the three modules where pytest-vcr put their cassettes; the server's hits."""
    conftest = suite.pytester.makeconftest(PYTEST_VCR_LAYOUT)
    suite.write(CRAWL, name="test_crawl")
    suite.write(SEARCH, name="test_search")
    # pytest-recording opens a cassette for marked tests only: recorded marked, then written
    # as pytest-vcr's users write it.
    marked = FIXTURE_STYLE.replace(
        "def test_fixture(vcr_cassette)", "@pytest.mark.vcr\ndef test_fixture()"
    )
    suite.write(marked, name="test_fixture_style")
    result = suite.run("-p", "no:cassettes", "-p", "recording", "--record-mode=once")
    result.assert_outcomes(passed=7)
    suite.write(FIXTURE_STYLE, name="test_fixture_style")
    conftest.unlink()
    assert _files(suite.path / "cassettes") == FLAT
    return suite.server.hits


def test_a_pytest_vcr_suite_replays_offline_once_migrate_moved_its_cassettes(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    hits = record_as_pytest_vcr(suite)
    cassettes = suite.path / "cassettes"
    (cassettes / "login.yaml").write_text("interactions: []\nversion: 1\n")  # no test's

    dry = io.StringIO()
    assert migrate([str(suite.path)], write=False, out=dry) == 1
    assert _files(cassettes) == FLAT | {"login.yaml"}  # a dry run moves nothing
    text = dry.getvalue()
    assert (
        f"would move {cassettes}/test_item[b:c].yaml -> {cassettes}/test_crawl/test_item[b-c].yaml\n"
        in text
    )
    assert (
        f"would move {cassettes}/TestInner.test_deep.yaml -> "
        f"{cassettes}/test_crawl/TestApi.TestInner.test_deep.yaml\n"
    ) in text
    assert (
        f"would copy {cassettes}/test_page.yaml -> {cassettes}/test_crawl/test_page.yaml, "
        f"{cassettes}/test_search/test_page.yaml\n"
    ) in text
    assert f"{cassettes}/login.yaml: left where it is: no migrated test" in text
    assert text.endswith("would migrate 2 files, move 5 cassettes, copy 1 cassette\n")

    out = io.StringIO()
    assert migrate([str(suite.path)], write=True, out=out) == 0
    assert _files(cassettes) == MOVED | {"login.yaml"}
    assert f"moved {cassettes}/test_fixture.yaml -> " in out.getvalue()
    assert out.getvalue().endswith("migrated 2 files, moved 5 cassettes, copied 1 cassette\n")

    monkeypatch.setenv("CI", "true")
    result = suite.run("-p", "no:recording", "--block-network")
    result.assert_outcomes(passed=7)
    assert suite.server.hits == hits

    again = io.StringIO()
    assert migrate([str(suite.path)], write=False, out=again) == 0
    assert "would move" not in again.getvalue() and "would copy" not in again.getvalue()


PAGE = """
@pytest.mark.vcr
def test_page():
    assert requests.get(URL + "/page").json()["path"] == "/page"
"""
FLAT_DIR = """
@pytest.fixture(scope="module")
def vcr_cassette_dir(request):
    return os.path.join(os.path.dirname(request.module.__file__), "cassettes")
"""


def test_a_flat_file_a_test_left_on_vcr_reads_is_copied_not_moved(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """test_kept.py keeps pytest-vcr's layout with the README's override (migrate leaves its
    marker): the file is copied for test_moved.py's test of the same name, and stays."""
    suite.write(FLAT_DIR + PAGE, name="test_kept")
    suite.write(FLAT_DIR + PAGE, name="test_moved")
    result = suite.run("-p", "no:cassettes", "-p", "recording", "--record-mode=once")
    result.assert_outcomes(passed=2)
    suite.write(PAGE, name="test_moved")  # as pytest-vcr's users wrote it
    hits = suite.server.hits
    cassettes = suite.path / "cassettes"

    out = io.StringIO()
    assert migrate([str(suite.path)], write=True, out=out) == 0
    assert _files(cassettes) == {"test_page.yaml", "test_moved/test_page.yaml"}
    text = out.getvalue()
    assert f"copied {cassettes}/test_page.yaml -> {cassettes}/test_moved/test_page.yaml\n" in text
    assert (
        f"{cassettes}/test_page.yaml: kept: {suite.path}/test_kept.py::test_page (left on vcr "
        "under an override) may still read it\n"
    ) in text
    assert "pytest.mark.vcr" in (suite.path / "test_kept.py").read_text()

    monkeypatch.setenv("CI", "true")
    suite.run("-p", "no:recording", "--block-network").assert_outcomes(passed=2)
    assert suite.server.hits == hits


def test_a_suite_with_our_cassette_dir_option_gets_its_cassettes_there(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.pytester.makeconftest(PYTEST_VCR_LAYOUT)
    suite.write(PAGE, name="test_crawl")
    result = suite.run("-p", "no:cassettes", "-p", "recording", "--record-mode=once")
    result.assert_outcomes(passed=1)
    (suite.path / "conftest.py").unlink()
    suite.pytester.makeini("[pytest]\ncassette_dir = recorded\n")
    hits = suite.server.hits

    assert migrate([str(suite.path)], write=True, out=io.StringIO()) == 0
    assert _files(suite.path / "recorded") == {"test_crawl/test_page.yaml"}
    assert not (suite.path / "cassettes" / "test_page.yaml").exists()
    monkeypatch.setenv("CI", "true")
    suite.run("-p", "no:recording", "--block-network").assert_outcomes(passed=1)
    assert suite.server.hits == hits


CASSETTE = "interactions: []\nversion: 1\n"


def _flat_project(tmp_path: Path, source: str, *flat: str) -> Path:
    (tmp_path / "test_a.py").write_text("import pytest\n\n" + source)
    (tmp_path / "cassettes").mkdir()
    for name in flat:
        (tmp_path / "cassettes" / name).write_text(CASSETTE)
    return tmp_path / "cassettes"


def test_a_file_already_at_the_destination_is_never_overwritten(tmp_path: Path) -> None:
    cassettes = _flat_project(
        tmp_path,
        "@pytest.mark.vcr\ndef test_new():\n    pass\n\n\n"
        "@pytest.mark.vcr\ndef test_same():\n    pass\n",
        "test_new.yaml",
        "test_same.yaml",
    )
    (cassettes / "test_a").mkdir()
    (cassettes / "test_a" / "test_new.yaml").write_text("recorded anew\n")
    (cassettes / "test_a" / "test_same.yaml").write_text(CASSETTE)  # moved by hand

    dry = io.StringIO()
    assert migrate([str(tmp_path)], write=False, out=dry) == 1
    out = io.StringIO()
    assert migrate([str(tmp_path)], write=True, out=out) == 0
    assert (cassettes / "test_a" / "test_new.yaml").read_text() == "recorded anew\n"
    assert _files(cassettes) == {"test_new.yaml", "test_a/test_new.yaml", "test_a/test_same.yaml"}
    text = out.getvalue()
    assert (
        f"{cassettes}/test_new.yaml: kept, not copied to {cassettes}/test_a/test_new.yaml: another "
        "file is there (recorded anew?); compare them, keep one, delete the other\n"
    ) in text
    assert f"removed {cassettes}/test_same.yaml: the same file is at " in text
    assert text.endswith("migrated 1 file, moved 1 cassette\n")
    assert f"would remove {cassettes}/test_same.yaml" in dry.getvalue()
    assert dry.getvalue().endswith("would migrate 1 file, move 1 cassette\n")

    again = io.StringIO()  # the conflict is told again, nothing is pending
    assert migrate([str(tmp_path)], write=False, out=again) == 0
    assert "another file is there" in again.getvalue()


def test_files_of_tests_that_name_their_cassette_or_were_not_given_stay(tmp_path: Path) -> None:
    cassettes = _flat_project(
        tmp_path,
        '@pytest.mark.vcr(cassette_library_dir="cassettes")\ndef test_placed():\n    pass\n\n\n'
        "@pytest.mark.vcr\ndef test_shared():\n    pass\n\n\n"
        "def test_no_cassette():\n    pass\n",
        "test_placed.yaml",
        "test_shared.yaml",
        "test_no_cassette.yaml",
    )
    (tmp_path / "test_b.py").write_text(
        "import pytest\n\n\n@pytest.mark.vcr\ndef test_shared():\n    pass\n"
    )
    out = io.StringIO()
    assert migrate([str(tmp_path / "test_a.py")], write=True, out=out) == 0
    assert _files(cassettes) == {
        "test_placed.yaml",
        "test_shared.yaml",
        "test_no_cassette.yaml",
        "test_a/test_shared.yaml",
    }
    text = out.getvalue()
    assert "test_placed.yaml" not in text  # its marker places it: neither moved nor told
    assert (
        f"{cassettes}/test_shared.yaml: kept: {tmp_path}/test_b.py::test_shared (not given to "
        "migrate) may still read it\n"
    ) in text
    assert f"{cassettes}/test_no_cassette.yaml: left where it is: no migrated test" in text


def test_a_class_s_and_module_s_marks_and_fixtures_give_tests_their_cassette() -> None:
    import ast

    from pytest_cassettes.migrate import cassette_tests
    from pytest_cassettes.migrate_moves import DefinedTest

    source = """
import pytest

@pytest.mark.vcr
class TestA:
    pytestmark = [pytest.mark.default_cassette("x")]

    def test_named(self):
        pass

class TestB:
    pytestmark = pytest.mark.cassette

    class TestC:
        def test_deep(self):
            pass

@pytest.mark.usefixtures("vcr_cassette")
def test_used():
    pass

def test_asked(cassette):
    pass

@pytest.mark.cassette("other.yaml")
def test_other():
    pass

def test_plain():
    pass
"""
    default, named = cassette_tests(ast.parse(source))
    assert default == [
        DefinedTest(("TestB", "TestC"), "test_deep"),
        DefinedTest((), "test_used"),
        DefinedTest((), "test_asked"),
    ]
    assert named == [DefinedTest(("TestA",), "test_named"), DefinedTest((), "test_other")]
    deep = default[0]
    assert deep.our_name("TestC.test_deep.yaml") == "TestB.TestC.test_deep.yaml"
    assert deep.our_name("TestC.test_deep[1/2].yaml") == "TestB.TestC.test_deep[1-2].yaml"
    assert deep.our_name("TestC.test_deeper.yaml") is None
    assert deep.our_name("TestB.TestC.test_deep.yaml") is None


def test_a_suite_migrated_before_migrate_moved_cassettes_gets_them_moved(tmp_path: Path) -> None:
    """Its markers are ours already: the files move, nothing else changes."""
    cassettes = _flat_project(
        tmp_path,
        "pytestmark = pytest.mark.cassette\n\n\nclass TestApi:\n    def test_get(self):\n"
        "        pass\n",
        "TestApi.test_get.yaml",
    )
    dry = io.StringIO()
    assert migrate([str(tmp_path)], write=False, out=dry) == 1
    assert dry.getvalue().startswith(
        f"would move {cassettes}/TestApi.test_get.yaml -> "
        f"{cassettes}/test_a/TestApi.test_get.yaml\n"
    )
    assert dry.getvalue().endswith("\nwould migrate 0 files, move 1 cassette\n")
    assert migrate([str(tmp_path)], write=True, out=io.StringIO()) == 0
    assert _files(cassettes) == {"test_a/TestApi.test_get.yaml"}


def test_two_flat_files_of_one_new_name_are_not_moved_over_each_other(tmp_path: Path) -> None:
    # Parameter ids that differ only in characters our names replace (`a:b`, `a|b`) are two
    # files of pytest-vcr's and one of ours: the second was renamed over the first, lost.
    cassettes = _flat_project(
        tmp_path,
        '@pytest.mark.vcr\n@pytest.mark.parametrize("q", ["a:b", "a|b"])\n'
        "def test_q(q):\n    pass\n",
        "test_q[a:b].yaml",
        "test_q[a|b].yaml",
    )
    (cassettes / "test_q[a|b].yaml").write_text(CASSETTE.replace("1", "2"))
    out = io.StringIO()
    assert migrate([str(tmp_path)], write=True, out=out) == 0
    assert _files(cassettes) == {"test_a/test_q[a-b].yaml", "test_q[a|b].yaml"}
    assert (cassettes / "test_a" / "test_q[a-b].yaml").read_text() == CASSETTE
    assert (
        f"{cassettes}/test_q[a|b].yaml: kept, not moved to {cassettes}/test_a/test_q[a-b].yaml: "
        f"{cassettes}/test_q[a:b].yaml goes there (pytest-cassettes gives those tests one "
        "cassette); move it by hand to a file a test of yours names\n"
    ) in out.getvalue()


@pytest.mark.parametrize(
    ("name", "config", "expected"),
    [
        ("tox.ini", "[flake8]\ncassette_dir = elsewhere\n\n[pytest]\naddopts = -q\n", "cassettes"),
        (
            "tox.ini",
            "[pytest]\ncassette_dir = recorded\n[testenv]\ncommands = pytest\n",
            "recorded",
        ),
        (
            "setup.cfg",
            "[tool:pytest]\naddopts = -q\n[other]\ncassette_dir = elsewhere\n",
            "cassettes",
        ),
        (
            "pyproject.toml",
            '[tool.pytest.ini_options]\ncassette_dir = "recorded"\n[tool.x]\ncassette_dir = "y"\n',
            "recorded",
        ),
    ],
)
def test_the_cassette_dir_option_is_read_in_pytests_section_only(
    tmp_path: Path, name: str, config: str, expected: str
) -> None:
    (tmp_path / name).write_text(config)
    (tmp_path / "tests").mkdir()
    assert (
        migrate_cassette_dir(tmp_path / "tests").resolve()
        == (
            tmp_path / "tests" / "cassettes" if expected == "cassettes" else tmp_path / expected
        ).resolve()
    )


# What only pytest's collection shows (a real pytest-vcr 1.0.2 run wrote these same files).
HOOK = """
import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if "hooked" in item.nodeid:
            item.add_marker(pytest.mark.vcr)
"""
HOOKED = """
def test_hooked():  # marked by the conftest's hook
    assert requests.get(URL + "/hooked").json()["path"] == "/hooked"
"""
INHERITED = """
class Base:
    path = "/base"

    @pytest.mark.vcr
    def test_get(self):  # collected in each subclass, a cassette each
        assert requests.get(URL + self.path).json()["path"] == self.path


class TestA(Base):
    path = "/a"


class TestB(Base):
    path = "/b"
"""
SLASHED = """
@pytest.mark.vcr
@pytest.mark.parametrize("path", ["/d", "/x/y"])
def test_path(path):  # pytest-vcr's file is cassettes/test_path[/x/y].yaml: in folders
    assert requests.get(URL + path).json()["path"] == path
"""
RENAMED = """
@pytest.fixture
def vcr_cassette_name(request):
    return "named_" + request.node.name


@pytest.mark.vcr
def test_e():
    assert requests.get(URL + "/e").json()["path"] == "/e"
"""
COLLECTED_FLAT = {
    "test_hooked.yaml",
    "TestA.test_get.yaml",
    "TestB.test_get.yaml",
    "test_path[/d].yaml",
    "test_path[/x/y].yaml",
    "named_test_e.yaml",
}
COLLECTED_MOVED = {
    "test_hooked/test_hooked.yaml",
    "test_inherited/TestA.test_get.yaml",
    "test_inherited/TestB.test_get.yaml",
    "test_slashed/test_path[-d].yaml",
    "test_slashed/test_path[-x-y].yaml",
    "test_renamed/named_test_e.yaml",
}


def test_the_cassettes_of_tests_only_pytest_collects_move_and_replay(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hook's marker, inherited tests, ids with `/` and a `vcr_cassette_name` override: none
    of them is in the test's source as migrate read it; pytest's collection shows them all."""
    conftest = suite.pytester.makeconftest(PYTEST_VCR_LAYOUT + HOOK)
    for name, source in (
        ("test_hooked", HOOKED),
        ("test_inherited", INHERITED),
        ("test_slashed", SLASHED),
        ("test_renamed", RENAMED),
    ):
        suite.write(source, name=name)
    result = suite.run("-p", "no:cassettes", "-p", "recording", "--record-mode=once")
    result.assert_outcomes(passed=6)
    conftest.write_text(HOOK)
    cassettes = suite.path / "cassettes"
    assert _files(cassettes) == COLLECTED_FLAT
    hits = suite.server.hits

    dry = io.StringIO()
    assert migrate([str(suite.path)], write=False, out=dry) == 1
    text = dry.getvalue()
    assert (
        f"would move {cassettes}/test_path[/x/y].yaml -> "
        f"{cassettes}/test_slashed/test_path[-x-y].yaml\n"
    ) in text
    assert f"{suite.path}/test_renamed.py:9: vcr_cassette_name override renamed to " in text
    assert "left where it is" not in text
    assert text.endswith("would migrate 4 files, move 6 cassettes\n")

    assert migrate([str(suite.path)], write=True, out=io.StringIO()) == 0
    assert _files(cassettes) == COLLECTED_MOVED
    assert sorted(p.name for p in cassettes.iterdir()) == [
        "test_hooked",
        "test_inherited",
        "test_renamed",
        "test_slashed",
    ]  # the folders of `test_path[/x/y]` are gone
    renamed = (suite.path / "test_renamed.py").read_text()
    assert "def default_cassette_name(request):" in renamed and "mark.vcr" in renamed

    monkeypatch.setenv("CI", "true")
    suite.run("-p", "no:recording", "--block-network").assert_outcomes(passed=6)
    assert suite.server.hits == hits


def test_a_vcr_cassette_name_override_migrate_cannot_call_is_told(tmp_path: Path) -> None:
    cassettes = _flat_project(
        tmp_path,
        "@pytest.fixture\ndef prefix():\n    return 'p_'\n\n\n"
        "@pytest.fixture\ndef vcr_cassette_name(request, prefix):\n"
        "    return prefix + request.node.name\n\n\n"
        "@pytest.mark.vcr\ndef test_x():\n    pass\n",
        "p_test_x.yaml",
    )
    out = io.StringIO()
    assert migrate([str(tmp_path)], write=True, out=out) == 0
    assert (
        f"{tmp_path}/test_a.py::test_x: migrate could not call the vcr_cassette_name fixture of "
        f"{tmp_path}/test_a.py:8 (TypeError: it asks for other fixtures (prefix)): move "
        f"{cassettes}/<what it returns for this test>.yaml to {cassettes}/test_a/<the same "
        "name>.yaml\n"
    ) in out.getvalue()
    assert _files(cassettes) == {"p_test_x.yaml"}
    assert "def default_cassette_name(request, prefix):" in (tmp_path / "test_a.py").read_text()


def test_modules_pytest_cannot_collect_are_matched_by_their_source(tmp_path: Path) -> None:
    cassettes = _flat_project(
        tmp_path,
        "@pytest.mark.vcr\ndef test_x():\n    pass\n",
        "test_x.yaml",
        "test_y.yaml",
    )
    (tmp_path / "test_b.py").write_text(
        "import pytest\nimport not_a_module_anywhere\n\n\n@pytest.mark.vcr\ndef test_y():\n"
        "    pass\n"
    )
    out = io.StringIO()
    assert migrate([str(tmp_path)], write=True, out=out) == 0
    assert (
        f"{tmp_path}/test_b.py: pytest could not collect it (E   ModuleNotFoundError: No module "
        "named 'not_a_module_anywhere'): its cassettes are matched to the tests it defines\n"
    ) in out.getvalue()
    assert _files(cassettes) == {"test_a/test_x.yaml", "test_b/test_y.yaml"}

    (tmp_path / "conftest.py").write_text("raise RuntimeError('no collection today')\n")
    for name in ("test_x", "test_y"):
        (cassettes / f"{name}.yaml").write_text(CASSETTE)
    out = io.StringIO()
    assert migrate([str(tmp_path)], write=False, out=out) == 1
    assert f"pytest could not collect {tmp_path} (exit 4: " in out.getvalue()
    assert "cassettes are matched to the tests the files define" in out.getvalue()
    assert f"would remove {cassettes}/test_x.yaml: the same file is at " in out.getvalue()


def test_pytest_vcrs_flags_in_the_configuration_are_rewritten_and_do_not_stop_the_collection(
    tmp_path: Path,
) -> None:
    """pytest-vcr uninstalled before migrate ran: its `--vcr-record` stops pytest (migrate's
    collection and, until migrate rewrites it, the suite's runs)."""
    cassettes = _flat_project(
        tmp_path,
        "class Base:\n    @pytest.mark.vcr\n    def test_x(self):\n        pass\n\n\n"
        "class TestA(Base):\n    pass\n",
        "TestA.test_x.yaml",
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --vcr-record=none\n")
    tox = "[testenv]\ncommands = pytest --vcr-record-mode once --disable-vcr {posargs}\n"
    (tmp_path / "tox.ini").write_text(tox)
    dry = io.StringIO()
    assert migrate([str(tmp_path)], write=False, out=dry) == 1
    assert "-addopts = --vcr-record=none\n+addopts = --record-mode=none\n" in dry.getvalue()
    assert migrate([str(tmp_path)], write=True, out=io.StringIO()) == 0
    assert _files(cassettes) == {"test_a/TestA.test_x.yaml"}
    # ... and the flags are ours, so that pytest starts once pytest-vcr is gone.
    assert (tmp_path / "pytest.ini").read_text() == "[pytest]\naddopts = --record-mode=none\n"
    assert (tmp_path / "tox.ini").read_text() == tox.replace(
        "--vcr-record-mode once --disable-vcr", "--record-mode once --cassette-disable"
    )


def test_a_call_of_pytest_vcrs_vcr_use_cassette_is_told_what_to_write(tmp_path: Path) -> None:
    """pytest-vcr's `vcr` fixture was a vcr.VCR; ours is the test's cassette."""
    (tmp_path / "test_a.py").write_text(
        "def test_login(vcr):\n    with vcr.use_cassette('login.yaml'):\n        pass\n\n\n"
        "def test_other(vcr_cassette):\n    vcr_cassette.use_cassette('x')  # not pytest-vcr's\n"
    )
    out = io.StringIO()
    assert migrate([str(tmp_path)], write=False, out=out) == 0
    assert out.getvalue().startswith(
        f"{tmp_path}/test_a.py:2: vcr.use_cassette(...) of pytest-vcr's `vcr` fixture (a "
        "vcr.VCR; pytest-cassettes' is the test's cassette, None without one): write "
        "`pytest_cassettes.use_cassette(request, 'login.yaml')` (relative to cassettes/ beside "
        "the file, as pytest-vcr's were), with `request` the test's or fixture's argument\n"
    )
    assert out.getvalue().endswith("\nwould migrate 0 files\n")
    assert out.getvalue().count("vcr.use_cassette(...)") == 1


def test_a_dry_run_leaves_no_file_of_pytest_s_collection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The collection imports the test modules and conftests: Python and pytest's assertion
    # rewriting wrote their bytecode (__pycache__) beside them, where a dry run writes nothing.
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    _flat_project(tmp_path, "@pytest.mark.vcr\ndef test_x():\n    pass\n", "test_x.yaml")
    (tmp_path / "conftest.py").write_text("import pytest\n")
    before = _files(tmp_path)
    out = io.StringIO()
    assert migrate([str(tmp_path)], write=False, out=out) == 1
    assert "would move " in out.getvalue()
    assert _files(tmp_path) == before


# A conftest whose import waits (on a server, a lock): it and a process it started, which holds
# pytest's output open, outlive any sensible limit.
WAITING_CONFTEST = """\
import subprocess
import sys
import time

subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
time.sleep(30)
"""


def test_a_collection_that_does_not_end_is_stopped_and_the_source_read(tmp_path: Path) -> None:
    cassettes = _flat_project(
        tmp_path, "@pytest.mark.vcr\ndef test_x():\n    pass\n", "test_x.yaml"
    )
    (tmp_path / "conftest.py").write_text(WAITING_CONFTEST)
    out = io.StringIO()
    assert migrate([str(tmp_path)], write=True, out=out, collect_timeout=1) == 0
    text = out.getvalue()
    assert f"pytest could not collect {tmp_path} (stopped after 1 s): cassettes are matched" in text
    assert "--collect-timeout=SECONDS gives pytest longer, 0 no limit" in text
    assert _files(cassettes) == {"test_a/test_x.yaml"}  # moved all the same


def test_the_collection_s_limit_is_a_number_of_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["migrate", "--collect-timeout=-1", "tests"])
    assert exited.value.code == 2
    assert "expected a number of seconds, got '-1'" in capsys.readouterr().err


def test_a_class_s_vcr_cassette_name_keeps_its_tests_on_vcr_and_moves_the_others(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    conftest = suite.pytester.makeconftest(PYTEST_VCR_LAYOUT)
    renamed = CLASS_NAMED.replace("def default_cassette_name", "def vcr_cassette_name")
    path = suite.write(renamed, name="test_mixed")
    result = suite.run("-p", "no:cassettes", "-p", "recording", "--record-mode=once")
    result.assert_outcomes(passed=5)
    conftest.unlink()
    cassettes = suite.path / "cassettes"
    named = {"named-test_b.yaml", "named-test_c.yaml"}  # test_b's shared by both classes
    assert _files(cassettes) == {"test_plain.yaml", "TestConfigured.test_a.yaml", *named}
    hits = suite.server.hits

    assert migrate([str(suite.path)], write=True, out=io.StringIO()) == 0
    moved = {"test_plain.yaml", "TestConfigured.test_a.yaml", *named}
    assert _files(cassettes) == {f"test_mixed/{name}" for name in moved}
    migrated = path.read_text()
    assert migrated.count("@pytest.mark.cassette\n") == 2  # test_plain's, TestConfigured's
    assert migrated.count("@pytest.mark.vcr\n") == 2
    assert "def default_cassette_name(self, request):" in migrated

    monkeypatch.setenv("CI", "true")
    suite.run("-p", "no:recording", "--block-network").assert_outcomes(passed=5)
    assert suite.server.hits == hits
