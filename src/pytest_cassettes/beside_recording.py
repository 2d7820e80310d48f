"""Beside pytest-recording: registered by plugin.pytest_configure when it is loaded too.

With both plugins loaded, `--block-network` is pytest-recording's flag, and its autouse
`block_network` fixture blocks every test without its `vcr` marker: our cassette tests that
record included, with its own error, deaf to `--cassette-allow-hosts`. This plugin, registered
after it, overrides that fixture: pytest-recording still guards the tests it owns (its `vcr`
and `block_network` markers), and our guard (plugin._cassette_autouse) every other test.
"""

from __future__ import annotations

import pytest

from pytest_cassettes.compat import VCR_MARKER

PLUGIN_NAME = "cassettes-beside-recording"
OWNED_MARKERS = (VCR_MARKER, "block_network")


@pytest.fixture(autouse=True)
def block_network(request: pytest.FixtureRequest) -> None:
    """pytest-recording's network blocking, for its `vcr` and `block_network` tests only."""
    if any(request.node.get_closest_marker(name) is not None for name in OWNED_MARKERS):
        request.getfixturevalue("block_network")  # pytest-recording's: the one this overrides
