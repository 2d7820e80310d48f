"""A session-scoped login, recorded once into a cassette of its own (`use_cassette`), and a
test using its token. Replayed, the token is `<SCRUBBED>` in both cassettes, consistently.

These cassettes were written for the example; with network access to a real service,
`pytest examples --record-mode=rewrite` would record them afresh.
"""

from __future__ import annotations

import os

import pytest
import requests

from pytest_cassettes import use_cassette

AUTH = "https://auth.example.com/oauth/token"
API = "https://api.example.com/v1"


@pytest.fixture(scope="session")
def api_token(request: pytest.FixtureRequest) -> str:
    with use_cassette(request):  # cassettes/api_token.yaml, beside this file
        response = requests.post(
            AUTH,
            data={
                "grant_type": "client_credentials",
                "client_id": "docs-example",
                "client_secret": os.environ.get("EXAMPLE_CLIENT_SECRET", ""),
            },
            timeout=10,
        )
    token: str = response.json()["access_token"]
    return token


@pytest.mark.cassette
def test_orders(api_token: str) -> None:
    headers = {"Authorization": f"Bearer {api_token}"}
    orders = requests.get(f"{API}/orders", headers=headers, timeout=10).json()
    assert orders == {"orders": [{"id": 1, "total": "9.90"}]}


@pytest.mark.cassette
def test_profile(api_token: str) -> None:
    headers = {"Authorization": f"Bearer {api_token}"}
    profile = requests.get(f"{API}/me", headers=headers, timeout=10).json()
    assert profile["client_id"] == "docs-example"
