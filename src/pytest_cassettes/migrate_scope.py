"""`pytest-cassettes migrate`: which tests of a module stay on `vcr` under the fixtures naming or
placing their cassettes.

A `default_cassette_name` (pytest-vcr's `vcr_cassette_name`) or `vcr_cassette_dir` override
names or places the cassettes of `vcr` tests only, so the tests under it keep their markers. In
a conftest.py or at a module's top level it applies to every test of the module; in a class, to
the tests of that class, of the classes inside it and of its subclasses, as pytest finds its
fixtures. Left as they are, their markers must be the only cassette markers of those tests (a
test carrying both `vcr` and `cassette` is refused): a module's `pytestmark`, an enclosing
class's or a base class's markers stay too, and so do the markers of every test they apply to.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field

from pytest_cassettes.migrate_collect import VCR_NAME_FIXTURE

DIR_FIXTURE = "vcr_cassette_dir"
NAME_FIXTURE = "default_cassette_name"
OVERRIDES = (NAME_FIXTURE, VCR_NAME_FIXTURE, DIR_FIXTURE)
LEFT_MARKS = ("vcr", "default_cassette")  # pytest-recording's markers a scope leaves

ClassPath = tuple[str, ...]  # a class's name and those of the classes around it, outermost first
Override = tuple[str, str]  # a fixture's name, and "the <name> fixture of <path>:<line>"


def is_mark(node: ast.AST, name: str) -> bool:
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


def defines_fixture(node: ast.AST, fixture: str) -> bool:
    """A definition of the fixture: `def <fixture>` or `@pytest.fixture(name="<fixture>")`."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not node.decorator_list:
        return False
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Call) and any(
            k.arg == "name" and isinstance(k.value, ast.Constant) and k.value.value == fixture
            for k in decorator.keywords
        ):
            return True
    return node.name == fixture and any("fixture" in ast.unparse(d) for d in node.decorator_list)


def overrides_in(body: list[ast.stmt]) -> list[tuple[int, str]]:
    """The lines of the `default_cassette_name`, `vcr_cassette_name` and `vcr_cassette_dir`
    fixtures a module's or a class's body defines, with the fixture's name."""
    return [(n.lineno, f) for n in body for f in OVERRIDES if defines_fixture(n, f)]


@dataclass
class Scope:
    """A module's tests left on `vcr`, and the markers left as they are."""

    module: list[Override] = field(default_factory=list)  # overrides applying to every test
    whole: bool = False  # every test of the module stays (module-wide overrides, or pytestmark)
    # Classes whose tests stay, with the overrides each defines or inherits (none: they stay
    # for sharing a marker with such tests).
    classes: dict[ClassPath, list[Override]] = field(default_factory=dict)
    marks: set[int] = field(default_factory=set)  # id()s of the marker attributes left

    def of(self, classes: ClassPath) -> list[Override] | None:
        """The overrides applying to a test in `classes` (outermost first) when it stays on
        `vcr` (none: it stays for sharing a marker), else None."""
        found: list[Override] | None = list(self.module) if self.whole else None
        for end in range(1, len(classes) + 1):
            if classes[:end] in self.classes:
                found = (found or []) + self.classes[classes[:end]]
        return found

    def named_by(self) -> list[str]:
        """Where the overrides applying to the tests that stay are, once each."""
        every = [*self.module, *(o for found in self.classes.values() for o in found)]
        return list(dict.fromkeys(where for _, where in every))

    def described(self) -> str:
        """Which tests stay, for migrate's note: "" for all of them under the module's own
        overrides."""
        named = ", ".join(".".join(path) for path, found in self.classes.items() if found)
        if self.module:
            return ""
        if self.whole:
            return (
                " of the whole module (markers at its top level, such as pytestmark, apply to "
                f"the tests of {named} too)"
            )
        sharing = [".".join(path) for path, found in self.classes.items() if not found]
        also = f" (and of {', '.join(sharing)}, whose markers they carry)" if sharing else ""
        return f" of {named}{also}"


def scope(tree: ast.Module, path: str, module: list[Override]) -> Scope:
    """The tests of a module left on `vcr`: all of them under `module`'s overrides (its own
    and its conftest.py files'), else those under a class's, and those sharing a marker with
    them."""
    marks = [n for n in ast.walk(tree) if any(is_mark(n, name) for name in LEFT_MARKS)]
    classes = dict(_classes(tree.body, ()))
    result = Scope(module=module, whole=bool(module))
    for found, node in classes.items():
        defined = overrides_in(node.body)
        if defined:
            result.classes[found] = [
                (f, f"the {f} fixture of {path}:{line}") for line, f in defined
            ]
    _inherit(result.classes, classes)
    owners = _owners(tree, marks)
    if not result.whole and result.classes:
        _spread(result.classes, classes)
        result.whole = any(owner is None for owner in owners.values())
        result.classes = {p: result.classes[p] for p in classes if p in result.classes}
    result.marks = {
        id(n)
        for n, owner in owners.items()
        if result.of(() if owner is None else owner) is not None
    }
    return result


def _classes(body: list[ast.stmt], around: ClassPath) -> Iterator[tuple[ClassPath, ast.ClassDef]]:
    for node in body:
        if isinstance(node, ast.ClassDef):
            yield (*around, node.name), node
            yield from _classes(node.body, (*around, node.name))


def _bases(node: ast.ClassDef) -> set[str]:
    """The names of a class's bases (`Base`, `module.Base`: `Base`)."""
    names = (b.id if isinstance(b, ast.Name) else getattr(b, "attr", None) for b in node.bases)
    return {name for name in names if name}


def _subclasses(of: ClassPath, classes: dict[ClassPath, ast.ClassDef]) -> list[ClassPath]:
    """The module's classes deriving from `of` (by its name)."""
    return [path for path, node in classes.items() if of[-1] in _bases(node)]


def _marked(node: ast.ClassDef) -> bool:
    """Whether the class's own markers (decorators, `pytestmark`) hold pytest-recording's."""
    assigned = [
        n.value
        for n in node.body
        if isinstance(n, (ast.Assign, ast.AnnAssign))
        and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in _targets(n))
    ]
    return any(
        is_mark(n, name)
        for expression in (*node.decorator_list, *assigned)
        if expression is not None
        for n in ast.walk(expression)
        for name in LEFT_MARKS
    )


def _targets(node: ast.Assign | ast.AnnAssign) -> list[ast.expr]:
    return node.targets if isinstance(node, ast.Assign) else [node.target]


def _inherit(kept: dict[ClassPath, list[Override]], classes: dict[ClassPath, ast.ClassDef]) -> None:
    """Subclasses get the override fixtures of their bases (pytest finds them on the class)."""
    changed = True
    while changed:
        changed = False
        for base, found in list(kept.items()):
            for sub in _subclasses(base, classes):
                new = [o for o in found if o not in kept.get(sub, [])]
                if new:
                    kept[sub] = kept.get(sub, []) + new
                    changed = True


def _spread(kept: dict[ClassPath, list[Override]], classes: dict[ClassPath, ast.ClassDef]) -> None:
    """The classes whose own markers the kept tests carry (around them, their bases) stay, and
    so do those carrying a kept class's markers (its subclasses, with theirs)."""
    changed = True
    while changed:
        changed = False
        for path in list(kept):
            node = classes[path]
            around = [path[:end] for end in range(1, len(path))]
            bases = [p for p in classes if p[-1] in _bases(node)]
            carrying = [p for p in (*around, *bases) if _marked(classes[p])]
            for other in (*carrying, *_subclasses(path, classes)):
                if other not in kept:
                    kept[other] = []
                    changed = True


def _owners(tree: ast.Module, marks: list[ast.AST]) -> dict[ast.AST, ClassPath | None]:
    """Each marker's owner: the class it is in (decorating it or a method, in its body), the
    empty path in a test function of the module, None where it may apply to any test (the
    module's pytestmark, a fixture's parameters, a helper)."""
    owners: dict[ast.AST, ClassPath | None] = {}
    wanted = {id(m) for m in marks}

    def visit(node: ast.AST, owner: ClassPath | None) -> None:
        for child in ast.iter_child_nodes(node):
            here = owner
            if isinstance(child, ast.ClassDef):
                here = (*(owner or ()), child.name)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and owner is None:
                here = () if child.name.startswith("test") else None
            if id(child) in wanted:
                owners[child] = owner
            visit(child, here)

    visit(tree, None)
    return owners
