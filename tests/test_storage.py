"""Storage: merge on write, stable format, readable text, exact binary, unreadable files."""

from __future__ import annotations

import os
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pytest_cassettes import large, paths, runmarks, storage
from pytest_cassettes.errors import CassetteLoadError
from tests.conftest import Suite

DATA = Path(__file__).parent / "data"
BINARY = bytes(range(256)) * 4


def interaction(uri: str, body: Any = "hello", code: int = 200) -> dict[str, Any]:
    return {
        "request": {"method": "GET", "uri": uri, "body": None, "headers": {}},
        "response": {
            "status": {"code": code, "message": "OK"},
            "headers": {"Content-Type": ["text/plain"]},
            "body": {"string": body},
        },
    }


def uris(path: Path) -> list[str]:
    snapshot = storage.read(path)
    assert snapshot is not None
    return [i["request"]["uri"] for i in snapshot.interactions]


# --- merge ---------------------------------------------------------------------------------


def test_a_write_keeps_what_is_on_disk_and_replaces_only_what_it_drops(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    a, b = interaction("http://x/a"), interaction("http://x/b")
    assert storage.write(path, [a]) == 1
    assert storage.write(path, [b]) == 1  # another writer's `a` is kept
    a2 = interaction("http://x/a", body="new")
    assert storage.write(path, [a2], drop={storage.identity(a)}) == 1
    snapshot = storage.read(path)
    assert snapshot is not None
    assert [
        (i["request"]["uri"], i["response"]["body"]["string"]) for i in snapshot.interactions
    ] == [
        ("http://x/b", b"hello"),  # read() serves bodies as the bytes the stubs play
        ("http://x/a", b"new"),
    ]


def test_a_write_creates_missing_directories(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "c.yaml"
    storage.write(path, [interaction("http://x/a")])
    assert uris(path) == ["http://x/a"]


def test_the_cache_sees_a_file_replaced_with_the_same_size_and_time(tmp_path: Path) -> None:
    path, other = tmp_path / "c.yaml", tmp_path / "other.yaml"
    storage.write(path, [interaction("http://x/a")])
    storage.write(other, [interaction("http://x/b")])
    assert uris(path) == ["http://x/a"]  # cached now
    stat = path.stat()
    os.replace(other, path)  # what another process's write does: a new file, same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    assert uris(path) == ["http://x/b"]


def test_one_file_stamp_serves_the_cache_and_the_vcrpy_file_check(tmp_path: Path) -> None:
    # The cache's stamp raises on a file it cannot look at (its read would fail too); the check
    # of the files vcrpy's own use_cassette wrote must not fail a run: None, as for no file.
    path = tmp_path / "a.yaml"
    path.write_bytes(b"12345")
    st = path.stat()
    assert paths.file_stamp(path) == (st.st_ino, st.st_mtime_ns, 5)
    assert paths.file_stamp(str(path), strict=False) == (st.st_ino, st.st_mtime_ns, 5)
    assert paths.file_stamp(tmp_path / "missing.yaml") is None
    assert paths.file_stamp(tmp_path / "missing.yaml", strict=False) is None
    beyond = path / "under-a-file.yaml"  # NotADirectoryError: an OSError, not a missing file
    with pytest.raises(NotADirectoryError):
        paths.file_stamp(beyond)
    assert paths.file_stamp(beyond, strict=False) is None


# --- format --------------------------------------------------------------------------------


def test_writing_again_gives_the_same_bytes(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    storage.write(path, [interaction("http://x/a"), interaction("http://x/b", body=BINARY)])
    first = path.read_bytes()
    storage.write(path, [])
    assert path.read_bytes() == first


def test_a_cassette_written_by_vcrpy_is_rewritten_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "docling.yaml"
    shutil.copy(DATA / "test_docling_source.yaml", path)
    storage.write(path, [])
    assert path.read_bytes() == (DATA / "test_docling_source.yaml").read_bytes()


def test_a_large_cassette_reads_as_a_small_one(tmp_path: Path) -> None:
    text = "Grüße, a large text body.\n" * (large.LARGE_FILE // 20)
    binary = bytes(range(256)) * (large.LARGE_FILE // 200)
    path = tmp_path / "large.yaml"
    storage.write(path, [interaction("http://x/text", text), interaction("http://x/bin", binary)])
    assert path.stat().st_size > 2 * large.LARGE_FILE
    snapshot = storage.read(path)
    assert snapshot is not None
    assert [i["response"]["body"]["string"] for i in snapshot.interactions] == [
        text.encode(),
        binary,
    ]
    assert storage.parse(path.read_bytes(), str(path)) == storage.parse(
        path.read_text(encoding="utf-8"), str(path)
    )


@pytest.mark.parametrize(
    ("base64", "problem"),
    [
        ("AAEC\n        AwQ=", None),  # two lines
        ("AAECA", "failed to decode base64 data"),
        ("AAÉC", "failed to convert base64 data into ascii"),
    ],
)
def test_binary_bodies_decode_as_pyyaml_decodes_them(
    tmp_path: Path, base64: str, problem: str | None
) -> None:
    text = (
        "interactions:\n- request: {method: GET, uri: 'http://x/'}\n"
        f"  response:\n    status: {{code: 200}}\n    body:\n      string: !!binary |\n"
        f"        {base64}\nversion: 1\n"
    )
    if problem is None:
        assert storage.parse(text, "c.yaml")[0]["response"]["body"]["string"] == b"\0\1\2\3\4"
    else:
        with pytest.raises(CassetteLoadError, match=problem):
            storage.parse(text, "c.yaml")


PICKLED = "!!python/object/new:_io.BytesIO", "!!python/object/apply:builtins.iter"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (f"{PICKLED[0]} {{state: [!!binary ZmlsZQ==, 0, null]}}", b"file"),
        (f"{PICKLED[0]} {{state: [text]}}", b"text"),
        (f"{PICKLED[0]} {{}}", b""),
        (f"{PICKLED[1]} {{args: [[!!binary YQ==, b, c]]}}", b"abc"),
        # Refused with the place named, as any tag we do not read: a number would allocate
        # that many bytes, and repeated aliases would join a few KiB of file into GiB.
        (f"{PICKLED[0]} {{state: [100000000000000]}}", "content must be text or !!binary"),
        (f"{PICKLED[0]} {{state: 5}}", "must start with its content"),
        (f"{PICKLED[1]} {{args: [7]}}", "one list of chunks"),
        (f"{PICKLED[1]} {{args: [[{{nested: x}}]]}}", "content must be text or !!binary"),
        (f"{PICKLED[1]} {{args: [[&a xxxx, *a, *a]]}}", "repeats a chunk by alias"),
    ],
)
def test_file_and_iterator_bodies_vcrpy_pickled_read_as_their_bytes(
    body: str, expected: bytes | str
) -> None:
    text = (
        f"interactions:\n- request: {{method: POST, uri: 'http://x/', body: {body}}}\n"
        "  response: {status: {code: 200}, body: {string: ''}}\nversion: 1\n"
    )
    if isinstance(expected, bytes):
        assert storage.parse(text, "c.yaml")[0]["request"]["body"] == expected
    else:
        with pytest.raises(CassetteLoadError, match=f"c.yaml:2: .*{expected}"):
            storage.parse(text, "c.yaml")


def test_text_bodies_stay_readable_and_binary_bodies_stay_exact(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    text = "café ☕ line one\nline two\r\n\ttabbed  "
    storage.write(
        path,
        [
            interaction("http://x/text", body=storage.to_text(text.encode())),
            interaction("http://x/bin", body=storage.to_text(BINARY)),
        ],
    )
    content = path.read_text(encoding="utf-8")
    assert "line one" in content
    assert "!!binary" in content
    assert content.isascii()  # non-ASCII text is escaped, so any vcrpy on any locale reads it
    snapshot = storage.read(path)
    assert snapshot is not None
    stored = [i["response"]["body"]["string"] for i in snapshot.interactions]
    assert stored == [text.encode(), BINARY]  # served as bytes, byte for byte


def test_recording_the_same_traffic_again_changes_only_the_date(suite: Suite) -> None:
    suite.server.route("/fixed", body="same answer", headers={"X-Kind": "fixed"})
    suite.write(
        """
        @pytest.mark.cassette
        def test_api():
            for path in ("/fixed", "/b?x=1", "/c"):
                requests.get(URL + path)
            requests.post(URL + "/d", json={"a": 1})
        """
    )
    suite.run("--record-mode=rewrite").assert_outcomes(passed=1)
    first = suite.cassette_path("test_api").read_text().splitlines()
    suite.run("--record-mode=rewrite").assert_outcomes(passed=1)
    second = suite.cassette_path("test_api").read_text().splitlines()
    assert len(first) == len(second)
    changed = [(a, b) for a, b in zip(first, second) if a != b]
    assert all("GMT" in a and "GMT" in b for a, b in changed), changed


# --- the file itself -----------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_a_write_keeps_the_mode_of_the_cassette(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    storage.write(path, [interaction("http://x/a")])
    os.chmod(path, 0o640)
    storage.write(path, [interaction("http://x/b")])
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_a_new_cassette_is_readable_by_others_as_the_umask_allows(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    umask = os.umask(0o022)
    try:
        storage.write(path, [interaction("http://x/a")])
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's private 0o600


def test_a_write_through_a_symlink_updates_its_target(tmp_path: Path) -> None:
    target = tmp_path / "shared" / "login.yaml"
    storage.write(target, [interaction("http://x/login")])
    link = tmp_path / "tests" / "login.yaml"
    link.parent.mkdir()
    link.symlink_to(target)
    storage.write(link, [interaction("http://x/more")])
    assert link.is_symlink()
    assert uris(target) == ["http://x/login", "http://x/more"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["login.yaml"]


def test_every_name_of_a_cassette_takes_the_same_lock(tmp_path: Path) -> None:
    real = tmp_path / "shared" / "login.yaml"
    storage.write(real, [interaction("http://x/login")])
    file_link = tmp_path / "login-link.yaml"
    file_link.symlink_to(real)
    dir_link = tmp_path / "linked-dir"
    dir_link.symlink_to(real.parent)
    names = [
        real,
        file_link,
        dir_link / "login.yaml",
        tmp_path / "shared" / ".." / "shared" / "login.yaml",
    ]
    assert {storage._lock_file(name) for name in names} == {storage._lock_file(real)}
    other = tmp_path / "shared" / "other.yaml"
    assert runmarks.path_key(other) != runmarks.path_key(real)


def test_a_relative_cassette_path_locks_the_file_it_names_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("one", "two"):
        (tmp_path / name / "cassettes").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "one")
    relative = Path("cassettes/c.yaml")
    first = storage._lock_file(relative)
    assert first == storage._lock_file(tmp_path / "one" / "cassettes" / "c.yaml")
    monkeypatch.chdir(tmp_path / "two")  # a test changed directory: another file now
    assert storage._lock_file(relative) == storage._lock_file(tmp_path / "two/cassettes/c.yaml")
    assert runmarks.path_key(relative) != runmarks.path_key(tmp_path / "one/cassettes/c.yaml")


# --- unreadable cassettes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "line", "problem"),
    [
        (b"interactions: []\nversion: 1\n# caf\xe9\n", 3, "not UTF-8 text"),
        (b"\xff\xfei\x00n\x00", 1, "not UTF-8 text"),  # UTF-16, as some editors save
        (b"interactions:\n- request: {method: GET, uri: 'http://x/", None, "invalid YAML"),
        (b"interactions: {}\nversion: 1\n", 1, "`interactions` must be a list"),
        (b"interactions: []\nversion: '1'\n", 2, "unknown cassette format version '1'"),
        (
            b"interactions:\n- request: {method: GET, uri: 'http://x/'}\n"
            b"  response: {status: {code: '200'}, body: {string: ''}}\nversion: 1\n",
            2,
            "response.status.code",
        ),
    ],
)
@pytest.mark.parametrize(
    "padding",
    [b"", b"\n# " + b"x" * large.LARGE_FILE + b"\n"],
    ids=["small", "large"],  # a large file is read piece by piece
)
def test_an_unreadable_cassette_is_never_written_over(
    tmp_path: Path, content: bytes, line: int | None, problem: str, padding: bytes
) -> None:
    path = tmp_path / "bad.yaml"
    content += padding
    path.write_bytes(content)
    with pytest.raises(CassetteLoadError) as read_error:
        storage.read(path)
    assert read_error.value.path == str(path)
    assert problem in str(read_error.value)
    if line is not None:
        assert read_error.value.line == line
        assert f"bad.yaml:{line}:" in str(read_error.value)
    with pytest.raises(CassetteLoadError):
        storage.write(path, [interaction("http://x/a")])
    assert path.read_bytes() == content
    assert [p.name for p in tmp_path.iterdir()] == ["bad.yaml"]


def test_a_directory_where_the_cassette_should_be_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.mkdir()
    with pytest.raises(CassetteLoadError, match=r"c\.yaml: is a directory, not a cassette file"):
        storage.read(path)
    with pytest.raises(CassetteLoadError):
        storage.write(path, [interaction("http://x/a")])
    assert path.is_dir()


@pytest.mark.parametrize(
    ("content", "messages"),
    [
        (
            b"interactions: []\nversion: 1\n# caf\xe9\n",
            ["*CassetteLoadError: Cannot read cassette *test_api.yaml:3: not UTF-8 text*"],
        ),
        (
            # A cassette cut short, as vcrpy's in-place rewrite leaves it when killed.
            b"interactions:\n- request:\n    body: null\n    method: GET\n    uri: http://127",
            ["*CassetteLoadError: Cannot read cassette *test_api.yaml:*"],
        ),
        (None, ["*CassetteLoadError: Cannot read cassette *test_api.yaml: is a directory*"]),
    ],
    ids=["not-utf8", "truncated", "directory"],
)
def test_an_unreadable_cassette_fails_the_test_in_every_mode_and_is_left_alone(
    suite: Suite, content: bytes | None, messages: list[str]
) -> None:
    suite.write(
        """
        @pytest.mark.cassette
        def test_api():
            requests.get(URL + "/users")
        """
    )
    path = suite.cassette_path("test_api")
    path.parent.mkdir(parents=True)
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    for mode in ("none", "once", "new_episodes", "all", "rewrite"):
        result = suite.run(f"--record-mode={mode}")
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(messages)
        # Said so: an adopter took "re-record with --record-mode=rewrite" for a way to replace it.
        result.stdout.fnmatch_lines(["*never written over, not even by --record-mode=rewrite*"])
        if content is None:
            assert path.is_dir()
        else:
            assert path.read_bytes() == content
        assert sorted(p.name for p in path.parent.iterdir()) == ["test_api.yaml"]
    assert suite.server.hits == 0


def test_drop_unused_requests_keeps_a_played_copy_of_an_identical_interaction(
    suite: Suite,
) -> None:
    path = suite.cassette_path("test_poll")
    storage.write(path, [interaction(suite.server.url("/status"))] * 2)  # polled twice
    suite.write(
        """
        @pytest.mark.cassette(drop_unused_requests=True)
        def test_poll():
            assert requests.get(URL + "/status").text == "hello"  # now polled once
        """
    )
    suite.run("--record-mode=once").assert_outcomes(passed=1)
    assert uris(path) == [suite.server.url("/status")]  # the played copy stays
    suite.run("--record-mode=none").assert_outcomes(passed=1)


def test_a_request_another_process_recorded_meanwhile_is_not_written_twice(tmp_path: Path) -> None:
    # Two xdist workers each record a session fixture's login into one cassette: one is kept.
    # What the writer loaded itself is no one else's: a request repeated after it (new_episodes
    # recording a second GET /status) is kept.
    at = interaction
    path = tmp_path / "c.yaml"
    storage.write(path, [at("http://x/login", "worker 1")], known=Counter())
    storage.write(
        path, [at("http://x/login", "worker 2"), at("http://x/other", "2")], known=Counter()
    )
    uris = [i["request"]["uri"] for i in storage.read(path).interactions]  # type: ignore[union-attr]
    assert uris == ["http://x/login", "http://x/other"]
    loaded = Counter(storage.request_key(i["request"]) for i in storage.read(path).interactions)  # type: ignore[union-attr]
    storage.write(path, [at("http://x/login", "again")], known=loaded)
    bodies = [i["response"]["body"]["string"] for i in storage.read(path).interactions]  # type: ignore[union-attr]
    assert bodies == [b"worker 1", b"2", b"again"]
