"""respx beside a cassette: respx answers what it mocks, in every run, and is never recorded;
what its routes let through (pass_through(), a side effect returning the request) is the
cassette's: recorded, replayed, and counted as the route's call once in both runs.
"""

from __future__ import annotations

import textwrap

import pytest
import vcr

from tests.conftest import Suite

pytest.importorskip("respx")
if vcr.__version__.startswith("7."):
    pytest.skip("vcrpy 7 patches httpx's clients, above respx's mocks", allow_module_level=True)

ASYNC_CLIENT = """
import asyncio

import httpx
import respx

def fetch_async(url, **kwargs):
    async def fetch():
        async with httpx.AsyncClient(**kwargs) as client:
            return await client.get(url)

    return asyncio.run(fetch())
"""


def write(suite: Suite, tests: str) -> None:
    """A test module with httpx, respx and `fetch_async` (an AsyncClient's GET) imported."""
    suite.write(ASYNC_CLIENT + textwrap.dedent(tests))


def record_then_replay(suite: Suite, monkeypatch: pytest.MonkeyPatch, passed: int) -> None:
    """Record (the server hit), then replay in a replay-only run (CI=true): the same pass."""
    suite.run("-p", "respx").assert_outcomes(passed=passed)
    suite.server.reset()
    monkeypatch.setenv("CI", "true")
    suite.run("-p", "respx").assert_outcomes(passed=passed)
    assert suite.server.hits == 0


def test_mocks_answer_their_routes_and_the_cassette_the_rest(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # respx mocks httpx one layer under the transport vcrpy patches (httpcore): its mocked
    # answers were recorded into the cassette, and on replay the cassette answered them, so a
    # changed mock was never seen and respx's routes were never called (assert_all_called
    # failed). Its pass-through routes reach the network: those are the cassette's, and each
    # request is one call of its route (respx itself counted two while recording: the
    # connection pool's and the connection's).
    write(
        suite,
        """
        @pytest.mark.cassette
        def test_mixed():
            with respx.mock(assert_all_called=True) as mock:
                mocked = mock.get(URL + "/mocked").respond(200, text="from respx")
                real = mock.get(URL + "/real").pass_through()
                real_async = mock.get(URL + "/real-async").pass_through()
                assert httpx.get(URL + "/mocked").text == "from respx"
                assert fetch_async(URL + "/mocked").text == "from respx"
                assert '"path": "/real"' in httpx.get(URL + "/real").text
                assert '"path": "/real-async"' in fetch_async(URL + "/real-async").text
                assert (real.call_count, real_async.call_count) == (1, 1)
                assert real.calls.last.request.url == URL + "/real"
            assert mocked.call_count == 2
        """,
    )
    record_then_replay(suite, monkeypatch, passed=1)
    assert suite.uris("test_mixed") == [suite.server.url("/real"), suite.server.url("/real-async")]


def test_a_side_effect_returning_the_request_passes_it_through_the_cassette(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # respx's other way to pass a request through: a side effect returning it (or None, for
    # the next route to take it). Such a route was taken for a mock: its request reached the
    # network unrecorded, and a replay-only run blocked it.
    write(
        suite,
        """
        seen = []

        def through(request):
            seen.append(request.url.path)
            return request

        async def through_async(request):
            seen.append(request.url.path)
            return request

        def next_route(request):
            seen.append("next " + request.url.path)

        @pytest.mark.cassette
        def test_side_effects():
            with respx.mock(assert_all_called=False) as mock:
                sync = mock.get(URL + "/sync").mock(side_effect=through)
                asynchronous = mock.get(URL + "/async").mock(side_effect=through_async)
                skipping = mock.get(path__startswith="/next").mock(side_effect=next_route)
                taking = mock.get(URL + "/next").pass_through()
                assert '"path": "/sync"' in httpx.get(URL + "/sync").text
                assert '"path": "/async"' in fetch_async(URL + "/async").text
                assert '"path": "/next"' in fetch_async(URL + "/next").text
                counts = [r.call_count for r in (sync, asynchronous, skipping, taking)]
            assert seen == ["/sync", "/async", "next /next"]
            assert counts == [1, 1, 0, 1]
        """,
    )
    record_then_replay(suite, monkeypatch, passed=1)
    assert suite.uris("test_side_effects") == [
        suite.server.url(path) for path in ("/sync", "/async", "/next")
    ]


def test_respx_behaves_as_without_a_cassette_in_record_and_replay(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        suite,
        """
        from respx.models import AllMockedAssertionError

        pytestmark = pytest.mark.cassette

        def test_raising_side_effect():
            with respx.mock() as mock:
                route = mock.get(URL + "/down").mock(side_effect=httpx.ConnectError)
                with pytest.raises(httpx.ConnectError):
                    httpx.get(URL + "/down")
                with pytest.raises(httpx.ConnectError):
                    fetch_async(URL + "/down")
                assert route.call_count == 2

        def test_side_effect_answering():
            def answer(request, slug):
                return httpx.Response(201, json={"slug": slug})

            with respx.mock() as mock:
                route = mock.get(url__regex=URL + r"/items/(?P<slug>\\w+)").mock(side_effect=answer)
                assert httpx.get(URL + "/items/one").json() == {"slug": "one"}
                assert fetch_async(URL + "/items/two").status_code == 201
                assert route.call_count == 2
                assert route.calls.last.response.json() == {"slug": "two"}

        def test_side_effect_sequence():
            with respx.mock() as mock:
                route = mock.get(URL + "/flaky").mock(
                    side_effect=[httpx.ConnectError("down"), httpx.Response(200, text="up")]
                )
                with pytest.raises(httpx.ConnectError):
                    httpx.get(URL + "/flaky")
                assert httpx.get(URL + "/flaky").text == "up"
                assert route.call_count == 2

        def test_base_url():
            with respx.mock(base_url=URL + "/api", assert_all_called=True) as mock:
                users = mock.get("/users").respond(json=["ann"])
                mock.get("/health").pass_through()
                assert httpx.get(URL + "/api/users").json() == ["ann"]
                assert '"path": "/api/health"' in httpx.get(URL + "/api/health").text
                assert users.called

        def test_fixture(respx_mock):
            respx_mock.get(URL + "/mocked").respond(text="fixture")
            real = respx_mock.get(URL + "/fixture").pass_through()
            assert httpx.get(URL + "/mocked").text == "fixture"
            assert '"path": "/fixture"' in fetch_async(URL + "/fixture").text
            assert real.call_count == 1

        def test_using_httpx():
            # respx's other mocker hands the client a MockTransport (never patched) that
            # passes through to the client's own transport: the cassette's.
            with respx.mock(using="httpx", assert_all_called=True) as mock:
                mocked = mock.get(URL + "/mocked").respond(text="httpx mocker")
                real = mock.get(URL + "/via-httpx").pass_through()
                effect = mock.get(URL + "/via-effect").mock(side_effect=lambda request: request)
                assert httpx.get(URL + "/mocked").text == "httpx mocker"
                assert fetch_async(URL + "/mocked").text == "httpx mocker"
                assert '"path": "/via-httpx"' in httpx.get(URL + "/via-httpx").text
                assert '"path": "/via-effect"' in fetch_async(URL + "/via-effect").text
                assert [r.call_count for r in (mocked, real, effect)] == [2, 1, 1]

        def test_streamed_upload():
            async def upload():
                async def chunks():
                    yield b"a"
                    yield b"b"

                async with httpx.AsyncClient() as client:
                    return await client.post(URL + "/upload", content=chunks())

            with respx.mock() as mock:
                mock.post(URL + "/upload", content=b"ab").pass_through()
                assert '"body": "ab"' in asyncio.run(upload()).text

        def test_unmatched():
            with respx.mock(assert_all_mocked=False) as mock:
                answer = httpx.get(URL + "/unmatched")
                assert (answer.status_code, answer.text) == (200, "")
                assert fetch_async(URL + "/unmatched").status_code == 200
                assert mock.calls.call_count == 2

        def test_not_mocked():
            with respx.mock(assert_all_called=False) as mock:
                mock.get(URL + "/other").respond()
                with pytest.raises(AllMockedAssertionError, match="not mocked"):
                    httpx.get(URL + "/unmocked")
                with pytest.raises(AllMockedAssertionError, match="not mocked"):
                    fetch_async(URL + "/unmocked")
        """,
    )
    record_then_replay(suite, monkeypatch, passed=9)
    recorded = sorted(path.stem for path in (suite.path / "cassettes" / "test_suite").iterdir())
    assert recorded == ["test_base_url", "test_fixture", "test_streamed_upload", "test_using_httpx"]
    assert suite.uris("test_base_url") == [suite.server.url("/api/health")]
    assert suite.uris("test_fixture") == [suite.server.url("/fixture")]
    assert suite.uris("test_using_httpx") == [
        suite.server.url("/via-httpx"),
        suite.server.url("/via-effect"),
    ]
