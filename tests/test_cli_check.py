"""`pytest-cassettes check` and `show`, through checks.check and checks.show."""

from __future__ import annotations

import gzip
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pytest_cassettes import checks, storage
from tests.conftest import Suite

DATA = Path(__file__).parent / "data"
SEED_URL = "https://lilianweng.github.io/posts/2024-11-28-reward-hacking/"


def run(function: Any, *paths: Path | str) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = function([str(p) for p in paths], out)
    return code, out.getvalue().splitlines()


def interaction(uri: str, body: Any = "hello", **headers: str) -> dict[str, Any]:
    return {
        "request": {"method": "GET", "uri": uri, "body": None, "headers": {}},
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {"Content-Type": ["text/plain"]}
            | {name.replace("_", "-"): [value] for name, value in headers.items()},
            "body": {"string": body},
        },
    }


def cassette(path: Path, *interactions: dict[str, Any]) -> Path:
    storage.write(path, list(interactions))
    return path


# --- check ---------------------------------------------------------------------------------


def test_check_accepts_clean_cassettes(tmp_path: Path) -> None:
    cassette(tmp_path / "a.yaml", interaction("http://x/a"), interaction("http://x/b"))
    cassette(tmp_path / "sub" / "b.yml", interaction("http://x/c", body=bytes(range(256))))
    code, lines = run(checks.check, tmp_path)
    assert code == 0
    assert lines == ["checked 2 cassettes (3 interactions): no faults"]


def test_check_reports_the_docling_encoding_mismatch_at_its_header(tmp_path: Path) -> None:
    seed = tmp_path / "docling.yaml"
    shutil.copy(DATA / "test_docling_source.yaml", seed)
    header_line = seed.read_text().splitlines().index("      Content-Encoding:") + 1
    code, lines = run(checks.check, seed)
    assert code == 1
    assert lines == [
        f"{seed}:{header_line}: interaction 1: body is stored decoded but headers say "
        "Content-Encoding: gzip; under vcrpy, clients that decode it (httpx, urllib3 1) fail; "
        "re-record it or remove the header",
        "checked 1 cassette (1 interaction): 1 fault",
    ]


def test_check_accepts_a_body_stored_encoded_as_vcrpy_writes_it(tmp_path: Path) -> None:
    path = cassette(
        tmp_path / "raw.yaml",
        interaction("http://x/", gzip.compress(b"x"), Content_Encoding="gzip"),
    )
    assert run(checks.check, path)[0] == 0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"interactions: [\n  - {a: \n", ":2: invalid YAML"),
        (b"version: 2\ninteractions: []\n", ":1: unknown cassette format version 2"),
        (b"interactions: []\nversion: 1\n# caf\xe9\n", ":3: not UTF-8 text"),
        (
            b"interactions:\n- request: {method: GET}\n  response: {}\nversion: 1\n",
            ":2: interaction 1: request.uri is missing or not a string",
        ),
        (b"", ":1: empty: delete it and record it again"),
        (b"# only a comment\n", ":1: empty"),
        (b"[]\n", ":1: written by a vcrpy older than 1.0"),
        (  # vcrpy before 1.0 in YAML: its pickled objects
            b"- request: !!python/object:vcr.request.Request {method: GET}\n",
            ":1: written by a vcrpy older than 1.0",
        ),
        (b"42\n", ":1: not a cassette"),
    ],
)
def test_check_reports_a_cassette_that_cannot_be_read(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    cassette(tmp_path / "good.yaml", interaction("http://x/a"))
    code, lines = run(checks.check, tmp_path)
    assert code == 1
    assert lines[0].startswith(f"{path}{expected}")
    assert lines[-1] == "checked 2 cassettes (1 interaction): 1 fault"
    assert path.read_bytes() == content


def test_check_notes_duplicate_interactions_without_failing(tmp_path: Path) -> None:
    """A test sending a request twice records it twice, and replays both: the cassettes the
    plugin wrote for an adopter's crawler (robots.txt read twice) failed `check` as a CI gate."""
    a = interaction("http://x/a")
    path = cassette(tmp_path / "c.yaml", a, interaction("http://x/b"), a)
    code, lines = run(checks.check, path)
    assert code == 0
    third = storage.Locator(path.read_text()).line(2)
    assert lines[0].startswith(f"{path}:{third}: note: interaction 3: duplicate of interaction 1")
    assert lines[-1].endswith(": no faults, 1 note")
    broken = cassette(
        tmp_path / "d.yaml",
        a,
        a,
        interaction("http://x/png", "\ufffdPNG", Content_Type="image/png"),
    )
    code, lines = run(checks.check, broken)
    assert code == 1
    assert lines[-1].endswith(": 1 fault, 1 note")


def test_check_passes_a_cassette_recorded_by_a_test_repeating_a_request(suite: Suite) -> None:
    # The same answer twice: a Date a second later would make them differ (a flaky test).
    suite.server.fixed_date = "Mon, 01 Jan 2024 00:00:00 GMT"
    suite.write(
        """
        @pytest.mark.cassette
        def test_robots():
            for _ in range(2):
                assert requests.get(URL + "/robots.txt").status_code == 200
        """
    )
    suite.run("--record-mode=once").assert_outcomes(passed=1)
    path = suite.cassette_path("test_robots")
    code, lines = run(checks.check, path)
    assert code == 0, lines
    assert "note: interaction 2: duplicate of interaction 1" in lines[0]
    suite.run("--record-mode=none").assert_outcomes(passed=1)  # and it replays both


def test_check_reports_bodies_that_would_not_round_trip(tmp_path: Path) -> None:
    path = cassette(
        tmp_path / "c.yaml",
        interaction("http://x/png", "\ufffdPNG\r\n\x1a\n\ufffd", Content_Type="image/png"),
        interaction("http://x/latin", "café", Content_Type="text/plain; charset=ISO-8859-1"),
        interaction("http://x/fine", "café", Content_Type="text/plain; charset=utf-8"),
        interaction("http://x/ascii", "plain", Content_Type="text/plain; charset=latin-1"),
    )
    code, lines = run(checks.check, path)
    assert code == 1
    assert [line.split(": ", 1)[1] for line in lines[:-1]] == [
        "interaction 1: binary body (image/png) stored as text with replacement characters: "
        "the original bytes are lost; re-record it",
        "interaction 2: text body is replayed as UTF-8 but Content-Type says "
        "charset=iso-8859-1; re-record it",
    ]
    assert lines[-1] == "checked 1 cassette (4 interactions): 2 faults"


def test_check_reports_temp_files_left_by_a_killed_writer(tmp_path: Path) -> None:
    cassette(tmp_path / "c.yaml", interaction("http://x/a"))
    stale = tmp_path / ".c.yaml.0a1b2c3d.tmp"
    stale.write_text("interactions: [")
    code, lines = run(checks.check, tmp_path)
    assert code == 1
    assert lines[0] == (
        f"{stale}:1: temporary file left by an interrupted cassette write; delete it"
    )


def test_check_exits_2_for_a_path_that_does_not_exist(tmp_path: Path) -> None:
    cassette(tmp_path / "c.yaml", interaction("http://x/a"), interaction("http://x/a", "x"))
    code, lines = run(checks.check, tmp_path / "nope", tmp_path)
    assert code == 2
    assert lines[0] == f"{tmp_path / 'nope'}: no such file or directory"
    assert lines[-1] == "checked 1 cassette (2 interactions): no faults"


def test_check_and_show_of_only_missing_paths_print_no_summary(tmp_path: Path) -> None:
    # "checked 0 cassettes (0 interactions): no faults" after the error read as a pass.
    for command in (checks.check, checks.show):
        code, lines = run(command, tmp_path / "nope.yaml")
        assert (code, lines) == (2, [f"{tmp_path / 'nope.yaml'}: no such file or directory"])


def test_check_of_a_directory_without_cassettes_is_clean(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert run(checks.check, tmp_path / "empty") == (
        0,
        ["checked 0 cassettes (0 interactions): no faults"],
    )


def test_check_skips_hidden_directories_and_other_files(tmp_path: Path) -> None:
    cassette(tmp_path / "c.yaml", interaction("http://x/a"))
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "junk.yaml").write_text("not: [a cassette")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".pre-commit-config.yaml").write_text("repos: []\n")
    assert run(checks.check, tmp_path)[0] == 0


# --- show ----------------------------------------------------------------------------------


def test_show_lists_every_interaction_with_the_size_it_replays(tmp_path: Path) -> None:
    seed = tmp_path / "docling.yaml"
    shutil.copy(DATA / "test_docling_source.yaml", seed)
    body = storage.read(seed).interactions[0]["response"]["body"]["string"]  # type: ignore[union-attr]
    other = cassette(
        tmp_path / "more" / "api.yaml",
        {
            **interaction("http://x/a", bytes(range(256))),
            "request": {"method": "POST", "uri": "http://x/a", "body": "{}", "headers": {}},
        },
        interaction("http://x/gz", gzip.compress(b"12345"), Content_Encoding="gzip"),
    )
    code, lines = run(checks.show, tmp_path)
    assert code == 0
    assert lines == [
        f"{seed}:1: GET {SEED_URL} -> 200 ({len(body)} bytes)",
        f"{other}:1: POST http://x/a -> 200 (256 bytes)",
        f"{other}:2: GET http://x/gz -> 200 (5 bytes)",
        "3 interactions in 2 cassettes",
    ]


def test_show_exits_2_for_unreadable_cassettes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ninteractions: 3\n")
    good = cassette(tmp_path / "good.yaml", interaction("http://x/a"))
    code, lines = run(checks.show, tmp_path, tmp_path / "missing.yaml")
    assert code == 2
    assert lines == [
        f"{tmp_path / 'missing.yaml'}: no such file or directory",
        f"{bad}:2: `interactions` must be a list",
        f"{good}:1: GET http://x/a -> 200 (5 bytes)",
        "1 interaction in 2 cassettes",
    ]


def test_the_command_line_runs_check_show_and_migrate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_cassettes.cli import main

    seed = Path(__file__).parent / "data" / "test_docling_source.yaml"
    assert main(["check", str(seed)]) == 1
    assert "Content-Encoding: gzip" in capsys.readouterr().out
    assert main(["show", str(seed)]) == 0
    assert "GET https://lilianweng.github.io/posts/2024-11-28-reward-hacking/ -> 200" in (
        capsys.readouterr().out
    )
    test_file = tmp_path / "test_old.py"
    test_file.write_text("import pytest\n\n@pytest.mark.vcr\ndef test_a():\n    pass\n")
    assert main(["migrate", str(tmp_path)]) == 1
    assert "+@pytest.mark.cassette" in capsys.readouterr().out
    assert main(["migrate", "--write", str(tmp_path)]) == 0
    assert "@pytest.mark.cassette\n" in test_file.read_text()


def test_check_and_show_take_json_cassettes_in_directories_and_a_missing_version(
    tmp_path: Path,
) -> None:
    # The json serializer's cassettes, as scan takes them; a file without `version:`, which
    # vcrpy replays (it always writes one, and never checks it).
    data = {"interactions": [interaction("http://x/j")], "version": 1}
    (tmp_path / "a.json").write_text(json.dumps(data))
    (tmp_path / "b.yaml").write_text("interactions: []\n")
    code, lines = run(checks.check, tmp_path)
    assert (code, lines[-1]) == (0, "checked 2 cassettes (1 interaction): no faults")
    code, lines = run(checks.show, tmp_path)
    assert code == 0 and any("http://x/j" in line for line in lines)
