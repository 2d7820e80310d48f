"""The quick start: mark a test, run it once with network access, replay it offline forever.

These cassettes were written for the example (responses abridged); run
`pytest examples --record-mode=rewrite` with network access to record them afresh.
"""

from __future__ import annotations

import httpx
import pytest
import requests

API = "https://api.github.com"


@pytest.mark.cassette
def test_repository() -> None:
    repo = requests.get(f"{API}/repos/pytest-dev/pytest", timeout=10).json()
    assert repo["full_name"] == "pytest-dev/pytest"
    assert repo["license"]["spdx_id"] == "MIT"


@pytest.mark.cassette(match_on=["method", "uri", "body"])
class TestSearch:
    def test_search_issues(self, cassette) -> None:  # type: ignore[no-untyped-def]
        response = httpx.post(f"{API}/graphql", json={"query": "{ viewer { login } }"})
        assert response.json() == {"data": {"viewer": {"login": "octocat"}}}
        assert cassette.all_played
