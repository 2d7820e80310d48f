"""Where the record mode comes from: flag > env > CI > marker > cassette_config > ini > default."""

from __future__ import annotations

import pytest

from tests.conftest import Suite

PROBE = """
{conftest}

@pytest.mark.cassette{marker}
def test_probe(cassette):
    print("MODE=" + cassette.record_mode)
"""


@pytest.mark.parametrize(
    ("flag", "env", "ci", "marker", "config", "ini", "expected"),
    [
        (None, None, None, None, None, None, "once"),
        (None, None, None, None, None, "new_episodes", "new_episodes"),
        (None, None, None, None, "all", "new_episodes", "all"),
        (None, None, None, "rewrite", "all", "new_episodes", "rewrite"),
        (None, None, "true", "rewrite", "all", "new_episodes", "none"),
        (None, "all", "true", "rewrite", "all", "new_episodes", "all"),
        ("new_episodes", "all", "true", "rewrite", "all", "once", "new_episodes"),
        ("none", None, None, "once", "once", "once", "none"),
        (None, None, "false", "all", None, None, "all"),
        (None, None, "0", None, None, None, "once"),
    ],
)
def test_record_mode_precedence(
    suite: Suite,
    monkeypatch: pytest.MonkeyPatch,
    flag: str | None,
    env: str | None,
    ci: str | None,
    marker: str | None,
    config: str | None,
    ini: str | None,
    expected: str,
) -> None:
    conftest = (
        f"@pytest.fixture\ndef cassette_config():\n    return {{'record_mode': {config!r}}}"
        if config
        else ""
    )
    suite.write(
        PROBE.format(conftest=conftest, marker=f"(record_mode={marker!r})" if marker else "")
    )
    if ini:
        suite.pytester.makeini(f"[pytest]\ncassette_record_mode = {ini}\n")
    if env:
        monkeypatch.setenv("PYTEST_CASSETTES_RECORD_MODE", env)
    if ci:
        monkeypatch.setenv("CI", ci)
    result = suite.run("-s", *([f"--record-mode={flag}"] if flag else []))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*MODE={expected}"])


def test_ci_run_records_nothing_whatever_the_marker_says(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The incumbent lets a marker's record_mode beat a replay-only run; we must not."""
    suite.write(
        """
        @pytest.fixture
        def cassette_config():
            return {"record_mode": "all"}

        @pytest.mark.cassette(record_mode="once")
        def test_records():
            requests.get(URL + "/secret-endpoint")
        """
    )
    monkeypatch.setenv("CI", "true")
    result = suite.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Cassette missing*", "*record mode: none (CI is set*"])
    assert suite.server.hits == 0
    assert not (suite.path / "cassettes").exists()


@pytest.mark.parametrize(
    ("env", "args", "line"),
    [
        ({}, [], "cassettes: record mode once (default; markers may override)"),
        ({"CI": "true"}, [], "cassettes: record mode none (CI is set: a replay-only run)"),
        ({}, ["--record-mode=none"], "cassettes: record mode none (--record-mode)"),
        (
            {"PYTEST_CASSETTES_RECORD_MODE": "all"},
            [],
            "cassettes: record mode all (PYTEST_CASSETTES_RECORD_MODE)",
        ),
    ],
)
def test_header_line_says_the_mode_and_why(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], args: list[str], line: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    suite.write("def test_nothing():\n    pass\n")
    result = suite.run(*args)
    result.stdout.fnmatch_lines([line])


def test_ini_mode_shows_in_the_header(suite: Suite) -> None:
    suite.pytester.makeini("[pytest]\ncassette_record_mode = new_episodes\n")
    suite.write("def test_nothing():\n    pass\n")
    suite.run().stdout.fnmatch_lines(["cassettes: record mode new_episodes (ini*"])


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("flag", "*argument --record-mode: invalid choice: 'sometimes'*"),
        ("env", "*PYTEST_CASSETTES_RECORD_MODE: invalid record mode 'sometimes'*"),
        ("ini", "*ini cassette_record_mode: invalid record mode 'sometimes'*"),
    ],
)
def test_a_bad_record_mode_is_a_usage_error(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, where: str, message: str
) -> None:
    suite.write("def test_nothing():\n    pass\n")
    args = []
    if where == "flag":
        args = ["--record-mode=sometimes"]
    elif where == "env":
        monkeypatch.setenv("PYTEST_CASSETTES_RECORD_MODE", "sometimes")
    else:
        suite.pytester.makeini("[pytest]\ncassette_record_mode = sometimes\n")
    result = suite.run(*args)
    assert result.ret != 0
    result.stderr.fnmatch_lines([message])
