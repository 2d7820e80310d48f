"""pytest-recording's fixtures, registered as a plugin by compat.install only when
pytest-recording is not loaded (module-level: pytest 9 deprecates fixtures of a wider scope
than the function defined on a plugin object)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cassettes.compat import VCR_MARKER, default_cassette_name, marker_layers, uses_vcr

if TYPE_CHECKING:
    from pytest_cassettes.cassette import Cassette


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    """vcrpy options for every `vcr` test (pytest-recording); merged over cassette_config."""
    return {}


@pytest.fixture(scope="module")
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    """Where a module's `vcr` cassettes live: `cassettes/<module>/` beside the test file."""
    module = Path(request.path)
    configured = request.config.getini("cassette_dir")
    base = Path(request.config.rootpath, configured) if configured else module.parent / "cassettes"
    return str(base / module.stem)


@pytest.fixture(name="default_cassette_name")
def _default_cassette_name(request: pytest.FixtureRequest) -> str:
    """The file a `vcr` test records into, without its suffix (pytest-recording)."""
    return default_cassette_name(request.node)


@pytest.fixture
def vcr(request: pytest.FixtureRequest) -> Cassette | None:
    """The active cassette of a `vcr` test (`play_count`, `all_played`, ...), else None."""
    if not uses_vcr(request.node):
        return None
    cassette: Cassette = request.getfixturevalue("cassette")
    return cassette


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: Sequence[pytest.Item]) -> None:
    # Bad options are usage errors before any test runs, as for our own marker.
    for item in items:
        if item.get_closest_marker(VCR_MARKER) is not None:
            marker_layers(item)
