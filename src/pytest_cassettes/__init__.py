"""pytest-cassettes: record HTTP once, replay it offline."""

from __future__ import annotations

from pytest_cassettes.errors import (
    CassetteError,
    CassetteLoadError,
    CassetteMissingError,
    NetworkBlockedError,
    UnmatchedRequestError,
)
from pytest_cassettes.scoped import use_cassette

__all__ = [
    "CassetteError",
    "CassetteLoadError",
    "CassetteMissingError",
    "NetworkBlockedError",
    "UnmatchedRequestError",
    "use_cassette",
]
