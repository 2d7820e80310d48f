"""From a test item to its cassette path: stable, safe and short enough for any file system;
and a cassette file's stamp."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

# What the command line's tools take for cassettes in a directory (.json: `serializer="json"`).
CASSETTE_SUFFIXES = (".yaml", ".yml", ".json")

# pytest-recording's replacement (same characters, "-"), so migrating users keep their files;
# control characters too.
UNSAFE = re.compile(r'[<>?%*:|"\'/\\\x00-\x1f]')
MAX_NAME_BYTES = (
    240  # under the 255 of common file systems, leaving room for ".yaml" and temp names
)


# pytest-repeat's parameter (`--count`, `@pytest.mark.repeat`), its id `<step>-<count>`.
REPEAT_STEP = "__pytest_repeat_step_number"


def name_parts(nodeid: str) -> list[str]:
    """The names in a node id after its file: classes, then the test with its parameters' ids
    (which may hold `::`, no separator there: `test[k::v]`)."""
    names, bracket, ids = nodeid.partition("::")[2].partition("[")
    parts = names.split("::") if names else []
    if parts:
        parts[-1] += bracket + ids
    return parts


def test_name(item: pytest.Item) -> str:
    """`Class.Nested.test[param-id]`: the test's name inside its module."""
    parts = name_parts(item.nodeid)
    return without_repetition(item, ".".join(parts) if parts else item.name)


def without_repetition(item: pytest.Item, name: str) -> str:
    """`name` without pytest-repeat's id (`test[1-3]` -> `test`): every repetition of a test
    replays (or records) the test's own cassette, as a run without `--count` does."""
    callspec: Any = getattr(item, "callspec", None)
    ids = list(getattr(callspec, "_idlist", None) or ())
    if (
        callspec is None
        or REPEAT_STEP not in callspec.params
        or not name.endswith(f"[{callspec.id}]")
    ):
        return name
    step = f"{callspec.params[REPEAT_STEP] + 1}-"
    for index in range(len(ids) - 1, -1, -1):  # pytest-repeat parametrizes last
        if ids[index].startswith(step) and ids[index][len(step) :].isdigit():
            del ids[index]
            stem = name[: -len(callspec.id) - 2]
            return f"{stem}[{'-'.join(ids)}]" if ids else stem
    return name


def safe_file_name(name: str, suffix: str = ".yaml") -> str:
    """Replace characters unsafe in file names; cut long names with a short stable hash."""
    safe = UNSAFE.sub("-", name).strip(" ") or "-"
    if len((safe + suffix).encode()) > MAX_NAME_BYTES:
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        room = MAX_NAME_BYTES - len(suffix) - len(digest) - 1
        safe = safe.encode()[:room].decode(errors="ignore") + "-" + digest
    return safe + suffix


# A test's default cassettes, by folder and suffix: worked out when the run is collected and
# again when the test opens its cassette.
_DEFAULTS = pytest.StashKey[dict[tuple[Path, str], Path]]()


def default_cassette(item: pytest.Item, cassette_dir: Path, suffix: str = ".yaml") -> Path:
    """`<cassette_dir>/<module stem>/<Class.test[params]>.yaml`."""
    known = item.stash.setdefault(_DEFAULTS, {})
    path = known.get((cassette_dir, suffix))
    if path is None:
        module_stem = Path(item.nodeid.split("::")[0]).stem
        path = cassette_dir / module_stem / safe_file_name(test_name(item), suffix)
        known[(cassette_dir, suffix)] = path
    return path


def named_cassette(name: str, cassette_dir: Path, suffix: str = ".yaml") -> Path:
    """A cassette named in the marker: relative to the cassette dir, or absolute."""
    path = Path(name)
    if not path.suffix:
        path = path.with_suffix(suffix)
    return path if path.is_absolute() else cassette_dir / path


def pytest_vcr_name(classes: Sequence[str], name: str) -> str:
    """pytest-vcr's name for a test's cassette: its innermost class and its node name, as
    pytest names it (`Inner.test_x[a:b]`: nothing replaced)."""
    return f"{classes[-1]}.{name}" if classes else name


def pytest_vcr_cassette(path: Path, nodeid: str = "") -> Path | None:
    """pytest-vcr's file for the test `nodeid` whose cassette is `path` (`cassettes/<test>.yaml`:
    its layout has no module folder), when it is there: a suite moved from pytest-vcr without
    it. Looked for by pytest-vcr's name when `path` is the test's own cassette, then by ours."""
    folder = path.parent.parent
    if folder.name != "cassettes":
        return None
    names = [path.name]
    parts = name_parts(nodeid)
    if parts and path.name == safe_file_name(".".join(parts)):
        theirs = f"{pytest_vcr_name(parts[:-1], parts[-1])}.yaml"
        if theirs != path.name:  # a test outside a class: the same name, looked for once
            names.insert(0, theirs)
    return next((folder / n for n in names if is_file(folder / n)), None)


def is_file(path: Path) -> bool:
    """Whether there is a file at `path`: False where the file system refuses the name."""
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system (pytest-vcr's names are not cut)
        return False


def matches_any(patterns: Iterable[str], path: Path) -> bool:
    """Whether pytest takes `path` for one of `patterns` (`norecursedirs`, `python_files`), as
    its fnmatch_ex does: a pattern with a separator (`tests/data`) matches the path's end, the
    others its name."""
    for pattern in patterns:
        if os.sep != "/" and os.sep not in pattern:
            pattern = pattern.replace("/", os.sep)
        if os.sep not in pattern:
            found = fnmatch(path.name, pattern)
        else:
            relative = path.is_absolute() and not os.path.isabs(pattern)
            found = fnmatch(str(path), f"*{os.sep}{pattern}" if relative else pattern)
        if found:
            return True
    return False


def is_virtualenv(path: Path) -> bool:
    """Whether pytest takes the folder for a virtualenv, which it does not go into."""
    return is_file(path / "pyvenv.cfg") or is_file(path / "conda-meta" / "history")


Stamp = tuple[int, int, int]  # (inode, mtime_ns, size): a replaced file is a new inode


def stamp_of(st: os.stat_result) -> Stamp:
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def file_stamp(path: str | os.PathLike[str], *, strict: bool = True) -> Stamp | None:
    """The file's stamp, None if there is no file. `strict`: an error other than a missing file
    (permission denied) raises, as reading the file would (the cache of read cassettes, in
    storage.py); else it gives None too (a check that must not fail a run: the files vcrpy's
    own use_cassette wrote, see libraries.py)."""
    try:
        return stamp_of(os.stat(path))
    except FileNotFoundError:
        return None
    except OSError:
        if strict:
            raise
        return None
