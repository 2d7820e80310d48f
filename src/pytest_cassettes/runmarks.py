"""The user's folder in the temp directory, and what a run did to a cassette, told to its other
processes (xdist workers share the run's id).

The folder holds the cassettes' lock files (storage) and, for each run that marked something, a
folder of its own: `run-<id>/<path key>.written` (the run recorded the cassette first) or
`.rewrite` (the run's first rewrite of it happened), empty files whose existence is the mark;
and, for a cassette the run rewrites in part, `.old`: the identities of its interactions when
the run first opened it, after its codec's name, then those its saves removed, each after a
`-`, a line each (see storage.run_old). One file, written whole and then appended to: each
file made costs a new inode, some 0.3-0.8 ms on a busy ext4 (a whole-suite rewrite of 300
named cassettes, with a `.replaced` file of their own: 1.25 s -> 1.8 s).
The run's folder goes when the run ends (`end_run`): one file per cassette and run otherwise
piled up, ten thousand after a few weeks of one developer's runs. Cheap to import: an xdist
controller, which opens no cassette, ends the run.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from pytest_cassettes.errors import LockFolderError


@functools.cache
def lock_dir() -> Path:
    """The user's folder of locks and marks in the temp directory; LockFolderError where no
    temp directory is usable (looked for at first use: a run with none still runs its tests
    that write no cassette)."""
    try:
        temp = tempfile.gettempdir()
    except OSError as exc:  # none of TMPDIR, /tmp, /var/tmp, the working folder is writable
        raise LockFolderError(reason=exc.strerror or str(exc)) from None
    # One directory per user: a directory created by another user is not writable by this one.
    try:
        owner = "-" + str(os.getuid())
    except AttributeError:  # Windows: the temp dir is per user already
        owner = ""
    return Path(temp) / f"pytest-cassettes-locks{owner}"


_RUN_PREFIX = "run-"
STALE_RUN_SECONDS = 24 * 3600  # a run's folder left by a run killed before its end


def path_key(path: Path) -> str:
    """A hash of the cassette's real path: the same for every name of the file, so writers
    through a symbolic link and through the file itself take the same lock."""
    return key_of(real_path(path)[0])


def real_path(path: Path) -> tuple[str, bool]:
    """The cassette's real path (path_key's), and whether `path` is a symbolic link (whose
    target that real path then is)."""
    name = os.fspath(path)  # str operations: pathlib's cost ~10 us a write
    if os.path.islink(name):
        return os.path.realpath(name), True
    # Resolving every component of every path cost 0.1 ms a write. abspath first: a relative
    # directory names another one once the tests chdir.
    folder, base = os.path.split(os.path.abspath(name))
    return os.path.join(_real_dir(folder), base), False


def key_of(real: str) -> str:
    """path_key of a real path (real_path's)."""
    return hashlib.sha256(real.encode()).hexdigest()[:32]


@functools.lru_cache(maxsize=1024)
def _real_dir(directory: str) -> str:
    # Once per directory and process: cassette directories are not re-linked while tests run.
    return os.path.realpath(directory)


def _run_folder(run: str) -> Path:
    return lock_dir() / f"{_RUN_PREFIX}{run}"


def _mark(path: Path, run: str, kind: str) -> Path:
    return _run_folder(run) / f"{path_key(path)}.{kind}"


def _make(mark: Path) -> None:
    """Create the empty file `mark`: nothing to read half-written."""
    try:
        mark.touch()
    except FileNotFoundError:  # the run's first mark
        _make_folder(mark)
        mark.touch()


def _make_folder(mark: Path) -> None:
    lock_dir().mkdir(mode=0o700, exist_ok=True)  # the user's alone (parents=True: umask's)
    mark.parent.mkdir(mode=0o700, parents=True, exist_ok=True)


def _create(mark: Path, flags: int = os.O_EXCL) -> int:
    """A descriptor of the file `mark`, opened for writing with O_CREAT and `flags`, and its
    folder made the first time (one system call where the folder is there)."""
    flags |= os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0)
    try:
        return os.open(mark, flags, 0o600)
    except FileNotFoundError:  # the run's first mark
        _make_folder(mark)
        return os.open(mark, flags, 0o600)


def first_rewrite(path: Path, run: str) -> bool:
    """Whether this is the run's first rewrite of `path` (called under its lock); marks it."""
    try:
        os.close(_create(_mark(path, run, "rewrite")))
    except FileExistsError:
        return False
    return True


def mark_written(path: Path, run: str) -> None:
    """Note that this run wrote `path` (see written_in). Marked before the file is written: a
    test of another worker finding the file finds the mark."""
    with contextlib.suppress(OSError, LockFolderError):
        _make(_mark(path, run, "written"))


def written_in(path: Path, run: str) -> bool:
    """Whether this run wrote `path` (a `use_cassette` block's file, another worker's). Not
    where the mark cannot be looked at (a lock folder the user may not search): the run
    cannot have written it either, nor where there is none (LockFolderError)."""
    try:
        return os.path.exists(_mark(path, run, "written"))
    except LockFolderError:
        return False


def read_lines(path: Path, run: str, kind: str) -> list[str] | None:
    """The lines of the run's `kind` record of `path`; None where there is none."""
    try:
        fd = os.open(_mark(path, run, kind), os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return None
    try:  # os.read: no buffered text file around it (three system calls fewer)
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("ascii").splitlines()


def write_lines(path: Path, run: str, kind: str, lines: list[str]) -> None:
    """Make the run's `kind` record of `path`, whole or not at all (a temporary file renamed)."""
    mark = _mark(path, run, kind)
    temp = mark.with_name(f"{mark.name}.{os.getpid()}.tmp")
    _write(_create(temp, os.O_TRUNC), lines)
    os.replace(temp, mark)


def add_lines(path: Path, run: str, kind: str, lines: list[str]) -> None:
    """Add lines to the run's `kind` record of `path` (called under the cassette's lock)."""
    _write(_create(_mark(path, run, kind), os.O_APPEND), lines)


def _write(fd: int, lines: list[str]) -> None:
    try:
        data = memoryview("".join(f"{line}\n" for line in lines).encode("ascii"))
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)


def end_run(run: str) -> None:
    """The run is over (its last process): its marks go, and those of runs killed before their
    end a day ago or more. Costs a stat in a run that marked nothing."""
    try:
        folder = _run_folder(run)
    except LockFolderError:  # the run marked nothing
        return
    if not os.path.isdir(folder):  # False where it cannot be looked at, as for written_in
        return
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError), os.scandir(lock_dir()) as entries:
        stale = _now(lock_dir()) - STALE_RUN_SECONDS
        for entry in entries:
            if entry.name.startswith(_RUN_PREFIX) and entry.stat().st_mtime < stale:
                shutil.rmtree(entry.path, ignore_errors=True)


def _now(folder: Path) -> float:
    """The time now, by the clock of the file system that dates the runs' folders: `folder`'s
    modification time, set to now. Not time.time(): a clock moved ahead (freezegun's,
    time-machine's, started in a conftest and never stopped) makes a live run's folder look a
    day old; neither moves the kernel's clock, which os.utime reads."""
    os.utime(folder)
    return os.stat(folder).st_mtime
