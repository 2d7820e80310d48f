"""pytest-cassettes: record HTTP once, replay it offline.

PYTEST_DONT_REWRITE: a child process the network guard is carried into imports this package
before pytest starts (children.py); pytest would warn it cannot rewrite it. It has no asserts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_cassettes.errors import (
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
