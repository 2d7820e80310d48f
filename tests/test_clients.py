"""Every supported HTTP client, recorded against a real local server and then replayed offline.

Each case is a generated test module. It runs once to record (the server is hit), then again
with `--record-mode=none`: the same assertions pass and the server sees no new request.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Imported here so that pytester's in-process runs find them loaded (pytester restores
# sys.modules after each run; importing boto3 afresh each time would cost seconds).
import aiohttp  # noqa: F401
import boto3  # noqa: F401
import httpx  # noqa: F401
import pytest
import urllib3  # noqa: F401
import vcr
import yaml

from pytest_cassettes.cassette import bracketed_ipv6
from pytest_cassettes.storage import CassetteLoader
from tests.conftest import Suite
from tests.httpserver import LocalServer

S3_BUCKETS = b"""<?xml version="1.0" encoding="UTF-8"?>
<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Owner><ID>owner-id</ID><DisplayName>owner</DisplayName></Owner>
  <Buckets>
    <Bucket><Name>cassettes</Name><CreationDate>2024-01-01T00:00:00.000Z</CreationDate></Bucket>
  </Buckets>
</ListAllMyBucketsResult>
"""
STREAM_BODY = bytes(range(256)) * 64  # 16 KiB, not valid UTF-8: a binary stream


def serve_routes(server: LocalServer) -> None:
    """The canned routes the cases use; anything else is echoed back as JSON."""
    server.route("/old", status=302, headers={"Location": "/new"})
    server.route("/temp", status=307, headers={"Location": "/new"})  # keeps the method
    server.route("/new", body=b"you arrived", headers={"Content-Type": "text/plain"})
    server.route("/stream", body=STREAM_BODY, headers={"Content-Type": "application/octet-stream"})
    server.route("/", body=S3_BUCKETS, headers={"Content-Type": "application/xml"})
    server.route("/bucket/key.bin", body=STREAM_BODY)


@dataclass
class Case:
    source: str
    tests: int = 1
    args: tuple[str, ...] = field(default_factory=tuple)


CASES = {
    "requests": Case(
        """
        @pytest.mark.cassette
        def test_requests():
            got = requests.get(URL + "/get", params={"q": "1"}).json()
            assert got["path"] == "/get?q=1"
            sent = requests.post(URL + "/post", json={"a": 1}).json()
            assert sent["method"] == "POST" and sent["body"] == '{"a": 1}'
        """
    ),
    "urllib3": Case(
        """
        import json

        import urllib3

        @pytest.mark.cassette
        def test_urllib3():
            http = urllib3.PoolManager()
            got = http.request("GET", URL + "/get?q=1")
            # json.loads, not .json(): urllib3 1.26 (Python 3.9) has no HTTPResponse.json
            assert got.status == 200 and json.loads(got.data)["path"] == "/get?q=1"
            sent = http.request("POST", URL + "/post", body=b"raw body")
            assert json.loads(sent.data)["body"] == "raw body"
            streamed = http.request("GET", URL + "/stream", preload_content=False)
            assert b"".join(streamed.stream(1000)) == bytes(range(256)) * 64
        """
    ),
    "http.client": Case(
        """
        import http.client
        import json
        from urllib.parse import urlsplit

        @pytest.mark.cassette
        def test_http_client():
            conn = http.client.HTTPConnection(urlsplit(URL).hostname, urlsplit(URL).port)
            conn.request("GET", "/get?q=1")
            response = conn.getresponse()
            assert response.status == 200
            assert json.loads(response.read())["path"] == "/get?q=1"
            conn.request("POST", "/post", body=b"payload", headers={"X-Kind": "raw"})
            assert json.loads(conn.getresponse().read())["body"] == "payload"
            conn.close()
        """
    ),
    "urllib.request": Case(
        """
        import json
        import urllib.request

        @pytest.mark.cassette
        def test_urlopen():
            with urllib.request.urlopen(URL + "/get?q=1") as response:
                assert json.loads(response.read())["path"] == "/get?q=1"
                # urllib sets `msg` to the reason phrase: the headers are read otherwise
                assert ("Content-Type", "application/json") in response.getheaders()
                assert response.getheader("content-type") == "application/json"
                assert response.headers["Content-Type"] == "application/json"
            posted = urllib.request.Request(URL + "/post", data=b"form=1", method="POST")
            with urllib.request.urlopen(posted) as response:
                assert json.loads(response.read())["body"] == "form=1"
            with urllib.request.urlopen(URL + "/old") as response:  # follows the redirect
                assert response.read() == b"you arrived"
        """
    ),
    "httpx": Case(
        """
        import httpx

        @pytest.mark.cassette
        def test_httpx():
            with httpx.Client() as client:
                assert client.get(URL + "/get", params={"q": "1"}).json()["path"] == "/get?q=1"
                assert client.post(URL + "/post", content=b"x=1").json()["body"] == "x=1"
        """
    ),
    "httpx-async": Case(
        """
        import asyncio
        import httpx

        async def fetch():
            async with httpx.AsyncClient() as client:
                got = await client.get(URL + "/get?q=1")
                sent = await client.post(URL + "/post", json={"a": 1})
                return got.json()["path"], sent.json()["body"]

        @pytest.mark.cassette
        def test_httpx_async():
            assert asyncio.run(fetch()) == ("/get?q=1", '{"a":1}')
        """
    ),
    "aiohttp": Case(
        """
        import asyncio
        import aiohttp

        async def fetch():
            async with aiohttp.ClientSession() as session:
                async with session.get(URL + "/get?q=1") as got:
                    path = (await got.json())["path"]
                async with session.post(URL + "/post", data=b"x=1") as sent:
                    body = (await sent.json())["body"]
            return path, body

        @pytest.mark.cassette
        def test_aiohttp():
            assert asyncio.run(fetch()) == ("/get?q=1", "x=1")
        """
    ),
    "pytest-asyncio": Case(
        """
        import httpx

        @pytest.mark.asyncio
        @pytest.mark.cassette
        async def test_async_test_function():
            async with httpx.AsyncClient() as client:
                assert (await client.get(URL + "/async")).json()["path"] == "/async"
        """,
        args=("-p", "asyncio", "-o", "asyncio_default_fixture_loop_scope=function"),
    ),
    "boto3": Case(
        """
        import boto3

        def s3():
            return boto3.client(
                "s3",
                endpoint_url=URL,
                region_name="us-east-1",
                aws_access_key_id="AKIDEXAMPLE",
                aws_secret_access_key="not-a-secret",
            )

        @pytest.mark.cassette
        def test_list_buckets():
            names = [b["Name"] for b in s3().list_buckets()["Buckets"]]
            assert names == ["cassettes"]

        @pytest.mark.cassette
        def test_get_object():
            body = s3().get_object(Bucket="bucket", Key="key.bin")["Body"].read()
            assert body == bytes(range(256)) * 64
        """,
        tests=2,
    ),
    "streaming": Case(
        """
        import asyncio
        import httpx

        EXPECTED = bytes(range(256)) * 64

        @pytest.mark.cassette
        def test_requests_stream():
            with requests.get(URL + "/stream", stream=True) as response:
                chunks = list(response.iter_content(chunk_size=1000))
            assert b"".join(chunks) == EXPECTED and len(chunks) > 1

        @pytest.mark.cassette
        def test_httpx_stream():
            with httpx.stream("GET", URL + "/stream") as response:
                assert b"".join(response.iter_bytes()) == EXPECTED

        async def astream():
            async with httpx.AsyncClient() as client:
                async with client.stream("GET", URL + "/stream") as response:
                    return b"".join([chunk async for chunk in response.aiter_bytes()])

        @pytest.mark.cassette
        def test_httpx_async_stream():
            assert asyncio.run(astream()) == EXPECTED
        """,
        tests=3,
    ),
    "redirects": Case(
        """
        import asyncio
        import aiohttp
        import httpx

        @pytest.mark.cassette
        def test_requests_redirect():
            response = requests.get(URL + "/old")
            assert response.text == "you arrived"
            assert [r.status_code for r in response.history] == [302]
            assert response.url == URL + "/new"

        @pytest.mark.cassette
        def test_httpx_redirect():
            response = httpx.get(URL + "/old", follow_redirects=True)
            assert response.text == "you arrived"
            assert [r.status_code for r in response.history] == [302]
            assert str(response.url) == URL + "/new"

        async def follow():
            async with aiohttp.ClientSession() as session:
                async with session.get(URL + "/old") as response:
                    history = [r.status for r in response.history]
                    return history, await response.text(), str(response.url)

        @pytest.mark.cassette
        def test_aiohttp_redirect():
            assert asyncio.run(follow()) == ([302], "you arrived", URL + "/new")

        async def follow_keeping_the_method():
            # vcrpy's aiohttp stub looks each redirect up as a GET
            async with aiohttp.ClientSession() as session:
                async with session.post(URL + "/temp", data=b"k=v") as response:
                    history = [r.status for r in response.history]
                    posted = (history, response.method, await response.text())
                async with session.head(URL + "/old", allow_redirects=True) as response:
                    history = [r.status for r in response.history]
                    headed = (history, response.method, str(response.url))
            return posted, headed

        @pytest.mark.cassette
        def test_aiohttp_redirect_keeping_the_method():
            posted = ([307], "POST", "you arrived")
            headed = ([302], "HEAD", URL + "/new")
            assert asyncio.run(follow_keeping_the_method()) == (posted, headed)
        """,
        tests=4,
    ),
    "head": Case(
        """
        import httpx

        @pytest.mark.cassette
        def test_head():
            response = requests.head(URL + "/stream")
            assert response.status_code == 200 and response.content == b""
            assert response.headers["Content-Length"] == str(256 * 64)
            response = httpx.head(URL + "/stream")
            assert response.status_code == 200 and response.content == b""
        """
    ),
    "chunked-body": Case(
        """
        def parts():
            yield b"first,"
            yield b"second,"
            yield b"third"

        @pytest.mark.cassette
        def test_generator_body():
            echoed = requests.post(URL + "/upload", data=parts()).json()
            assert echoed["headers"].get("Transfer-Encoding") == "chunked"
            assert echoed["body"] == "first,second,third"
        """
    ),
    "multipart": Case(
        """
        @pytest.mark.cassette
        def test_multipart():
            echoed = requests.post(
                URL + "/upload",
                data={"field": "value"},
                files={"file": ("report.csv", b"a,b\\n1,2\\n", "text/csv")},
            ).json()
            assert echoed["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
            assert 'filename="report.csv"' in echoed["body"]
            assert "a,b\\n1,2\\n" in echoed["body"] and "value" in echoed["body"]
        """
    ),
    "threads": Case(
        """
        from concurrent.futures import ThreadPoolExecutor

        def fetch(n):
            return requests.get(f"{URL}/thread/{n}").json()["path"]

        @pytest.mark.cassette
        def test_threads(cassette):
            with ThreadPoolExecutor(max_workers=8) as pool:
                paths = list(pool.map(fetch, range(16)))
            assert paths == [f"/thread/{n}" for n in range(16)]
            assert len(cassette.played) + len(cassette.recorded_requests) == 16
        """
    ),
    "asyncio-gather": Case(
        """
        import asyncio
        import aiohttp
        import httpx

        async def with_aiohttp():
            async with aiohttp.ClientSession() as session:
                async def one(n):
                    async with session.get(f"{URL}/aio/{n}") as response:
                        return (await response.json())["path"]
                return await asyncio.gather(*(one(n) for n in range(8)))

        async def with_httpx():
            async with httpx.AsyncClient() as client:
                responses = await asyncio.gather(
                    *(client.get(f"{URL}/httpx/{n}") for n in range(8))
                )
                return [r.json()["path"] for r in responses]

        @pytest.mark.cassette
        def test_gather(cassette):
            assert asyncio.run(with_aiohttp()) == [f"/aio/{n}" for n in range(8)]
            assert asyncio.run(with_httpx()) == [f"/httpx/{n}" for n in range(8)]
            assert len(cassette.played) + len(cassette.recorded_requests) == 16
        """
    ),
    # vcrpy's stub response's close() returns True, and IOBase.__exit__ returns what close
    # returns: an exception raised in a `with response:` block vanished, failing tests passed.
    "errors_in_with_blocks": Case(
        """
        import http.client
        import urllib.request
        from urllib.parse import urlsplit

        import urllib3

        @pytest.mark.cassette
        def test_errors_raised_in_with_blocks_propagate():
            with pytest.raises(ZeroDivisionError):
                with urllib.request.urlopen(URL + "/new") as r:
                    r.read()
                    1 / 0
            address = urlsplit(URL)
            connection = http.client.HTTPConnection(address.hostname, address.port)
            connection.request("GET", "/new")
            with pytest.raises(ZeroDivisionError):
                with connection.getresponse():
                    1 / 0
            with pytest.raises(ZeroDivisionError):
                with urllib3.PoolManager().request("GET", URL + "/new", preload_content=False):
                    1 / 0
            with pytest.raises(ZeroDivisionError):
                with requests.get(URL + "/new", stream=True).raw:
                    1 / 0
        """
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_record_then_replay(suite: Suite, name: str) -> None:
    case = CASES[name]
    serve_routes(suite.server)
    suite.write(case.source)
    suite.run(*case.args).assert_outcomes(passed=case.tests)
    hits = suite.server.hits
    assert hits > 0
    assert list((suite.path / "cassettes" / "test_suite").glob("*.yaml"))

    replay = suite.run("--record-mode=none", *case.args)
    replay.assert_outcomes(passed=case.tests)
    assert suite.server.hits == hits, "the replay reached the server"


def test_aiohttp_redirects_replay_from_another_port_with_match_on_ignoring_it(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # vcrpy's aiohttp stub looks each redirect hop up as a GET to the Location, joined to the
    # live URL: recorded on one port, replayed on another under a match_on without the port,
    # the hop was looked up by its exact URI and was not found.
    serve_routes(suite.server)
    suite.write(
        """
        import asyncio
        import aiohttp

        async def follow():
            async with aiohttp.ClientSession() as session:
                async with session.get(URL + "/old") as response:
                    got = [[r.status for r in response.history], await response.text()]
                async with session.post(URL + "/temp", data=b"k=v") as response:
                    got += [[r.status for r in response.history], response.method]
                async with session.head(URL + "/old", allow_redirects=True) as response:
                    got += [[r.status for r in response.history], response.method]
            return got

        @pytest.mark.cassette(match_on=["method", "path"])
        def test_aiohttp_redirects():
            expected = [[302], "you arrived", [307], "POST", [302], "HEAD"]
            assert asyncio.run(follow()) == expected
        """
    )
    suite.run().assert_outcomes(passed=1)
    with LocalServer() as elsewhere:
        monkeypatch.setenv("TEST_SERVER", elsewhere.base_url)
        suite.run("--record-mode=none").assert_outcomes(passed=1)
        assert elsewhere.hits == 0


def test_a_cassette_recorded_with_requests_replays_under_httpx_and_urllib3(suite: Suite) -> None:
    suite.write(
        """
        @pytest.mark.cassette("shared.yaml", allow_playback_repeats=True)
        def test_record():
            assert requests.get(URL + "/item?id=7").json()["path"] == "/item?id=7"
            assert requests.post(URL + "/item", data=b"new").json()["body"] == "new"
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 2
    suite.write(
        """
        import json

        import httpx
        import urllib3

        pytestmark = pytest.mark.cassette("shared.yaml", allow_playback_repeats=True)

        def test_httpx():
            assert httpx.get(URL + "/item?id=7").json()["path"] == "/item?id=7"
            assert httpx.post(URL + "/item", content=b"new").json()["body"] == "new"

        def test_urllib3():
            http = urllib3.PoolManager()
            got = http.request("GET", URL + "/item?id=7")
            assert json.loads(got.data)["path"] == "/item?id=7"
            assert json.loads(http.request("POST", URL + "/item", body=b"new").data)["body"] == "new"
        """
    )
    suite.run("--record-mode=none").assert_outcomes(passed=2)
    assert suite.server.hits == 2


def test_threads_recording_leave_the_patches_in_place_and_https_still_builds(suite: Suite) -> None:
    # vcrpy builds the real http.client.HTTPSConnection inside a reset of the patched names;
    # ours puts back only the names that need it, counted across threads.
    suite.write(
        """
        import http.client
        from concurrent.futures import ThreadPoolExecutor

        def fetch(n):
            return requests.get(f"{URL}/t/{n}").status_code

        @pytest.mark.cassette
        def test_mixed(cassette):
            with ThreadPoolExecutor(max_workers=8) as pool:
                assert list(pool.map(fetch, range(32))) == [200] * 32
            assert len(cassette.recorded_requests) == 32
            built = http.client.HTTPSConnection("127.0.0.1", 9)
            assert type(built.real_connection).__module__ == "http.client"
            assert http.client.HTTPSConnection is type(built)  # still patched
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 32


def test_replayed_headers_keep_the_recorded_order_and_each_header_once(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # vcrpy's stub lists them in a set's order (it changes with the hash seed) and a header
    # spelled two ways twice over.
    suite.write(
        """
        import urllib3

        @pytest.mark.cassette
        def test_headers():
            r = requests.get("http://api.example/h")
            assert [name.lower() for name in r.headers] == ["zeta", "alpha", "set-cookie", "middle"]
            assert r.cookies.get("a") == "1" and r.cookies.get("b") == "2"
            if hasattr(r.raw.headers, "getlist"):  # vcrpy 8 gives urllib3 2 the HTTPMessage
                assert r.raw.headers.getlist("set-cookie") == ["a=1", "b=2"]
            got = urllib3.PoolManager().request("GET", "http://api.example/h")
            assert [name.lower() for name in got.headers][:2] == ["zeta", "alpha"]
        """
    )
    path = suite.cassette_path("test_headers")
    path.parent.mkdir(parents=True)
    interaction = """
- request: {body: null, headers: {}, method: GET, uri: 'http://api.example/h'}
  response:
    body: {string: ok}
    headers:
      Zeta: [z]
      Alpha: [a, b]
      set-cookie: [a=1]
      Middle: [m]
      Set-Cookie: [b=2]
    status: {code: 200, message: OK}"""
    path.write_text(f"interactions:{interaction}{interaction}\nversion: 1\n")
    for seed in ("1", "2"):
        monkeypatch.setenv("PYTHONHASHSEED", seed)
        result = suite.pytester.runpytest_subprocess(
            "-p", "no:recording", "-p", "no:asyncio", "--record-mode=none"
        )
        result.assert_outcomes(passed=1)


@pytest.fixture
def ipv6_suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[Suite]:
    """A suite whose TEST_SERVER is a server on ::1."""
    try:
        server = LocalServer("::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback")
    monkeypatch.setenv("TEST_SERVER", server.base_url)
    yield Suite(pytester, server)
    server.stop()


def test_an_ipv6_host_is_recorded_in_brackets_and_replays(ipv6_suite: Suite) -> None:
    """vcrpy spells `http://::1:PORT/x`, which its host and port matchers cannot read (the
    incumbent records it and fails to replay it); cassettes store `http://[::1]:PORT/x`."""
    suite = ipv6_suite
    port = suite.server.port
    suite.write(
        f"""
        import http.client

        @pytest.mark.cassette
        def test_v6():
            assert requests.get(URL + "/x?a=1").status_code == 200
            connection = http.client.HTTPConnection("::1", {port})
            connection.request("GET", "/y")
            assert connection.getresponse().status == 200

        @pytest.mark.cassette(ignore_localhost=True)
        def test_ignored():
            assert requests.get(URL + "/i").status_code == 200
        """
    )
    suite.run("--record-mode=once").assert_outcomes(passed=2)
    assert suite.uris("test_v6") == [suite.server.url("/x?a=1"), suite.server.url("/y")]
    assert suite.uris("test_v6")[0].startswith("http://[::1]:")
    assert suite.server.hits == 3
    assert not suite.cassette_path("test_ignored").exists()  # ::1 is a local host

    suite.run("--record-mode=none", "-k", "test_v6").assert_outcomes(passed=1)
    assert suite.server.hits == 3


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://::1:35011/x?a=1", "http://[::1]:35011/x?a=1"),
        ("http://::1/x", "http://[::1]/x"),  # the default port: vcrpy leaves it out
        ("https://::1:8080", "https://[::1]:8080"),
        ("http://2001:db8::8:800/", "http://[2001:db8::8]:800/"),
        ("http://fe80::1%eth0:8443/p", "http://[fe80::1%eth0]:8443/p"),
        ("http://::1:80/x", "http://[::1:80]/x"),  # vcrpy never spells http's :80
        ("http://127.0.0.1:80/a:b:c", None),
        ("http://[::1]:80/", None),
        ("http://user:pass@host:1/x:y", None),
        ("http://example.com/?t=12:30:00", None),
    ],
)
def test_ipv6_hosts_are_bracketed(uri: str, expected: str | None) -> None:
    assert bracketed_ipv6(uri) == expected


def test_a_cassette_vcrpy_wrote_for_an_ipv6_host_replays(ipv6_suite: Suite) -> None:
    suite = ipv6_suite
    path = suite.cassette_path("test_old")
    path.parent.mkdir(parents=True)
    path.write_text(
        f"""interactions:
- request:
    body: null
    headers: {{}}
    method: GET
    uri: http://::1:{suite.server.port}/old
  response:
    body: {{string: recorded by vcrpy}}
    headers: {{}}
    status: {{code: 200, message: OK}}
version: 1
"""
    )
    suite.write(
        """
        @pytest.mark.cassette
        def test_old():
            assert requests.get(URL + "/old").text == "recorded by vcrpy"
        """
    )
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0


def test_ipv6_ports_the_address_could_hide_replay(suite: Suite) -> None:
    """The stubs spell the URI with the host in brackets, so a port is never read as part of
    the address: port 8 on ::1, and port 80 (left out) on an address ending in `:10`. Nothing
    listens there; both are replayed, through requests (its shortcut with urllib3 2) and
    through http.client."""
    path = suite.cassette_path("test_spellings")
    path.parent.mkdir(parents=True)
    interactions = [
        {
            "request": {"body": None, "headers": {}, "method": "GET", "uri": uri},
            "response": {
                "body": {"string": uri},
                "headers": {},
                "status": {"code": 200, "message": "OK"},
            },
        }
        for uri in ("http://[::1]:8/x", "http://[2001:db8::1:10]/y")
    ]
    path.write_text(yaml.safe_dump({"interactions": interactions, "version": 1}))
    suite.write(
        """
        import http.client

        import urllib3

        @pytest.mark.cassette(allow_playback_repeats=True)
        def test_spellings():
            for url in ("http://[::1]:8/x", "http://[2001:db8::1:10]/y"):
                r = requests.get(url)
                assert r.text == url
                if urllib3.__version__.startswith("2."):  # the shortcut replayed it
                    assert getattr(r.raw, "_pool", None) is None
            for host, port, path in (("::1", 8, "/x"), ("2001:db8::1:10", 80, "/y")):
                connection = http.client.HTTPConnection(host, port)
                connection.request("GET", path)
                assert connection.getresponse().status == 200
        """
    )
    suite.run("--record-mode=none").assert_outcomes(passed=1)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_recording_leaves_no_connection_open_past_its_test(suite: Suite) -> None:
    """vcrpy's connection removers hold every pool and connection urllib3 made until they exit,
    which vcrpy does when each cassette ends. Our patches stay on across tests: without closing
    them at each test's end, every recorded request kept its socket open until the run ended
    (a recording run of a thousand tests ran out of descriptors)."""
    suite.write(
        """
        import gc

        OPEN = []

        def open_descriptors():
            gc.collect()
            return len(os.listdir("/proc/self/fd"))

        def test_a_before():
            OPEN.append(open_descriptors())

        @pytest.mark.cassette
        @pytest.mark.parametrize("i", range(40))
        def test_get(i):
            assert requests.get(URL + f"/{i}").status_code == 200

        @pytest.mark.cassette  # the patches stay on: its own cassette does not close them
        def test_z_after():
            assert open_descriptors() - OPEN[0] < 10
        """
    )
    suite.run("--record-mode=once", "-p", "no:randomly").assert_outcomes(passed=42)
    assert suite.server.hits == 40


def test_a_blocking_pool_kept_across_tests_keeps_its_slots(suite: Suite) -> None:
    """Closing a test's connections keeps each one's slot in its pool (vcrpy 7 and 8 drop
    it): a pool with block=True and one slot, used by test after test, would wait for ever."""
    suite.write(
        """
        import urllib3

        MANAGER = urllib3.PoolManager(block=True, maxsize=1)

        @pytest.mark.cassette
        @pytest.mark.parametrize("i", range(4))
        def test_get(i):
            assert MANAGER.request("GET", URL + f"/{i}", pool_timeout=2).status == 200
        """
    )
    suite.run("--record-mode=once", "-p", "no:randomly").assert_outcomes(passed=4)
    suite.run("--record-mode=none", "-p", "no:randomly").assert_outcomes(passed=4)
    assert suite.server.hits == 4


def test_connections_opened_by_a_thread_while_tests_end(suite: Suite) -> None:
    """A background thread opening pools while each test's connections are closed: its new
    connections are registered beside the ones being closed, and no test fails for it (the
    thread's own requests may: a connection in use when a test ends is closed, as vcrpy closes
    it when a cassette ends)."""
    suite.write(
        """
        import contextlib
        import threading
        import time

        import urllib3

        STOP = threading.Event()

        def worker():
            while not STOP.is_set():
                pool = urllib3.connectionpool.connection_from_url(URL)  # a new pool
                with contextlib.suppress(Exception):
                    pool.request("GET", URL + "/background", timeout=5).data

        @pytest.fixture(scope="module", autouse=True)
        def background():
            thread = threading.Thread(target=worker, daemon=True)
            thread.start()
            yield
            STOP.set()
            thread.join(5)

        @pytest.mark.cassette(ignore_localhost=True)
        @pytest.mark.parametrize("i", range(300))
        def test_ends(i):
            time.sleep(0.002)  # the thread opens a few pools meanwhile
        """
    )
    suite.run("--record-mode=once", "-p", "no:randomly").assert_outcomes(passed=300)
    assert suite.server.hits > 0


# aiohttp's json= and data= (a mapping or a list of pairs): vcrpy's stub keeps the object as the
# request body and writes it as YAML, a mapping or a list of !!python/tuple pairs.
AIOHTTP_BODIES = {
    "json mapping": 'json={"user": {"name": "ada", "password": PASSWORD}, "n": 1}',
    "form mapping": 'data={"user": "ada", "password": PASSWORD}',
    "form pairs": 'data=[("user", "ada"), ("password", PASSWORD)]',
}
AIOHTTP_STORED = {
    "json mapping": {"user": {"name": "ada", "password": "<SCRUBBED>"}, "n": 1},
    "form mapping": {"user": "ada", "password": "<SCRUBBED>"},
    "form pairs": [("user", "ada"), ("password", "<SCRUBBED>")],
}


def aiohttp_module(body: str, marker: str = "cassette") -> str:
    return f"""
        import asyncio
        import aiohttp

        PASSWORD = os.environ.get("REAL_PASSWORD", "hunter2-first-password")

        async def post():
            async with aiohttp.ClientSession() as session:
                async with session.post(URL + "/login", {body}) as sent:
                    return await sent.json()

        @pytest.mark.{marker}(match_on=["method", "uri", "body"])
        def test_post():
            assert asyncio.run(post()) == {{"ok": True}}
        """


def stored_request_body(path: Path) -> Any:
    # vcrpy's own reader: the file must be one vcrpy reads back as it wrote it.
    from vcr.serializers import yamlserializer

    data = yamlserializer.deserialize(path.read_text())
    return data["interactions"][0]["request"]["body"]


@pytest.mark.parametrize("kind", sorted(AIOHTTP_BODIES))
def test_aiohttp_mapping_and_pairs_bodies_are_recorded_scrubbed_and_replayed(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    suite.server.route("/login", body=b'{"ok": true}', headers={"Content-Type": "application/json"})
    suite.write(aiohttp_module(AIOHTTP_BODIES[kind]))
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 1
    assert b"hunter2-first-password" in suite.server.requests[0].body  # it was sent for real
    path = suite.cassette_path("test_post")
    assert "hunter2-first-password" not in path.read_text()
    if kind == "json mapping" and vcr.__version__.startswith("7."):
        assert stored_request_body(path) is None  # vcrpy 7's aiohttp stub keeps no json= body
    else:
        assert stored_request_body(path) == AIOHTTP_STORED[kind]

    # Another real password: scrubbed before matching, so the body still matches.
    monkeypatch.setenv("REAL_PASSWORD", "another-real-password")
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 1


@pytest.mark.parametrize("kind", sorted(AIOHTTP_BODIES))
def test_aiohttp_mapping_and_pairs_bodies_are_interchangeable_with_pytest_recording(
    suite: Suite, kind: str
) -> None:
    suite.server.route("/login", body=b'{"ok": true}', headers={"Content-Type": "application/json"})
    # No secret in the body: pytest-recording does not scrub the live request before matching.
    source = aiohttp_module(AIOHTTP_BODIES[kind].replace("PASSWORD", '"plain"'), marker="vcr")
    suite.write(source.replace('"password"', '"nickname"'))
    suite.run("-p", "no:recording", "--record-mode=once").assert_outcomes(passed=1)
    ours = stored_request_body(suite.cassette_path("test_post"))
    suite.run("-p", "no:cassettes", "-p", "recording", "--record-mode=none").assert_outcomes(
        passed=1
    )
    suite.cassette_path("test_post").unlink()
    suite.run("-p", "no:cassettes", "-p", "recording", "--record-mode=once").assert_outcomes(
        passed=1
    )
    assert stored_request_body(suite.cassette_path("test_post")) == ours  # the same form
    suite.run("-p", "no:recording", "--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 2


def test_aiohttp_replays_text_in_its_charset_and_an_http_version(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # vcrpy's replayed aiohttp response decoded as UTF-8 whatever the charset (`text()` of an
    # ISO-8859-1 page raised UnicodeDecodeError) and had no HTTP version.
    suite.server.route(
        "/latin1",
        headers={"Content-Type": "text/plain; charset=iso-8859-1"},
        body="caf\u00e9 \u00a3".encode("latin-1"),
    )
    suite.server.route(
        "/json",
        headers={"Content-Type": "application/json; charset=iso-8859-1"},
        body='{"name": "Jos\u00e9"}'.encode("latin-1"),
    )
    suite.server.route("/error", status=500, headers={"Content-Type": "text/html"}, body="<p>")
    suite.server.route("/empty", status=204)
    suite.write(
        """
        import asyncio
        import aiohttp

        async def fetch():
            async with aiohttp.ClientSession() as session:
                async with session.get(URL + "/latin1") as got:
                    text, version = await got.text(), got.version
                async with session.get(URL + "/json") as got:
                    name = (await got.json())["name"]
                async with session.get(URL + "/latin1") as got:
                    raw = await got.text(encoding="utf-8", errors="replace")
                refused = []
                for path in ("/error", "/empty"):  # not JSON: aiohttp says so
                    async with session.get(URL + path) as got:
                        try:
                            await got.json()
                        except aiohttp.ContentTypeError as exc:
                            refused.append(exc.status)
                async with session.get(URL + "/error") as got:
                    unchecked = await got.json(content_type=None, loads=lambda text: text)
            return text, name, version, raw, refused, unchecked

        @pytest.mark.cassette(allow_playback_repeats=True)
        def test_latin1():
            text, name, version, raw, refused, unchecked = asyncio.run(fetch())
            assert (text, name) == ("caf\\u00e9 \\u00a3", "Jos\\u00e9")
            assert version == aiohttp.HttpVersion11
            assert raw == "caf\\ufffd \\ufffd"
            assert refused == [500, 204] and unchecked == "<p>"
        """
    )
    suite.run().assert_outcomes(passed=1)
    monkeypatch.setenv("CI", "true")
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 6


def test_aiohttp_form_data_uploads_are_recorded_scrubbed_and_replayed(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # vcrpy kept aiohttp's FormData object as the body: the test passed, then saving its
    # cassette failed at teardown (RepresenterError) and the recording was lost.
    suite.write(
        """
        import asyncio
        import io
        import aiohttp

        async def upload():
            form = aiohttp.FormData()
            form.add_field("password", "hunter2-9f8e7d6c")
            form.add_field("file", io.BytesIO(b"\\x00abc"), filename="a.bin")
            async with aiohttp.ClientSession() as session:
                async with session.post(URL + "/upload", data=form) as got:
                    return (await got.json())["body"]

        @pytest.mark.cassette(match_on=["method", "uri", "body"])
        def test_upload():
            body = asyncio.run(upload())
            assert 'name="file"; filename="a.bin"' in body and "\\x00abc" in body
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 1
    text = suite.cassette_path("test_upload").read_text()
    stored = yaml.load(text, Loader=CassetteLoader)["interactions"][0]["request"]["body"]
    assert stored == [("password", "<SCRUBBED>"), ("file", b"\x00abc")]
    assert b"hunter2" not in suite.cassette_path("test_upload").read_bytes()
    monkeypatch.setenv("CI", "true")
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 1


def test_aiohttp_form_data_sent_twice_or_holding_a_pipe_replays(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Review: aiohttp empties a multipart form's fields once sent, so a retry of the same
    # FormData was recorded with an empty body (replay then matched nothing); a pipe in a form
    # crashed the request (a seek on a stream that cannot).
    suite.write(
        """
        import asyncio
        import os
        import aiohttp

        async def send():
            form = aiohttp.FormData()
            form.add_field("file", b"hello", filename="a.txt")
            read, write = os.pipe()
            os.write(write, b"piped")
            os.close(write)
            piped = aiohttp.FormData()
            piped.add_field("stream", os.fdopen(read, "rb"), filename="p.bin")
            bodies = []
            async with aiohttp.ClientSession() as session:
                for data in (form, form, piped):
                    async with session.post(URL + "/upload", data=data) as got:
                        bodies.append((await got.json())["body"])
            return bodies

        @pytest.mark.cassette(match_on=["method", "uri", "body"])
        def test_retry():
            first, again, piped = asyncio.run(send())
            assert "hello" in first and "hello" in again and "piped" in piped
        """
    )
    suite.run().assert_outcomes(passed=1)
    monkeypatch.setenv("CI", "true")
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 3


def test_multipart_uploads_match_on_body_whatever_their_random_boundary(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests and httpx draw a new boundary for each upload: under `match_on` with `body`, a
    # recorded upload never matched on replay (vcrpy issues #28 and #647).
    source = """
        import httpx

        CONTENT = os.environ.get("UPLOAD", "a,b\\n1,2\\n").encode()

        @pytest.mark.cassette(match_on=["method", "uri", "body"])
        def test_upload():
            files = {"file": ("report.csv", CONTENT, "text/csv")}
            sent = requests.post(URL + "/upload", data={"kind": "csv"}, files=files).json()
            assert 'filename="report.csv"' in sent["body"] and "csv" in sent["body"]
            sent = httpx.post(URL + "/upload", data={"kind": "csv"}, files=files).json()
            assert 'filename="report.csv"' in sent["body"]
        """
    suite.write(source)
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 2
    monkeypatch.setenv("CI", "true")
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 2
    monkeypatch.setenv("UPLOAD", "other contents")  # a file that differs still fails
    failed = suite.run()
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*UnmatchedRequestError*", "*differs in: body*"])
    assert suite.server.hits == 2


def test_a_header_sent_under_two_spellings_is_recorded_and_replayed_once_each(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # vcrpy recorded every spelling of a name with all of the name's values: `Link` and
    # `link` each held both links, and http.client (urllib) read four on record and replay.
    suite.server.route("/links", body=b"ok", headers={"Link": "<a>", "link": "<b>"})
    suite.write(
        """
        import http.client
        import urllib.request
        from urllib.parse import urlsplit

        @pytest.mark.cassette
        def test_links():
            with urllib.request.urlopen(URL + "/links") as response:
                assert response.headers.get_all("Link") == ["<a>", "<b>"]
            address = urlsplit(URL)
            connection = http.client.HTTPConnection(address.hostname, address.port)
            connection.request("GET", "/links")
            headers = connection.getresponse().getheaders()
            assert sorted(pair for pair in headers if pair[0].lower() == "link") == [
                ("Link", "<a>"),
                ("link", "<b>"),
            ]
            # Each value once: urllib3's header dict joins them (vcrpy 9, or urllib3 1.26's
            # stubs), or requests reads the message and takes its first (vcrpy 8 with urllib3 2).
            assert requests.get(URL + "/links").headers["link"] in ("<a>, <b>", "<a>")
        """
    )
    suite.run().assert_outcomes(passed=1)
    headers = suite.cassette("test_links")["interactions"][0]["response"]["headers"]
    assert (headers["Link"], headers["link"]) == (["<a>"], ["<b>"])
    monkeypatch.setenv("CI", "true")
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 3


def test_the_http_version_of_a_response_is_http_1_1_as_live(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # vcrpy's stub response gave version None (and in older vcrpy no version_string, which
    # urllib3 2's pool reads to log a response: vcrpy issue #928).
    suite.write(
        """
        import http.client
        from urllib.parse import urlsplit

        import urllib3

        @pytest.mark.cassette
        def test_version():
            got = urllib3.PoolManager().request("GET", URL + "/a")
            assert got.version == 11
            # (urllib3 1.26, Python 3.9's, has no version_string, live or not)
            assert getattr(got, "version_string", "HTTP/1.1") == "HTTP/1.1"
            assert requests.get(URL + "/b").raw.version == 11
            address = urlsplit(URL)
            connection = http.client.HTTPConnection(address.hostname, address.port)
            connection.request("GET", "/c")
            assert connection.getresponse().version == 11
        """
    )
    suite.run().assert_outcomes(passed=1)
    monkeypatch.setenv("CI", "true")
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 3


def test_a_refused_connection_while_recording_fails_as_without_the_plugin(suite: Suite) -> None:
    """vcrpy's stubs connected a request to record only when its response was asked for, where
    http.client connects in `request()`: urllib raised a bare ConnectionRefusedError instead
    of URLError, and http.client raised it from `getresponse`. (urllib3 and requests, whose
    connections connect themselves, kept their errors: checked so they do.)"""
    suite.write(
        """
        import http.client
        import socket
        import urllib.error
        import urllib.request

        import urllib3

        def closed_port():
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                return s.getsockname()[1]

        PORT = closed_port()

        @pytest.mark.cassette
        def test_urllib():
            with pytest.raises(urllib.error.URLError) as raised:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/x", timeout=5)
            assert isinstance(raised.value.reason, ConnectionRefusedError)

        @pytest.mark.cassette
        def test_http_client():
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
            with pytest.raises(ConnectionRefusedError):
                connection.request("GET", "/x")

        @pytest.mark.cassette
        def test_urllib3():
            http = urllib3.PoolManager(retries=urllib3.Retry(total=1, connect=1, read=0))
            with pytest.raises(urllib3.exceptions.MaxRetryError) as raised:
                http.request("GET", f"http://127.0.0.1:{PORT}/x", timeout=5)
            assert isinstance(raised.value.reason, urllib3.exceptions.NewConnectionError)

        @pytest.mark.cassette
        def test_requests():
            with pytest.raises(requests.ConnectionError) as raised:
                requests.get(f"http://127.0.0.1:{PORT}/x", timeout=5)
            reason = raised.value.args[0].reason
            assert isinstance(reason, urllib3.exceptions.NewConnectionError)

        @pytest.mark.cassette
        def test_a_recorded_request_still_records():
            assert urllib.request.urlopen(URL + "/ok", timeout=5).status == 200
        """
    )
    suite.run("--record-mode=once", "-p", "no:randomly").assert_outcomes(passed=5)
    suite.run("-p", "no:cassettes", "-p", "no:randomly").assert_outcomes(passed=5)
    assert suite.uris("test_a_recorded_request_still_records") == [suite.server.base_url + "/ok"]
    assert not suite.cassette_path("test_urllib").exists()
    suite.run("--record-mode=none", "-k", "recorded", "-p", "no:randomly").assert_outcomes(passed=1)
    assert suite.server.hits == 2  # recorded once, live once without the plugin


def test_a_header_value_outside_ascii_reads_as_without_the_plugin(suite: Suite) -> None:
    """A server's latin-1 header value (`filename="café.txt"`): http.client reads it as
    latin-1, httpx too (not being ASCII nor UTF-8). vcrpy's stubs wrote the headers out as
    UTF-8 and parsed them back as latin-1 (`cafÃ©` under requests and urllib3, recording and
    replaying), and httpx's replay raised UnicodeEncodeError building its headers."""
    suite.server.route("/file", body=b"x", headers={"Content-Disposition": 'inline; name="café"'})
    # UTF-8 values (http.server writes text as latin-1): httpx reads all of them as UTF-8.
    as_sent = {"X-A": "café".encode().decode("latin-1"), "X-B": "5 €".encode().decode("latin-1")}
    suite.server.route("/utf8", body=b"x", headers=as_sent)
    suite.write(
        """
        import httpx
        import urllib3

        NAME = 'inline; name="caf\\u00e9"'

        @pytest.mark.cassette
        def test_headers():
            assert requests.get(URL + "/file").headers["Content-Disposition"] == NAME
            got = urllib3.PoolManager().request("GET", URL + "/file")
            assert got.headers["Content-Disposition"] == NAME
            assert httpx.get(URL + "/file").headers["Content-Disposition"] == NAME
            utf8 = httpx.get(URL + "/utf8").headers
            assert (utf8["X-A"], utf8["X-B"]) == ("caf\\u00e9", "5 \\u20ac")
            latin1 = requests.get(URL + "/utf8").headers  # http.client reads latin-1
            assert latin1["X-A"] == "caf\\u00e9".encode().decode("latin-1")
        """
    )
    suite.run("-p", "no:cassettes").assert_outcomes(passed=1)  # as without the plugin
    suite.run("--record-mode=once").assert_outcomes(passed=1)
    hits = suite.server.hits
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == hits == 10


def test_httpx_in_process_transports_run_the_app_and_are_never_recorded(suite: Suite) -> None:
    # vcrpy 9 patches httpx's WSGITransport, ASGITransport and MockTransport too: a FastAPI
    # app's answers (AsyncClient(transport=ASGITransport(app))) went into the cassette, and the
    # replay answered from there without running the app (a test passing on stale answers).
    if vcr.__version__.startswith("7."):
        pytest.skip("vcrpy 7 patches httpx's clients, not its transports: as vcrpy does there")
    suite.write(
        """
        import asyncio

        import httpx

        calls = []

        def wsgi_app(environ, start_response):
            calls.append("wsgi " + environ["PATH_INFO"])
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"wsgi %d" % len(calls)]

        async def asgi_app(scope, receive, send):
            calls.append("asgi " + scope["path"])
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"asgi %d" % len(calls)})

        def mocked(request):
            calls.append("mock " + request.url.path)
            return httpx.Response(200, text="mock %d" % len(calls))

        async def through_asgi():
            transport = httpx.ASGITransport(app=asgi_app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                return (await client.get("/a")).text

        @pytest.mark.cassette
        def test_app():
            calls.clear()
            with httpx.Client(transport=httpx.WSGITransport(app=wsgi_app)) as client:
                assert client.get("http://app/w").text == "wsgi 1"
            assert asyncio.run(through_asgi()) == "asgi 2"
            with httpx.Client(transport=httpx.MockTransport(mocked)) as client:
                assert client.get("http://app/m").text == "mock 3"
            assert calls == ["wsgi /w", "asgi /a", "mock /m"]
            assert requests.get(URL + "/external").status_code == 200
        """
    )
    suite.run().assert_outcomes(passed=1)
    uris = [i["request"]["uri"] for i in suite.cassette("test_app")["interactions"]]
    assert uris == [suite.server.url("/external")]
    suite.server.reset()
    suite.run("--record-mode=none", "--block-network").assert_outcomes(passed=1)
    assert suite.server.hits == 0
