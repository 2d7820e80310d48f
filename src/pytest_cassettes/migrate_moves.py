"""`pytest-cassettes migrate`: pytest-vcr's flat cassettes moved to the files the migrated
tests look for.

pytest-vcr keeps a test's cassette in `cassettes/` beside its module, named `request.node.name`
(parameters in brackets, as they are) after the class of a method (the innermost one), with
`.yaml`: `cassettes/Class.test_x[a:b].yaml`. Ours is in a folder per module, named after the
whole path to the test, unsafe characters replaced (`paths.default_cassette`):
`cassettes/<module>/Outer.Class.test_x[a-b].yaml`. A flat file stays where it is when a test
left on pytest-vcr's names may read it (it is copied then), or where our file is already there.
pytest-recording's files named otherwise than ours (a nested class's: the innermost class) are
renamed in the module's folder.
"""

from __future__ import annotations

import filecmp
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pytest_cassettes.paths import is_file, pytest_vcr_name, safe_file_name

FLAT_SUFFIX = ".yaml"  # pytest-vcr's path_transformer: VCR.ensure_suffix(".yaml")


@dataclass(frozen=True)
class DefinedTest:
    """A test function as its module defines it: its classes (outermost first) and name; or
    as pytest collected it (its node id's classes and name, parameters included), with
    pytest-vcr's file for it (relative to its folder) and the one it reads once migrated
    (relative to the module's folder)."""

    classes: tuple[str, ...]
    name: str
    flat: str | None = None
    target: str | None = None
    # pytest-recording's file for it in the module's folder, where ours is another name (a
    # nested class's: pytest-recording names it after the innermost class).
    recorded: str | None = None

    @property
    def node_name(self) -> str:
        return "::".join((*self.classes, self.name))

    @property
    def vcr_name(self) -> str:
        """pytest-vcr's name for it, parameters aside: `Class.test_x` or `test_x`."""
        return pytest_vcr_name(self.classes, self.name)

    def our_name(self, flat: str) -> str | None:
        """Our file name for pytest-vcr's file named `flat` when it is this test's, else None."""
        if self.flat is not None:
            return self.target if flat == self.flat else None
        stem = flat[: -len(FLAT_SUFFIX)] if flat.endswith(FLAT_SUFFIX) else ""
        params = stem[len(self.vcr_name) :]
        if not stem.startswith(self.vcr_name) or (params and params[0] + params[-1] != "[]"):
            return None
        return safe_file_name(".".join((*self.classes, self.name)) + params)


@dataclass
class ModuleTests:
    """A module's tests with a cassette, once migrated: `moving` look for ours, in
    `<cassette_dir>/<module>/`; `staying` may still read pytest-vcr's file (why, with each)."""

    path: Path
    cassette_dir: Path
    moving: list[DefinedTest] = field(default_factory=list)
    staying: list[tuple[DefinedTest, str]] = field(default_factory=list)


@dataclass
class FlatMove:
    """What becomes of one of pytest-vcr's files."""

    source: Path
    users: int = 0  # tests that move, in one module or several (pytest-vcr shared the file)
    targets: list[Path] = field(default_factory=list)  # files to write
    present: list[Path] = field(default_factory=list)  # already there: the same file
    taken: list[Path] = field(default_factory=list)  # another file there: never overwritten
    # Another flat file goes there (ids that differ in characters our names replace).
    clashing: list[tuple[Path, Path]] = field(default_factory=list)
    kept_for: list[str] = field(default_factory=list)  # tests that may still read it
    root: Path | None = None  # pytest-vcr's folder, when the file is in a folder below it

    @property
    def keeps_source(self) -> bool:
        return bool(self.kept_for or self.taken or self.clashing)

    @property
    def changes(self) -> bool:
        return bool(self.targets) or not self.keeps_source

    @property
    def copies(self) -> bool:
        """Written to several places, or where it stays: copied, not renamed."""
        return bool(self.targets) and (len(self.targets) > 1 or self.keeps_source)

    def lines(self, write: bool) -> list[str]:
        """What was done (or would be) and why, for migrate's output."""
        found = []
        done, pending = ("copied", "would copy") if self.copies else ("moved", "would move")
        if self.targets:
            targets = ", ".join(map(str, self.targets))
            found.append(f"{done if write else pending} {self.source} -> {targets}")
        elif not self.keeps_source:
            same = ", ".join(map(str, self.present))
            verb = "removed" if write else "would remove"
            found.append(f"{verb} {self.source}: the same file is at {same}")
        places = len(self.targets) + len(self.present) + len(self.taken)
        if places > 1:
            found.append(
                f"{self.source}: pytest-vcr shared it between the tests of that name in "
                f"{places} places; each gets its own copy"
            )
        for target in self.taken:
            found.append(
                f"{self.source}: kept, not copied to {target}: another file is there (recorded "
                "anew?); compare them, keep one, delete the other"
            )
        for target, other in self.clashing:
            found.append(
                f"{self.source}: kept, not moved to {target}: {other} goes there (pytest-cassettes "
                "gives those tests one cassette); move it by hand to a file a test of yours names"
            )
        if self.kept_for:
            found.append(f"{self.source}: kept: {', '.join(self.kept_for)} may still read it")
        return found

    def apply(self) -> None:
        """Rename the file to its one target, or copy it to each and delete it unless kept."""
        for target in self.targets:
            target.parent.mkdir(parents=True, exist_ok=True)
        if len(self.targets) == 1 and not self.keeps_source:
            os.rename(self.source, self.targets[0])
        else:
            for target in self.targets:
                shutil.copy2(self.source, target)
            if not self.keeps_source:
                self.source.unlink()
        for folder in self.source.parents:  # those a `/` in the test's name made, once empty
            if self.root is None or folder == self.root or not folder.is_relative_to(self.root):
                break
            try:
                folder.rmdir()
            except OSError:  # not empty
                break


@dataclass
class MovePlan:
    moves: list[FlatMove] = field(default_factory=list)
    unmatched: list[Path] = field(default_factory=list)  # flat files of no test


def plan(modules: Sequence[ModuleTests]) -> MovePlan:
    """The moves of the flat files beside modules whose tests move (`cassettes/*.yaml`)."""
    folders: dict[Path, list[ModuleTests]] = {}
    for module in modules:
        folders.setdefault(module.path.parent, []).append(module)
    result = MovePlan()
    claimed: dict[Path, Path] = {}  # each target to write, and the file written there
    for folder, group in folders.items():
        flat = folder / "cassettes"
        if not any(m.moving for m in group) or not flat.is_dir():
            continue
        # Collected tests by their file's exact name, the others by pytest-vcr's name (their
        # file is the name, then their parameters in brackets).
        tests: dict[str, list[tuple[ModuleTests, DefinedTest, str | None]]] = {}
        for module in group:
            for test, why in [*((t, None) for t in module.moving), *module.staying]:
                tests.setdefault(test.flat or test.vcr_name, []).append((module, test, why))
        # The folder's files, and those a `/` in a test's name put in a folder below it.
        files = {p.name: p for p in flat.iterdir() if p.name.endswith(FLAT_SUFFIX)}
        files.update({name: flat / name for name in tests if "/" in name})
        moves, unmatched = [], []
        for name, source in sorted(files.items()):
            if is_file(source):
                named = tests.get(name, []) + tests.get(name[: -len(FLAT_SUFFIX)].split("[")[0], [])
                move = _move(source, name, named, claimed)
                move.root = flat
                if move.users:
                    moves.append(move)
                elif not move.kept_for:
                    unmatched.append(source)
        if moves:  # pytest-vcr's folder: the files of no test are worth a word
            result.moves += moves
            result.unmatched += unmatched
    for module in modules:  # pytest-recording's files our names differ from
        folder = module.path.parent / "cassettes" / module.path.stem
        for test in module.moving:
            if test.recorded and test.target and is_file(folder / test.recorded):
                move = FlatMove(folder / test.recorded, users=1, root=folder)
                _place(move, [module.cassette_dir / module.path.stem / test.target], claimed)
                result.moves.append(move)
    return result


def _move(
    source: Path,
    flat_name: str,
    tests: Sequence[tuple[ModuleTests, DefinedTest, str | None]],
    claimed: dict[Path, Path],
) -> FlatMove:
    move = FlatMove(source)
    targets: list[Path] = []
    for module, test, why in tests:
        name = test.our_name(flat_name)
        if name is None:
            continue
        if why is not None:
            move.kept_for.append(f"{module.path}::{test.node_name} ({why})")
            continue
        move.users += 1
        target = module.cassette_dir / module.path.stem / name
        targets += [] if target in targets else [target]
    _place(move, targets, claimed)
    return move


def _place(move: FlatMove, targets: Sequence[Path], claimed: dict[Path, Path]) -> None:
    """Where the file goes: each target no other file goes to, that holds no other file."""
    source = move.source
    for target in targets:
        if target in claimed:
            move.clashing.append((target, claimed[target]))
        elif not target.exists():
            claimed[target] = source
            move.targets.append(target)
        elif target.is_file() and filecmp.cmp(source, target, shallow=False):
            move.present.append(target)
        else:
            move.taken.append(target)
