"""`pytest-cassettes migrate`: rewrite a pytest-recording suite to pytest-cassettes' names.

Rewrites, in Python files, keeping every cassette where it is:

- `pytest.mark.vcr` -> `pytest.mark.cassette`. pytest-recording's marker names are extra,
  read-only cassettes relative to `cassettes/<module>/`, beside the test's own: they become
  `shared=["<module>/x.yaml"]` (our names are relative to `cassettes/`), at any marker level.
- `pytest.mark.default_cassette("x")` -> `pytest.mark.cassette("<module>/x.yaml")`.
- `vcr_config` -> `cassette_config` (fixture definitions, parameters, names, strings).
- `pytest_recording_configure` -> `pytest_cassettes_configure`.

`vcr_cassette_dir` is not renamed: it is the per-module directory, `cassette_dir` is the one
above it, so no rename keeps an override's paths right. An override gets a TODO comment and a
note; tests that only read it keep working (pytest-cassettes provides it while pytest-recording
is not loaded). Dry run by default: a unified diff on `out`; `write=True` rewrites the files.
"""

from __future__ import annotations

import ast
import difflib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

RENAMES = {
    "vcr_config": "cassette_config",
    "pytest_recording_configure": "pytest_cassettes_configure",
}
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "venv", "cassettes"})
DIR_TODO = (
    "# TODO(pytest-cassettes migrate): vcr_cassette_dir is the per-module directory;",
    "# pytest-cassettes stores cassettes in <cassette_dir>/<module>/<test>.yaml. Override",
    "# `cassette_dir` with the directory above, or move the files, then delete this fixture.",
)


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


def _is_mark(node: ast.AST, name: str) -> bool:
    """`pytest.mark.<name>` or `mark.<name>`."""
    if not isinstance(node, ast.Attribute) or node.attr != name:
        return False
    value = node.value
    if isinstance(value, ast.Name):
        return value.id == "mark"
    return (
        isinstance(value, ast.Attribute)
        and value.attr == "mark"
        and isinstance(value.value, ast.Name)
        and value.value.id == "pytest"
    )


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
            if os.path.isabs(name):
                return repr(name)
            return repr(f"{self.module}/{name}")
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
        if self.uses_vcr and len(self.classes) > 1 and has_tests:
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
        if _is_mark(func, "vcr"):
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
        elif _is_mark(func, "default_cassette"):
            self.handled.add(id(func))
            if node.args:
                name = self.cassette_name(node.args[0], default=True)
                self.edit(node, f"{self.mark_name(func)}({name})")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if _is_mark(node, "vcr") and id(node) not in self.handled:
            self.edit(node, self.mark_name(node))
        self.generic_visit(node)

    def _rename_def(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if node.name in RENAMES:
            line = self.offsets.lines[node.lineno - 1]
            col = line.find(node.name, line.find("def "))
            start = self.offsets.starts[node.lineno - 1] + col
            self.m.edits.append(Edit(start, start + len(node.name), RENAMES[node.name]))
        if node.name == "vcr_cassette_dir":
            first = node.decorator_list[0] if node.decorator_list else node
            line = self.offsets.lines[first.lineno - 1]
            indent = line[: len(line) - len(line.lstrip())]
            start = self.offsets.starts[first.lineno - 1]
            above = self.offsets.lines[first.lineno - 2] if first.lineno > 1 else ""
            if above.strip() != DIR_TODO[-1]:  # not yet marked by an earlier run
                todo = "".join(f"{indent}{line}\n" for line in DIR_TODO)
                self.m.edits.append(Edit(start, start, todo))
            self.note(node, "vcr_cassette_dir override left in place: see the TODO comment")
        self.generic_visit(node)

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


def migrate_file(path: Path) -> FileMigration:
    """The edits one file needs (none when it is already migrated)."""
    source = path.read_text(encoding="utf-8")
    migration = FileMigration(path, source)
    tree = ast.parse(source, filename=str(path))
    migrator = _Migrator(migration)
    migrator.uses_vcr = any(_is_mark(node, "vcr") for node in ast.walk(tree))
    migrator.visit(tree)
    return migration


def migrate(paths: Sequence[str], write: bool, out: TextIO) -> int:
    """Rewrite pytest-recording names under `paths`; print a diff (dry run) or write files.

    Returns 0 when nothing needs to change or the files were written, 1 when a dry run found
    changes, 2 when a file could not be read or parsed.
    """
    changed = failed = 0
    for path in python_files(paths):
        try:
            migration = migrate_file(path)
        except (OSError, UnicodeDecodeError, SyntaxError) as exc:
            out.write(f"{path}: error: {exc}\n")
            failed += 1
            continue
        new = migration.migrated
        if new != migration.source:
            changed += 1
            if write:
                path.write_text(new, encoding="utf-8")
                out.write(f"migrated {path}\n")
            else:
                out.writelines(
                    difflib.unified_diff(
                        migration.source.splitlines(keepends=True),
                        new.splitlines(keepends=True),
                        fromfile=f"a/{path}",
                        tofile=f"b/{path}",
                    )
                )
        for note in migration.notes:
            out.write(f"{note}\n")
    verb = "migrated" if write else "would migrate"
    out.write(f"{verb} {changed} file{'s' if changed != 1 else ''}\n")
    if failed:
        return 2
    return 1 if changed and not write else 0
