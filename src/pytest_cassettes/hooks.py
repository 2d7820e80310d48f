"""Hooks other plugins and conftest files implement to extend pytest-cassettes."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_cassettes_configure(config: pytest.Config, vcr: Any) -> None:
    """Called once per process with the `vcr.VCR` object: register matchers, serializers."""


def pytest_cassettes_scrub_request(request: Any) -> Any:
    """Scrub a vcrpy Request after the built-in rules; return it, a new one, or None (unchanged)."""


def pytest_cassettes_scrub_response(response: dict[str, Any]) -> Any:
    """Scrub a vcrpy response dict after the built-in rules; return it, or None to keep it."""


class RecordingHooks:
    """pytest-recording's hook, declared by us when pytest-recording is not loaded (it declares
    it itself otherwise): a conftest implementing it would stop pytest at collection ("unknown
    hook"). Called with pytest_cassettes_configure, on the same `vcr.VCR` object."""

    @staticmethod
    def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
        """Called once per process with the `vcr.VCR` object (pytest-recording's name)."""
