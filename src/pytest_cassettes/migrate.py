"""`pytest-cassettes migrate`: rewrite a pytest-recording suite to pytest-cassettes' names.

Rewrites, in Python files, keeping pytest-recording's cassettes where they are:

- `pytest.mark.vcr` -> `pytest.mark.cassette`. pytest-recording's marker names are extra,
  read-only cassettes relative to `cassettes/<module>/`, beside the test's own: they become
  `shared=["<module>/x.yaml"]` (our names are relative to `cassettes/`), at any marker level.
- `pytest.mark.default_cassette("x")` -> `pytest.mark.cassette("<module>/x.yaml")`.
- `vcr_config` -> `cassette_config` (fixture definitions, parameters, names, strings).
- `pytest_recording_configure` -> `pytest_cassettes_configure`.
- pytest-vcr's `vcr_cassette_name` -> `default_cassette_name` (pytest-recording's name).

and in the files configuring pytest, pytest-vcr's flags (`--vcr-record` -> `--record-mode`).

A `default_cassette_name` or `vcr_cassette_dir` override (in the module, or a conftest.py of
its directory or above) names or places the cassettes of the `vcr` tests under it, and only of
theirs: our marker's names are fixed, and `vcr_cassette_dir` is the per-module directory (or
pytest-vcr's flat one) where `cassette_dir` is the one above it, so no rename keeps its paths
right. The `vcr` and `default_cassette` markers of the tests under it (a class's: see
migrate_scope) are left as they are (pytest-cassettes honours them), with a note, and the
override gets a TODO saying how to move on.

pytest-vcr's flat cassettes (`cassettes/<test>.yaml`), and pytest-recording's files our names
differ from, are moved to the files the migrated tests look for (see migrate_moves), the tests
known from pytest's collection (migrate_collect), else from their source.

Dry run by default: a unified diff and the moves on `out`; `write=True` rewrites the files and
moves the cassettes.
"""

from __future__ import annotations

import ast
import difflib
import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pytest_cassettes.migrate_advice import advice
from pytest_cassettes.migrate_collect import (
    CASSETTE_FIXTURES,
    COLLECT_TIMEOUT,
    VCR_NAME_FIXTURE,
    CollectedTest,
    Collection,
    collect,
)
from pytest_cassettes.migrate_moves import DefinedTest, ModuleTests, plan
from pytest_cassettes.migrate_scope import (
    DIR_FIXTURE,
    LEFT_MARKS,
    NAME_FIXTURE,
    Override,
    Scope,
    defines_fixture,
    is_mark,
    overrides_in,
    scope,
)

RENAMES = {
    "vcr_config": "cassette_config",
    "pytest_recording_configure": "pytest_cassettes_configure",
    VCR_NAME_FIXTURE: "default_cassette_name",  # pytest-vcr's name for it
}
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "venv", "cassettes"})
DIR_TODO = (
    "# TODO(pytest-cassettes migrate): vcr_cassette_dir places the cassettes of",
    "# @pytest.mark.vcr tests only, so migrate left the vcr markers of the tests under it.",
    "# pytest-cassettes stores cassettes in <cassette_dir>/<module>/<Class.test[params]>.yaml:",
    "# move the files there (migrate moves pytest-vcr's flat cassettes/<test>.yaml itself",
    "# once this fixture is gone) or override `cassette_dir` with the directory above the",
    "# per-module one, delete this fixture, run migrate again.",
)
NAME_TODO = (
    "# TODO(pytest-cassettes migrate): default_cassette_name names the cassettes of",
    "# @pytest.mark.vcr tests only, so migrate left the vcr markers of the tests under it.",
    "# To move them to @pytest.mark.cassette, rename their files to pytest-cassettes' names",
    "# (<module>/<Class.test[params]>.yaml) or name each cassette in its marker",
    '# (@pytest.mark.cassette("<module>/<name>.yaml")), delete this fixture, run migrate again.',
)
# What ends the search for conftest.py files upwards: a file configuring pytest (its rootdir,
# above which it loads no conftest.py: a plain pyproject.toml or setup.cfg is none), or `.git`.
ROOT_FILES = {
    "pytest.ini": "",
    ".pytest.ini": "",
    "pyproject.toml": "[tool.pytest",
    "tox.ini": "[pytest]",
    "setup.cfg": "[tool:pytest]",
}


# pytest-vcr's flags (pytest stops at them once it is uninstalled), and ours.
FLAGS = {
    "--vcr-record-mode": "--record-mode",  # pytest-vcr's deprecated spelling
    "--vcr-record": "--record-mode",
    "--disable-vcr": "--cassette-disable",
}
FLAG = re.compile("|".join(rf"{re.escape(flag)}\b" for flag in FLAGS))
# Our ini option, in the file configuring pytest: the cassettes are in <it>/<module>/.
CASSETTE_DIR_OPTION = re.compile(
    r"^[ \t]*cassette_dir[ \t]*=[ \t]*[\"']?([^\"'#;\n]+?)[\"']?[ \t]*$", re.M
)


def _root_config(folder: Path) -> str | None:
    """The text of pytest's section of the file configuring it in `folder` ("" for `.git`
    alone), None if `folder` is not where the search for conftest.py files (and pytest's
    rootdir) ends."""
    for name, section in ROOT_FILES.items():
        try:
            text = (folder / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if section in text:
            return _section(text, section)
    return "" if (folder / ".git").exists() else None


def _section(text: str, header: str) -> str:
    """The lines under the section whose header starts with `header`, up to the next header
    (another tool's `cassette_dir` in tox.ini or setup.cfg is not ours); all of a pytest.ini."""
    if not header:
        return text
    start = re.search(rf"^[ \t]*{re.escape(header)}[^\n]*$", text, re.M)
    if start is None:
        return ""
    following = re.compile(r"^[ \t]*\[", re.M).search(text, start.end())
    return text[start.end() : following.start() if following else len(text)]


def _is_root(folder: Path) -> bool:
    return _root_config(folder) is not None


def cassette_dir(folder: Path) -> Path:
    """Where pytest-cassettes looks for the cassettes of the tests in `folder`: the ini option
    `cassette_dir` (relative to the folder of the file setting it), else `cassettes/` there."""
    here = folder.resolve()
    for parent in (here, *here.parents):
        text = _root_config(parent)
        if text is not None:
            found = CASSETTE_DIR_OPTION.search(text)
            if found:
                return _shown(parent / found.group(1))
            break
    return folder / "cassettes"


@dataclass
class Edit:
    start: int  # offsets in the source text
    end: int
    text: str


@dataclass
class FileMigration:
    path: Path
    source: str
    edits: list[Edit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Its tests that will look for our per-module cassette, and those that may still read
    # pytest-vcr's flat one (with why): see migrate_moves.
    moving: list[DefinedTest] = field(default_factory=list)
    staying: list[tuple[DefinedTest, str]] = field(default_factory=list)

    @property
    def migrated(self) -> str:
        text = self.source
        for edit in sorted(self.edits, key=lambda e: e.start, reverse=True):
            text = text[: edit.start] + edit.text + text[edit.end :]
        return text


def python_files(paths: Sequence[str]) -> Iterator[Path]:
    """The .py files under the given files and directories, in a stable order."""
    for name in paths:
        path = Path(name)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
                for file in sorted(files):
                    if file.endswith(".py"):
                        yield Path(root, file)
        else:
            yield path


class _Offsets:
    """ast positions (line, UTF-8 byte column) -> offsets in the text."""

    def __init__(self, source: str) -> None:
        self.lines = source.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def __call__(self, line: int, col: int) -> int:
        text = self.lines[line - 1] if line - 1 < len(self.lines) else ""
        return self.starts[line - 1] + len(text.encode()[:col].decode(errors="ignore"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        return (
            self(node.lineno, node.col_offset),  # type: ignore[attr-defined]
            self(node.end_lineno, node.end_col_offset),  # type: ignore[attr-defined]
        )


def _names_fixture(node: ast.AST) -> bool:
    """A `default_cassette_name` fixture, or pytest-vcr's `vcr_cassette_name` (renamed)."""
    return defines_fixture(node, NAME_FIXTURE) or defines_fixture(node, VCR_NAME_FIXTURE)


def _pytestmark(body: list[ast.stmt]) -> list[ast.expr]:
    """The marks of a module's or class's `pytestmark = ...` (one mark or a list of them)."""
    for node in body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id == "pytestmark" and value is not None:
            return list(value.elts) if isinstance(value, (ast.List, ast.Tuple)) else [value]
    return []


def _cassette_marks(marks: list[ast.expr]) -> tuple[bool, bool]:
    """Whether these marks give a test its cassette (`vcr`, `cassette`, `usefixtures` of
    one), and whether they name or place it (a name, `default_cassette`, a library dir)."""
    uses = named = False
    for mark in marks:
        call = mark if isinstance(mark, ast.Call) else None
        func = call.func if call else mark
        if is_mark(func, "vcr") or is_mark(func, "cassette"):
            uses = True
            if call and (
                (call.args and is_mark(func, "cassette"))
                or any(k.arg == "cassette_library_dir" for k in call.keywords)
            ):
                named = True
        elif is_mark(func, "default_cassette"):
            named = True
        elif is_mark(func, "usefixtures") and call:
            uses = uses or any(
                isinstance(a, ast.Constant) and a.value in CASSETTE_FIXTURES for a in call.args
            )
    return uses, named


def cassette_tests(tree: ast.Module) -> tuple[list[DefinedTest], list[DefinedTest]]:
    """A module's tests with a cassette: those on their default one (pytest-vcr's name, in
    its layout), and those whose marker names or places it."""
    default: list[DefinedTest] = []
    named: list[DefinedTest] = []

    def visit(body: list[ast.stmt], classes: tuple[str, ...], outer: tuple[bool, bool]) -> None:
        here = _cassette_marks(_pytestmark(body))
        uses, names = outer[0] or here[0], outer[1] or here[1]
        for node in body:
            if isinstance(node, ast.ClassDef):
                own = _cassette_marks(node.decorator_list)
                visit(node.body, (*classes, node.name), (uses or own[0], names or own[1]))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                node.name.startswith("test")
            ):
                own = _cassette_marks(node.decorator_list)
                arguments = {a.arg for a in (*node.args.args, *node.args.kwonlyargs)}
                if uses or own[0] or arguments & CASSETTE_FIXTURES:
                    test = DefinedTest(classes, node.name)
                    (named if names or own[1] else default).append(test)

    visit(tree.body, (), (False, False))
    return default, named


def _parsed(path: Path) -> ast.Module | None:
    """A module migrate reads but does not rewrite (a conftest.py, a sibling), if it parses."""
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return None


class _Overrides:
    """Where the `default_cassette_name` overrides applying to a file are: the file's own and
    those of the conftest.py files of its directory and above."""

    def __init__(self) -> None:
        self.conftests: dict[Path, list[tuple[int, str]]] = {}

    def conftest(self, path: Path) -> list[tuple[int, str]]:
        if path not in self.conftests:
            tree = _parsed(path)
            self.conftests[path] = [] if tree is None else overrides_in(tree.body)
        return self.conftests[path]

    def of(self, path: Path, tree: ast.Module) -> list[Override]:
        """The overrides applying to every test of a file (its top level's, its conftest.py
        files'): each fixture's name, and where it is."""
        found = [
            (name, f"the {name} fixture of {path}:{line}") for line, name in overrides_in(tree.body)
        ]
        here = path.resolve()
        for folder in here.parents:
            conftest = folder / "conftest.py"
            if conftest != here and conftest.is_file():
                shown = _shown(conftest)
                found += [
                    (name, f"the {name} fixture of {shown}:{line}")
                    for line, name in self.conftest(conftest)
                ]
            if _is_root(folder):
                break
        return found


def _shown(path: Path) -> Path:
    """A path relative to the working directory when it is under it."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _literal(text: str, like: str) -> str:
    """`text` as a Python string, in the quotes of the literal `like` where they can hold it
    (the double quotes of a formatted file kept: repr's single ones failed its check)."""
    literal = repr(text)
    if like.lstrip("rRuU")[:1] == '"' and literal[0] == "'" and '"' not in text:
        return f'"{literal[1:-1]}"'
    return literal


def _with_suffix(name: str) -> str:
    return name if name.endswith(".yaml") else name + ".yaml"


class _Migrator(ast.NodeVisitor):
    def __init__(self, migration: FileMigration) -> None:
        self.m = migration
        self.offsets = _Offsets(migration.source)
        self.module = migration.path.stem
        self.handled: set[int] = set()  # ids of mark attributes rewritten as part of a call
        self.classes: list[str] = []
        self.uses_vcr = False
        self.collected = False  # the module's tests are known from pytest's collection
        self.vcr_args: list[bool] = []  # whether each function around takes a `vcr` argument
        # The tests left on vcr under default_cassette_name and vcr_cassette_dir overrides,
        # and their markers.
        self.scope = Scope()
        # What vcrpy's own use_cassette is reached by here: its module and the VCR class as
        # imported, names given a vcr.VCR(...); and use_cassette itself, imported.
        self.vcrpy: set[str] = set()
        self.vcrpy_use: set[str] = set()
        self.dropped: set[int] = set()  # ids of bare vcr markers a default_cassette replaces
        self.names: Counter[str] = Counter()  # the module's uses of each name (`pytest`, `mark`)

    def segment(self, node: ast.AST) -> str:
        start, end = self.offsets.span(node)
        return self.m.source[start:end]

    def edit(self, node: ast.AST, text: str) -> None:
        start, end = self.offsets.span(node)
        self.m.edits.append(Edit(start, end, text))

    def note(self, node: ast.AST, message: str) -> None:
        self.m.notes.append(f"{self.m.path}:{node.lineno}: {message}")  # type: ignore[attr-defined]

    def cassette_name(self, arg: ast.expr, *, default: bool) -> str:
        """A pytest-recording cassette name, relative to `cassettes/`, as source text."""
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            name = _with_suffix(arg.value) if default else arg.value
            if not os.path.isabs(name):
                name = f"{self.module}/{name}"
            return _literal(name, self.segment(arg))
        self.note(
            arg,
            f"cassette name {self.segment(arg)} is now relative to cassettes/, "
            f"not cassettes/{self.module}/: check it",
        )
        return self.segment(arg)

    def mark_name(self, func: ast.expr) -> str:
        return self.segment(func).rsplit(".", 1)[0] + ".cassette"

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.classes.append(node.name)
        has_tests = any(
            isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test")
            for n in node.body
        )
        told = has_tests and not self.collected  # collected: the files are renamed (plan)
        left = self.scope.of(tuple(self.classes)) is not None
        if self.uses_vcr and not left and len(self.classes) > 1 and told:
            full = ".".join(self.classes)
            self.note(
                node,
                f"tests of nested class {full}: pytest-recording named their cassettes "
                f"{node.name}.<test>.yaml, pytest-cassettes names them {full}.<test>.yaml; "
                f"rename cassettes/{self.module}/{node.name}.* to {full}.*",
            )
        self.generic_visit(node)
        self.classes.pop()

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        pytest_vcr = (
            any(self.vcr_args)
            and isinstance(func, ast.Attribute)
            and func.attr == "use_cassette"
            and isinstance(func.value, ast.Name)
            and func.value.id == "vcr"
        )
        if not pytest_vcr and self._vcrpy_use_cassette(func):
            names = ", ".join(self.segment(a) for a in node.args)
            self.note(
                node,
                "vcrpy's own use_cassette: pytest-cassettes neither scrubs its cassette (a "
                "login's password, token and session cookie are written unscrubbed) nor "
                "chooses its record mode or place: write "
                f"`pytest_cassettes.use_cassette(request, {names or '<name>'})` (relative to "
                "cassettes/ beside the file), with `request` the fixture's argument",
            )
        if pytest_vcr:
            names = ", ".join(self.segment(a) for a in node.args)
            self.note(
                node,
                "vcr.use_cassette(...) of pytest-vcr's `vcr` fixture (a vcr.VCR; "
                "pytest-cassettes' is the test's cassette, None without one): write "
                f"`pytest_cassettes.use_cassette(request, {names or '<name>'})` (relative to "
                "cassettes/ beside the file, as pytest-vcr's were), with `request` the test's "
                "or fixture's argument",
            )
        if id(func) in self.scope.marks or id(node) in self.dropped:
            self.handled.add(id(func))  # left as it is (see migrate_file), or dropped
        elif is_mark(func, "vcr"):
            self.handled.add(id(func))
            if any(k.arg == "cassette_library_dir" for k in node.keywords):
                # Our marker has no such option; the `vcr` marker keeps working (compat).
                self.note(
                    node,
                    "@pytest.mark.vcr(cassette_library_dir=...) left as it is: pytest-cassettes "
                    "honours it for vcr tests (a flat directory, relative to where pytest runs)",
                )
            elif node.args:
                kwargs = [self.segment(k) for k in node.keywords]
                shared = ", ".join(self.cassette_name(a, default=False) for a in node.args)
                self.edit(
                    node, f"{self.mark_name(func)}({', '.join([*kwargs, f'shared=[{shared}]'])})"
                )
            else:
                self.edit(func, self.mark_name(func))
        elif is_mark(func, "default_cassette"):
            self.handled.add(id(func))
            if node.args:
                name = self.cassette_name(node.args[0], default=True)
                self.edit(node, f"{self.mark_name(func)}({name})")
        self.generic_visit(node)

    def _vcrpy_use_cassette(self, func: ast.expr) -> bool:
        """Whether `func` is vcrpy's use_cassette: `vcr.use_cassette`, a VCR's, imported."""
        if isinstance(func, ast.Name):
            return func.id in self.vcrpy_use
        if not isinstance(func, ast.Attribute) or func.attr != "use_cassette":
            return False
        owner = func.value
        if isinstance(owner, ast.Call):  # vcr.VCR(...).use_cassette(...)
            owner = owner.func
        if isinstance(owner, ast.Attribute) and owner.attr == "VCR":
            owner = owner.value
        return isinstance(owner, ast.Name) and owner.id in self.vcrpy

    def visit_Import(self, node: ast.Import) -> None:
        self.vcrpy.update(a.asname or a.name for a in node.names if a.name == "vcr")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module == "vcr":
            self.vcrpy.update(a.asname or a.name for a in node.names if a.name == "VCR")
            self.vcrpy_use.update(
                a.asname or a.name for a in node.names if a.name == "use_cassette"
            )

    def visit_Assign(self, node: ast.Assign) -> None:
        value = node.value
        if isinstance(value, ast.Call) and self._vcrpy_use_cassette(
            ast.Attribute(value=value.func, attr="use_cassette")
        ):
            self.vcrpy.update(t.id for t in node.targets if isinstance(t, ast.Name))
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        left = self.handled | self.scope.marks | self.dropped
        if is_mark(node, "vcr") and id(node) not in left:
            self.edit(node, self.mark_name(node))
        self.generic_visit(node)

    def _rename_def(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.vcr_args.append(any(a.arg == "vcr" for a in (*node.args.args, *node.args.kwonlyargs)))
        if node.name in RENAMES:
            line = self.offsets.lines[node.lineno - 1]
            col = line.find(node.name, line.find("def "))
            start = self.offsets.starts[node.lineno - 1] + col
            self.m.edits.append(Edit(start, start + len(node.name), RENAMES[node.name]))
        if defines_fixture(node, DIR_FIXTURE):
            self.todo(node, DIR_TODO)
            self.note(
                node,
                "vcr_cassette_dir override left in place: it places the cassettes of vcr tests "
                "only, so the vcr markers of the tests under it are left as they are; see the "
                "TODO comment",
            )
        if _names_fixture(node):
            self.todo(node, NAME_TODO)
            self.note(
                node,
                f"{node.name} override {'renamed' if node.name in RENAMES else 'left'} "
                f"{'to default_cassette_name' if node.name in RENAMES else 'in place'}: it names "
                "the cassettes of vcr tests only, so the vcr markers of the tests under it are "
                "left as they are; see the TODO comment",
            )
        self._drop_bare_vcr(node)
        self.generic_visit(node)
        self.vcr_args.pop()

    def _drop_bare_vcr(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        """A bare `@pytest.mark.vcr` beside a `default_cassette` marker that names the
        cassette goes: the latter becomes `@pytest.mark.cassette(name)`, which says it all
        (two cassette markers on the test otherwise). Only a marker alone on its line."""
        decorators = node.decorator_list
        named = any(
            isinstance(d, ast.Call)
            and is_mark(d.func, "default_cassette")
            and d.args
            and id(d.func) not in self.scope.marks
            for d in decorators
        )
        if not named:
            return
        for decorator in decorators:
            mark = decorator.func if isinstance(decorator, ast.Call) else decorator
            bare = not isinstance(decorator, ast.Call) or not (decorator.args or decorator.keywords)
            if not (is_mark(mark, "vcr") and bare) or id(mark) in self.scope.marks:
                continue
            line = decorator.lineno
            if decorator.end_lineno != line:
                continue
            if self.offsets.lines[line - 1].strip() != f"@{self.segment(decorator)}":
                continue
            root = mark
            while isinstance(root, ast.Attribute):
                root = root.value
            if not isinstance(root, ast.Name) or self.names[root.id] <= 1:
                continue  # its last use: `from pytest import mark` left unused fails a linter
            self.names[root.id] -= 1
            self.dropped.update((id(decorator), id(mark)))
            self.m.edits.append(Edit(self.offsets.starts[line - 1], self.offsets.starts[line], ""))

    def todo(self, node: ast.FunctionDef | ast.AsyncFunctionDef, todo: tuple[str, ...]) -> None:
        """The comment above a fixture definition (its decorators), once."""
        first = node.decorator_list[0] if node.decorator_list else node
        line = self.offsets.lines[first.lineno - 1]
        indent = line[: len(line) - len(line.lstrip())]
        start = self.offsets.starts[first.lineno - 1]
        above = self.offsets.lines[first.lineno - 2] if first.lineno > 1 else ""
        if above.strip() != todo[-1]:  # not yet marked by an earlier run
            self.m.edits.append(Edit(start, start, "".join(f"{indent}{t}\n" for t in todo)))

    visit_FunctionDef = _rename_def
    visit_AsyncFunctionDef = _rename_def

    def visit_arg(self, node: ast.arg) -> None:
        if node.arg in RENAMES:
            start = self.offsets(node.lineno, node.col_offset)
            self.m.edits.append(Edit(start, start + len(node.arg), RENAMES[node.arg]))

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in RENAMES:
            self.edit(node, RENAMES[node.id])

    def visit_Constant(self, node: ast.Constant) -> None:
        # request.getfixturevalue("vcr_config"), usefixtures("vcr_config")
        if isinstance(node.value, str) and node.value in RENAMES:
            text = self.segment(node)
            if text[:1] in "'\"" and text[1:-1] == node.value:
                self.edit(node, text[0] + RENAMES[node.value] + text[0])


def migrate_file(
    path: Path,
    overrides: _Overrides | None = None,
    collected: Sequence[CollectedTest] | None = None,
) -> FileMigration:
    """The edits one file needs (none when it is already migrated), and its tests with a
    cassette: as pytest `collected` them, else as its source defines them."""
    source = path.read_text(encoding="utf-8")
    migration = FileMigration(path, source)
    tree = ast.parse(source, filename=str(path))
    migrator = _Migrator(migration)
    marks = [node for node in ast.walk(tree) if any(is_mark(node, n) for n in LEFT_MARKS)]
    migrator.uses_vcr = any(is_mark(node, "vcr") for node in marks)
    migrator.collected = collected is not None
    default, named = cassette_tests(tree) if collected is None else ([], [])
    uses = [test for test in collected or () if test.cassette]
    if marks or default or uses:
        module = (overrides or _Overrides()).of(path, tree)
        migrator.scope = scope(tree, str(path), module)
    left = migrator.scope.of
    for use in uses:
        # Left on `vcr`, it reads the name default_cassette_name (vcr_cassette_name renamed)
        # or pytest-recording gives it.
        target = use.recording if left(use.parts[:-1]) is not None and use.vcr else use.ours
        if use.name_problem:
            migration.notes.append(_uncalled(path, use, target))
            continue
        recorded = use.recording if target != use.recording else None
        defined = DefinedTest(use.parts[:-1], use.parts[-1], use.pytest_vcr, target, recorded)
        (named if use.named else default).append(defined)
    migration.staying = [(test, "its marker names or places its cassette") for test in named]
    # vcr_cassette_dir places their cassettes, default_cassette_name names them: pytest-vcr's
    # files stay (a renamed vcr_cassette_name's names are known once collected).
    for test in default:
        found = left(test.classes)
        if found is not None and (
            collected is None or any(f != VCR_NAME_FIXTURE for f, _ in found)
        ):
            migration.staying.append((test, "left on vcr under an override"))
        else:
            migration.moving.append(test)
    kept = [node for node in marks if id(node) in migrator.scope.marks]
    if kept:
        # Our marker's names are fixed: rewritten, these tests would look for other files.
        first = min(kept, key=lambda n: (n.lineno, n.col_offset))  # type: ignore[attr-defined]
        migrator.note(
            first,
            f"vcr markers{migrator.scope.described()} left as they are: their cassettes are "
            f"named or placed by {', '.join(migrator.scope.named_by())}, which pytest-cassettes "
            "honours for vcr tests only (see the TODO there)",
        )
    migrator.names.update(node.id for node in ast.walk(tree) if isinstance(node, ast.Name))
    migrator.visit(tree)
    return migration


def _uncalled(path: Path, test: CollectedTest, target: str) -> str:
    """What to do with the file of a test named by a `vcr_cassette_name` override migrate
    could not call."""
    folder = cassette_dir(path.parent) / path.stem
    where = f"{folder}/<the same name>.yaml" if target == test.recording else f"{folder}/{target}"
    return (
        f"{path}::{'::'.join(test.parts)}: migrate could not call the {test.name_override} "
        f"({test.name_problem}): move {path.parent / 'cassettes'}/<what it returns for this "
        f"test>.yaml to {where}"
    )


def _collection(
    paths: Sequence[str], files: Sequence[Path], out: TextIO, timeout: float
) -> Collection | None:
    """What pytest collects under `paths`, when pytest-vcr's flat cassettes may be beside
    the files (a `cassettes/` folder): the tests whose files move."""
    if not any((file.parent / "cassettes").is_dir() for file in files):
        return None
    collection = collect(paths, timeout)
    if collection.failure:
        out.write(
            f"pytest could not collect {' '.join(paths)} ({collection.failure}): cassettes are "
            "matched to the tests the files define, without the markers conftest hooks add, "
            "the tests classes inherit, parameter ids or vcr_cassette_name overrides\n"
        )
        if collection.timed_out:
            out.write(
                "(does a conftest.py or a test module wait on something, a server, a lock? "
                "`pytest --collect-only` shows it; --collect-timeout=SECONDS gives pytest "
                "longer, 0 no limit)\n"
            )
        return None
    return collection


def migrate(
    paths: Sequence[str], write: bool, out: TextIO, collect_timeout: float = COLLECT_TIMEOUT
) -> int:
    """Rewrite pytest-recording names under `paths` and move pytest-vcr's flat cassettes;
    print a diff and the moves (dry run) or write files and move them. pytest's collection of
    `paths` is given `collect_timeout` seconds (0: no limit).

    Returns 0 when nothing needs to change or the files were written, 1 when a dry run found
    changes, 2 when a file could not be read or parsed, or a cassette could not be moved.
    """
    changed = failed = 0
    noted = False
    overrides = _Overrides()
    modules: list[ModuleTests] = []
    files = list(python_files(paths))
    collection = _collection(paths, files, out, collect_timeout)
    for path in files:
        collected = None
        error = collection.errors.get(path.resolve()) if collection is not None else None
        if error is not None:
            out.write(
                f"{path}: pytest could not collect it ({error}): its cassettes are matched to "
                "the tests it defines\n"
            )
        elif collection is not None:
            collected = collection.tests.get(path.resolve(), [])  # none: not a test module
        try:
            migration = migrate_file(path, overrides, collected)
        except (OSError, UnicodeDecodeError, SyntaxError) as exc:
            out.write(f"{path}: error: {exc}\n")
            failed += 1
            continue
        if migration.moving or migration.staying:
            modules.append(
                ModuleTests(path, cassette_dir(path.parent), migration.moving, migration.staying)
            )
        changed += _apply(migration, write, out)
        noted = noted or bool(migration.notes)
    for config in _config_files(paths):
        changed += _apply(_config_migration(config), write, out)
    moved = copied = 0
    moves = plan([*modules, *_siblings(modules)])
    for move in moves.moves:
        if write and move.changes:
            try:
                move.apply()
            except OSError as exc:
                out.write(f"{move.source}: error: {exc}\n")
                failed += 1
                continue
        copied += move.copies
        moved += move.changes and not move.copies
        out.writelines(f"{line}\n" for line in move.lines(write))
    for source in moves.unmatched:
        out.write(
            f"{source}: left where it is: no migrated test of {source.parent.parent} has this "
            "name (a cassette a marker or use_cassette names stays valid there)\n"
        )
    if changed or moved or copied or noted:  # the tree used the old plugin's names
        folders = {d for f in files for d in (cassette_dir(f.parent), f.parent / "cassettes")}
        out.writelines(f"{line}\n" for line in advice(_roots(paths), folders))
    verb = "migrated" if write else "would migrate"
    summary = f"{verb} {changed} file{'s' if changed != 1 else ''}"
    for count, done, pending in ((moved, "moved", "move"), (copied, "copied", "copy")):
        if count:
            summary += f", {done if write else pending} {count} cassette{'s' if count != 1 else ''}"
    out.write(f"{summary}\n")
    if failed:
        return 2
    return 1 if (changed or moved or copied) and not write else 0


def _apply(migration: FileMigration, write: bool, out: TextIO) -> bool:
    """Write the migrated file, or print its diff; and its notes. Whether it changes."""
    path, new = migration.path, migration.migrated
    if new != migration.source:
        if write:
            path.write_text(new, encoding="utf-8")
            out.write(f"migrated {path}\n")
        else:
            for line in difflib.unified_diff(
                migration.source.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"a/{path}",
                tofile=f"b/{path}",
            ):
                # A last line without its newline is marked as `diff -u` marks it, so that
                # what follows starts a line of its own.
                end = "" if line.endswith("\n") else "\n\\ No newline at end of file\n"
                out.write(line + end)
    out.writelines(f"{note}\n" for note in migration.notes)
    return new != migration.source


def _roots(paths: Sequence[str]) -> list[Path]:
    """The folders configuring pytest for `paths` (their rootdirs), as shown, once each."""
    found: list[Path] = []
    for name in paths:
        here = Path(name).resolve()
        for folder in (here, *here.parents) if here.is_dir() else here.parents:
            if _is_root(folder):
                found += [] if _shown(folder) in found else [_shown(folder)]
                break
    return found


def _config_files(paths: Sequence[str]) -> Iterator[Path]:
    """The files in the folder configuring pytest for `paths` (its rootdir), once each."""
    for folder in _roots(paths):
        yield from (folder / f for f in ROOT_FILES if (folder / f).is_file())


def _config_migration(path: Path) -> FileMigration:
    """pytest-vcr's flags in a configuration file (`addopts`, tox's `commands`) as ours."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        source = ""
    edits = [Edit(m.start(), m.end(), FLAGS[m.group()]) for m in FLAG.finditer(source)]
    return FileMigration(path, source, edits)


def _siblings(modules: Sequence[ModuleTests]) -> Iterator[ModuleTests]:
    """The modules beside those whose tests move that migrate was not given: their tests may
    still read pytest-vcr's files of the same names."""
    given = {m.path.resolve() for m in modules}
    for folder in sorted({m.path.parent for m in modules if m.moving}):
        for path in sorted(folder.glob("*.py")):
            if path.resolve() in given:
                continue
            tree = _parsed(path)
            if tree is None:
                continue
            default, named = cassette_tests(tree)
            why = "not given to migrate"
            yield ModuleTests(path, folder / "cassettes", [], [(t, why) for t in default + named])
