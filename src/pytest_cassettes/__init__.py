"""pytest-cassettes: record HTTP once, replay it offline."""

from __future__ import annotations

from pytest_cassettes.errors import (
    CassetteError,
    CassetteLoadError,
    CassetteMissingError,
    NetworkBlockedError,
    UnmatchedRequestError,
)

__all__ = [
    "CassetteError",
    "CassetteLoadError",
    "CassetteMissingError",
    "NetworkBlockedError",
    "UnmatchedRequestError",
]
