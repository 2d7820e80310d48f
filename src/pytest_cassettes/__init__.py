"""pytest-cassettes: record HTTP once, replay it offline.

PYTEST_DONT_REWRITE: a child process the network guard is carried into imports this package
before pytest starts (children.py); pytest would warn it cannot rewrite it. It has no asserts.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any


class _AsPythonImportsThem:
    """Ahead of pytest's assertion rewriter on `sys.meta_path`, finds this package's modules
    as Python's own finder does. pytest rewrites a plugin's whole package, and reads each
    module's cached code with `marshal.load` on the open file, a read call for every object:
    our ~0.7 MB of it took ~11 ms a process that way, against 2 ms read whole. Our asserts
    are invariants, which pytest's messages would not help."""

    @staticmethod
    def find_spec(fullname: str, path: Any, target: Any = None) -> Any:
        if not fullname.startswith("pytest_cassettes."):
            return None
        from importlib.machinery import PathFinder

        return PathFinder.find_spec(fullname, path, target)


if "_pytest.assertion.rewrite" in sys.modules:  # not in a child process the guard is carried into
    sys.meta_path.insert(0, _AsPythonImportsThem())


from pytest_cassettes.errors import (  # noqa: E402 (after the finder: imported through it)
    CassetteError,
    CassetteLoadError,
    CassetteMissingError,
    NetworkBlockedError,
    UnmatchedRequestError,
)

if TYPE_CHECKING:
    from pytest_cassettes.scoped import use_cassette

__all__ = [
    "CassetteError",
    "CassetteLoadError",
    "CassetteMissingError",
    "NetworkBlockedError",
    "UnmatchedRequestError",
    "use_cassette",
]


def __getattr__(name: str) -> Any:
    # Imported when first asked for: it needs pytest, which a child process the network guard
    # is carried into (children.py) should not pay for.
    if name == "use_cassette":
        from pytest_cassettes.scoped import use_cassette

        return use_cassette
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
