"""pytest-recording's fixtures, registered as a plugin by compat.install only when
pytest-recording is not loaded (module-level: pytest 9 deprecates fixtures of a wider scope
than the function defined on a plugin object)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_cassettes.compat import (
    VCR_MARKER,
    VcrCassette,
    default_cassette_name,
    marker_layers,
    uses_vcr,
)


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
def vcr(request: pytest.FixtureRequest) -> VcrCassette | None:
    """The active cassette of a `vcr` test (or of a `cassette` test: `migrate` keeps the
    argument) as vcrpy's Cassette shows it (`play_count`, `all_played`, `data`...), else None."""
    if not uses_vcr(request.node) and request.node.get_closest_marker("cassette") is None:
        return None
    opened = request.getfixturevalue("cassette")
    return None if opened is None else VcrCassette(opened)  # None: --disable-recording


@pytest.fixture
def vcr_cassette(cassette: Any) -> VcrCassette | None:
    """pytest-vcr's fixture: the test's cassette as `vcr` shows it. Asking for it opens the
    test's cassette, as asking for `cassette` does (pytest-vcr's opened one too)."""
    return None if cassette is None else VcrCassette(cassette)  # None: --cassette-disable


@pytest.fixture(scope="session")
def record_mode(request: pytest.FixtureRequest) -> str:
    """The run's record mode (pytest-recording's fixture): the flag's, the environment's, a CI
    run's `none`, the ini's, else `once`. Markers may change it per test. Overriding this
    fixture sets the mode of `vcr` tests, under `vcr_config` and their markers."""
    from pytest_cassettes.plugin import SESSION

    session = request.config.stash[SESSION]
    return session.run.mode or session.ini_mode or "once"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: Sequence[pytest.Item]) -> None:
    # Bad options are usage errors before any test runs, as for our own marker.
    for item in items:
        if item.get_closest_marker(VCR_MARKER) is not None:
            marker_layers(item)
