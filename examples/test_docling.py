"""A real cassette from a large project, recorded by vcrpy under urllib3 2.

Its body is stored decoded while its headers still say `Content-Encoding: gzip`: vcrpy and
pytest-recording fail to replay it under httpx ("incorrect header check"). It replays here
under every client.
"""

from __future__ import annotations

import urllib.request

import httpx
import pytest
import requests
import urllib3

URL = "https://lilianweng.github.io/posts/2024-11-28-reward-hacking/"
TITLE = "Reward Hacking in Reinforcement Learning"

pytestmark = pytest.mark.cassette("docling_source.yaml", allow_playback_repeats=True)


def test_requests() -> None:
    response = requests.get(URL, headers={"user-agent": "docling-core/2.10.0"})
    assert response.status_code == 200
    assert TITLE in response.text


def test_urllib3() -> None:
    response = urllib3.PoolManager().request("GET", URL)
    assert TITLE in response.data.decode()


def test_httpx() -> None:
    response = httpx.get(URL)
    assert TITLE in response.text


def test_urllib_request() -> None:
    with urllib.request.urlopen(URL) as response:
        assert TITLE in response.read().decode()
