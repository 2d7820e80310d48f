"""Bodies: compressed responses stored decoded, binary bodies exact, the docling seed cassette."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import textwrap
import zlib
from pathlib import Path
from typing import Any

import pytest

# Imported here so that pytester's in-process runs find them loaded (as test_data_clients.py
# does): vcrpy imported afresh by a later run would record through stubs that are not ours.
import urllib3
import vcr  # noqa: F401
import yaml

from pytest_cassettes import bodies
from tests.conftest import Suite

brotli = pytest.importorskip("brotli")
zstandard = pytest.importorskip("zstandard")

URLLIB3_MAJOR = int(urllib3.__version__.split(".")[0])
DATA = Path(__file__).parent / "data"
TEXT = "Grüße from the local server\n" * 200
BINARY = bytes(range(256)) * 64
SEED_URL = "https://lilianweng.github.io/posts/2024-11-28-reward-hacking/"
SEED_TITLE = "Reward Hacking in Reinforcement Learning"

# --- decoding ------------------------------------------------------------------------------


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoded", "header"),
    [
        (gzip.compress(b"one, ") + gzip.compress(b"two"), "gzip"),  # two members
        (zlib.compress(b"one, two"), "deflate"),
        (raw_deflate(b"one, two"), "deflate"),  # what some servers call deflate
        (brotli.compress(b"one, two"), "br"),
        (
            zstandard.ZstdCompressor().compress(b"one, ")
            + zstandard.ZstdCompressor().compress(b"two"),
            "zstd",
        ),
        (gzip.compress(brotli.compress(b"one, two")), "br, GZIP"),  # applied left to right
        (gzip.compress(b"one, two"), "x-gzip"),
    ],
    ids=["gzip-members", "deflate-zlib", "deflate-raw", "br", "zstd-frames", "stacked", "x-gzip"],
)
def test_every_coding_is_decoded_completely(encoded: bytes, header: str) -> None:
    assert bodies.decode(encoded, [header]) == b"one, two"


@pytest.mark.parametrize(
    ("body", "header"),
    [
        (b"\x03\x00 plain text that starts like an empty raw deflate stream", "deflate"),
        (zlib.compress(b"abc") + b"trailing", "deflate"),
        (gzip.compress(TEXT.encode())[:-4], "gzip"),  # truncated
        (zstandard.ZstdCompressor().compress(TEXT.encode())[:-3], "zstd"),
        (TEXT.encode(), "gzip"),
    ],
    ids=["raw-deflate-lookalike", "trailing-bytes", "gzip-truncated", "zstd-truncated", "plain"],
)
def test_a_body_that_is_not_wholly_encoded_as_claimed_is_not_decoded(
    body: bytes, header: str
) -> None:
    assert bodies.decode(body, [header]) is None


def response(body: Any, **headers: str) -> dict[str, Any]:
    return {
        "status": {"code": 200, "message": "OK"},
        "headers": {name.replace("_", "-"): [value] for name, value in headers.items()},
        "body": {"string": body},
    }


def test_normalize_stores_the_body_decoded_with_true_headers() -> None:
    encoded = gzip.compress(TEXT.encode())
    normalized = bodies.normalize_response(
        response(encoded, Content_Encoding="gzip", Content_Length=str(len(encoded)))
    )
    assert normalized["body"]["string"] == TEXT.encode()
    assert bodies.header_values(normalized["headers"], "content-encoding") == []
    assert normalized["headers"]["Content-Length"] == [str(len(TEXT.encode()))]


def test_normalize_fixes_the_headers_of_a_body_stored_decoded() -> None:
    normalized = bodies.normalize_response(
        response(TEXT, content_encoding="gzip", transfer_encoding="chunked")
    )
    assert normalized["body"]["string"] == TEXT.encode()
    assert sorted(normalized["headers"]) == ["Content-Length"]
    assert normalized["headers"]["Content-Length"] == [str(len(TEXT.encode()))]


def test_normalize_leaves_an_unknown_coding_alone() -> None:
    original = response(b"\x1f\x9d compressed", Content_Encoding="compress")
    assert bodies.normalize_response(original) is original


@pytest.mark.parametrize("header", ["gzip", "GZIP", "gzip, br", "deflate"])
def test_encoding_mismatch_names_the_claimed_coding(header: str) -> None:
    message = bodies.encoding_mismatch(response(TEXT, Content_Encoding=header))
    assert message == f"body is stored decoded but headers say Content-Encoding: {header}"


def test_encoding_mismatch_accepts_a_truly_encoded_body() -> None:
    assert bodies.encoding_mismatch(response(gzip.compress(b"x"), Content_Encoding="gzip")) is None
    assert bodies.encoding_mismatch(response(TEXT, Content_Encoding="identity")) is None
    assert bodies.encoding_mismatch(response(TEXT)) is None


# --- recorded from a real server, replayed by every client ---------------------------------

CLIENTS = '''
import asyncio
import http.client
import urllib.parse

import aiohttp
import httpx
import urllib3

CLIENT_NAMES = ["requests", "httpx", "httpx-async", "urllib3", "http.client", "aiohttp"]


def lower(headers):
    return {name.lower(): value for name, value in headers.items()}


def fetch(client, url):
    """The body and the headers as the client hands them to its caller."""
    if client == "requests":
        response = requests.get(url)
        return response.content, lower(response.headers)
    if client == "httpx":
        response = httpx.get(url)
        return response.content, lower(response.headers)
    if client == "httpx-async":
        async def go():
            async with httpx.AsyncClient() as session:
                response = await session.get(url)
                return response.content, lower(response.headers)
        return asyncio.run(go())
    if client == "urllib3":
        response = urllib3.PoolManager().request("GET", url)
        return response.data, lower(response.headers)
    if client == "http.client":
        parts = urllib.parse.urlsplit(url)
        secure = parts.scheme == "https"
        connection = (http.client.HTTPSConnection if secure else http.client.HTTPConnection)(
            parts.netloc
        )
        connection.request("GET", parts.path + ("?" + parts.query if parts.query else ""))
        response = connection.getresponse()
        return response.read(), lower(dict(response.getheaders()))
    if client == "aiohttp":
        async def go():
            async with aiohttp.ClientSession() as session:
                async with session.get(url) as response:
                    return await response.read(), lower(response.headers)
        return asyncio.run(go())
    raise ValueError(client)
'''

ROUTES = {
    "/gzip": TEXT.encode(),
    "/deflate": TEXT.encode(),
    "/br": TEXT.encode(),
    "/zstd": TEXT.encode(),
    "/binary": BINARY,
    "/binary-gzip": BINARY,
}


def serve_routes(suite: Suite) -> None:
    server = suite.server
    server.route("/gzip", body=TEXT, encoding="gzip", headers={"Content-Type": "text/plain"})
    server.route("/deflate", body=TEXT, encoding="deflate", headers={"Content-Type": "text/plain"})
    # The server knows gzip and deflate; br and zstd bodies are sent encoded with their header.
    for name, encoded in (
        ("br", brotli.compress(TEXT.encode())),
        ("zstd", zstandard.ZstdCompressor().compress(TEXT.encode())),
    ):
        server.route(
            f"/{name}",
            body=encoded,
            headers={"Content-Type": "text/plain", "Content-Encoding": name},
        )
    server.route("/binary", body=BINARY, headers={"Content-Type": "application/octet-stream"})
    server.route("/binary-gzip", body=BINARY, encoding="gzip")


def test_compressed_and_binary_bodies_recorded_decoded_replay_under_every_client(
    suite: Suite,
) -> None:
    serve_routes(suite)
    suite.write(
        f"""
        TEXT = {TEXT!r}
        BINARY = bytes(range(256)) * 64

        @pytest.mark.cassette("bodies")
        def test_record():
            for path in {list(ROUTES)!r}:
                response = requests.get(URL + path)
                expected = BINARY if path.startswith("/binary") else TEXT.encode()
                # urllib3 decodes zstd with backports.zstd / compression.zstd, not zstandard:
                # live, it may hand over the encoded body; replayed, every client gets it decoded.
                assert response.content == expected or path == "/zstd"
        """
    )
    suite.run("--record-mode=once").assert_outcomes(passed=1)
    assert suite.server.hits == len(ROUTES)

    cassette_file = suite.path / "cassettes" / "bodies.yaml"
    stored = yaml.safe_load(cassette_file.read_text(encoding="utf-8"))["interactions"]
    assert [i["request"]["uri"] for i in stored] == [suite.server.url(p) for p in ROUTES]
    for interaction in stored:
        path = interaction["request"]["uri"][len(suite.server.base_url) :]
        body = interaction["response"]["body"]["string"]
        headers = {k.lower(): v for k, v in interaction["response"]["headers"].items()}
        if path.startswith("/binary"):
            assert body == BINARY  # !!binary in the file, exact bytes
        else:
            assert body == TEXT  # readable text in the file
        assert "content-encoding" not in headers, path
        assert headers["content-length"] == [str(len(ROUTES[path]))], path
    text = cassette_file.read_text(encoding="utf-8")
    assert "!!binary" in text
    assert "from the local server" in text  # readable, not base64

    suite.server.reset()
    suite.write(
        CLIENTS
        + textwrap.dedent(
            f"""
        TEXT = {TEXT!r}
        BINARY = bytes(range(256)) * 64

        @pytest.mark.cassette("bodies")
        @pytest.mark.parametrize("client", CLIENT_NAMES)
        def test_replay(client):
            for path in {list(ROUTES)!r}:
                body, headers = fetch(client, URL + path)
                expected = BINARY if path.startswith("/binary") else TEXT.encode()
                assert body == expected, (client, path)
                assert "content-encoding" not in headers, (client, path)
                assert headers.get("content-length", str(len(expected))) == str(len(expected))
        """
        )
    )
    result = suite.run("--record-mode=none")
    result.assert_outcomes(passed=6)
    assert suite.server.hits == 0


# --- the docling seed cassette -------------------------------------------------------------

SEED_TESTS = """
import asyncio
import http.client

import aiohttp
import httpx
import urllib3

SEED = {seed!r}
URL = {url!r}
TITLE = {title!r}


def no_encoding(headers, body):
    lowered = {{name.lower(): value for name, value in headers.items()}}
    assert "content-encoding" not in lowered
    assert lowered.get("content-length", str(len(body))) == str(len(body))


@pytest.mark.cassette(SEED)
def test_requests():
    response = requests.get(URL)
    assert response.status_code == 200
    assert f"<title>{{TITLE}}" in response.text
    no_encoding(response.headers, response.content)


@pytest.mark.cassette(SEED)
def test_urllib3():
    response = urllib3.PoolManager().request("GET", URL)
    assert response.status == 200
    assert f"<title>{{TITLE}}".encode() in response.data
    no_encoding(response.headers, response.data)


@pytest.mark.cassette(SEED)
def test_httpx():
    response = httpx.get(URL)
    assert response.status_code == 200
    assert f"<title>{{TITLE}}" in response.text
    no_encoding(response.headers, response.content)


@pytest.mark.cassette(SEED)
def test_httpx_async():
    async def go():
        async with httpx.AsyncClient() as client:
            return await client.get(URL)
    response = asyncio.run(go())
    assert f"<title>{{TITLE}}" in response.text


@pytest.mark.cassette(SEED)
def test_http_client():
    connection = http.client.HTTPSConnection("lilianweng.github.io")
    connection.request("GET", "/posts/2024-11-28-reward-hacking/")
    response = connection.getresponse()
    body = response.read()
    assert response.status == 200
    assert f"<title>{{TITLE}}".encode() in body
    no_encoding(dict(response.getheaders()), body)


@pytest.mark.cassette(SEED)
def test_aiohttp():
    async def go():
        async with aiohttp.ClientSession() as session:
            async with session.get(URL) as response:
                return await response.text()
    assert f"<title>{{TITLE}}" in asyncio.run(go())
"""


def test_the_docling_seed_cassette_replays_under_every_client(suite: Suite, tmp_path: Path) -> None:
    seed = tmp_path / "seed" / "test_docling_source.yaml"
    seed.parent.mkdir()
    shutil.copy(DATA / "test_docling_source.yaml", seed)
    original = seed.read_bytes()
    assert b"Content-Encoding:\n      - gzip" in original  # the mismatch this test is about
    suite.write(SEED_TESTS.format(seed=str(seed), url=SEED_URL, title=SEED_TITLE))
    result = suite.run("--record-mode=none")
    result.assert_outcomes(passed=6)
    assert seed.read_bytes() == original  # replay never rewrites it
    assert sorted(p.name for p in seed.parent.iterdir()) == [seed.name]


HEAD_OF_COMPRESSED = """
@pytest.mark.cassette
def test_head():
    import httpx

    for response in (requests.head(URL + "/gzip"), httpx.head(URL + "/gzip")):
        assert response.content == b""
        assert response.headers["Content-Length"] == os.environ["GZIP_LENGTH"]
        assert response.headers["Content-Encoding"] == "gzip"
"""


def test_a_head_response_keeps_the_length_of_the_body_it_did_not_send(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_routes(suite)
    length = str(len(gzip.compress(TEXT.encode())))
    monkeypatch.setenv("GZIP_LENGTH", length)
    suite.write(HEAD_OF_COMPRESSED)
    suite.run("--record-mode=once").assert_outcomes(passed=1)
    response = suite.cassette("test_head")["interactions"][0]["response"]
    headers = response["headers"]
    assert headers["Content-Length"] == [length]
    # Kept with its length, as the live response has them (they were left disagreeing: the
    # compressed length without its coding); there is no body to decode.
    assert headers["Content-Encoding"] == ["gzip"]
    assert bodies.encoding_mismatch(response) is None  # what `check` tells: nothing to decode
    suite.run("--record-mode=none").assert_outcomes(passed=1)


def test_normalize_keeps_the_length_of_an_empty_body() -> None:
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Encoding": ["gzip"], "Content-Length": ["1234"]},
        "body": {"string": b""},
    }
    assert bodies.normalize_response(response)["headers"] == {
        "Content-Encoding": ["gzip"],
        "Content-Length": ["1234"],
    }


def test_a_compressed_empty_body_is_stored_decoded_as_any_other(suite: Suite) -> None:
    """A body sent gzip-compressed that decodes to nothing is a body that was sent: its
    Content-Encoding goes with it (kept, a caller decompressing by the header failed on the
    empty stored body: a review's finding), unlike a HEAD's, which sent nothing."""
    suite.server.route("/empty-gzip", body=b"", encoding="gzip")
    suite.write(
        """
        import gzip
        import urllib.request

        @pytest.mark.cassette
        def test_empty():
            with urllib.request.urlopen(URL + "/empty-gzip") as response:
                data = response.read()
                if response.headers.get("Content-Encoding") == "gzip":
                    data = gzip.decompress(data)  # as a urllib caller must
            assert data == b""
        """
    )
    suite.run("-p", "no:cassettes").assert_outcomes(passed=1)
    suite.run("--record-mode=once").assert_outcomes(passed=1)
    headers = suite.cassette("test_empty")["interactions"][0]["response"]["headers"]
    assert "Content-Encoding" not in headers and headers["Content-Length"] == ["0"]
    suite.run("--record-mode=none").assert_outcomes(passed=1)


# --- recording decodes once ----------------------------------------------------------------

RECORD_GZIP = """
import asyncio
import gzip
import hashlib
import json
import urllib.request

import aiohttp
import httpx


def digest(data):
    data = data.encode() if isinstance(data, str) else data
    return hashlib.sha256(data).hexdigest()[:16]


def fetch_all(path):
    assert requests.get(URL + path).json()["n"][-1] == 199
    with urllib.request.urlopen(URL + path) as r:
        r.read()
    assert httpx.get(URL + path).json()["n"][-1] == 199

    async def read():
        async with aiohttp.ClientSession() as session:
            async with session.get(URL + path) as r:
                return await r.json()

    assert asyncio.run(read())["n"][-1] == 199
"""


def gzip_route(suite: Suite) -> bytes:
    payload = b'{"n": [%s]}' % ", ".join(map(str, range(200))).encode()
    suite.server.route(
        "/gz", body=payload, encoding="gzip", headers={"Content-Type": "application/json"}
    )
    return payload


def test_what_before_record_response_sees_of_a_gzip_response_per_client(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pinned: a `before_record_response` hook is handed the response as the client library
    gave it, before it is stored decoded: its Content-Encoding still says gzip, and its body is
    the bytes as sent (urllib3 1.x under requests, http.client, httpx) or decoded already
    (urllib3 2 under requests, aiohttp), with the Content-Length sent."""
    payload = gzip_route(suite)
    suite.write(
        RECORD_GZIP
        + """
SEEN = []


def hook(response):
    headers = {k.lower(): v for k, v in response["headers"].items()}
    body = response["body"]["string"]
    sent = body[:2] == b"\\x1f\\x8b"
    SEEN.append([
        headers.get("content-encoding"),
        headers.get("content-length"),
        "as sent" if sent else "decoded",
        digest(gzip.decompress(body) if sent else body),
    ])
    return response


@pytest.mark.cassette(before_record_response=hook)
def test_record():
    fetch_all("/gz")
    with open(os.environ["OUT"], "w") as out:
        json.dump(SEEN, out)
"""
    )
    out = suite.path / "seen.json"
    monkeypatch.setenv("OUT", str(out))
    suite.run("--record-mode=once").assert_outcomes(passed=1)
    length = [str(len(gzip.compress(payload)))]
    digest = hashlib.sha256(payload).hexdigest()[:16]
    by_requests = "decoded" if URLLIB3_MAJOR >= 2 else "as sent"  # urllib3 1.x decodes later
    assert json.loads(out.read_text()) == [
        [["gzip"], length, by_requests, digest],  # requests
        [["gzip"], length, "as sent", digest],  # http.client
        [["gzip"], length, "as sent", digest],  # httpx
        [["gzip"], length, "decoded", digest],  # aiohttp: decoded as it read
    ]
    stored = suite.cassette("test_record")["interactions"]
    assert [i["response"]["body"]["string"] for i in stored] == [payload.decode()] * 4


def test_a_recorded_gzip_response_is_decoded_once(suite: Suite) -> None:
    """A gzip body the client library hands over as sent (http.client's, httpx's) is decoded
    once while recording: for the cassette and for the client both. It was decoded twice: for
    the cassette's copy, then again for the client's (patching.Router.append). Bodies urllib3 2
    and aiohttp decoded already are not decoded at all; urllib3 1.x hands requests' over as
    sent: decoded once too."""
    sent = len(gzip.compress(gzip_route(suite)))
    # The bodies handed over as sent: http.client's, httpx's, and requests' under urllib3 1.x.
    as_sent = [sent] * (2 if URLLIB3_MAJOR >= 2 else 3)
    suite.write(
        RECORD_GZIP
        + f"""
from pytest_cassettes import bodies

CALLS = []


@pytest.fixture
def counted(monkeypatch):
    gunzip = bodies.DECODERS["gzip"]

    def counting(data):
        CALLS.append(len(data))
        return gunzip(data)

    monkeypatch.setitem(bodies.DECODERS, "gzip", counting)


@pytest.mark.cassette
def test_record(counted):
    fetch_all("/gz")
    assert CALLS == {as_sent}, CALLS
"""
    )
    suite.run("--record-mode=once").assert_outcomes(passed=1)
    assert len(suite.cassette("test_record")["interactions"]) == 4
