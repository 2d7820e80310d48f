"""Clients data and tooling projects use on top of requests and urllib3, recorded then replayed.

requests-cache and urllib3-future (which niquests installs in urllib3's place) are not in
`[dev]`: their tests skip where they are not installed.
"""

from __future__ import annotations

import pytest
import urllib3

# Imported here so that pytester's in-process runs find them loaded (as test_clients.py does):
# vcrpy imported afresh by the second run would hand out its own stub response, not ours.
import vcr

from tests.conftest import Suite

BODY = bytes(range(256)) * 16  # 4 KiB


def record_then_replay(suite: Suite, source: str) -> None:
    suite.server.route("/blob", body=BODY, headers={"Content-Type": "application/octet-stream"})
    suite.write(source)
    suite.run().assert_outcomes(passed=1)
    hits = suite.server.hits
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == hits, "the replay reached the server"


def test_urllib3_stream_yields_no_empty_chunk(suite: Suite) -> None:
    # A real response's stream() ends without yielding b"" (a download loop counting chunks,
    # or treating an empty one as the end of a file, saw one more).
    record_then_replay(
        suite,
        f"""
        import urllib3

        @pytest.mark.cassette
        def test_stream():
            pool = urllib3.PoolManager()
            response = pool.request("GET", URL + "/blob", preload_content=False)
            chunks = list(response.stream(1000))
            assert [len(chunk) for chunk in chunks] == [1000, 1000, 1000, 1000, 96]
            assert b"".join(chunks) == {BODY!r}
            chunks = list(requests.get(URL + "/blob", stream=True).iter_content(1000))
            assert [len(chunk) for chunk in chunks] == [1000, 1000, 1000, 1000, 96]
        """,
    )


def test_requests_response_has_urllib3s_request_url(suite: Suite) -> None:
    # requests-cache reads `response.raw._request_url` (urllib3's name) to cache a response.
    if vcr.__version__.startswith("7."):  # Python 3.9
        pytest.skip("vcrpy 7 hands its stub response no URL: _request_url is None there")
    record_then_replay(
        suite,
        """
        @pytest.mark.cassette
        def test_url():
            response = requests.get(URL + "/blob?a=1")
            assert response.raw._request_url.endswith("/blob?a=1")
        """,
    )


def test_requests_cache_session(suite: Suite) -> None:
    pytest.importorskip("requests_cache")
    record_then_replay(
        suite,
        """
        import requests_cache

        @pytest.mark.cassette
        def test_cached():
            session = requests_cache.CachedSession(backend="memory")
            first = session.get(URL + "/blob")
            second = session.get(URL + "/blob")
            assert not first.from_cache and second.from_cache
            assert second.content == first.content and len(first.content) == 4096
        """,
    )


@pytest.mark.skipif(
    not hasattr(urllib3.util, "traffic_police"), reason="urllib3-future is not urllib3 here"
)
def test_urllib3_future_pools_are_left_usable(suite: Suite) -> None:
    # niquests installs urllib3-future as `urllib3`: its pools keep their connections in a
    # TrafficPolice, not a queue (every cassette test using a pool errored in its teardown).
    suite.server.route("/blob", body=BODY)
    suite.write(
        """
        session = requests.Session()

        @pytest.mark.cassette
        def test_one():
            assert len(session.get(URL + "/blob").content) == 4096

        @pytest.mark.cassette
        def test_two():
            assert len(session.get(URL + "/blob").content) == 4096

        def test_plain():
            assert len(session.get(URL + "/blob").content) == 4096
        """
    )
    suite.run().assert_outcomes(passed=3)
    suite.run("--record-mode=none").assert_outcomes(passed=3)
